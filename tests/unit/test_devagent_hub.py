"""The dev agent's fan-out: latest-state coalescing, injected messages, identity loss."""

from __future__ import annotations

import asyncio

from spiffe_helper.devagent.hub import Hub, Kind, Snapshot


def _snap(generation: int, bundles_generation: int = 1) -> Snapshot:
    return Snapshot(
        messages={Kind.X509: f"x509-{generation}", Kind.X509_BUNDLES: f"b-{bundles_generation}", Kind.JWT_BUNDLES: "j"},
        generations={Kind.X509: generation, Kind.X509_BUNDLES: bundles_generation, Kind.JWT_BUNDLES: 1},
    )


async def _next(sub: object, timeout: float = 2.0) -> object:
    return await asyncio.wait_for(sub.next(), timeout)  # type: ignore[attr-defined]


def test_slow_reader_gets_only_the_latest_state() -> None:
    async def scenario() -> None:
        hub = Hub()
        hub.publish(_snap(1))
        sub = hub.subscribe(Kind.X509)
        assert await _next(sub) == "x509-1"
        for generation in range(2, 7):
            hub.publish(_snap(generation))
        assert await _next(sub) == "x509-6"
        waiting = asyncio.ensure_future(sub.next())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # nothing new: the stream waits
        hub.publish(_snap(7))
        assert await asyncio.wait_for(waiting, 2) == "x509-7"

    asyncio.run(scenario())


def test_bundle_stream_ignores_svid_only_changes() -> None:
    async def scenario() -> None:
        hub = Hub()
        hub.publish(_snap(1, 1))
        sub = hub.subscribe(Kind.X509_BUNDLES)
        assert await _next(sub) == "b-1"
        hub.publish(_snap(2, 1))
        waiting = asyncio.ensure_future(sub.next())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        hub.publish(_snap(3, 2))
        assert await asyncio.wait_for(waiting, 2) == "b-2"

    asyncio.run(scenario())


def test_injected_messages_come_in_order_then_the_good_state_again() -> None:
    async def scenario() -> None:
        hub = Hub()
        hub.publish(_snap(1))
        sub = hub.subscribe(Kind.X509)
        other = hub.subscribe(Kind.JWT_BUNDLES)
        assert await _next(sub) == "x509-1"
        assert hub.inject(Kind.X509, "bad-1") == 1
        hub.inject(Kind.X509, "bad-2")
        assert [await _next(sub), await _next(sub), await _next(sub)] == ["bad-1", "bad-2", "x509-1"]
        assert await _next(other) == "j"  # other kinds are untouched
        hub.inject(Kind.X509, "bad-3", resend_good=False)
        assert await _next(sub) == "bad-3"
        hub.publish(_snap(2))
        assert await _next(sub) == "x509-2"

    asyncio.run(scenario())


def test_injection_without_streams_waits_for_the_next_stream() -> None:
    async def scenario() -> None:
        hub = Hub()
        hub.publish(_snap(1))
        assert hub.inject(Kind.X509, "bad") == 0
        sub = hub.subscribe(Kind.X509)
        assert [await _next(sub), await _next(sub)] == ["bad", "x509-1"]
        assert hub.count() == 1
        sub.close()
        assert hub.count() == 0

    asyncio.run(scenario())


def test_identity_loss_wakes_streams_with_none() -> None:
    async def scenario() -> None:
        hub = Hub()
        hub.publish(_snap(1))
        sub = hub.subscribe(Kind.X509)
        await _next(sub)
        waiting = asyncio.ensure_future(sub.next())
        await asyncio.sleep(0.01)
        hub.publish(None)
        assert await asyncio.wait_for(waiting, 2) is None

    asyncio.run(scenario())
