"""Score less where nothing happens: a track that has been confidently real for a while is scored less often.

Most faces on most streams are real most of the time. A track whose level (window mean, or EMA) has stayed
below `CadenceOptions.calm_below` for `CadenceOptions.calm_after_s`, with no alert open, is scored on one
sample in `CadenceOptions.calm_every`; any score at or above `calm_below` puts it back to every sample at once.
An attack that starts mid-stream therefore waits at most ``calm_every - 1`` samples for its first score, and
the alert rules then run at the full rate (the added delay is measured in docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CadenceOptions:
    """When a track counts as calm and how often a calm track is scored.

    Attributes:
        calm_every: A calm track is scored on one sample in this many; 1 scores every sample.
        calm_below: Level under which a track may become calm.
        calm_after_s: Seconds the level must stay under `calm_below` before the track is calm.
    """

    calm_every: int = 3
    calm_below: float = 0.45
    calm_after_s: float = 3.0

    def __post_init__(self) -> None:
        if self.calm_every < 1:
            raise ValueError(f"calm_every must be at least 1, got {self.calm_every}")


class ScoringCadence:
    """One stream's decision, per track and sample, whether to score the face.

    Example:
        >>> cadence = ScoringCadence(CadenceOptions(calm_every=2, calm_after_s=1.0))
        >>> [cadence.wants(7, level=0.1, alert_open=False, now=t / 5) for t in range(9)]
        [True, True, True, True, True, False, True, False, True]
    """

    def __init__(self, options: CadenceOptions | None = None) -> None:
        self.options = options or CadenceOptions()
        self._calm_since: dict[int, float] = {}
        self._calm_samples: dict[int, int] = {}

    def wants(self, track_id: int, *, level: float | None, alert_open: bool, now: float) -> bool:
        """Whether to score track `track_id` on this sample, given its current level and alert."""
        opts = self.options
        if opts.calm_every == 1 or alert_open or level is None or level >= opts.calm_below:
            self._calm_since.pop(track_id, None)
            self._calm_samples.pop(track_id, None)
            return True
        since = self._calm_since.setdefault(track_id, now)
        if now - since < opts.calm_after_s:
            return True
        count = self._calm_samples.get(track_id, 0) + 1
        self._calm_samples[track_id] = count
        return count % opts.calm_every == 0

    def keep_only(self, track_ids: Collection[int]) -> None:
        """Drop the state of every track not in `track_ids` (the tracks still alive)."""
        for track_id in set(self._calm_since) - set(track_ids):
            del self._calm_since[track_id]
            self._calm_samples.pop(track_id, None)

    def reset(self) -> None:
        """Drop every track's state."""
        self._calm_since.clear()
        self._calm_samples.clear()
