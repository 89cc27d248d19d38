"""Files and URLs read with PyAV (mp4/mkv/webm, HTTP, HLS): replays, demos and tests.

``loop`` starts again at the end with timestamps continuing; ``realtime`` paces decoding at the native frame
rate (by pts), which turns a file into a stand-in for a live camera.
"""

from __future__ import annotations

import enum
import threading
from contextlib import closing

import av.container
import av.video.stream

from streamguard.errors import StreamError
from streamguard.ingest.backoff import Backoff
from streamguard.ingest.base import EventCallback
from streamguard.ingest.decode import DECODE_ERRORS, describe_error, iter_frames, open_video
from streamguard.ingest.feed import DEFAULT_MAX_PIXELS
from streamguard.ingest.sampling import RealtimePacer
from streamguard.ingest.threaded import ThreadedSource

REMOTE_SCHEMES = ("http://", "https://")


class _Outcome(enum.Enum):
    EOF = "end of file"
    FAILED = "failed"
    STOPPED = "closed"


class FileSource(ThreadedSource):
    """A video file or URL decoded with PyAV in a daemon thread.

    Args:
        stream_id: The stream's id.
        url_or_path: Local path, ``file:`` / ``http(s)://`` URL or HLS playlist.
        analysis_fps: Samples per second of media time.
        loop: Start again at the end (timestamps keep increasing).
        realtime: Pace decoding at the native frame rate.
        queue_size: Sampled frames waiting for analysis.
        max_pixels: Larger sampled frames are dropped (``frame_too_large``) before conversion.
        open_timeout_s: Limit for opening (network URLs).
        read_timeout_s: Limit for one blocking read (network URLs).
        on_event: Optional subscriber to `SourceEvent`s.
        retry: On a failure, retry with backoff instead of ending (default: end with a clear error, so a
            broken file does not spin).
        drop_oldest: When analysis falls behind, drop the oldest sample (``True``) or block decoding
            (``False``, every sample analysed). Default: drop when `realtime` or remote, block otherwise.
        backoff_initial_s: First retry delay (with `retry`).
        backoff_max_s: Largest retry delay (with `retry`).
        backoff_jitter: Relative jitter of retry delays.
    """

    kind = "file"

    def __init__(
        self,
        stream_id: str,
        url_or_path: str,
        analysis_fps: float = 5.0,
        loop: bool = False,
        realtime: bool = False,
        queue_size: int = 2,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        on_event: EventCallback | None = None,
        *,
        retry: bool = False,
        drop_oldest: bool | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        backoff_jitter: float = 0.2,
    ) -> None:
        if drop_oldest is None:
            drop_oldest = realtime or url_or_path.startswith(REMOTE_SCHEMES)
        super().__init__(
            stream_id,
            url_or_path,
            analysis_fps=analysis_fps,
            queue_size=queue_size,
            max_pixels=max_pixels,
            drop_oldest=drop_oldest,
            on_event=on_event,
            join_timeout_s=read_timeout_s + 1.0,
        )
        self.loop = loop
        self.realtime = realtime
        self.retry = retry
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, backoff_jitter)
        self._pacer = RealtimePacer(self._stop) if realtime else None
        self._feed.pacer = self._pacer

    def _run(self, stop: threading.Event) -> str:
        while not stop.is_set():
            outcome = self._play_once(stop)
            if outcome is _Outcome.STOPPED:
                break
            if outcome is _Outcome.EOF:
                if not self.loop:
                    return _Outcome.EOF.value
                self._feed.timeline.new_segment()
                continue
            if not self.retry:
                return f"failed: {self.stats.last_error}"
            delay = self._backoff.next_delay()
            if self._clock.wait(stop, delay):
                break
            self._reporter.reconnect(delay)
        return _Outcome.STOPPED.value

    def _play_once(self, stop: threading.Event) -> _Outcome:
        try:
            container, stream = open_video(
                self._url, open_timeout_s=self.open_timeout_s, read_timeout_s=self.read_timeout_s
            )
        except StreamError as e:
            return self._failed(str(e))
        self._reporter.opened()
        with closing(container):
            try:
                decoded = self._decode(container, stream, stop)
            except StreamError as e:
                return self._failed(self._redact(str(e)))
            except DECODE_ERRORS as e:
                return self._failed(f"read failed: {describe_error(e, self._url)}")
        if stop.is_set() or self._feed.closed:
            return _Outcome.STOPPED
        if decoded == 0:
            return self._failed("no decodable video frames")
        self._backoff.reset()
        return _Outcome.EOF

    def _decode(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream, stop: threading.Event
    ) -> int:
        decoded = 0
        for frame in iter_frames(container, stream, stop):
            if decoded == 0:
                self._reporter.up()
            decoded += 1
            if not self._feed.offer(frame) or stop.is_set():
                break
        return decoded

    def _failed(self, message: str) -> _Outcome:
        self._went_down(message)
        if self._pacer is not None:
            self._pacer.reset()
        return _Outcome.FAILED
