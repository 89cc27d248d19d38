"""A real RTSP server for tests and benchmarks: `aio-rtsp-toolkit`'s file server in a child process on 127.0.0.1.

It serves every ``.mp4`` / ``.mkv`` under `media_dir` as ``rtsp://127.0.0.1:PORT/<relative path>`` (RTSP
over TCP, interleaved), H.264 passed through without re-encoding; ``?play_count=0`` loops forever with
continuous RTP timestamps. Files can be added while it runs. The process is started, killed and restarted
on the same port by PID, which is how the fault tests cut a camera off.

The server runs with ``python -c`` instead of the toolkit's ``rtsp-server`` script because that script
always opens a second (control) port, 8553 by default, which would collide between parallel tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

_LAUNCHER = """
import asyncio, sys
from concurrent.futures import ThreadPoolExecutor
import aio_rtsp_toolkit.server as server

async def main():
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=int(sys.argv[4])))
    await server.serve(sys.argv[1], host=sys.argv[2], port=int(sys.argv[3]))

asyncio.run(main())
"""
MAX_SESSIONS = 64
"""Sessions the server can stream at once. Each playing session holds a thread of asyncio's default executor
for as long as it plays (its file reader), and that executor has only ``cpu_count + 4`` threads (6 on two cores):
past that, sessions got no data until another one ended, so a 7th camera stalled."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class RtspServer:
    """One RTSP server process; `start`, `kill`, `stop` and `restart` keep the same port.

    Args:
        media_dir: Directory whose files are served (created if missing).
        port: TCP port; a free one by default.
        host: Bind address.
        log_path: Where the server's output goes (default: ``media_dir/../rtsp-server.log``).
    """

    def __init__(
        self, media_dir: Path, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None
    ) -> None:
        self.media_dir = Path(media_dir)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_path = log_path or self.media_dir.parent / f"rtsp-server-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def url(self, name: str, *, loop: bool = True, user: str | None = None, password: str | None = None) -> str:
        """The RTSP URL of `name` (a path under `media_dir`), looping forever by default."""
        auth = ""
        if user is not None:
            auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "") + "@"
        query = "?play_count=0" if loop else "?play_count=1"
        return f"rtsp://{auth}{self.host}:{self.port}/{name}{query}"

    def start(self, timeout: float = 10.0) -> RtspServer:
        """Start the process and wait until the port accepts connections."""
        if self.running:
            return self
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(self.media_dir), self.host, str(self.port), str(MAX_SESSIONS)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"RTSP server exited with {self._process.returncode}:\n{self.log_tail()}")
            if port_accepts(self.host, self.port):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"RTSP server did not listen on {self.host}:{self.port} in {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the process (a crashed camera: connections drop without a goodbye) and reap it."""
        self._signal(signal.SIGKILL, wait=5.0)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if not self.running:
            return
        try:
            self._signal(signal.SIGTERM, wait=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets but sends nothing (a hung camera)."""
        if self._process is not None and self.running:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        if self._process is not None and self.running:
            os.kill(self._process.pid, signal.SIGCONT)

    def restart(self, timeout: float = 10.0) -> RtspServer:
        """Kill if running, then start again on the same port."""
        self.kill()
        return self.start(timeout)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _signal(self, signum: int, wait: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signum)
        process.wait(timeout=wait)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
