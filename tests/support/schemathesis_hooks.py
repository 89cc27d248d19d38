"""Schemathesis hooks for fuzzing the daemon (``SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks``).

WHIP bodies are ``application/sdp``, which is text: send generated values the way ``text/plain`` is sent.
"""

import schemathesis

schemathesis.serializer.alias("application/sdp", "text/plain")
