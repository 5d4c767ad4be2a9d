"""The all-in-one stack behind ``swisper-studio up``: servers, schema, project, collector, API.

``AllInOne.start()`` does, in order:

1. Redis and PostgreSQL: the configured URLs, or embedded servers (collector/embedded.py) with
   their data under ``data_dir``;
2. migrations (``migrate``);
3. the default project and its API key: reused from ``data_dir/credentials.json`` (mode 0600)
   while that key is still valid, else a new key is made (a key is stored only as a hash in the
   database, so the file is the only place it can be read again);
4. ``swisper-studio collector`` and ``swisper-studio api`` as child processes, each in its own
   process group, with their logs in ``data_dir/logs``;
5. waits for the API's ``/ready``, and writes ``data_dir/runtime.json`` (URLs and pids) so
   ``status``, ``tail`` and ``demo`` in another terminal find the stack.

``stop()`` undoes all of it in reverse order, each child with SIGTERM, a bounded wait and
SIGKILL of its whole process group, so nothing is left behind. Library code: it logs, the CLI
prints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from swisper_studio.collector.embedded import die_with_parent

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DEFAULT_DATA_DIR = ".swisper-studio"
DEFAULT_PROJECT_ID = "default"
DEFAULT_PROJECT_NAME = "Default project"
CREDENTIALS_FILE = "credentials.json"
RUNTIME_FILE = "runtime.json"


class StartupError(RuntimeError):
    """The stack could not be brought up (the message names the log to read)."""


@dataclass(frozen=True)
class UpConfig:
    """What ``swisper-studio up`` starts; ``None`` URLs mean embedded servers."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    redis_url: str | None = None
    database_url: str | None = None
    project_id: str = DEFAULT_PROJECT_ID
    project_name: str = DEFAULT_PROJECT_NAME
    dev: bool = False
    ready_timeout_s: float = 60.0
    stop_timeout_s: float = 15.0
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Credentials:
    project_id: str
    api_key: str
    reused: bool = False


# --- credentials -------------------------------------------------------------------------------


