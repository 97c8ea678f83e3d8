"""A tiny SPIFFE PKI for the store tests (roots, intermediates, leaves, JWT keys), plus its self-checks.

Other store tests import the builders from here. Real certificates, real keys: the store's output is checked
with ``cryptography`` and ``openssl``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from spiffe_helper.jwt import JwtBundleSet, JwtSvid, validate_jwt_svid
from spiffe_helper.svid import WireX509Svid, X509Context

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
_KEY_USAGE_CA = dict(digital_signature=True, key_cert_sign=True, crl_sign=True)
_KEY_USAGE_LEAF = dict(digital_signature=True, key_cert_sign=False, crl_sign=False)


def _ku(**on: bool) -> x509.KeyUsage:
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
    key: ec.EllipticCurvePrivateKey


def der(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenated DER, the Workload API encoding."""
    return b"".join(c.public_bytes(serialization.Encoding.DER) for c in certs)


def pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenated PEM."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def make_root(td: str, *, not_after: dt.datetime | None = None, name: str = "root") -> Ca:
    """A self-signed root CA for trust domain ``td``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{td} {name}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ku(**_KEY_USAGE_CA), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{td}")]), False)
        .sign(key, hashes.SHA256())
    )
    return Ca(cert, key)


def make_intermediate(td: str, parent: Ca) -> Ca:
    """An intermediate CA signed by ``parent``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{td} intermediate")]))
        .issuer_name(parent.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(hours=12))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ku(**_KEY_USAGE_CA), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{td}")]), False)
        .sign(parent.key, hashes.SHA256())
    )
    return Ca(cert, key)


def make_leaf(spiffe_id: str, issuer: Ca, *, ttl: dt.timedelta = dt.timedelta(hours=1)) -> Ca:
    """An X.509-SVID leaf for ``spiffe_id`` signed by ``issuer`` (returned as cert + key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test")]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + ttl)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_ku(**_KEY_USAGE_LEAF), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), False)
        .sign(issuer.key, hashes.SHA256())
    )
    return Ca(cert, key)


def pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 DER, the Workload API key encoding."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


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

    def wire(self, path: str = "/workload", hint: str = "", ttl: dt.timedelta = dt.timedelta(hours=1)) -> WireX509Svid:
        """A freshly issued SVID as the Workload API sends it."""
        issuer = self.intermediate or self.root
        leaf = make_leaf(f"spiffe://{self.td}{path}", issuer, ttl=ttl)
        chain = [leaf.cert] + ([self.intermediate.cert] if self.intermediate else [])
        return WireX509Svid(f"spiffe://{self.td}{path}", der(chain), pkcs8(leaf.key), der([self.root.cert]), hint)

    def context(self, path: str = "/workload", federated: dict[str, bytes] | None = None) -> X509Context:
        """A validated context with one fresh SVID."""
        return X509Context.from_wire([self.wire(path)], federated or {})


def jwt_key() -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A (kid, P-256 key) pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    return base64.urlsafe_b64encode(
        key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    ).decode()[:16], key


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwks(kid: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A JWKS with one EC key."""
    n = key.public_key().public_numbers()
    doc = {
        "keys": [
            {
                "kty": "EC",
                "kid": kid,
                "crv": "P-256",
                "use": "jwt-svid",
                "x": _b64u(n.x.to_bytes(32, "big")),
                "y": _b64u(n.y.to_bytes(32, "big")),
            }
        ]
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def mint(kid: str, key: ec.EllipticCurvePrivateKey, sub: str, aud: Sequence[str], exp: dt.datetime) -> str:
    """An ES256 JWT-SVID."""
    header = _b64u(json.dumps({"alg": "ES256", "kid": kid, "typ": "JWT"}).encode())
    claims = _b64u(json.dumps({"sub": sub, "aud": list(aud), "exp": int(exp.timestamp())}).encode())
    r, s = decode_dss_signature(key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{header}.{claims}.{_b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_pki_builds_valid_contexts() -> None:
    pki = Pki.create(intermediate=True)
    ctx = pki.context()
    assert str(ctx.default_svid.spiffe_id) == "spiffe://example.org/workload"
    assert len(ctx.default_svid.certificates) == 2


def test_minted_token_validates() -> None:
    kid, key = jwt_key()
    token = mint(kid, key, "spiffe://example.org/w", ["a"], NOW + dt.timedelta(minutes=5))
    bundles = JwtBundleSet.from_wire({"example.org": jwks(kid, key)})
    svid = validate_jwt_svid(token, bundles, "a")
    assert isinstance(svid, JwtSvid)
