"""Key generation and the file writes of the dev agent's state directory (keys 0600 from the first byte)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
KEY_TYPES: tuple[KeyType, ...] = ("ec", "rsa")


def generate_key(kind: KeyType) -> PrivateKey:
    """EC P-256 (``ec``) or RSA 2048 (``rsa``), the defaults SPIRE uses for each family."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def pkcs8_der(key: PrivateKey) -> bytes:
    """The Workload API's key encoding: unencrypted PKCS#8 DER."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pkcs8_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, for the state directory."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(data: bytes) -> PrivateKey:
    """Load a PEM private key written by :func:`pkcs8_pem`; ValueError for other key types."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def same_public_key(a: PublicKey, b: PublicKey) -> bool:
    """True when two public keys are the same key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` atomically with ``mode``: a temp file created with that mode, fsynced, renamed.

    The temp file is created by ``mkstemp`` (0600) and only widened afterwards, so a key is never readable
    by others, not even for an instant.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
