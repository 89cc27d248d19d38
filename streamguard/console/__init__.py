"""The operator console: a web page of streams, live previews, alerts and their masks, served by the daemon."""

from streamguard.console.app import Console

__all__ = ["Console"]
