"""Certificate and JWT builders for the value-module tests (svid.py, jwt.py), plus self-checks of the builders.

Everything is real: ``cryptography`` keys and certificates, JWS signatures computed here (ES/RS/PS), so
the value modules are tested against independently produced material, not against themselves.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from spiffe_helper.svid import WireX509Svid

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(kind: str = "ec") -> Key:
    """A fresh P-256 key, or an RSA-2048 key (``kind="rsa"``; slower, so tests reuse them sparingly)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_usage(**on: bool) -> x509.KeyUsage:
    """A KeyUsage with the named bits set and every other bit clear."""
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ]
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


@dataclass(frozen=True)
class Ca:
    """A CA certificate and its key."""

    cert: x509.Certificate
    key: Key

    @property
    def der(self) -> bytes:
        """The certificate as DER."""
        return self.cert.public_bytes(serialization.Encoding.DER)


def make_ca(
    td: str = "example.org",
    *,
    parent: Ca | None = None,
    key: Key | None = None,
    cn: str = "root",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    ca: bool = True,
    ku: x509.KeyUsage | None = None,
) -> Ca:
    """A root CA (self-signed) or, with ``parent``, an intermediate CA, with URI SAN ``spiffe://<td>``."""
    key = key or new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(parent.cert.subject if parent else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - HOUR)
        .not_valid_after(not_after or NOW + 24 * HOUR)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(ku or key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{td}")]), False)
    )
    signer: CertificateIssuerPrivateKeyTypes = parent.key if parent else key
    return Ca(builder.sign(signer, hashes.SHA256()), key)


def make_leaf(
    issuer: Ca,
    spiffe_id: str = "spiffe://example.org/workload",
    *,
    key: Key | None = None,
    uris: list[str] | None = None,
    ca: bool | None = False,
    ku: x509.KeyUsage | None = None,
    with_ku: bool = True,
    eku: list[x509.ObjectIdentifier] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[x509.Certificate, Key]:
    """An X.509-SVID leaf signed by ``issuer``; every keyword spoils one rule when changed."""
    key = key or new_key()
    uris = [spiffe_id] if uris is None else uris
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIRE")]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - HOUR)
        .not_valid_after(not_after or NOW + HOUR)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if with_ku:
        ku = ku or key_usage(digital_signature=True, key_encipherment=True, key_agreement=True)
        builder = builder.add_extension(ku, critical=True)
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if eku is None else eku
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False
        )
    return builder.sign(issuer.key, hashes.SHA256()), key


def der(*certs: x509.Certificate) -> bytes:
    """Concatenated DER, the Workload API's chain and bundle encoding."""
    return b"".join(c.public_bytes(serialization.Encoding.DER) for c in certs)


def pkcs8(key: Key) -> bytes:
    """An unencrypted PKCS#8 DER private key, the Workload API's key encoding."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def wire_svid(
    root: Ca,
    spiffe_id: str = "spiffe://example.org/workload",
    *,
    chain: tuple[x509.Certificate, ...] | None = None,
    key: Key | None = None,
    bundle: bytes | None = None,
    hint: str = "",
) -> WireX509Svid:
    """A good WireX509Svid for ``spiffe_id`` issued by ``root`` (or the given chain and key)."""
    if chain is None:
        leaf, leaf_key = make_leaf(root, spiffe_id)
        chain, key = (leaf,), key or leaf_key
    assert key is not None
    return WireX509Svid(spiffe_id, der(*chain), pkcs8(key), der(root.cert) if bundle is None else bundle, hint)


# ----- JWT -----


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(
    key: Key,
    claims: dict[str, Any],
    *,
    alg: str = "ES256",
    kid: str | None = "kid-1",
    header: dict[str, Any] | None = None,
) -> str:
    """A compact JWS over ``claims`` signed with ``key`` (ES*/RS*/PS*), computed independently of jwt.py."""
    hdr: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        hdr["kid"] = kid
    hdr.update(header or {})
    signing_input = f"{b64url(json.dumps(hdr).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    algorithm = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[2:], hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(algorithm)))
        size = (key.curve.key_size + 7) // 8
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif alg.startswith("PS"):
        sig = key.sign(signing_input, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm)
    else:
        sig = key.sign(signing_input, padding.PKCS1v15(), algorithm)
    return f"{signing_input.decode()}.{b64url(sig)}"


def jwk(key: Key, kid: str | None = "kid-1", **extra: Any) -> dict[str, Any]:
    """The public JWK of ``key``."""
    out: dict[str, Any]
    pub = key.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {256: "P-256", 384: "P-384", 521: "P-521"}[pub.curve.key_size]
        out = {
            "kty": "EC",
            "crv": crv,
            "x": b64url(nums.x.to_bytes(size, "big")),
            "y": b64url(nums.y.to_bytes(size, "big")),
        }
    else:
        nums_r = pub.public_numbers()
        n = nums_r.n.to_bytes((nums_r.n.bit_length() + 7) // 8, "big")
        out = {"kty": "RSA", "n": b64url(n), "e": b64url(nums_r.e.to_bytes(3, "big"))}
    if kid is not None:
        out["kid"] = kid
    out.update(extra)
    return out


def jwks(*keys: Any) -> bytes:
    """A JWKS document."""
    return json.dumps({"keys": list(keys)}).encode()


def claims(
    sub: str = "spiffe://example.org/workload", aud: Any = "aud-1", exp_in: float = 300, **extra: Any
) -> dict[str, Any]:
    """JWT-SVID claims expiring ``exp_in`` seconds from now."""
    return {"sub": sub, "aud": aud, "exp": int(NOW.timestamp() + exp_in), "iat": int(NOW.timestamp()), **extra}


# ----- self-checks of the builders -----


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
