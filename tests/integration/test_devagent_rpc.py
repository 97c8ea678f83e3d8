"""The dev agent over real Unix sockets, with the generated stubs as the client (no project client code)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.verification import PolicyBuilder, Store

from spiffe_helper.der import split_der
from spiffe_helper.devagent import FAULTS, DevAgent
from spiffe_helper.devagent.errors import DevAgentError
from spiffe_helper.workload._proto import workload_pb2 as pb
from spiffe_helper.workload._proto import workload_pb2_grpc as pb_grpc

MD = (("workload.spiffe.io", "true"),)
TD = "coastal-containers.example"
SERVER_ID = f"spiffe://{TD}/manifest/workload/server"
TIMEOUT = 15.0


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 90))


@asynccontextmanager
async def stub_for(agent: DevAgent, name: str) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(agent.address(name)) as channel:
        yield pb_grpc.SpiffeWorkloadAPIStub(channel)


async def read(call: Any, timeout: float = TIMEOUT) -> Any:
    message = await asyncio.wait_for(call.read(), timeout)
    assert message is not grpc.aio.EOF
    return message


def certs(blob: bytes) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(der) for der in split_der(blob, "test")]


def verify_svid(svid: Any) -> x509.Certificate:
    """Full RFC 5280 check with cryptography's verifier, plus the key/leaf match; returns the leaf."""
    chain, roots = certs(svid.x509_svid), certs(svid.bundle)
    verified = PolicyBuilder().store(Store(roots)).build_client_verifier().verify(chain[0], chain[1:])
    assert verified.subjects == [x509.UniformResourceIdentifier(svid.spiffe_id)]
    key = serialization.load_der_private_key(svid.x509_svid_key, None)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == chain[0].public_key().public_bytes(*spki)
    return chain[0]


def test_first_svid_arrives_and_verifies_against_the_bundle(sock_dir: Path) -> None:
    async def scenario() -> None:
        async with DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent, stub_for(agent, "server") as stub:
            path = agent.socket_path("server")
            assert path == sock_dir / "server.sock"
            assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
            response = await read(stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD))
            (svid,) = response.svids
            assert svid.spiffe_id == SERVER_ID and svid.hint == ""
            leaf = verify_svid(svid)
            assert len(certs(svid.x509_svid)) == 1
            assert certs(svid.bundle) == list(agent.bundle())
            assert dict(response.federated_bundles) == {}
            bundles = await read(stub.FetchX509Bundles(pb.X509BundlesRequest(), metadata=MD))
            assert dict(bundles.bundles) == {f"spiffe://{TD}": svid.bundle}
            assert leaf.not_valid_after_utc.timestamp() - time.time() > 3500  # default TTL 1h

    run(scenario)


def test_rotation_arrives_before_the_svid_expires(sock_dir: Path) -> None:
    async def scenario() -> None:
        async with (
            DevAgent(sock_dir, {"server": [SERVER_ID]}, x509_ttl="3s") as agent,
            stub_for(agent, "server") as stub,
        ):
            call = stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD)
            first = verify_svid((await read(call)).svids[0])
            second = verify_svid((await read(call)).svids[0])
            received = time.time()
            assert second.serial_number != first.serial_number
            assert received < first.not_valid_after_utc.timestamp()  # rotated within one TTL
            assert 2.5 <= (second.not_valid_after_utc - second.not_valid_before_utc).total_seconds() - 10 <= 3.5
            assert agent.stats.x509_rotations >= 1

    run(scenario)


RPCS: list[tuple[str, Any, bool]] = [
    ("FetchX509SVID", pb.X509SVIDRequest(), True),
    ("FetchX509Bundles", pb.X509BundlesRequest(), True),
    ("FetchJWTBundles", pb.JWTBundlesRequest(), True),
    ("FetchJWTSVID", pb.JWTSVIDRequest(audience=["aud"]), False),
    ("ValidateJWTSVID", pb.ValidateJWTSVIDRequest(audience="aud", svid="x.y.z"), False),
    ("FetchWITSVID", pb.WITSVIDRequest(), True),
    ("FetchWITBundles", pb.WITBundlesRequest(), True),
]


