"""A tiny SPIFFE PKI for tests: CAs, X.509-SVID leaves, Workload API wire values, JWKS and signed JWTs.

Everything is real: ``cryptography`` keys and certificates, JWS signatures computed here (ES/RS/PS), so the
code under test is checked against independently produced material, not against itself. The value tests use
the configurable builders (:func:`make_ca`, :func:`make_leaf`, :func:`sign_jwt`); the store tests the
shortcuts at the end (:class:`Pki`, :func:`make_root`, :func:`jwt_key`, :func:`mint`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from spiffe_helper.svid import WireX509Svid, X509Context

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


# ----- shortcuts for the store tests -----

_CA_KEY_USAGE = {"digital_signature": True, "key_cert_sign": True, "crl_sign": True}


def pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenated PEM."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def make_root(td: str, *, not_after: dt.datetime | None = None, name: str = "root") -> Ca:
    """A self-signed root CA for trust domain ``td``, named ``"<td> <name>"``."""
    return make_ca(td, cn=f"{td} {name}", not_after=not_after, ku=key_usage(**_CA_KEY_USAGE))


def make_intermediate(td: str, parent: Ca) -> Ca:
    """An intermediate CA signed by ``parent``, valid for 12 hours."""
    return make_ca(td, parent=parent, cn=f"{td} intermediate", not_after=NOW + 12 * HOUR, ku=key_usage(**_CA_KEY_USAGE))


@dataclass(frozen=True)
class Pki:
    """One trust domain's root (and optional intermediate), to issue contexts from."""

    td: str
    root: Ca
    intermediate: Ca | None = None

    @classmethod
    def create(cls, td: str = "example.org", *, intermediate: bool = False) -> Pki:
        """A fresh PKI."""
        root = make_root(td)
        return cls(td, root, make_intermediate(td, root) if intermediate else None)

    def wire(self, path: str = "/workload", hint: str = "", ttl: dt.timedelta = HOUR) -> WireX509Svid:
        """A freshly issued SVID (valid for ``ttl``) as the Workload API sends it."""
        spiffe_id = f"spiffe://{self.td}{path}"
        leaf, key = make_leaf(
            self.intermediate or self.root,
            spiffe_id,
            ku=key_usage(digital_signature=True),
            not_before=NOW - dt.timedelta(minutes=5),
            not_after=NOW + ttl,
        )
        chain = (leaf, self.intermediate.cert) if self.intermediate else (leaf,)
        return wire_svid(self.root, spiffe_id, chain=chain, key=key, hint=hint)

    def context(self, path: str = "/workload", federated: dict[str, bytes] | None = None) -> X509Context:
        """A validated context with one fresh SVID."""
        return X509Context.from_wire([self.wire(path)], federated or {})


def jwt_key() -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A (kid, P-256 key) pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    return base64.urlsafe_b64encode(point).decode()[:16], key


def mint(kid: str, key: ec.EllipticCurvePrivateKey, sub: str, aud: Sequence[str], exp: dt.datetime) -> str:
    """An ES256 JWT-SVID."""
    return sign_jwt(key, {"sub": sub, "aud": list(aud), "exp": int(exp.timestamp())}, kid=kid)
