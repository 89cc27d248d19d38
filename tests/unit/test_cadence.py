"""Score less where nothing happens: calm tracks are scored on one sample in `calm_every`."""

from __future__ import annotations

import pytest

from streamguard.scoring.cadence import CadenceOptions, ScoringCadence

FPS = 5.0


def decisions(cadence: ScoringCadence, levels: list[float], *, track: int = 1, alert_open: bool = False) -> list[bool]:
    return [cadence.wants(track, level=lv, alert_open=alert_open, now=i / FPS) for i, lv in enumerate(levels)]


def test_a_track_calm_for_long_enough_is_scored_one_sample_in_n() -> None:
    cadence = ScoringCadence(CadenceOptions(calm_every=3, calm_below=0.3, calm_after_s=1.0))
    wanted = decisions(cadence, [0.1] * 14)
    assert wanted[:5] == [True] * 5  # calm for less than a second
    assert wanted[5:] == [False, False, True] * 3


def test_one_level_at_calm_below_restores_every_sample() -> None:
    cadence = ScoringCadence(CadenceOptions(calm_every=3, calm_below=0.3, calm_after_s=1.0))
    decisions(cadence, [0.1] * 10)
    assert cadence.wants(1, level=0.3, alert_open=False, now=2.0)
    # The calm clock restarts: a second of low levels before skipping again.
    assert [cadence.wants(1, level=0.1, alert_open=False, now=2.0 + i / FPS) for i in range(1, 6)] == [True] * 5


def test_an_open_alert_or_an_unknown_level_is_always_scored() -> None:
    cadence = ScoringCadence(CadenceOptions(calm_every=4, calm_below=0.5, calm_after_s=0.0))
    assert all(decisions(cadence, [0.1] * 8, alert_open=True))
    assert cadence.wants(2, level=None, alert_open=False, now=0.0)


def test_tracks_are_independent_and_forgotten_when_they_end() -> None:
    cadence = ScoringCadence(CadenceOptions(calm_every=2, calm_below=0.3, calm_after_s=0.0))
    assert cadence.wants(1, level=0.1, alert_open=False, now=0.0) is False
    assert cadence.wants(2, level=0.9, alert_open=False, now=0.0) is True
    cadence.keep_only({2})
    assert cadence.wants(1, level=0.1, alert_open=False, now=0.2) is False  # a fresh count: first calm sample
    cadence.reset()
    assert cadence.wants(1, level=0.1, alert_open=False, now=0.4) is False


def test_calm_every_one_scores_every_sample() -> None:
    cadence = ScoringCadence(CadenceOptions(calm_every=1, calm_after_s=0.0))
    assert all(decisions(cadence, [0.0] * 10))


def test_calm_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CadenceOptions(calm_every=0)
