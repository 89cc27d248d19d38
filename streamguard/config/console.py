"""The operator console: who may open it and what its previews cost."""

from __future__ import annotations

from pydantic import Field

from streamguard.config.base import StrictModel


class ConsoleConfig(StrictModel):
    """The web console served at ``/`` (streams, live previews, alerts feed, alert detail, acknowledgements)."""

    enabled: bool = Field(default=True, description="Serve the console at / on the daemon's HTTP server.")
    read_only_without_token: bool = Field(
        default=False,
        description=(
            "Without an API token (api.token / STREAMGUARD_API_TOKEN) the console is refused; true serves it "
            "read-only to anyone who can reach the server instead (no acknowledge or dismiss)."
        ),
    )
    preview_fps: float = Field(
        default=2.0, gt=0, le=10, description="Highest rate at which a stream's preview JPEG is re-drawn for viewers."
    )
    preview_width: int = Field(
        default=640, ge=160, le=1920, description="Width of preview JPEGs in pixels (frames are scaled down to it)."
    )
    max_feeds: int = Field(
        default=32, ge=1, le=1000, description="Concurrent alerts-feed connections (each holds a Redis connection)."
    )
    backlog: int = Field(
        default=100, ge=0, le=10000, description="Alerts-stream entries replayed to a new alerts-feed connection."
    )
    login_failures_per_minute: int = Field(
        default=10, ge=0, description="Failed console logins per address per minute before 429; 0: no limit."
    )
    session_max_age_s: int = Field(
        default=12 * 3600, ge=60, description="Lifetime of a console login (the session cookie's Max-Age)."
    )
