"""Stopping the real servers the tests start (redis-server, tritonserver): by their own PID, never by name."""

from __future__ import annotations

import contextlib
import signal
import subprocess


def signal_and_reap(process: subprocess.Popen[bytes], signum: signal.Signals, timeout_s: float) -> None:
    """Send `signum` to a running `process` and wait for it; SIGKILL it when it outlives `timeout_s`."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
