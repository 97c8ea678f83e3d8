"""Latest-state fan-out from the agent to every open stream of one socket.

Each change publishes one immutable :class:`Snapshot` (protobuf messages built once, shared by all
streams). A stream sends whatever is newest when it gets to run, so a slow reader skips intermediate states
(coalescing to the latest, as the Workload API allows) and a change costs O(1) per stream, not a queue.
Injected messages (fault injection for client tests) are the exception: they are queued per stream and
delivered in order, ahead of the next state.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """The three streaming RPCs whose messages a snapshot carries."""

    X509 = "x509"
    X509_BUNDLES = "x509_bundles"
    JWT_BUNDLES = "jwt_bundles"


@dataclass(frozen=True)
class Snapshot:
    """One socket's full state: a message per stream kind, and a generation that changes with it."""

    messages: Mapping[Kind, Any]
    generations: Mapping[Kind, int]


class Hub:
    """Holds the newest snapshot of one socket (``None``: no identity) and wakes its streams."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._event = asyncio.Event()
        self._subscriptions: set[Subscription] = set()
        self._pending: dict[Kind, list[tuple[Any, bool]]] = {}

    @property
    def snapshot(self) -> Snapshot | None:
        """The newest state, or None while the socket has no identity."""
        return self._snapshot

    def publish(self, snapshot: Snapshot | None) -> None:
        """Replace the state and wake every stream."""
        self._snapshot = snapshot
        self._wake()

    def inject(self, kind: Kind, message: Any, *, resend_good: bool = True) -> int:
        """Queue ``message`` on every open stream of ``kind``; returns how many streams got it.

        With no stream open, it is held for the next stream of that kind. ``resend_good`` makes each
        stream send the current good state right after the injected message, even if unchanged.
        """
        targets = [s for s in self._subscriptions if s.kind is kind]
        if not targets:
            self._pending.setdefault(kind, []).append((message, resend_good))
        for sub in targets:
            sub.queue.append((message, resend_good))
        self._wake()
        return len(targets)

    def subscribe(self, kind: Kind) -> Subscription:
        """Register a stream; it receives the current state first."""
        sub = Subscription(self, kind)
        sub.queue.extend(self._pending.pop(kind, []))
        self._subscriptions.add(sub)
        return sub

    def count(self, kind: Kind | None = None) -> int:
        """Open streams (of one kind, or all)."""
        return sum(1 for s in self._subscriptions if kind is None or s.kind is kind)

    def _wake(self) -> None:
        # Swapping the event means a waiter only ever sees "something happened since I looked".
        event, self._event = self._event, asyncio.Event()
        event.set()

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)


class Subscription:
    """One stream's view of a hub: what it last sent, and its injected messages."""

    def __init__(self, hub: Hub, kind: Kind) -> None:
        self.hub = hub
        self.kind = kind
        self.queue: deque[tuple[Any, bool]] = deque()
        self._last_generation: int | None = None
        self._force = False

    async def next(self) -> Any | None:
        """The next message to send; ``None`` when the socket has (no longer) any identity."""
        while True:
            waiter = self.hub._event  # taken before looking, so no change can slip between look and wait
            if self.queue:
                message, resend = self.queue.popleft()
                self._force = self._force or resend
                return message
            snapshot = self.hub.snapshot
            if snapshot is None:
                return None
            generation = snapshot.generations[self.kind]
            if generation != self._last_generation or self._force:
                self._last_generation, self._force = generation, False
                return snapshot.messages[self.kind]
            await waiter.wait()

    def close(self) -> None:
        """Unregister from the hub (the stream ended)."""
        self.hub._unsubscribe(self)
