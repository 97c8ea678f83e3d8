"""The hand-written Workload API codec (spiffe_helper/workload/wire.py) against the generated protobuf stubs.

The stubs are the oracle: whatever the protobuf runtime reads from a byte string, the codec must read the same
way, and whatever the runtime rejects, the codec must reject with a WireError (never another exception).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spiffe_helper.errors import SvidError
from spiffe_helper.svid import WireX509Svid
from spiffe_helper.workload import convert, wire
from spiffe_helper.workload._proto import workload_pb2 as pb

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(max_size=20)
blobs = st.binary(max_size=40)
string_bytes_maps = st.dictionaries(texts, blobs, max_size=4)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire_type) + payload


def _len_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2, _varint(len(payload)) + payload)


# ----- well-formed messages: the codec reads what the stubs wrote -----


@SETTINGS
@given(
    svids=st.lists(st.tuples(texts, blobs, blobs, blobs, texts), max_size=4),
    crl=st.lists(blobs, max_size=2),
    federated=string_bytes_maps,
)
def test_x509_svid_response(
    svids: list[tuple[str, bytes, bytes, bytes, str]], crl: list[bytes], federated: dict[str, bytes]
) -> None:
    msg = pb.X509SVIDResponse(
        svids=[pb.X509SVID(spiffe_id=a, x509_svid=b, x509_svid_key=c, bundle=d, hint=e) for a, b, c, d, e in svids],
        crl=crl,
        federated_bundles=federated,
    )
    got_svids, got_federated = wire.decode_x509_svid_response(msg.SerializeToString())
    assert got_svids == [WireX509Svid(*s) for s in svids]
    assert got_federated == federated


@SETTINGS
@given(bundles=string_bytes_maps, crl=st.lists(blobs, max_size=2))
def test_bundle_responses(bundles: dict[str, bytes], crl: list[bytes]) -> None:
    x509 = pb.X509BundlesResponse(bundles=bundles, crl=crl).SerializeToString()
    assert wire.decode_x509_bundles_response(x509) == bundles
    jwt = pb.JWTBundlesResponse(bundles=bundles).SerializeToString()
    assert wire.decode_jwt_bundles_response(jwt) == bundles


@SETTINGS
@given(svids=st.lists(st.tuples(texts, texts, texts), max_size=4))
def test_jwt_svid_response(svids: list[tuple[str, str, str]]) -> None:
    msg = pb.JWTSVIDResponse(svids=[pb.JWTSVID(spiffe_id=a, svid=b, hint=c) for a, b, c in svids])
    assert wire.decode_jwt_svid_response(msg.SerializeToString()) == [wire.JwtSvidEntry(*s) for s in svids]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)


def _plain(value: Any) -> Any:
    """What the codec promises for a JSON value: integral numbers as ints, the rest unchanged."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@SETTINGS
@given(spiffe_id=texts, claims=st.dictionaries(texts, json_values, max_size=5))
def test_validate_response_claims(spiffe_id: str, claims: dict[str, Any]) -> None:
    msg = pb.ValidateJWTSVIDResponse(spiffe_id=spiffe_id)
    msg.claims.update(claims)
    got_id, got_claims = wire.decode_validate_jwt_svid_response(msg.SerializeToString())
    assert got_id == spiffe_id
    assert got_claims == _plain(claims)
    # ints stay ints, bools stay bools: `exp` and `iat` are compared as integers downstream
    for key, value in claims.items():
        assert type(got_claims[key]) is type(_plain(value))


def test_validate_response_without_claims_and_a_repeated_claims_field_merges() -> None:
    assert wire.decode_validate_jwt_svid_response(b"") == ("", {})
    first = pb.ValidateJWTSVIDResponse()
    first.claims.update({"a": 1, "b": "x"})
    second = pb.ValidateJWTSVIDResponse()
    second.claims.update({"b": "y", "c": [True]})
    data = first.SerializeToString() + second.SerializeToString()  # the format defines this as a merge
    assert wire.decode_validate_jwt_svid_response(data)[1] == {"a": 1, "b": "y", "c": [True]}
    assert dict(pb.ValidateJWTSVIDResponse.FromString(data).claims) == {"a": 1, "b": "y", "c": [True]}