async def call_code(stub: Any, method: str, request: Any, streaming: bool, metadata: Any) -> tuple[Any, str]:
    try:
        call = getattr(stub, method)(request, metadata=metadata)
        if streaming:
            await read(call)
        else:
            await asyncio.wait_for(call, TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def test_security_header_is_required_on_every_rpc(sock_dir: Path) -> None:
    bad_headers = [
        (),
        (("workload.spiffe.io", "True"),),
        (("workload.spiffe.io", "true"), ("workload.spiffe.io", "true")),
    ]

    async def scenario() -> None:
        async with DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent, stub_for(agent, "server") as stub:
            for method, request, streaming in RPCS:
                for metadata in bad_headers:
                    code, details = await call_code(stub, method, request, streaming, metadata)
                    assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, metadata)
                    assert details == "security header missing from request"

    run(scenario)


def test_no_identity_is_permission_denied_and_wit_unimplemented(sock_dir: Path) -> None:
    async def scenario() -> None:
        async with DevAgent(sock_dir, {"server": [SERVER_ID], "nobody": []}) as agent:
            async with stub_for(agent, "nobody") as stub:
                for method, request, streaming in RPCS:
                    code, details = await call_code(stub, method, request, streaming, MD)
                    if method.startswith("FetchWIT"):
                        assert code == grpc.StatusCode.UNIMPLEMENTED
                    else:
                        assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED, "no identity issued"), method
            async with stub_for(agent, "server") as stub:
                for method in ("FetchWITSVID", "FetchWITBundles"):
                    request = pb.WITSVIDRequest() if method == "FetchWITSVID" else pb.WITBundlesRequest()
                    assert (await call_code(stub, method, request, True, MD))[0] == grpc.StatusCode.UNIMPLEMENTED

    run(scenario)


def test_identity_granted_then_revoked_at_runtime(sock_dir: Path) -> None:
    async def scenario() -> None:
        async with DevAgent(sock_dir, {"late": []}, trust_domain=TD) as agent, stub_for(agent, "late") as stub:
            code, _ = await call_code(stub, "FetchX509SVID", pb.X509SVIDRequest(), True, MD)
            assert code == grpc.StatusCode.PERMISSION_DENIED
            agent.set_identities("late", [SERVER_ID])
            call = stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD)
            assert (await read(call)).svids[0].spiffe_id == SERVER_ID
            agent.set_identities("late", [])
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await read(call)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

    run(scenario)


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jwt_with_jwks(token: str, jwks: bytes) -> dict[str, Any]:
    """Independent ES256 check: find the JWK by kid, rebuild the key, verify the raw r||s signature."""
    header_b64, claims_b64, sig_b64 = token.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    (jwk,) = [k for k in json.loads(jwks)["keys"] if k["kid"] == header["kid"]]
    assert jwk["use"] == "jwt-svid" and jwk["crv"] == "P-256"
    x, y = (int.from_bytes(_b64(jwk[c]), "big") for c in ("x", "y"))
    raw = _b64(sig_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    public.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(_b64(claims_b64))
    return claims


def test_jwt_svid_verifies_against_jwks_and_validate_rpc(sock_dir: Path) -> None:
    async def scenario() -> None:
        agent = DevAgent(sock_dir, {"server": [SERVER_ID]}, jwt_ttl="30s", federate_with=["partner.example"])
        async with agent, stub_for(agent, "server") as stub:
            response = await stub.FetchJWTSVID(pb.JWTSVIDRequest(audience=["manifest-api"]), metadata=MD)
            (svid,) = response.svids
            assert svid.spiffe_id == SERVER_ID
            bundles = await read(stub.FetchJWTBundles(pb.JWTBundlesRequest(), metadata=MD))
            assert set(bundles.bundles) == {f"spiffe://{TD}", "spiffe://partner.example"}
            claims = verify_jwt_with_jwks(svid.svid, bundles.bundles[f"spiffe://{TD}"])
            assert claims["sub"] == SERVER_ID and claims["aud"] == ["manifest-api"]
            assert 25 <= claims["exp"] - time.time() <= 31

            ok = await stub.ValidateJWTSVID(
                pb.ValidateJWTSVIDRequest(audience="manifest-api", svid=svid.svid), metadata=MD
            )
            assert ok.spiffe_id == SERVER_ID
            assert list(ok.claims["aud"]) == ["manifest-api"] and ok.claims["sub"] == SERVER_ID

            partner = agent.mint_jwt_svid("spiffe://partner.example/client", ["manifest-api"])
            ok = await stub.ValidateJWTSVID(
                pb.ValidateJWTSVIDRequest(audience="manifest-api", svid=partner), metadata=MD
            )
            assert ok.spiffe_id == "spiffe://partner.example/client"

            expired = agent.mint_jwt_svid(SERVER_ID, ["manifest-api"], expires_at=time.time() - 3600)
            header, claims_part, sig = svid.svid.split(".")
            tampered = f"{header}.{claims_part}.{sig[:-4]}AAAA"
            for audience, token in [
                ("other", svid.svid),
                ("manifest-api", expired),
                ("manifest-api", tampered),
                ("", svid.svid),
                ("manifest-api", ""),
                ("manifest-api", "not-a-jwt"),
            ]:
                request = pb.ValidateJWTSVIDRequest(audience=audience, svid=token)
                code, _ = await call_code(stub, "ValidateJWTSVID", request, False, MD)
                assert code == grpc.StatusCode.INVALID_ARGUMENT, (audience, token[:20])
            code, details = await call_code(stub, "FetchJWTSVID", pb.JWTSVIDRequest(), False, MD)
            assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "audience must be specified")

    run(scenario)