def load_credentials(data_dir: Path) -> Credentials | None:
    path = Path(data_dir) / CREDENTIALS_FILE
    try:
        raw = json.loads(path.read_text())
        return Credentials(project_id=str(raw["project_id"]), api_key=str(raw["api_key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_credentials(data_dir: Path, credentials: Credentials) -> Path:
    """Write the key readable by the owner only (created 0600, never world-readable)."""
    path = Path(data_dir) / CREDENTIALS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"project_id": credentials.project_id, "api_key": credentials.api_key})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(payload + "\n")
    os.chmod(path, 0o600)
    return path


def ensure_project(database_url: str, data_dir: Path, project_id: str, name: str) -> Credentials:
    """The project's key from the credentials file if still valid, else a new one (saved)."""
    import psycopg
    from swisper_studio.collector.projects import (
        ProjectExistsError,
        authenticate,
        create_api_key,
        create_project,
    )

    stored = load_credentials(data_dir)
    with psycopg.connect(database_url) as conn:
        if (
            stored
            and stored.project_id == project_id
            and authenticate(conn, stored.api_key) == project_id
        ):
            return Credentials(project_id, stored.api_key, reused=True)
        try:
            _, api_key = create_project(conn, name, project_id=project_id)
        except ProjectExistsError:
            api_key = create_api_key(conn, project_id, name="swisper-studio up")
        conn.commit()
    credentials = Credentials(project_id, api_key)
    save_credentials(data_dir, credentials)
    return credentials


# --- child processes ---------------------------------------------------------------------------


def cli_command() -> list[str]:
    """How to run ``swisper-studio`` with this interpreter (console script if installed)."""
    script = Path(sys.executable).with_name("swisper-studio")
    if script.exists():
        return [str(script)]
    found = shutil.which("swisper-studio")
    if found and Path(found).parent == Path(sys.executable).parent:
        return [found]
    return [sys.executable, "-c", "from swisper_studio.collector.cli import main; main()"]


class ChildProcess:
    """One ``swisper-studio <command>`` child in its own process group, logging to a file."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_path: Path):
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        logger.info("started %s (pid %d): %s", self.name, self.process.pid, " ".join(self.args))

    def exited(self) -> int | None:
        """The exit code if the child has exited, else None."""
        return self.process.poll() if self.process else None

    def stop(self, timeout: float) -> int | None:
        """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL the group."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
        self._signal_group(signal.SIGKILL)  # stragglers in the group (none if it exited cleanly)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        return process.returncode

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def http_ready(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


# --- the stack ---------------------------------------------------------------------------------


class AllInOne:
    """Bring the whole pipeline up on loopback and take it down again (see module docstring)."""

    def __init__(self, config: UpConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir).resolve()
        self.redis_url: str | None = config.redis_url
        self.database_url: str | None = config.database_url
        self.credentials: Credentials | None = None
        self.children: list[ChildProcess] = []
        self._embedded: list = []
        self._stopped = False
        self._wrote_runtime = False

    @property
    def api_url(self) -> str:
        host = self.config.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.config.port}"

    @property
    def embedded(self) -> bool:
        return bool(self._embedded)

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def start(self) -> AllInOne:
        """Start everything; on any failure (or Ctrl-C) stop what was started and re-raise."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._check_free()
            self._start_servers()
            self._prepare_database()
            self._start_children()
            self._wait_ready()
            self._write_runtime()
        except BaseException:
            self.stop()
            raise
        return self

    def _check_free(self) -> None:
        """Refuse to share a data folder or a port with another running stack."""
        other = load_runtime(self.data_dir)
        if other is not None and other.pid != os.getpid():
            raise StartupError(
                f"another swisper-studio up (pid {other.pid}, {other.api_url}) uses "
                f"{self.data_dir}; stop it or choose another --data-dir"
            )
        try:
            socket.create_server((self.config.host, self.config.port)).close()
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {self.config.host}:{self.config.port} ({exc.strerror}); "
                "choose another --port"
            ) from None

    def _start_servers(self) -> None:
        from swisper_studio.collector.embedded import EmbeddedPostgres, EmbeddedRedis

        if self.redis_url is None:
            server = EmbeddedRedis(self.data_dir / "valkey")
            self._embedded.append(server)
            self.redis_url = server.start()
        if self.database_url is None:
            server = EmbeddedPostgres(self.data_dir / "pgdata")
            self._embedded.append(server)
            self.database_url = server.start()

    def _prepare_database(self) -> None:
        from swisper_studio.collector.migrate import migrate

        assert self.database_url is not None
        applied = migrate(self.database_url)
        if applied:
            logger.info("applied migrations: %s", ", ".join(applied))
        self.credentials = ensure_project(
            self.database_url, self.data_dir, self.config.project_id, self.config.project_name
        )

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.config.extra_env)
        env.update(
            {
                "SWISPER_STUDIO_REDIS_URL": str(self.redis_url),
                "SWISPER_STUDIO_DATABASE_URL": str(self.database_url),
                "SWISPER_STUDIO_API_HOST": self.config.host,
                "SWISPER_STUDIO_API_PORT": str(self.config.port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _start_children(self) -> None:
        cli, env = cli_command(), self.child_env()
        api_args = [*cli, "api", "--host", self.config.host, "--port", str(self.config.port)]
        if self.config.dev:
            api_args.append("--dev")
        for name, args in (("collector", [*cli, "collector"]), ("api", api_args)):
            child = ChildProcess(name, args, env, self.log_dir / f"{name}.log")
            self.children.append(child)
            child.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_s
        ready_url = self.api_url + "/ready"
        while not http_ready(ready_url):
            dead = self.dead_child()
            if dead is not None:
                raise StartupError(
                    f"{dead.name} exited with code {dead.exited()} during start-up; "
                    f"log {dead.log_path}:\n{dead.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StartupError(f"{ready_url} not ready after {self.config.ready_timeout_s}s")
            time.sleep(0.1)

    def dead_child(self) -> ChildProcess | None:
        """The first child that has exited, if any (``up`` treats that as a failure)."""
        return next((child for child in self.children if child.exited() is not None), None)

    def pids(self) -> dict[str, int]:
        pids = {child.name: child.pid for child in self.children if child.pid}
        for server in self._embedded:
            pid = getattr(server, "pid", None) or getattr(
                getattr(server, "process", None), "pid", None
            )
            if pid:
                pids[type(server).__name__] = pid
        return pids

    def _write_runtime(self) -> None:
        runtime = {
            "pid": os.getpid(),
            "api_url": self.api_url,
            "redis_url": self.redis_url,
            "database_url": self.database_url,
            "project_id": self.config.project_id,
            "embedded": self.embedded,
            "children": self.pids(),
        }
        (self.data_dir / RUNTIME_FILE).write_text(json.dumps(runtime, indent=2) + "\n")
        self._wrote_runtime = True

    def stop(self) -> None:
        """Stop the API, then the collector (it finishes and acks its batch), then the servers."""
        if self._stopped:
            return
        self._stopped = True
        for child in reversed(self.children):
            code = child.stop(self.config.stop_timeout_s)
            logger.info("%s stopped (exit code %s)", child.name, code)
        for server in reversed(self._embedded):
            try:
                server.stop()
            except Exception:
                logger.exception("could not stop %s", type(server).__name__)
        if self._wrote_runtime:  # never another stack's file
            with contextlib.suppress(OSError):
                (self.data_dir / RUNTIME_FILE).unlink()

    def __enter__(self) -> AllInOne:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def count_traces(database_url: str, project_id: str) -> int:
    """Finished traces of a project (their root span has ended)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM traces WHERE project_id = %s AND status <> 'RUNNING'",
            (project_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for_traces(database_url: str, project_id: str, expected: int, timeout: float) -> int:
    """Poll until at least ``expected`` finished traces are stored; returns the last count."""
    deadline = time.monotonic() + timeout
    count = count_traces(database_url, project_id)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = count_traces(database_url, project_id)
    return count


@dataclass(frozen=True)
class Runtime:
    """What a running ``up`` wrote to ``runtime.json`` (for ``status``, ``tail``, ``demo``)."""

    pid: int
    api_url: str
    redis_url: str
    database_url: str
    project_id: str = DEFAULT_PROJECT_ID
    embedded: bool = False
    children: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def load_runtime(data_dir: Path | str = DEFAULT_DATA_DIR) -> Runtime | None:
    """The running stack's runtime file, or None when there is none or its ``up`` is gone."""
    try:
        raw = json.loads((Path(data_dir) / RUNTIME_FILE).read_text())
        runtime = Runtime(**raw)
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(runtime.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return runtime
