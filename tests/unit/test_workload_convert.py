"""Response conversion (spiffe_helper/workload/convert.py) and WorkloadApiError rendering (client.py).

Messages are built with the generated protobuf stubs (tests may import ``_proto``) and handed over serialized,
as gRPC hands them to the client; the codec itself is tested against the stubs in test_workload_wire.py.
"""

from __future__ import annotations

import grpc
import pytest

from spiffe_helper.errors import SvidError
from spiffe_helper.spiffeid import TrustDomain
from spiffe_helper.workload import convert
from spiffe_helper.workload._proto import workload_pb2 as pb
from spiffe_helper.workload.client import WorkloadApiError
from spiffe_helper.workload.wire import decode_validate_jwt_svid_response
from tests.pki import Ca, claims, der, jwk, jwks, make_ca, new_key, sign_jwt, wire_svid

ID = "spiffe://example.org/workload"


@pytest.fixture(scope="module")
def root() -> Ca:
    return make_ca()


def _x509_msg(root: Ca, *ids_hints: tuple[str, str], federated: dict[str, bytes] | None = None) -> pb.X509SVIDResponse:
    svids = [wire_svid(root, i, hint=h) for i, h in ids_hints]
    return pb.X509SVIDResponse(
        svids=[
            pb.X509SVID(
                spiffe_id=s.spiffe_id,
                x509_svid=s.x509_svid,
                x509_svid_key=s.x509_svid_key,
                bundle=s.bundle,
                hint=s.hint,
            )
            for s in svids
        ],
        federated_bundles=federated or {},
    )


def _wire(msg: object) -> bytes:
    return msg.SerializeToString()  # type: ignore[attr-defined, no-any-return]


def test_x509_context_from_a_message(root: Ca) -> None:
    fed = make_ca("fed.example")
    msg = _x509_msg(root, (ID, "a"), ("spiffe://example.org/b", "b"), federated={"spiffe://fed.example": der(fed.cert)})
    ctx = convert.to_x509_context(_wire(msg))
    assert [s.hint for s in ctx.svids] == ["a", "b"]
    assert set(ctx.bundles) == {TrustDomain("example.org"), TrustDomain("fed.example")}


def test_x509_context_rejects_an_empty_message() -> None:
    with pytest.raises(SvidError, match="no SVIDs"):
        convert.to_x509_context(_wire(pb.X509SVIDResponse()))


def test_parse_errors_escaping_the_value_layer_become_svid_errors(root: Ca) -> None:
    msg = _x509_msg(root, (ID, ""))
    leaf = msg.svids[0].x509_svid
    i = leaf.index(ID.encode())
    msg.svids[0].x509_svid = leaf[: i - 2] + b"\x04" + leaf[i - 1 :]  # SAN tag broken: fails when read lazily
    with pytest.raises(SvidError, match=r"malformed certificate or key: error parsing asn1 value"):
        convert.to_x509_context(_wire(msg))
    msg = _x509_msg(root, (ID, ""))
    key = msg.svids[0].x509_svid_key
    j = key.index(bytes.fromhex("2a8648ce3d030107"))  # prime256v1 -> an unknown curve OID
    msg.svids[0].x509_svid_key = key[: j + 7] + b"\x08" + key[j + 8 :]
    with pytest.raises(SvidError, match=r"malformed certificate or key: .*not supported"):
        convert.to_x509_context(_wire(msg))


def test_x509_bundles(root: Ca) -> None:
    msg = pb.X509BundlesResponse(bundles={"spiffe://example.org": der(root.cert), "fed.example": der(root.cert)})
    bundles = convert.to_x509_bundles(_wire(msg))
    assert set(bundles) == {TrustDomain("example.org"), TrustDomain("fed.example")}
    with pytest.raises(SvidError, match="no bundles"):
        convert.to_x509_bundles(_wire(pb.X509BundlesResponse()))
    with pytest.raises(SvidError, match="twice"):
        convert.to_x509_bundles(
            _wire(pb.X509BundlesResponse(bundles={"spiffe://a.org": der(root.cert), "a.org": der(root.cert)}))
        )