def test_hints_order_and_entitlement(sock_dir: Path) -> None:
    ids = [f"spiffe://{TD}/a", f"spiffe://{TD}/b"]

    async def scenario() -> None:
        agent = DevAgent(sock_dir, {"web": [f"{ids[0]}#hintA", f"{ids[1]}#hintB"]})
        async with agent, stub_for(agent, "web") as stub:
            x509_response = await read(stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD))
            assert [(s.spiffe_id, s.hint) for s in x509_response.svids] == [(ids[0], "hintA"), (ids[1], "hintB")]
            for svid in x509_response.svids:
                verify_svid(svid)
            jwt_all = await stub.FetchJWTSVID(pb.JWTSVIDRequest(audience=["x"]), metadata=MD)
            assert [(s.spiffe_id, s.hint) for s in jwt_all.svids] == [(ids[0], "hintA"), (ids[1], "hintB")]
            one = await stub.FetchJWTSVID(pb.JWTSVIDRequest(audience=["x"], spiffe_id=ids[1]), metadata=MD)
            assert [(s.spiffe_id, s.hint) for s in one.svids] == [(ids[1], "hintB")]
            request = pb.JWTSVIDRequest(audience=["x"], spiffe_id=f"spiffe://{TD}/c")
            code, _ = await call_code(stub, "FetchJWTSVID", request, False, MD)
            assert code == grpc.StatusCode.PERMISSION_DENIED

    run(scenario)


def test_federated_bundle_and_intermediate_chain(sock_dir: Path) -> None:
    async def scenario() -> None:
        agent = DevAgent(sock_dir, {"server": [SERVER_ID]}, federate_with=["partner.example"], intermediate=True)
        async with agent, stub_for(agent, "server") as stub:
            response = await read(stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD))
            svid = response.svids[0]
            chain = certs(svid.x509_svid)
            assert len(chain) == 2 and chain[1].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            verify_svid(svid)
            assert list(response.federated_bundles) == ["spiffe://partner.example"]
            partner_roots = certs(response.federated_bundles["spiffe://partner.example"])
            assert partner_roots == list(agent.bundle("partner.example")) and partner_roots != certs(svid.bundle)
            bundles = await read(stub.FetchX509Bundles(pb.X509BundlesRequest(), metadata=MD))
            assert set(bundles.bundles) == {f"spiffe://{TD}", "spiffe://partner.example"}

    run(scenario)


