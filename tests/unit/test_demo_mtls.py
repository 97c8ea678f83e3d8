"""examples/manifest-server/mtls.py: the standard-library helpers the example server and client share."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "manifest-server"))
import mtls


def _self_signed(serial: int, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    now = dt.datetime.now(dt.UTC)
    # a long name: the DER lengths take the multi-byte form
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"{i}" * 60) for i in range(5)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFFFF, x509.random_serial_number(), (1 << 159) - 1])
def test_file_serial_matches_the_certificate(serial: int, tmp_path: Path) -> None:
    pem = tmp_path / "cert.pem"
    # a chain: the first certificate counts
    pem.write_bytes(
        _self_signed(serial, ec.generate_private_key(ec.SECP256R1()))
        + _self_signed(5, ec.generate_private_key(ec.SECP256R1()))
    )
    assert mtls.file_serial(str(pem)) == format(serial, "x")


def test_file_serial_with_an_rsa_key(tmp_path: Path) -> None:
    pem = tmp_path / "cert.pem"
    pem.write_bytes(_self_signed(0xABCDEF, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    assert mtls.file_serial(str(pem)) == "abcdef"


def test_file_serial_without_a_certificate(tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError):
        mtls.file_serial(str(pem))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("server:443", ("server", 443)),
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("server", ("server", 9)),
        ("[::1]:8443", ("::1", 8443)),
        ("[::1]", ("::1", 9)),
    ],
)
def test_split_hostport(value: str, expected: tuple[str, int]) -> None:
    assert mtls.split_hostport(value, 9) == expected


def test_credentials_missing(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("x")
    creds = mtls.Credentials(str(tmp_path / "c"), str(tmp_path / "k"), str(tmp_path / "b"))
    assert creds.missing() == [str(tmp_path / "k"), str(tmp_path / "b")]
