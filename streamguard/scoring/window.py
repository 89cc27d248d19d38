"""A time-based rolling window of scores: the paper's video rule (mean over the window) plus an optional EMA."""

from __future__ import annotations

import bisect
import math
from collections import deque


class RollingWindow:
    """Samples ``(ts, value)`` of the last `window_s` seconds, with their mean, maximum and an optional EMA.

    Time is always passed in; the window never reads a clock. A sample is kept while ``ts >= now -
    window_s``: `prune(now)` drops exactly the samples older than that. Samples are kept sorted by time (one
    that arrives late is inserted in place). Aggregates are recomputed from the samples (a window holds a
    few seconds of a few frames per second), so they are exact rather than a drifting running sum.

    Args:
        window_s: Window length in seconds (> 0).
        ema_alpha: Weight of the newest sample in the exponential moving average, in (0, 1]; ``None``
            disables the EMA. The EMA is per sample, in arrival order, and is not affected by `prune`.
    """

    def __init__(self, window_s: float, ema_alpha: float | None = None) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        if ema_alpha is not None and not 0 < ema_alpha <= 1:
            raise ValueError(f"ema_alpha must be in (0, 1], got {ema_alpha}")
        self.window_s = window_s
        self.ema_alpha = ema_alpha
        self._samples: deque[tuple[float, float]] = deque()
        self._ema: float | None = None

    def add(self, ts: float, value: float) -> None:
        """Add one sample (it is not pruned here; call `prune`)."""
        sample = (ts, value)
        if not self._samples or ts >= self._samples[-1][0]:
            self._samples.append(sample)
        else:
            bisect.insort(self._samples, sample)
        if self.ema_alpha is not None:
            self._ema = value if self._ema is None else self.ema_alpha * value + (1 - self.ema_alpha) * self._ema

    def prune(self, now: float) -> int:
        """Drop the samples older than ``now - window_s``; return how many were dropped."""
        cutoff = now - self.window_s
        dropped = 0
        while self._samples and self._samples[0][0] < cutoff:
            self._samples.popleft()
            dropped += 1
        return dropped

    def clear(self) -> None:
        """Forget every sample and the EMA."""
        self._samples.clear()
        self._ema = None

    @property
    def n(self) -> int:
        """Number of samples in the window."""
        return len(self._samples)

    @property
    def mean(self) -> float | None:
        """Mean value of the samples in the window, or ``None`` when it is empty."""
        if not self._samples:
            return None
        return math.fsum(value for _, value in self._samples) / len(self._samples)

    @property
    def max(self) -> float | None:
        """Largest value in the window, or ``None`` when it is empty."""
        if not self._samples:
            return None
        return max(value for _, value in self._samples)

    @property
    def ema(self) -> float | None:
        """Exponential moving average of all samples added, or ``None`` (no EMA configured, or no sample)."""
        return self._ema

    @property
    def oldest_ts(self) -> float | None:
        """Time of the oldest sample in the window, or ``None`` when it is empty."""
        return self._samples[0][0] if self._samples else None

    @property
    def newest_ts(self) -> float | None:
        """Time of the newest sample in the window, or ``None`` when it is empty."""
        return self._samples[-1][0] if self._samples else None