# ----- requests: byte for byte what the stubs write -----


@SETTINGS
@given(audience=st.lists(texts, max_size=4), spiffe_id=texts)
def test_jwt_svid_request(audience: list[str], spiffe_id: str) -> None:
    expected = pb.JWTSVIDRequest(audience=audience, spiffe_id=spiffe_id).SerializeToString()
    assert wire.encode_jwt_svid_request(audience, spiffe_id) == expected


@SETTINGS
@given(audience=texts, svid=texts)
def test_validate_request(audience: str, svid: str) -> None:
    expected = pb.ValidateJWTSVIDRequest(audience=audience, svid=svid).SerializeToString()
    assert wire.encode_validate_jwt_svid_request(audience, svid) == expected


def test_empty_requests_are_empty_bytes() -> None:
    for request in (pb.X509SVIDRequest(), pb.X509BundlesRequest(), pb.JWTBundlesRequest()):
        assert request.SerializeToString() == b""


# ----- arbitrary bytes: same reading as the runtime, or a WireError where it fails -----

# Fields as a newer (or broken) agent could send them: known and unknown numbers, every wire type the codec
# accepts, on known fields too (a known field with another wire type is skipped, as the runtime does).
_raw_fields = st.one_of(
    st.builds(lambda n, v: _field(n, 0, _varint(v)), st.integers(1, 7), st.integers(0, 2**64 - 1)),
    st.builds(lambda n, v: _field(n, 1, v), st.integers(1, 7), st.binary(min_size=8, max_size=8)),
    st.builds(lambda n, v: _field(n, 5, v), st.integers(1, 7), st.binary(min_size=4, max_size=4)),
    st.builds(_len_field, st.integers(1, 7), st.binary(max_size=12)),
    st.builds(lambda n, v: _len_field(n, b"".join(v)), st.integers(1, 7), st.lists(st.binary(max_size=8), max_size=3)),
)


def _group(number: int, content: bytes) -> bytes:
    """A group (proto2's delimited encoding): start tag, fields, end tag of the same number."""
    return _field(number, 3, b"") + content + _field(number, 4, b"")


def _nested(depth: int) -> st.SearchStrategy[bytes]:
    """Messages whose length-delimited fields (and groups) may themselves hold such messages."""
    if depth == 0:
        return st.lists(_raw_fields, max_size=4).map(b"".join)
    inner = _nested(depth - 1)
    field = (
        _raw_fields
        | st.builds(_len_field, st.integers(1, 6), inner)
        | st.builds(_group, st.integers(1, 9), inner)
        | st.builds(lambda n, t: _field(n, t, b""), st.integers(1, 9), st.sampled_from([3, 4]))  # unbalanced
    )
    return st.lists(field, max_size=5).map(b"".join)


_CASES: list[tuple[Any, Any, Any]] = [
    (
        pb.X509SVIDResponse,
        wire.decode_x509_svid_response,
        lambda m: (
            [WireX509Svid(s.spiffe_id, s.x509_svid, s.x509_svid_key, s.bundle, s.hint) for s in m.svids],
            dict(m.federated_bundles),
        ),
    ),
    (pb.X509BundlesResponse, wire.decode_x509_bundles_response, lambda m: dict(m.bundles)),
    (pb.JWTBundlesResponse, wire.decode_jwt_bundles_response, lambda m: dict(m.bundles)),
    (
        pb.JWTSVIDResponse,
        wire.decode_jwt_svid_response,
        lambda m: [wire.JwtSvidEntry(s.spiffe_id, s.svid, s.hint) for s in m.svids],
    ),
]


def _agree(message_type: Any, decode: Any, expect: Any, data: bytes) -> None:
    try:
        oracle = message_type.FromString(data)
    except DecodeError:
        with pytest.raises(wire.WireError):
            decode(data)
        return
    assert decode(data) == expect(oracle)


@pytest.mark.parametrize(("message_type", "decode", "expect"), _CASES, ids=lambda c: getattr(c, "__name__", ""))
@SETTINGS
@given(data=_nested(2))
def test_arbitrary_fields_read_as_the_runtime_reads_them(
    message_type: Any, decode: Any, expect: Any, data: bytes
) -> None:
    _agree(message_type, decode, expect, data)


