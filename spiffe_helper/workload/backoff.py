"""Exponential backoff with jitter for Workload API reconnects.

Policy (chosen for a local agent socket): the n-th delay is ``min(maximum, initial * factor**n)`` shrunk by a
random fraction of up to ``jitter`` -- 0.1 s, 0.2 s, 0.4 s ... capped at 5 s, each 0-20 % shorter. Jitter only
ever shortens a delay, so the cap is a real upper bound, and helpers restarted together against one agent
(a node reboot) spread their reconnects instead of arriving in lock-step.

Why not go-spiffe's linear 1 s..30 s: the first retry after an agent restart should be quick (the agent
usually comes back within a second), and while the socket file is missing the client waits on the file
system instead of sleeping, so the cap only governs a live-but-refusing agent (PermissionDenied, a stale
socket file, TCP). 5 s keeps that bounded and matches py-spiffe's cap.

The caller resets the backoff after every good message, so a long-lived stream that drops starts again at
``initial``. Pass a seeded :class:`random.Random` for deterministic delays in tests.
"""

from __future__ import annotations

import random

DEFAULT_INITIAL = 0.1
DEFAULT_MAXIMUM = 5.0
DEFAULT_FACTOR = 2.0
DEFAULT_JITTER = 0.2


class Backoff:
    """Delays for successive retries; :meth:`reset` after a success."""

    def __init__(
        self,
        initial: float = DEFAULT_INITIAL,
        maximum: float = DEFAULT_MAXIMUM,
        factor: float = DEFAULT_FACTOR,
        jitter: float = DEFAULT_JITTER,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if factor < 1:
            raise ValueError("backoff factor must be >= 1")
        if not 0 <= jitter < 1:
            raise ValueError("backoff jitter must be in [0, 1)")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def nominal(self, attempt: int) -> float:
        """The delay before jitter for retry number ``attempt`` (0-based)."""
        # Exponent capped so a long outage cannot overflow the float; the cap is reached long before.
        return min(self.maximum, self.initial * self.factor ** min(attempt, 64))

    def next_delay(self) -> float:
        """The next delay in seconds (and count it)."""
        base = self.nominal(self._attempt)
        self._attempt += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """Start again from ``initial`` (after a good message, or when the agent's socket reappears)."""
        self._attempt = 0