def test_rsa_ca_and_svids(sock_dir: Path) -> None:
    async def scenario() -> None:
        agent = DevAgent(sock_dir, {"server": [SERVER_ID]}, ca_key_type="rsa", svid_key_type="rsa")
        async with agent, stub_for(agent, "server") as stub:
            svid = (await read(stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD))).svids[0]
            leaf = verify_svid(svid)
            assert isinstance(leaf.public_key(), rsa.RSAPublicKey)
            assert isinstance(certs(svid.bundle)[0].public_key(), rsa.RSAPublicKey)
            assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment

    run(scenario)


def test_ca_rotation_keeps_old_root_during_overlap(sock_dir: Path) -> None:
    async def scenario() -> None:
        async with DevAgent(sock_dir, {"server": [SERVER_ID]}, ca_ttl="4s") as agent, stub_for(agent, "server") as stub:
            x509_call = stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD)
            first_root = certs((await read(x509_call)).svids[0].bundle)[0]
            bundles_call = stub.FetchX509Bundles(pb.X509BundlesRequest(), metadata=MD)
            seen: list[list[x509.Certificate]] = []
            while not seen or first_root in seen[-1]:
                seen.append(certs((await read(bundles_call)).bundles[f"spiffe://{TD}"]))
            assert seen[0] == [first_root]
            overlap = next(roots for roots in seen if len(roots) >= 2)
            assert overlap[0] == first_root  # old and new root published together
            assert overlap[1] in seen[-1]  # the old root left; its successor is still there
            latest = (await read(x509_call)).svids[0]
            while first_root in certs(latest.bundle):
                latest = (await read(x509_call)).svids[0]
            verify_svid(latest)  # SVIDs chain to the new root
            assert agent.stats.ca_rotations >= 1

    run(scenario)


def test_each_fault_is_sent_once_then_a_good_svid(sock_dir: Path) -> None:
    async def scenario() -> None:
        async with DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent, stub_for(agent, "server") as stub:
            call = stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD)
            good = await read(call)
            for fault in sorted(set(FAULTS) - {"oversized_message"}):
                bad = agent.inject_x509_fault("server", fault)
                agent.rotate_now("server")
                assert await read(call) == bad, fault
                fresh = await read(call)
                assert fresh.svids[0].x509_svid != good.svids[0].x509_svid
                verify_svid(fresh.svids[0])
                good = fresh
            agent.inject_x509_fault("server", "oversized_message")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await read(call)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            retry = stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD)  # a reconnecting client is fine
            verify_svid((await read(retry)).svids[0])

    run(scenario)


def test_rotation_reaches_every_open_stream(sock_dir: Path) -> None:
    async def scenario() -> None:
        async with DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent, stub_for(agent, "server") as stub:
            calls = [stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD) for _ in range(25)]
            firsts = await asyncio.gather(*(read(c) for c in calls))
            assert agent.stream_count("server", "x509") == 25
            agent.rotate_now()
            seconds = await asyncio.gather(*(read(c) for c in calls))
            assert len({m.svids[0].x509_svid for m in firsts}) == 1
            assert {m.svids[0].x509_svid for m in seconds} == {agent.current_x509_response("server").svids[0].x509_svid}
            assert seconds[0].svids[0].x509_svid != firsts[0].svids[0].x509_svid

    run(scenario)


def test_socket_files_stale_in_use_and_cleanup(sock_dir: Path) -> None:
    async def scenario() -> None:
        stale = sock_dir / "server.sock"
        leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        leftover.bind(str(stale))  # bound but never listening: what a crashed agent leaves behind
        leftover.close()
        async with DevAgent(sock_dir, {"server": [SERVER_ID]}) as agent, stub_for(agent, "server") as stub:
            assert (await read(stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD))).svids
            with pytest.raises(DevAgentError, match="in use by a running agent"):
                await DevAgent(sock_dir, {"server": [SERVER_ID]}).start()
            assert stale.exists()  # the failed second agent did not remove the live socket
        assert not stale.exists()
        (sock_dir / "file.sock").write_text("not a socket")
        with pytest.raises(DevAgentError, match="exists and is not a socket"):
            await DevAgent(sock_dir, {"file": [SERVER_ID]}).start()
        assert (sock_dir / "file.sock").read_text() == "not a socket"
        assert [p.name for p in sock_dir.iterdir()] == ["file.sock"]  # no staging directories left

    run(scenario)
