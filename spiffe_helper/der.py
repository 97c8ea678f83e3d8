"""Splitting concatenated ASN.1 DER certificates, the Workload API's wire form for chains and bundles."""

from __future__ import annotations

from cryptography import x509

from spiffe_helper.errors import SvidError


class _Bad(ValueError):
    """A malformed element: ``str()`` is ``truncated DER`` or ``malformed DER length``."""


def _tlv(blob: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, header size, content length) of the DER element at ``pos``; :class:`_Bad` when malformed."""
    n = len(blob)
    if pos + 2 > n:
        raise _Bad("truncated DER")
    first = blob[pos + 1]
    if first < 0x80:
        length, header = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + 2 + count > n:  # indefinite or absurd lengths are not DER
            raise _Bad("malformed DER length")
        length = int.from_bytes(blob[pos + 2 : pos + 2 + count], "big")
        header = 2 + count
    if pos + header + length > n:
        raise _Bad("truncated DER")
    return blob[pos], header, length


def split_der(blob: bytes, what: str) -> list[bytes]:
    """Split concatenated DER SEQUENCEs (``x509_svid``, ``bundle``) into one byte string each.

    ``cryptography`` loads one certificate per call, so the outer TLV lengths are walked here.
    """
    out: list[bytes] = []
    pos = 0
    while pos < len(blob):
        if blob[pos] != 0x30:  # every certificate is a SEQUENCE
            raise SvidError(f"{what}: malformed DER at byte {pos}: expected a SEQUENCE")
        try:
            _tag, header, length = _tlv(blob, pos)
        except _Bad as bad:
            raise SvidError(f"{what}: {bad} at byte {pos}") from None
        out.append(blob[pos : pos + header + length])
        pos += header + length
    return out


def is_pkcs8(blob: bytes) -> bool:
    """Whether ``blob`` has the shape of a PKCS#8 ``PrivateKeyInfo``: one SEQUENCE holding a version INTEGER
    and then an AlgorithmIdentifier SEQUENCE. SEC1 (EC) keys have an OCTET STRING there and PKCS#1 (RSA)
    keys another INTEGER; cryptography's loader accepts those too, the Workload API (and Go) does not."""
    try:
        tag, header, length = _tlv(blob, 0)
        if tag != 0x30 or header + length != len(blob):
            return False
        tag, v_header, v_length = _tlv(blob, header)
        if tag != 0x02:
            return False
        return _tlv(blob, header + v_header + v_length)[0] == 0x30
    except _Bad:
        return False


def load_der_certificates(blob: bytes, what: str) -> tuple[x509.Certificate, ...]:
    """Parse concatenated DER certificates; any garbage raises :class:`SvidError` naming ``what``."""
    certs = []
    for i, der in enumerate(split_der(blob, what)):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise SvidError(f"{what}: certificate {i} cannot be parsed: {exc}") from None
    return tuple(certs)