@pytest.mark.parametrize(("message_type", "decode", "expect"), _CASES, ids=lambda c: getattr(c, "__name__", ""))
@SETTINGS
@given(data=_nested(2), cut=st.integers(min_value=0))
def test_truncated_messages(message_type: Any, decode: Any, expect: Any, data: bytes, cut: int) -> None:
    _agree(message_type, decode, expect, data[: cut % (len(data) + 1)])


@SETTINGS
@given(data=_nested(3))
def test_arbitrary_validate_responses(data: bytes) -> None:
    try:
        oracle = pb.ValidateJWTSVIDResponse.FromString(data)
    except DecodeError:
        with pytest.raises(wire.WireError):
            wire.decode_validate_jwt_svid_response(data)
        return
    spiffe_id, claims = wire.decode_validate_jwt_svid_response(data)
    assert spiffe_id == oracle.spiffe_id
    assert claims == _plain(_struct_oracle(oracle.claims))


def _struct_oracle(struct_msg: Any) -> dict[str, Any]:
    return {k: _value_oracle(v) for k, v in struct_msg.fields.items()}


def _value_oracle(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _struct_oracle(value.struct_value)
    if kind == "list_value":
        return [_value_oracle(v) for v in value.list_value.values]
    if kind in ("number_value", "string_value", "bool_value"):
        return getattr(value, kind)
    return None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x0a", "truncated varint"),
        (b"\x0a\x05ab", "runs past the end"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x0b", "truncated group"),
        (b"\x0c", "end of a group that was not started"),
        (b"\x0b\x14", "group ended by the end tag of field 2"),
        (b"\x0e", "unsupported wire type 6"),
        (b"\x00\x00", "field number 0 out of range"),
        (b"\x80\x80\x80\x80\x10\x00", "field number 536870912 out of range"),
        (b"\x11\x00\x00", "truncated fixed-width"),
        (_len_field(1, _len_field(1, b"\xff\xfe")), "not valid UTF-8"),
    ],
)
def test_malformed_bytes_name_the_problem(data: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError, match=reason):
        wire.decode_x509_svid_response(data)


def test_a_value_oneof_keeps_its_last_member() -> None:
    number = _field(2, 1, struct.pack("<d", 2.5))
    text = _len_field(3, b"t")
    entry = _len_field(1, b"k") + _len_field(2, number + text + number)
    assert wire.decode_validate_jwt_svid_response(_len_field(2, _len_field(1, entry)))[1] == {"k": 2.5}


def test_groups_are_skipped_as_unknown_fields() -> None:
    svid = pb.X509SVIDResponse(svids=[pb.X509SVID(spiffe_id="spiffe://example.org/w")]).SerializeToString()
    data = _group(9, _len_field(1, b"x") + _group(2, b"")) + svid + _group(1, b"")  # a known number too
    assert len(pb.X509SVIDResponse.FromString(data).svids) == 1
    assert wire.decode_x509_svid_response(data)[0][0].spiffe_id == "spiffe://example.org/w"


@pytest.mark.parametrize("kind", ["list", "struct", "group"])
def test_deep_nesting_is_a_wire_error_not_a_recursion_error(kind: str) -> None:
    """A hostile agent's 2,000 levels (10 kB) must be one malformed response, not a RecursionError."""
    if kind == "group":
        data = _field(9, 3, b"") * 2000 + _field(9, 4, b"") * 2000
        with pytest.raises(wire.WireError, match="nested deeper"):
            wire.decode_x509_svid_response(data)
        return
    value = _len_field(3, b"leaf")  # Value.string_value
    for _ in range(2000):
        if kind == "list":
            value = _len_field(6, _len_field(1, value))  # Value.list_value.values[0]
        else:
            value = _len_field(5, _len_field(1, _len_field(1, b"k") + _len_field(2, value)))  # struct {"k": ...}
    data = _len_field(2, _len_field(1, _len_field(1, b"claim") + _len_field(2, value)))
    with pytest.raises(SvidError, match="nested deeper than 64 levels"):
        convert.to_jwt_validation(data)
