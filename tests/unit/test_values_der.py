"""Splitting concatenated DER (spiffe_helper/der.py), the Workload API's chain and bundle encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spiffe_helper.der import load_der_certificates, split_der
from spiffe_helper.errors import SvidError
from tests.pki import der, make_ca, make_leaf


def test_split_real_certificates_of_different_sizes() -> None:
    root = make_ca()
    leaf, _ = make_leaf(root)
    blob = der(leaf, root.cert, leaf)
    parts = split_der(blob, "chain")
    assert b"".join(parts) == blob and len(parts) == 3
    certs = load_der_certificates(blob, "chain")
    assert certs == (leaf, root.cert, leaf)


def test_empty_blob_is_no_certificates() -> None:
    assert split_der(b"", "x") == [] and load_der_certificates(b"", "x") == ()


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"\x31\x00", "expected a SEQUENCE"),
        (b"\x30", "truncated DER"),
        (b"\x30\x05abc", "truncated DER"),
        (b"\x30\x80\x00\x00", "malformed DER length"),  # indefinite length is not DER
        (b"\x30\x85\x00\x00\x00\x00\x01", "malformed DER length"),  # length of length > 4
        (b"\x30\x82\x01", "malformed DER length"),
        (b"\x30\x00\x02", "at byte 2"),
    ],
)
def test_malformed_blobs_name_the_offset(blob: bytes, match: str) -> None:
    with pytest.raises(SvidError, match=match) as err:
        split_der(blob, "bundle for 'td'")
    assert str(err.value).startswith("bundle for 'td': ")


def test_well_formed_tlv_that_is_not_a_certificate() -> None:
    with pytest.raises(SvidError, match="certificate 0 cannot be parsed"):
        load_der_certificates(b"\x30\x03\x02\x01\x00", "chain")


def _tlv(body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return b"\x30" + bytes([n]) + body
    size = (n.bit_length() + 7) // 8
    return b"\x30" + bytes([0x80 | size]) + n.to_bytes(size, "big") + body


@given(st.lists(st.binary(max_size=300), max_size=5))
def test_split_inverts_concatenation(bodies: list[bytes]) -> None:
    parts = [_tlv(b) for b in bodies]
    assert split_der(b"".join(parts), "x") == parts


@given(st.binary(max_size=64))
def test_arbitrary_bytes_split_or_raise_svid_error(blob: bytes) -> None:
    try:
        parts = split_der(blob, "x")
    except SvidError:
        return
    assert b"".join(parts) == blob
