"""The composition root: `Daemon` wires config into running stages; `StreamWorker` runs one stream."""

from streamguard.daemon.core import Daemon, StreamHandle, stream_state

__all__ = ["Daemon", "StreamHandle", "stream_state"]
