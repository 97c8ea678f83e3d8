"""The Workload API's protobuf messages, encoded and decoded by hand on the client path.

The client needs five response messages and two requests with content. Importing the protobuf runtime and
the generated stubs for them costs a cold one-shot run ~24 ms of its start-up and the daemon ~1.5 MB, so
the client speaks the wire format itself; the generated stubs in ``_proto`` stay for the development agent
and are the oracle the tests compare this codec with.

What the protobuf wire format asks of a decoder, and what this one does:

* a message is a sequence of ``(field number, wire type)`` tags and values; fields may come in any order;
* a field this codec does not know, or a known one with a different wire type, is skipped (as protobuf
  does: a newer agent may add fields);
* a singular scalar seen twice keeps the last value; a singular message seen twice is merged, which the
  format defines as parsing the concatenation of both;
* a ``map<K, V>`` is a repeated entry message ``{1: key, 2: value}``; a later entry replaces an earlier one
  with the same key; a missing key or value is the type's default;
* ``string`` fields must be valid UTF-8 (proto3);
* a group (proto2's delimited encoding, wire types 3 and 4) is an unknown field here: skipped whole.

Anything else (a truncated value, a varint longer than ten bytes, an unbalanced group, a reserved wire
type, claims nested deeper than ``MAX_DEPTH``) raises
:class:`WireError`, a ``ValueError``, which the conversion layer reports as a malformed response.
Field names and numbers are those of ``_proto/workload.proto``; the spec is the wire contract.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

from spiffe_helper.svid import WireX509Svid

__all__ = [
    "JwtSvidEntry",
    "WireError",
    "decode_jwt_bundles_response",
    "decode_jwt_svid_response",
    "decode_validate_jwt_svid_response",
    "decode_x509_bundles_response",
    "decode_x509_svid_response",
    "encode_jwt_svid_request",
    "encode_validate_jwt_svid_request",
]

VARINT, I64, LEN, START_GROUP, END_GROUP, I32 = 0, 1, 2, 3, 4, 5
# Nesting allowed in groups and in the claims' Struct/ListValue values; the protobuf runtime stops at 100
# message levels (a Value inside a list is two), recursion here would fail near 1,000.
MAX_DEPTH = 64
_DOUBLE = struct.Struct("<d")


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class JwtSvidEntry(NamedTuple):
    """One ``JWTSVID`` of a ``JWTSVIDResponse``."""

    spiffe_id: str
    svid: str
    hint: str


# ----- decoding -----


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _tag(data: bytes, pos: int) -> tuple[int, int, int]:
    """The field number and wire type of the tag at ``pos``, and the position after it."""
    tag, pos = _varint(data, pos)
    number = tag >> 3
    if number == 0 or tag > 0xFFFFFFFF:
        raise WireError(f"field number {number} out of range")
    return number, tag & 7, pos


def _value_at(data: bytes, pos: int, number: int, wire_type: int) -> tuple[Any, int]:
    """The value of a field (an int for varints, bytes otherwise) and the position after it; a group is
    skipped whole and read as None."""
    end = len(data)
    if wire_type == VARINT:
        return _varint(data, pos)
    if wire_type == LEN:
        size, pos = _varint(data, pos)
        if size > end - pos:
            raise WireError(f"field {number}: length {size} runs past the end of the message")
        return data[pos : pos + size], pos + size
    if wire_type in (I64, I32):
        size = 8 if wire_type == I64 else 4
        if size > end - pos:
            raise WireError(f"field {number}: truncated fixed-width value")
        return data[pos : pos + size], pos + size
    if wire_type == START_GROUP:
        return None, _skip_group(data, pos, number, 1)
    if wire_type == END_GROUP:
        raise WireError(f"field {number}: end of a group that was not started")
    raise WireError(f"field {number}: unsupported wire type {wire_type}")


def _skip_group(data: bytes, pos: int, number: int, depth: int) -> int:
    """The position after the group (proto2's delimited encoding) whose start tag ends at ``pos``."""
    if depth > MAX_DEPTH:
        raise WireError(f"field {number}: groups nested deeper than {MAX_DEPTH} levels")
    while pos < len(data):
        inner, wire_type, pos = _tag(data, pos)
        if wire_type == END_GROUP:
            if inner != number:
                raise WireError(f"field {number}: group ended by the end tag of field {inner}")
            return pos
        if wire_type == START_GROUP:
            pos = _skip_group(data, pos, inner, depth + 1)
        else:
            _, pos = _value_at(data, pos, inner, wire_type)
    raise WireError(f"field {number}: truncated group")


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """Each ``(field number, wire type, value)``: an int for varints, bytes for the other wire types.

    Groups are skipped (no field of the Workload API is one; a newer agent's would be unknown)."""
    pos = 0
    while pos < len(data):
        number, wire_type, pos = _tag(data, pos)
        value, pos = _value_at(data, pos, number, wire_type)
        if wire_type != START_GROUP:
            yield number, wire_type, value


def _string(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"{what} is not valid UTF-8") from None


def _map_entry(data: bytes, what: str) -> tuple[str, bytes] | None:
    """The key (UTF-8 checked) and raw value of one map entry; missing ones are empty.

    None for an entry that carries any other field (or a key or value of another wire type): the protobuf
    runtime keeps such an entry out of the map, as an unknown field of the enclosing message. Its key must
    still be valid UTF-8 and its fields well formed, or the whole message is rejected, as by the runtime.
    """
    key, value = "", b""
    known = True
    for number, wire_type, raw in _fields(data):
        if number == 1 and wire_type == LEN:
            key = _string(raw, f"{what} key")  # every occurrence is checked, as by the runtime
        elif number == 2 and wire_type == LEN:
            value = raw
        else:
            known = False
    return (key, value) if known else None


def _string_bytes_map(entries: list[bytes], what: str) -> dict[str, bytes]:
    return dict(pair for entry in entries if (pair := _map_entry(entry, what)) is not None)


def _x509_svid(data: bytes) -> WireX509Svid:
    # Strings are checked at every occurrence, as the runtime does, not only the one that is kept.
    spiffe_id = hint = ""
    cert = key = bundle = b""
    for number, wire_type, raw in _fields(data):
        if wire_type != LEN:
            continue
        if number == 1:
            spiffe_id = _string(raw, "X509SVID.spiffe_id")
        elif number == 2:
            cert = raw
        elif number == 3:
            key = raw
        elif number == 4:
            bundle = raw
        elif number == 5:
            hint = _string(raw, "X509SVID.hint")
    return WireX509Svid(spiffe_id, cert, key, bundle, hint)


def decode_x509_svid_response(data: bytes) -> tuple[list[WireX509Svid], dict[str, bytes]]:
    """An ``X509SVIDResponse``: its SVIDs in order and its federated bundles (CRLs are not used)."""
    svids: list[bytes] = []
    federated: list[bytes] = []
    for number, wire_type, raw in _fields(data):
        if wire_type != LEN:
            continue
        if number == 1:
            svids.append(raw)
        elif number == 3:
            federated.append(raw)
    return [_x509_svid(s) for s in svids], _string_bytes_map(federated, "federated_bundles")


def _bundles_map(data: bytes, number_of_map: int) -> dict[str, bytes]:
    entries = [raw for number, wire_type, raw in _fields(data) if number == number_of_map and wire_type == LEN]
    return _string_bytes_map(entries, "bundles")


def decode_x509_bundles_response(data: bytes) -> dict[str, bytes]:
    """An ``X509BundlesResponse``: DER bundles by trust domain (CRLs are not used)."""
    return _bundles_map(data, 2)


def decode_jwt_bundles_response(data: bytes) -> dict[str, bytes]:
    """A ``JWTBundlesResponse``: JWKS documents by trust domain."""
    return _bundles_map(data, 1)


def decode_jwt_svid_response(data: bytes) -> list[JwtSvidEntry]:
    """A ``JWTSVIDResponse``: its JWT-SVIDs in order."""
    out: list[JwtSvidEntry] = []
    for number, wire_type, raw in _fields(data):
        if number != 1 or wire_type != LEN:
            continue
        values = ["", "", ""]
        for sub_number, sub_type, sub_raw in _fields(raw):
            if 1 <= sub_number <= 3 and sub_type == LEN:
                values[sub_number - 1] = _string(sub_raw, f"JWTSVID.{JwtSvidEntry._fields[sub_number - 1]}")
        out.append(JwtSvidEntry(*values))
    return out


def decode_validate_jwt_svid_response(data: bytes) -> tuple[str, dict[str, Any]]:
    """A ``ValidateJWTSVIDResponse``: the SPIFFE ID and the claims as plain JSON values."""
    spiffe_id = ""
    claims: dict[str, Any] = {}
    for number, wire_type, raw in _fields(data):
        if wire_type != LEN:
            continue
        if number == 1:
            spiffe_id = _string(raw, "ValidateJWTSVIDResponse.spiffe_id")
        elif number == 2:
            claims.update(_struct(raw, 1))  # a repeated singular message merges; a map merges key by key
    return spiffe_id, claims


def _struct(data: bytes, depth: int) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` as a dict; integral numbers become ints (``exp``, ``iat``)."""
    if depth > MAX_DEPTH:
        raise WireError(f"claims nested deeper than {MAX_DEPTH} levels")
    out: dict[str, Any] = {}
    for number, wire_type, raw in _fields(data):
        if number == 1 and wire_type == LEN:
            pair = _map_entry(raw, "Struct")
            if pair is None:
                # Dropped like any entry with unknown fields, but its value is still read: the runtime
                # rejects the message if that is malformed.
                _map_entry_value_checked(raw, depth)
            else:
                out[pair[0]] = _value(pair[1], depth + 1)
    return out


def _map_entry_value_checked(entry: bytes, depth: int) -> None:
    for number, wire_type, raw in _fields(entry):
        if number == 2 and wire_type == LEN:
            _value(raw, depth + 1)


def _value(data: bytes, depth: int) -> Any:
    """A ``google.protobuf.Value``: the last member of its ``kind`` oneof wins; unset or null is None.

    Consecutive occurrences of the same message member merge (a struct key by key, a list by appending);
    another member in between starts it afresh.
    """
    if depth > MAX_DEPTH:
        raise WireError(f"claims nested deeper than {MAX_DEPTH} levels")
    kind: int = 0  # the field number of the member that is set
    result: Any = None
    for number, wire_type, raw in _fields(data):
        if number == 1 and wire_type == VARINT:
            kind, result = number, None
        elif number == 2 and wire_type == I64:
            value = _DOUBLE.unpack(raw)[0]
            kind, result = number, int(value) if value.is_integer() else value
        elif number == 3 and wire_type == LEN:
            kind, result = number, _string(raw, "Value.string_value")
        elif number == 4 and wire_type == VARINT:
            kind, result = number, bool(raw)
        elif number == 5 and wire_type == LEN:
            fields = _struct(raw, depth + 1)
            kind, result = number, {**result, **fields} if kind == number else fields
        elif number == 6 and wire_type == LEN:
            items = [_value(v, depth + 1) for n, t, v in _fields(raw) if n == 1 and t == LEN]
            kind, result = number, [*result, *items] if kind == number else items
    return result


# ----- encoding -----


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_string(number: int, value: str) -> bytes:
    raw = value.encode("utf-8")
    return _encode_varint(number << 3 | LEN) + _encode_varint(len(raw)) + raw


def encode_jwt_svid_request(audience: list[str], spiffe_id: str = "") -> bytes:
    """A ``JWTSVIDRequest``; proto3 leaves an empty ``spiffe_id`` out."""
    parts = [_encode_string(1, a) for a in audience]
    if spiffe_id:
        parts.append(_encode_string(2, spiffe_id))
    return b"".join(parts)


def encode_validate_jwt_svid_request(audience: str, svid: str) -> bytes:
    """A ``ValidateJWTSVIDRequest``; empty fields are left out, as proto3 does."""
    return b"".join(_encode_string(n, v) for n, v in ((1, audience), (2, svid)) if v)
