"""Self-checks of the value tests' certificate and JWT builders in :mod:`tests.pki`."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.pki import claims, make_ca, make_leaf, new_key, sign_jwt


def test_leaf_chains_to_root_and_key_matches() -> None:
    root = make_ca()
    leaf, key = make_leaf(root)
    leaf.verify_directly_issued_by(root.cert)
    assert leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_es256_signature_verifies_with_cryptography() -> None:
    key = new_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    token = sign_jwt(key, claims())
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    assert len(raw) == 64
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key.public_key().verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        f"{head}.{body}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
