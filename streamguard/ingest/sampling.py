"""Choosing which decoded frames get analysed, and measuring frame rates.

Every frame is decoded (inter-frame codecs need them all) but only the sampled ones are converted to RGB
and handed on, at no more than `analysis_fps` by media time.
"""

from __future__ import annotations

import threading
import time

# Slack for float rounding of timestamps: 25 fps sampled at 5 fps lands exactly on every 5th frame.
SAMPLE_EPS_S = 1e-3
# A timestamp this far behind the last one is a discontinuity (new RTSP session, stream reset), not jitter.
BACKWARD_JUMP_S = 1.0


class FrameSampler:
    """Pick frames so that samples are at least ``1/analysis_fps`` apart in media time.

    The next sample is due one period after the previous one (or, when a sample lands slightly early within
    `SAMPLE_EPS_S`, one period after its due time), so over any span of `D` seconds there are at most
    ``ceil(D * analysis_fps) + 1`` samples and never two closer than ``1/analysis_fps - SAMPLE_EPS_S``. The
    achieved rate is `analysis_fps` when the input rate is a multiple of it, else somewhat lower.

    Timestamps should be media time (pts in seconds) when the stream has it, else a monotonic clock. A jump
    backwards by more than `BACKWARD_JUMP_S` restarts the schedule; so does `reset`.

    Args:
        analysis_fps: Samples per second (> 0).

    Raises:
        ValueError: When `analysis_fps` is not positive.
    """

    def __init__(self, analysis_fps: float) -> None:
        if not analysis_fps > 0:
            raise ValueError(f"analysis_fps must be > 0, got {analysis_fps}")
        self.analysis_fps = analysis_fps
        self.period_s = 1.0 / analysis_fps
        self._next_due: float | None = None
        self._last_t: float | None = None

    def should_sample(self, t: float) -> bool:
        """Whether the frame at time `t` (seconds) is to be analysed; updates the schedule when it is."""
        if self._last_t is not None and t < self._last_t - BACKWARD_JUMP_S:
            self.reset()
        self._last_t = t
        if self._next_due is None:
            self._next_due = t + self.period_s
            return True
        if t < self._next_due - SAMPLE_EPS_S:
            return False
        self._next_due = max(t, self._next_due) + self.period_s
        return True

    def reset(self) -> None:
        """Forget the schedule: the next frame is sampled (call on reconnect or seek)."""
        self._next_due = None
        self._last_t = None


class RateMeter:
    """Events per second over consecutive windows of about `window_s`, smoothed by an EMA.

    Args:
        window_s: Length of a measuring window in seconds.
        alpha: Weight of the newest window in the EMA (1 = no smoothing).
    """

    def __init__(self, window_s: float = 1.0, alpha: float = 0.5) -> None:
        self.window_s = window_s
        self.alpha = alpha
        self._window_start: float | None = None
        self._count = 0
        self._rate = 0.0

    @property
    def rate(self) -> float:
        """The latest smoothed rate in events per second (0 before the first full window)."""
        return self._rate

    def tick(self, now: float, count: int = 1) -> float:
        """Record `count` events at monotonic time `now`; returns the current rate."""
        if self._window_start is None:
            self._window_start = now
        self._count += count
        elapsed = now - self._window_start
        if elapsed >= self.window_s:
            measured = self._count / elapsed
            self._rate = measured if self._rate == 0.0 else self.alpha * measured + (1 - self.alpha) * self._rate
            self._window_start = now
            self._count = 0
        return self._rate

    def reset(self) -> None:
        """Forget everything (the stream went down): the rate reads 0 until a new window completes."""
        self._window_start = None
        self._count = 0
        self._rate = 0.0


# A pts jump this large (seconds) is a discontinuity, not a reason to sleep.
_MAX_PACING_SLEEP_S = 5.0
# Running this far behind the clock (seconds) re-anchors pacing instead of rushing to catch up.
_MAX_PACING_LAG_S = 1.0


class RealtimePacer:
    """Sleeps so that frames are released at the pace of their media time.

    Args:
        stop: Set to interrupt a sleep at once.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._anchor: tuple[float, float] | None = None  # (media seconds, monotonic)

    def wait(self, media_t: float | None) -> None:
        """Wait until the frame at `media_t` (seconds) is due; returns early when the stop event is set."""
        if media_t is None:
            return
        now = time.monotonic()
        if self._anchor is None:
            self._anchor = (media_t, now)
            return
        anchor_t, anchor_mono = self._anchor
        delay = anchor_mono + (media_t - anchor_t) - now
        if delay > _MAX_PACING_SLEEP_S or delay < -_MAX_PACING_LAG_S:
            self._anchor = (media_t, now)
        elif delay > 0:
            self._stop.wait(delay)

    def reset(self) -> None:
        """Re-anchor on the next frame (after an error and a pause)."""
        self._anchor = None
