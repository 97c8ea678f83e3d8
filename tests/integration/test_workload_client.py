"""The Workload API client against the real dev agent over real Unix sockets (in-process agent, same loop).

Agent restarts in a separate process are in test_workload_reconnect.py. Statuses the dev agent cannot be
made to return (InvalidArgument/Unimplemented on a stream, a stream the agent ends) come from a minimal
gRPC server on a real socket at the end of this file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
import pytest

from spiffe_helper.devagent.agent import DevAgent
from spiffe_helper.errors import SvidError
from spiffe_helper.jwt import JwtBundleSet, validate_jwt_svid
from spiffe_helper.svid import X509Context
from spiffe_helper.workload._proto import workload_pb2 as pb
from spiffe_helper.workload._proto import workload_pb2_grpc as pb_grpc
from spiffe_helper.workload.backoff import Backoff
from spiffe_helper.workload.client import WorkloadApiClient, WorkloadApiError

TD = "coastal-containers.example"
SERVER_ID = f"spiffe://{TD}/manifest/workload/server"


def fast_backoff() -> Backoff:
    """Short delays so retry tests stay quick (the policy itself is unit-tested)."""
    return Backoff(initial=0.05, maximum=0.3)


class Recorder:
    """Collects on_update / on_error calls with their arrival time; ``until`` polls with a deadline."""

    def __init__(self) -> None:
        self.updates: list[tuple[float, Any]] = []
        self.errors: list[tuple[float, Exception]] = []

    def on_update(self, value: Any) -> None:
        self.updates.append((time.monotonic(), value))

    def on_error(self, exc: Exception) -> None:
        self.errors.append((time.monotonic(), exc))

    async def until(self, condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; updates={len(self.updates)} errors={self.errors}")
            await asyncio.sleep(0.01)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


async def stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def serial(ctx: X509Context) -> int:
    return int(ctx.default_svid.leaf.serial_number)


# ----- X.509 -----


def test_first_svid_arrives_and_chains_to_the_agent_ca(sock_dir: Path) -> None:
    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent,
            WorkloadApiClient(agent.address("server")) as client,
        ):
            rec = Recorder()
            start = time.monotonic()
            task = asyncio.create_task(client.watch_x509_context(rec.on_update, rec.on_error))
            await rec.until(lambda: bool(rec.updates), what="first X.509 context")
            print(f"first X.509 context after {(rec.updates[0][0] - start) * 1000:.0f} ms")
            ctx: X509Context = rec.updates[0][1]
            assert str(ctx.default_svid.spiffe_id) == SERVER_ID
            roots = ctx.bundle_for(ctx.default_svid.spiffe_id.trust_domain).authorities
            assert set(roots) == set(agent.bundle())
            ctx.default_svid.leaf.verify_directly_issued_by(agent.bundle()[0])
            assert rec.errors == []
            await stop(task)
            await asyncio.sleep(0.3)
            assert rec.errors == []  # our own cancellation is silent
            assert agent.stream_count("server") == 0  # and it really closed the stream

    run(main())


def test_rotation_arrives_before_the_svid_expires(sock_dir: Path) -> None:
    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}, x509_ttl="3s") as agent,
            WorkloadApiClient(agent.address("server")) as client,
        ):
            rec = Recorder()
            task = asyncio.create_task(client.watch_x509_context(rec.on_update, rec.on_error))
            await rec.until(lambda: bool(rec.updates), what="first X.509 context")
            first: X509Context = rec.updates[0][1]
            await rec.until(lambda: any(serial(c) != serial(first) for _, c in rec.updates), 10, "a rotated SVID")
            arrived = dt.datetime.now(dt.UTC)
            rotated = next(c for _, c in rec.updates if serial(c) != serial(first))
            lifetime = first.default_svid.leaf.not_valid_after_utc - first.default_svid.leaf.not_valid_before_utc
            print(f"rotation arrived {(rec.updates[-1][0] - rec.updates[0][0]):.2f} s after the first SVID")
            assert arrived < first.default_svid.leaf.not_valid_after_utc  # within one TTL of issuance
            assert rotated.default_svid.leaf.not_valid_after_utc > first.default_svid.leaf.not_valid_after_utc
            assert lifetime <= dt.timedelta(seconds=3 + 15)  # TTL plus the agent's backdating cushion
            assert rec.errors == []
            await stop(task)

    run(main())


def test_malformed_svids_are_reported_skipped_and_the_next_good_one_is_used(sock_dir: Path) -> None:
    faults = [
        "empty_svid_list",
        "garbage_der",
        "key_mismatch",
        "spiffe_id_mismatch",
        "two_uri_sans",
        "ca_leaf",
        "expired_svid",
        "missing_bundle",
        "unchained_bundle",
        "oversized_message",
    ]

    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent,
            WorkloadApiClient(agent.address("server"), backoff=fast_backoff) as client,
        ):
            rec = Recorder()
            task = asyncio.create_task(client.watch_x509_context(rec.on_update, rec.on_error))
            await rec.until(lambda: bool(rec.updates) and agent.stream_count("server", "x509") == 1, what="stream")
            good = serial(rec.updates[0][1])
            for fault in [*faults, "corrupt_san_extension"]:
                n_updates, n_errors = len(rec.updates), len(rec.errors)
                if fault == "corrupt_san_extension":  # not a dev-agent fault: loads, fails when read lazily
                    bad = agent.current_x509_response("server")
                    leaf = bad.svids[0].x509_svid
                    i = leaf.index(SERVER_ID.encode())
                    bad.svids[0].x509_svid = leaf[: i - 2] + b"\x04" + leaf[i - 1 :]
                    agent.inject_x509_response("server", bad)
                else:
                    agent.inject_x509_fault("server", fault)

                def grew(n: int = n_updates) -> bool:
                    return len(rec.updates) > n

                await rec.until(grew, what=f"good update after {fault}")
                assert len(rec.errors) == n_errors + 1, (fault, rec.errors[n_errors:])
                err = rec.errors[-1][1]
                if fault == "oversized_message":  # gRPC refuses it: the stream fails and is re-opened
                    assert isinstance(err, WorkloadApiError) and err.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                else:  # the value layer rejects it; the stream stays up
                    assert isinstance(err, SvidError), (fault, err)
                    assert "PRIVATE KEY" not in str(err) and "\\x" not in str(err)
                assert all(serial(c) == good for _, c in rec.updates), fault  # no bad context ever delivered
                print(f"{fault}: {err}")
            await stop(task)

    run(main())


def test_hint_selection(sock_dir: Path) -> None:
    ids = [f"spiffe://{TD}/a#internal", f"spiffe://{TD}/b#external", f"spiffe://{TD}/c"]

    async def main() -> None:
        async with DevAgent(sock_dir, {"web": ids}) as agent, WorkloadApiClient(agent.address("web")) as client:
            ctx = await client.fetch_x509_context(timeout=10)
            assert [str(s.spiffe_id) for s in ctx.svids] == [f"spiffe://{TD}/{n}" for n in "abc"]
            assert str(ctx.default_svid.spiffe_id) == f"spiffe://{TD}/a"
            assert str(ctx.svid_for_hint("external").spiffe_id) == f"spiffe://{TD}/b"
            assert ctx.svid_for_hint("") is ctx.default_svid
            with pytest.raises(SvidError, match="failed to find the hinted x509 SVID"):
                ctx.svid_for_hint("missing")
            bundles = await client.fetch_jwt_bundles(timeout=10)
            jwt_b = await client.fetch_jwt_svid("aud", hint="external", bundles=bundles)
            assert (str(jwt_b.spiffe_id), jwt_b.hint) == (f"spiffe://{TD}/b", "external")
            assert str((await client.fetch_jwt_svid("aud")).spiffe_id) == f"spiffe://{TD}/a"
            assert len(await client.fetch_jwt_svids("aud")) == 3
            only_c = await client.fetch_jwt_svids("aud", spiffe_id=f"spiffe://{TD}/c")
            assert [str(s.spiffe_id) for s in only_c] == [f"spiffe://{TD}/c"]
            with pytest.raises(SvidError, match="failed to find the hinted JWT SVID"):
                await client.fetch_jwt_svid("aud", hint="missing")

    run(main())


# ----- JWT -----


def test_jwt_svid_validates_against_the_jwt_bundle(sock_dir: Path) -> None:
    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent,
            WorkloadApiClient(agent.address("server")) as client,
        ):
            rec = Recorder()
            task = asyncio.create_task(client.watch_jwt_bundles(rec.on_update, rec.on_error))
            await rec.until(lambda: bool(rec.updates), what="JWT bundles")
            bundles: JwtBundleSet = rec.updates[0][1]
            svid = await client.fetch_jwt_svid("manifest-api", ["audit"], bundles=bundles)  # validated locally
            assert str(svid.spiffe_id) == SERVER_ID and svid.audience == ("manifest-api", "audit")
            assert validate_jwt_svid(svid.token, bundles, "audit").spiffe_id == svid.spiffe_id
            with pytest.raises(SvidError, match="audience does not include 'other'"):
                validate_jwt_svid(svid.token, bundles, "other")
            remote = await client.validate_jwt_svid(svid.token, "manifest-api")
            assert str(remote.spiffe_id) == SERVER_ID
            assert remote.claims["sub"] == SERVER_ID and remote.claims["aud"] == ["manifest-api", "audit"]
            assert isinstance(remote.claims["exp"], int)
            with pytest.raises(WorkloadApiError) as err:
                await client.validate_jwt_svid(svid.token, "other")
            assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and err.value.terminal
            assert svid.token not in str(err.value)
            # A token from a key the bundle does not hold fails locally.
            async with DevAgent(sock_dir / "other", {"x": [SERVER_ID]}) as other:
                forged = other.mint_jwt_svid(SERVER_ID, ["manifest-api"])
            with pytest.raises(SvidError, match="is not in the bundle"):
                validate_jwt_svid(forged, bundles, "manifest-api")
            await stop(task)

    run(main())


def test_x509_bundles_follow_a_ca_rotation(sock_dir: Path) -> None:
    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent,
            WorkloadApiClient(agent.address("server")) as client,
        ):
            rec = Recorder()
            task = asyncio.create_task(client.watch_x509_bundles(rec.on_update, rec.on_error))
            await rec.until(lambda: bool(rec.updates), what="X.509 bundles")
            assert sum(len(b.authorities) for b in rec.updates[0][1].values()) == 1
            agent.rotate_ca_now()
            await rec.until(lambda: sum(len(b.authorities) for b in rec.updates[-1][1].values()) == 2, what="2 roots")
            await stop(task)
            ctx = await client.fetch_x509_context(timeout=10)  # the re-issued SVID validates against both roots
            assert len(ctx.bundle_for(ctx.default_svid.spiffe_id.trust_domain).authorities) == 2

    run(main())


# ----- errors and retries -----


def test_no_identity_is_permission_denied_retried_until_an_identity_exists(sock_dir: Path) -> None:
    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"late": []}, trust_domain=TD) as agent,
            WorkloadApiClient(agent.address("late"), backoff=fast_backoff) as client,
        ):
            rec = Recorder()
            task = asyncio.create_task(client.watch_x509_context(rec.on_update, rec.on_error))
            await rec.until(lambda: len(rec.errors) >= 3, what="PermissionDenied retries")
            for _, err in rec.errors:
                assert isinstance(err, WorkloadApiError) and err.code == grpc.StatusCode.PERMISSION_DENIED
                assert not err.terminal and not err.agent_unreachable
                assert str(err) == "rpc error: code = PermissionDenied desc = no identity issued"
            assert rec.updates == [] and not task.done()
            agent.set_identities("late", [f"spiffe://{TD}/registered-late"])
            await rec.until(lambda: bool(rec.updates), what="the SVID once registered")
            assert str(rec.updates[0][1].default_svid.spiffe_id) == f"spiffe://{TD}/registered-late"
            await stop(task)

    run(main())


@pytest.mark.parametrize("metadata", [None, (("workload.spiffe.io", "True"),), (("workload.spiffe.io", "false"),)])
def test_missing_or_wrong_security_header_is_invalid_argument(sock_dir: Path, metadata: Any) -> None:
    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent,
            grpc.aio.insecure_channel(agent.address("server")) as channel,
        ):
            stub = pb_grpc.SpiffeWorkloadAPIStub(channel)
            streams = [
                stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=metadata),
                stub.FetchX509Bundles(pb.X509BundlesRequest(), metadata=metadata),
                stub.FetchJWTBundles(pb.JWTBundlesRequest(), metadata=metadata),
            ]
            for call in streams:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    async for _ in call:
                        pass
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            unary = [
                stub.FetchJWTSVID(pb.JWTSVIDRequest(audience=["a"]), metadata=metadata),
                stub.ValidateJWTSVID(pb.ValidateJWTSVIDRequest(audience="a", svid="x.y.z"), metadata=metadata),
            ]
            for pending in unary:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await pending
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            # The same calls through our client carry the header and succeed.
            async with WorkloadApiClient(agent.address("server")) as client:
                await client.fetch_x509_context(timeout=10)

    run(main())


def test_one_shot_fetch_fails_fast_without_agent_and_retries_when_asked(sock_dir: Path) -> None:
    path = sock_dir / "later" / "server.sock"

    async def main() -> None:
        async with WorkloadApiClient(f"unix://{path}", backoff=fast_backoff) as client:
            start = time.monotonic()
            with pytest.raises(WorkloadApiError) as err:
                await client.fetch_x509_context(timeout=10)
            assert err.value.agent_unreachable and time.monotonic() - start < 5
            assert str(err.value).startswith("rpc error: code = Unavailable desc = ")
            with pytest.raises(WorkloadApiError) as err:
                await client.fetch_jwt_svid("aud", retry=True, timeout=0.5)
            assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "no JWT-SVID within 0.5s; last error: rpc error: code = Unavailable" in str(err.value)

            errors: list[Exception] = []
            fetch = asyncio.create_task(client.fetch_x509_context(retry=True, timeout=30, on_error=errors.append))
            await asyncio.sleep(0.5)
            assert not fetch.done() and len(errors) == 1  # one report, then waiting on the file system
            async with DevAgent(path.parent, {"server": [SERVER_ID]}):
                ctx = await fetch
            assert str(ctx.default_svid.spiffe_id) == SERVER_ID

    run(main())


# ----- statuses the dev agent cannot produce on demand: a minimal server on a real socket -----


class _ScriptedAgent(pb_grpc.SpiffeWorkloadAPIServicer):  # type: ignore[misc]
    """FetchX509SVID answers with the next scripted outcome: a gRPC status, or "eof" (end the stream)."""

    def __init__(self, script: list[tuple[grpc.StatusCode, str] | str]) -> None:
        self.script = script
        self.calls = 0

    async def FetchX509SVID(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self.calls += 1
        step = self.script[min(self.calls, len(self.script)) - 1]
        if step == "eof":
            return
        assert not isinstance(step, str)
        await context.abort(step[0], step[1])
        yield pb.X509SVIDResponse()  # unreachable; makes this an async generator


async def _scripted(path: Path, script: list[tuple[grpc.StatusCode, str] | str]) -> tuple[Any, _ScriptedAgent]:
    servicer = _ScriptedAgent(script)
    server = grpc.aio.server()
    pb_grpc.add_SpiffeWorkloadAPIServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix://{path}")
    await server.start()
    return server, servicer


@pytest.mark.parametrize(
    ("code", "name"),
    [(grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument"), (grpc.StatusCode.UNIMPLEMENTED, "Unimplemented")],
)
def test_terminal_status_ends_the_watch_after_retrying_others(sock_dir: Path, code: grpc.StatusCode, name: str) -> None:
    script: list[tuple[grpc.StatusCode, str] | str] = [
        (grpc.StatusCode.UNAVAILABLE, "warming up"),
        "eof",
        (grpc.StatusCode.INTERNAL, "oops"),
        (code, "stop here"),
    ]

    async def main() -> None:
        server, servicer = await _scripted(sock_dir / "a.sock", script)
        try:
            rec = Recorder()
            client = WorkloadApiClient(str(sock_dir / "a.sock"), backoff=fast_backoff)
            with pytest.raises(WorkloadApiError) as err:
                await client.watch_x509_context(rec.on_update, rec.on_error)
            assert err.value.terminal and str(err.value) == f"rpc error: code = {name} desc = stop here"
            assert (
                f"watching X.509 context: {err.value}"
                == f"watching X.509 context: rpc error: code = {name} desc = stop here"
            )
            assert [str(e) for _, e in rec.errors] == [
                "rpc error: code = Unavailable desc = warming up",
                "EOF",
                "rpc error: code = Internal desc = oops",
                f"rpc error: code = {name} desc = stop here",
            ]
            assert servicer.calls == 4
        finally:
            await server.stop(None)

    run(main())


def test_concurrent_calls_and_watches_share_one_client(sock_dir: Path) -> None:
    async def main() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent,
            WorkloadApiClient(agent.address("server")) as client,
        ):
            rec = Recorder()
            watches = [
                asyncio.create_task(client.watch_x509_context(rec.on_update, rec.on_error)),
                asyncio.create_task(client.watch_jwt_bundles(rec.on_update, rec.on_error)),
            ]
            svids = await asyncio.gather(*(client.fetch_jwt_svid(f"aud-{i}") for i in range(20)))
            assert [s.audience for s in svids] == [(f"aud-{i}",) for i in range(20)]
            checks = await asyncio.gather(*(client.validate_jwt_svid(s.token, s.audience[0]) for s in svids))
            assert all(str(c.spiffe_id) == SERVER_ID for c in checks)
            await rec.until(lambda: len(rec.updates) >= 2, what="both watches")
            assert rec.errors == [] and agent.stream_count("server") == 2
            for task in watches:
                await stop(task)

    run(main())
