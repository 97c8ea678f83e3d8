"""Splitting concatenated ASN.1 DER certificates, the Workload API's wire form for chains and bundles."""

from __future__ import annotations

from cryptography import x509

from spiffe_helper.errors import SvidError


def split_der(blob: bytes, what: str) -> list[bytes]:
    """Split concatenated DER SEQUENCEs (``x509_svid``, ``bundle``) into one byte string each.

    ``cryptography`` loads one certificate per call, so the outer TLV lengths are walked here.
    """
    out: list[bytes] = []
    pos = 0
    n = len(blob)
    while pos < n:
        if blob[pos] != 0x30:  # every certificate is a SEQUENCE
            raise SvidError(f"{what}: malformed DER at byte {pos}: expected a SEQUENCE")
        if pos + 2 > n:
            raise SvidError(f"{what}: truncated DER at byte {pos}")
        first = blob[pos + 1]
        if first < 0x80:
            length, header = first, 2
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + 2 + count > n:
                raise SvidError(f"{what}: malformed DER length at byte {pos}")
            length = int.from_bytes(blob[pos + 2 : pos + 2 + count], "big")
            header = 2 + count
        end = pos + header + length
        if end > n:
            raise SvidError(f"{what}: truncated DER at byte {pos}")
        out.append(blob[pos:end])
        pos = end
    return out


def load_der_certificates(blob: bytes, what: str) -> tuple[x509.Certificate, ...]:
    """Parse concatenated DER certificates; any garbage raises :class:`SvidError` naming ``what``."""
    certs = []
    for i, der in enumerate(split_der(blob, what)):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise SvidError(f"{what}: certificate {i} cannot be parsed: {exc}") from None
    return tuple(certs)