def test_jwt_bundles() -> None:
    key = new_key()
    bundles = convert.to_jwt_bundles(_wire(pb.JWTBundlesResponse(bundles={"spiffe://example.org": jwks(jwk(key))})))
    assert list(bundles.bundles[TrustDomain("example.org")].keys) == ["kid-1"]
    with pytest.raises(SvidError, match="no bundles"):
        convert.to_jwt_bundles(_wire(pb.JWTBundlesResponse()))


def test_jwt_svids_parse_dedupe_and_validate() -> None:
    key = new_key()
    t1 = sign_jwt(key, claims(sub=ID, aud=["aud-1", "extra"]))
    t2 = sign_jwt(key, claims(sub="spiffe://example.org/other"))
    msg = pb.JWTSVIDResponse(
        svids=[
            pb.JWTSVID(spiffe_id=ID, svid=t1, hint="h1"),
            pb.JWTSVID(spiffe_id="spiffe://example.org/other", svid=t2, hint="h2"),
            pb.JWTSVID(spiffe_id=ID, svid=t1, hint="h1"),  # duplicate hint: first wins
        ]
    )
    svids = convert.to_jwt_svids(_wire(msg), "aud-1", None)
    assert [(str(s.spiffe_id), s.hint) for s in svids] == [(ID, "h1"), ("spiffe://example.org/other", "h2")]
    bundles = convert.to_jwt_bundles(_wire(pb.JWTBundlesResponse(bundles={"example.org": jwks(jwk(key))})))
    assert len(convert.to_jwt_svids(_wire(msg), "aud-1", bundles)) == 2
    with pytest.raises(SvidError, match="audience does not include 'nope'"):
        convert.to_jwt_svids(_wire(msg), "nope", bundles)


def test_jwt_svids_reject_empty_and_mismatched_subjects() -> None:
    with pytest.raises(SvidError, match="no SVIDs"):
        convert.to_jwt_svids(_wire(pb.JWTSVIDResponse()), "a", None)
    token = sign_jwt(new_key(), claims(sub=ID))
    msg = pb.JWTSVIDResponse(svids=[pb.JWTSVID(spiffe_id="spiffe://example.org/claimed", svid=token)])
    with pytest.raises(SvidError, match="has subject") as err:
        convert.to_jwt_svids(_wire(msg), "aud-1", None)
    assert token not in str(err.value)


def test_validate_response_claims_as_plain_values() -> None:
    resp = pb.ValidateJWTSVIDResponse(spiffe_id=ID)
    resp.claims.update(
        {
            "sub": ID,
            "aud": ["a", "b"],
            "exp": 1795333856,
            "ratio": 0.5,
            "ok": True,
            "n": None,
            "nested": {"k": [1, {"x": "y"}]},
        }
    )
    spiffe_id, decoded = decode_validate_jwt_svid_response(resp.SerializeToString())
    assert spiffe_id == ID
    assert decoded == {
        "sub": ID,
        "aud": ["a", "b"],
        "exp": 1795333856,
        "ratio": 0.5,
        "ok": True,
        "n": None,
        "nested": {"k": [1, {"x": "y"}]},
    }
    assert isinstance(decoded["exp"], int)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (grpc.StatusCode.UNAVAILABLE, "Unavailable"),
        (grpc.StatusCode.PERMISSION_DENIED, "PermissionDenied"),
        (grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "DeadlineExceeded"),
        (grpc.StatusCode.CANCELLED, "Canceled"),
        (grpc.StatusCode.UNIMPLEMENTED, "Unimplemented"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "ResourceExhausted"),
    ],
)
def test_error_renders_like_go(code: grpc.StatusCode, name: str) -> None:
    err = WorkloadApiError(code, "some details")
    assert str(err) == f"rpc error: code = {name} desc = some details"
    assert err.code_name == name and err.code is code and err.details == "some details"
    assert err.terminal is (code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED))
    assert err.agent_unreachable is (code == grpc.StatusCode.UNAVAILABLE)
    assert err.exit_code == 1


def test_eof_error() -> None:
    err = WorkloadApiError.eof()
    assert str(err) == "EOF" and err.code is grpc.StatusCode.OK
    assert not err.terminal and not err.agent_unreachable
