"""The daemon's one HTTP server: health, readiness and metrics (stream API and WHIP mount here too)."""

from streamguard.api.server import HttpServer, ReadinessProbe, build_app

__all__ = ["HttpServer", "ReadinessProbe", "build_app"]
