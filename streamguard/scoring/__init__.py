"""Per-track rolling windows of P(fake) and hysteresis alerts; time is always passed in, never read here."""

from __future__ import annotations

from streamguard.scoring.alerts import (
    AlertIdFactory,
    StreamScorer,
    TrackAlertState,
    new_alert_id,
)
from streamguard.scoring.window import RollingWindow

__all__ = [
    "AlertIdFactory",
    "RollingWindow",
    "StreamScorer",
    "TrackAlertState",
    "new_alert_id",
]
