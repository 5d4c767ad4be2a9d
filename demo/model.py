"""A fake, deterministic chat model that behaves like a tool-calling LLM.

It is a real LangChain ``BaseChatModel``: callbacks fire, ``bind_tools`` works, responses carry
tool calls, ``usage_metadata`` and a model name, so the instrumentation sees exactly what it sees
with a hosted model. The replies are computed from the conversation (no randomness, no
network), so the same question always yields the same trace shape.

Roles:
- ``planner``: writes a numbered plan for the question's route.
- ``agent``: the ReAct step. Reads the task and the tool results so far and either asks for the
  next tool call(s) or gives the final answer.
- ``writer``: turns notes into a short answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

Role = Literal["planner", "agent", "writer"]

_NUMBER = r"-?\d+(?:\.\d+)?"
_EXPR = r"[\d\.\s\+\-\*/\(\)%]+"
_CONVERT = re.compile(
    rf"(?P<expr>{_EXPR}?)\s*(?P<src>[a-zA-Z]+)\s+(?:to|in|into)\s+(?P<dst>[a-zA-Z]+)"
)
_COMPARE = re.compile(
    rf"(?P<a>{_NUMBER})\s*(?P<ua>[a-zA-Z]+)\s+or\s+(?P<b>{_NUMBER})\s*(?P<ub>[a-zA-Z]+)"
)
_FUNC = r"(?:sqrt|round|abs)\("
_MATH = re.compile(rf"(?P<expr>(?:{_FUNC}|[\d\(])(?:{_FUNC}|[\d\.\s\+\-\*/\(\)%])*[\d\)])")
_DIVIDE = re.compile(rf"divide\s+(?P<a>{_NUMBER})\s+by\s+(?P<b>{_NUMBER})", re.IGNORECASE)


def count_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: about 4 tokens per 3 words."""
    return max(1, (len(text.split()) * 4 + 2) // 3)


def _text(message: BaseMessage) -> str:
    content = message.content
    return content if isinstance(content, str) else str(content)


def task_of(messages: Sequence[BaseMessage]) -> str:
    """The user's task: the last human message."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return _text(message)
    return ""


def _tool_call(name: str, args: dict[str, Any], step: int, index: int) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{step}_{index}_{name}", "type": "tool_call"}


def plan_tool_steps(task: str) -> list[list[tuple[str, dict[str, Any]]]]:
    """The tool calls the agent makes for a task, step by step (calls in one step run in parallel).

    A later step's argument may be the placeholder ``"$previous"``: the number in the previous
    step's tool result.
    """
    lowered = task.lower()
    compare = _COMPARE.search(task)
    if compare and ("longer" in lowered or "heavier" in lowered):
        target = "m" if "longer" in lowered else "kg"
        return [
            [
                (
                    "convert_units",
                    {"value": float(compare[v]), "from_unit": compare[u], "to_unit": target},
                )
                for v, u in (("a", "ua"), ("b", "ub"))
            ]
        ]
    divide = _DIVIDE.search(task)
    if divide:
        return [[("calculator", {"expression": f"{divide['a']} / {divide['b']}"})]]
    convert = _CONVERT.search(task)
    if convert and convert["expr"].strip():
        expr = convert["expr"].strip()
        step = {"from_unit": convert["src"], "to_unit": convert["dst"]}
        if re.fullmatch(_NUMBER, expr):
            return [[("convert_units", {"value": float(expr), **step})]]
        return [
            [("calculator", {"expression": expr})],
            [("convert_units", {"value": "$previous", **step})],
        ]
    math_expr = _MATH.search(task)
    if math_expr and re.search(r"[\+\-\*/%]", math_expr["expr"]):
        return [[("calculator", {"expression": math_expr["expr"].strip()})]]
    return [[("search_docs", {"query": task})]]


def _last_number(text: str) -> float | None:
    numbers = re.findall(_NUMBER, text.split("=")[-1])
    return float(numbers[0]) if numbers else None


def agent_reply(messages: Sequence[BaseMessage]) -> AIMessage:
    """One ReAct step: the next tool call(s), or the final answer when all steps are done."""
    task = task_of(messages)
    steps = plan_tool_steps(task)
    done = sum(1 for m in messages if isinstance(m, AIMessage) and m.tool_calls)
    results = [m for m in messages if isinstance(m, ToolMessage)]
    failed = [m for m in results if m.status == "error"]
    if done < len(steps) and not failed:
        previous = _last_number(_text(results[-1])) if results else None
        calls = []
        for index, (name, args) in enumerate(steps[done]):
            args = {k: (previous if v == "$previous" else v) for k, v in args.items()}
            calls.append(_tool_call(name, args, done, index))
        return AIMessage(content="", tool_calls=calls)
    if failed:
        return AIMessage(content=f"I could not complete this: {_text(failed[-1])}")
    findings = "; ".join(_text(m) for m in results) or "nothing to look up"
    verdict = _compare_verdict(task, results)
    return AIMessage(content=f"{verdict}Here is what I found: {findings}")


def _compare_verdict(task: str, results: Sequence[ToolMessage]) -> str:
    lowered = task.lower()
    if len(results) != 2 or not ("longer" in lowered or "heavier" in lowered):
        return ""
    values = [_last_number(_text(m)) or 0.0 for m in results]
    winner = _text(results[values.index(max(values))]).split("=")[0].strip()
    return f"{winner} is {'longer' if 'longer' in lowered else 'heavier'}. "


def planner_reply(messages: Sequence[BaseMessage]) -> AIMessage:
    task = task_of(messages)
    tools = sorted({name for step in plan_tool_steps(task) for name, _ in step})
    plan = [
        f"1. Restate the question: {task.strip()}",
        f"2. Use {', '.join(tools)} to get the facts.",
        "3. Check the tool results for errors.",
        "4. Summarise the findings in one or two sentences.",
    ]
    return AIMessage(content="\n".join(plan))


def writer_reply(messages: Sequence[BaseMessage]) -> AIMessage:
    """The last note (the agent's conclusion), without its preamble."""
    notes = task_of(messages)
    bullets = [" ".join(b.split()) for b in re.split(r"^- ", notes, flags=re.MULTILINE)]
    bullets = [b for b in bullets if b]
    body = bullets[-1] if bullets else "No findings."
    return AIMessage(content=body.replace("Here is what I found: ", "In short: "))


_REPLIES = {"planner": planner_reply, "agent": agent_reply, "writer": writer_reply}


class DemoChatModel(BaseChatModel):
    """Deterministic tool-calling chat model for the demo (see the module docstring)."""

    model_name: str = "swisper-demo-1"
    role: Role = "agent"
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "swisper-demo"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "role": self.role, "temperature": self.temperature}

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = _REPLIES[self.role](messages)
        input_tokens = sum(count_tokens(_text(m)) for m in messages)
        output_tokens = count_tokens(_text(reply) + " ".join(c["name"] for c in reply.tool_calls))
        usage = UsageMetadata(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
        )
        reply.usage_metadata = usage
        reply.response_metadata = {"model_name": self.model_name, "finish_reason": _finish(reply)}
        return ChatResult(
            generations=[ChatGeneration(message=reply)],
            llm_output={"model_name": self.model_name, "token_usage": dict(usage)},
        )


def _finish(reply: AIMessage) -> str:
    return "tool_calls" if reply.tool_calls else "stop"
