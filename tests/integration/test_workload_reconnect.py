"""Reconnecting to a dev agent that runs as a real process: killed (SIGKILL) or stopped, then restarted on the
same socket path, and a socket that does not exist yet when the watch starts.

The watch uses a 10 s backoff here, so reconnecting within the asserted bound is only possible through the
socket-file watch (sleeping through the backoff would take ~10 s). The bound is generous for a loaded
2-core box; the measured figures are printed (run with ``-s``).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from spiffe_helper.devagent.harness import DevAgentProcess
from spiffe_helper.svid import X509Context
from spiffe_helper.workload.backoff import Backoff
from spiffe_helper.workload.client import WorkloadApiClient, WorkloadApiError
from tests.integration.test_workload_client import SERVER_ID, Recorder, run, stop

BOUND = 3.0  # seconds from the agent's return to the first update; the goal is < 1 s
SLOW_BACKOFF = 10.0


def slow_backoff() -> Backoff:
    return Backoff(initial=SLOW_BACKOFF, maximum=SLOW_BACKOFF, jitter=0.0)


def _root_der(ctx: X509Context) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return ctx.bundle_for(ctx.default_svid.spiffe_id.trust_domain).authorities[0].public_bytes(Encoding.DER)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_agent_restarted_on_the_same_socket_is_reconnected(sock_dir: Path, how: str) -> None:
    agent = DevAgentProcess(sock_dir, {"server": SERVER_ID}, state_dir=sock_dir / "state")
    socket_path = agent.socket_path("server")

    async def main() -> None:
        await asyncio.to_thread(agent.start)
        async with WorkloadApiClient(agent.address("server"), backoff=slow_backoff) as client:
            rec = Recorder()
            task = asyncio.create_task(client.watch_x509_context(rec.on_update, rec.on_error))
            await rec.until(lambda: bool(rec.updates), what="first X.509 context")
            before: X509Context = rec.updates[0][1]

            code = await asyncio.to_thread(agent.stop, getattr(signal, how))
            assert code == (-signal.SIGKILL if how == "SIGKILL" else 0)
            # A killed agent leaves a stale socket file; a stopped one removes it.
            assert socket_path.exists() is (how == "SIGKILL")
            await rec.until(lambda: bool(rec.errors), what="the broken stream to be reported")
            err = rec.errors[0][1]
            assert isinstance(err, WorkloadApiError) and err.agent_unreachable, err
            await asyncio.sleep(0.5)  # the client is now inside its 10 s backoff (or waiting for the file)

            n = len(rec.updates)
            spawned = time.monotonic()
            await asyncio.to_thread(agent.start)  # returns once the socket accepts connections
            ready = time.monotonic()
            await rec.until(lambda: len(rec.updates) > n, timeout=SLOW_BACKOFF + 5, what="update after restart")
            got = rec.updates[n][0]
            print(
                f"\n{how}: agent start took {ready - spawned:.2f} s; first update {got - ready:+.3f} s after the "
                f"socket accepted connections ({got - spawned:.2f} s after spawning the agent)"
            )
            assert got - ready < BOUND, [(round(t - spawned, 3), str(e)) for t, e in rec.errors]
            after: X509Context = rec.updates[n][1]
            assert str(after.default_svid.spiffe_id) == SERVER_ID
            assert after.default_svid.leaf.serial_number != before.default_svid.leaf.serial_number
            assert _root_der(after) == _root_der(before)  # the state dir kept the trust root
            assert all(isinstance(e, WorkloadApiError) and e.agent_unreachable for _, e in rec.errors)
            await stop(task)

    try:
        run(main())
    finally:
        agent.close()


def test_missing_socket_that_appears_later_is_picked_up(sock_dir: Path) -> None:
    socket_dir = sock_dir / "run" / "spire"  # neither the socket nor its directory exists yet
    agent = DevAgentProcess(socket_dir, {"server": SERVER_ID})

    async def main() -> None:
        async with WorkloadApiClient(agent.address("server"), backoff=slow_backoff) as client:
            rec = Recorder()
            task = asyncio.create_task(client.watch_x509_context(rec.on_update, rec.on_error))
            await rec.until(lambda: bool(rec.errors), what="the missing socket to be reported")
            await asyncio.sleep(0.5)
            assert rec.updates == [] and len(rec.errors) == 1  # reported once, then waiting on the file system
            err = rec.errors[0][1]
            assert isinstance(err, WorkloadApiError) and err.agent_unreachable
            assert str(err).startswith("rpc error: code = Unavailable desc = ")
            print(f"\nmissing socket reported as: {err}")

            spawned = time.monotonic()
            await asyncio.to_thread(agent.start)
            ready = time.monotonic()
            await rec.until(lambda: bool(rec.updates), timeout=SLOW_BACKOFF + 5, what="first update")
            got = rec.updates[0][0]
            print(
                f"missing socket: agent start took {ready - spawned:.2f} s; first update {got - ready:+.3f} s after "
                f"the socket accepted connections ({got - spawned:.2f} s after spawning the agent)"
            )
            assert got - ready < BOUND, [(round(t - spawned, 3), str(e)) for t, e in rec.errors]
            assert str(rec.updates[0][1].default_svid.spiffe_id) == SERVER_ID
            await stop(task)

    try:
        run(main())
    finally:
        agent.close()
