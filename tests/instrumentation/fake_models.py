"""Fake chat models for tests (no network): tool calling, usage metadata, streaming."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk


class ToolCallingFakeModel(FakeMessagesListChatModel):
    """Replays scripted AIMessages (with tool_calls and usage_metadata); binds any tools."""

    model_name: str = "fake-gpt"
    temperature: float = 0.2

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature}

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFakeModel:
        return self

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        response = self.responses[self.i % len(self.responses)]
        self.i += 1
        words = str(response.content).split(" ")
        for n, word in enumerate(words):
            last = n == len(words) - 1
            chunk = AIMessageChunk(
                content=word if n == 0 else " " + word,
                usage_metadata=response.usage_metadata if last else None,
            )
            gen = ChatGenerationChunk(message=chunk)
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.content, chunk=gen)
            yield gen


def ai(content: str = "", *, tool_calls: list[dict[str, Any]] | None = None, usage=(10, 5)):
    inp, out = usage
    return AIMessage(
        content=content,
        tool_calls=tool_calls or [],
        usage_metadata={"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out},
    )
