"""Opening a container with PyAV and iterating its video frames, with errors turned into redacted messages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import av
import av.container
import av.error
import av.video.stream

from streamguard.errors import StreamError
from streamguard.redaction import redact_text

logger = logging.getLogger(__name__)

# A stream whose packets keep failing to decode is broken beyond concealment; give up on the connection.
MAX_CONSECUTIVE_DECODE_ERRORS = 50

DECODE_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError)


class StallError(StreamError):
    """An open stream delivered no frame within the stall timeout."""


def describe_error(exc: BaseException, url: str) -> str:
    """A short, redacted description of a PyAV or socket error (without the URL it usually echoes)."""
    if isinstance(exc, av.error.ExitError):
        return "timed out"
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return redact_text(f"{reason} ({type(exc).__name__})", [url])


class VideoOpener(Protocol):
    """Opens a URL and its video stream: `open_video`, or a scripted camera in fault tests."""

    def __call__(
        self,
        url: str,
        *,
        options: dict[str, str] | None = None,
        open_timeout_s: float,
        read_timeout_s: float,
    ) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
        """Open `url`; raises `StreamError` when it cannot."""
        ...


def open_video(
    url: str,
    *,
    options: dict[str, str] | None = None,
    open_timeout_s: float,
    read_timeout_s: float,
) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open `url` and its first video stream, decoding with frame and slice threads (``thread_type="AUTO"``).

    Raises:
        StreamError: The container cannot be opened (message redacted), has no video stream, or its codec
            has no decoder.
    """
    started = time.monotonic()
    try:
        container = av.open(url, mode="r", options=options or {}, timeout=(open_timeout_s, read_timeout_s))
    except DECODE_ERRORS as e:
        limit = min(open_timeout_s, read_timeout_s)
        # A peer that accepts the connection but never answers surfaces as assorted errors at the timeout.
        if time.monotonic() - started >= 0.9 * limit:
            raise StreamError(f"cannot open: no answer within {limit:g} s ({describe_error(e, url)})") from e
        raise StreamError(f"cannot open: {describe_error(e, url)}") from e
    try:
        return container, _video_stream(container)
    except StreamError:
        container.close()
        raise


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(sorted({stream.type for stream in container.streams})) or "none"
        raise StreamError(f"no video stream (streams found: {kinds})")
    stream = container.streams.video[0]
    # PyAV gives no codec context when FFmpeg has no decoder for the stream's codec.
    if stream.codec_context is None:
        raise StreamError(f"unsupported codec: no decoder for video stream #{stream.index}")
    stream.thread_type = "AUTO"
    return stream


def iter_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    stop: threading.Event,
    on_packet: Callable[[], None] | None = None,
) -> Iterator[av.VideoFrame]:
    """Decode every video frame until the end of the stream or until `stop` is set.

    A packet that fails to decode is skipped (the codec conceals the damage); many in a row end the stream.
    `on_packet` runs before each packet is decoded (a watchdog may raise from it).

    Raises:
        StreamError: After `MAX_CONSECUTIVE_DECODE_ERRORS` undecodable packets in a row.
        av.error.FFmpegError: When reading from the container fails (timeouts included).
    """
    failures = 0
    for packet in container.demux(stream):
        if stop.is_set():
            return
        if on_packet is not None:
            on_packet()
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as e:
            failures += 1
            if failures >= MAX_CONSECUTIVE_DECODE_ERRORS:
                raise StreamError(f"{failures} packets in a row could not be decoded") from e
            continue
        failures = 0
        yield from frames
