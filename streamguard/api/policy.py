"""Which streams a caller of the runtime API may add: an allowlist of URL schemes, hosts and local folders.

The API answers whoever holds the token, over the network: without this check a caller could make the daemon
fetch any URL its pod can reach (server-side request forgery into the cluster) or open any local file and
show its frames in the console's previews. Streams from the configuration file are the operator's own and
are not checked; streams restored from earlier API calls are, so that a tightened policy applies to them too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from streamguard.config import ApiConfig, StreamConfig
from streamguard.errors import ConfigError
from streamguard.ingest.factory import split_local_options
from streamguard.types import RefusalReason


@dataclass(frozen=True)
class Refusal:
    """A refused stream: the reason (for the metric) and the words for the caller (never the URL itself)."""

    reason: RefusalReason
    message: str


@dataclass(frozen=True)
class StreamPolicy:
    """The allowlist streams added through the API must pass.

    Attributes:
        schemes: Allowed URL schemes of remote sources (``rtsp``, ``rtsps``, ``http``, ``https``).
        hosts: Allowed hosts: IP networks, exact lower-case names and ``*.suffix`` patterns; empty: any host.
        path_roots: Folders whose files may be read (resolved, links followed); empty: no local file.
    """

    schemes: frozenset[str]
    hosts: tuple[str, ...] = ()
    path_roots: tuple[Path, ...] = ()

    @classmethod
    def from_config(cls, config: ApiConfig) -> StreamPolicy:
        """The policy of the ``api`` section."""
        roots = tuple(root.expanduser().resolve() for root in config.allowed_path_roots)
        return cls(frozenset(s.value for s in config.allowed_url_schemes), tuple(config.allowed_hosts), roots)

    def refusal(self, stream: StreamConfig) -> Refusal | None:
        """Why `stream` may not be added, or None when it may (WebRTC streams are pushed: always allowed)."""
        url = stream.url
        if url is None:
            return None
        scheme, sep, _ = url.partition("://")
        if not sep or scheme.lower() == "file":
            return self._local_refusal(url)
        scheme = scheme.lower()
        if scheme not in self.schemes:
            allowed = ", ".join(sorted(self.schemes)) or "none"
            return Refusal(
                RefusalReason.SCHEME_NOT_ALLOWED, f"{scheme}:// is not allowed (api.allowed_url_schemes: {allowed})"
            )
        host = (urlsplit(url).hostname or "").lower()
        if self.hosts and not any(_host_matches(host, allowed) for allowed in self.hosts):
            return Refusal(RefusalReason.HOST_NOT_ALLOWED, f"host {host!r} is not in api.allowed_hosts")
        return None

    def _local_refusal(self, url: str) -> Refusal | None:
        if not self.path_roots:
            return Refusal(
                RefusalReason.PATH_NOT_ALLOWED, "local files are not allowed (api.allowed_path_roots is empty)"
            )
        try:
            path_text, _ = split_local_options(url)
        except ConfigError as e:
            return Refusal(RefusalReason.PATH_NOT_ALLOWED, str(e))
        path = Path(path_text).expanduser().resolve()  # links and '..' resolved before the comparison
        if any(path.is_relative_to(root) for root in self.path_roots):
            return None
        return Refusal(RefusalReason.PATH_NOT_ALLOWED, "the file is outside api.allowed_path_roots")


def _host_matches(host: str, allowed: str) -> bool:
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    try:
        network = ipaddress.ip_network(allowed, strict=False)
    except ValueError:
        return host == allowed
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:  # a name is never resolved here: resolving now says nothing of what the source will reach
        return False
