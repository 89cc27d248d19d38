"""Capped exponential backoff with jitter, for reconnecting to streams that went away."""

from __future__ import annotations

import math
import random


class Backoff:
    """Delays that double from `initial_s` up to `max_s`, each spread by ± `jitter` (a fraction).

    Jitter keeps many cameras that dropped together (a switch reboot) from reconnecting in lockstep.
    The un-jittered delay is capped first, and the jittered result is capped again, so no delay exceeds
    `max_s`.

    Args:
        initial_s: First delay in seconds (> 0).
        max_s: Largest delay in seconds (>= `initial_s`).
        jitter: Relative spread in [0, 1): a delay `d` becomes uniform in ``[d·(1-jitter), d·(1+jitter)]``.
        rng: Random source (seed it in tests); a private one by default.
        factor: Growth per attempt (> 1).

    Raises:
        ValueError: When an argument is out of range.
    """

    def __init__(
        self,
        initial_s: float = 0.5,
        max_s: float = 30.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
        factor: float = 2.0,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got initial_s={initial_s}, max_s={max_s}")
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        if factor <= 1.0:
            raise ValueError(f"factor must be > 1, got {factor}")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self.factor = factor
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last `reset`."""
        return self._attempt

    def base_delay(self, attempt: int) -> float:
        """The un-jittered delay of the `attempt`-th retry (0-based), capped at `max_s`."""
        # Compare exponents rather than computing factor**attempt, which overflows after ~1000 attempts.
        if attempt * math.log(self.factor) >= math.log(self.max_s / self.initial_s):
            return self.max_s
        return min(self.max_s, self.initial_s * self.factor**attempt)

    def next_delay(self) -> float:
        """The delay before the next retry, in seconds; grows with each call until `reset`."""
        base = self.base_delay(self._attempt)
        self._attempt += 1
        spread = base * self.jitter
        return min(self.max_s, self._rng.uniform(base - spread, base + spread))

    def reset(self) -> None:
        """Start again from `initial_s` (call it once a connection has proven healthy)."""
        self._attempt = 0
