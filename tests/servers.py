"""Real Redis and PostgreSQL servers for tests: throwaway, on free loopback ports.

Tests that stop and restart a server (fault injection) own one of these; the rest share the
session's servers (see conftest.py). Each class stops only the process it started.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a server that is still starting refuses connections
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    """A redis-server process on a free port, with no persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if not self.binary:
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="swisper-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.dir,
                "--logfile", os.path.join(self.dir, "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: _port_open(self.port), timeout=10, what=f"redis on :{self.port}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bindir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if candidates:
        return candidates[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return str(Path(initdb).parent)
    raise RuntimeError("PostgreSQL server binaries not found (initdb)")


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port (as user postgres when root)."""

    def __init__(self, port: int | None = None) -> None:
        self.bindir = _pg_bindir()
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="swisper-pg-")
        self.datadir = os.path.join(self.dir, "data")
        self._as_root = os.geteuid() == 0
        if self._as_root:
            subprocess.run(["chown", "postgres:", self.dir], check=True)
        os.chmod(self.dir, 0o700)
        self._run("initdb", "-D", self.datadir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # fmt: skip

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [os.path.join(self.bindir, tool), *args]
        return ["runuser", "-u", "postgres", "--", *cmd] if self._as_root else cmd

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(self._cmd(tool, *args), check=True, capture_output=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", self.datadir, "-l", os.path.join(self.dir, "server.log"),
                  "-w", "-t", "60", "start", "-o", opts)  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        pidfile = os.path.join(self.datadir, "postmaster.pid")
        if os.path.exists(pidfile):
            subprocess.run(
                self._cmd("pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop"),
                capture_output=True,
            )

    def kill(self) -> None:
        """Stop the server the hard way (SIGKILL of the postmaster)."""
        pidfile = os.path.join(self.datadir, "postmaster.pid")
        if os.path.exists(pidfile):
            pid = int(Path(pidfile).read_text().split()[0])
            os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
