"""JWT-SVIDs and JWT bundles: pure values, validated per the JWT-SVID specification.

A JWT bundle is a JWKS document per trust domain. :func:`validate_jwt_svid` checks the algorithm allow-list,
the signature against the key named by ``kid`` in the subject's trust-domain bundle, ``aud`` and ``exp``.
Tokens are never put into error messages: they are credentials.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from spiffe_helper.errors import SvidError
from spiffe_helper.spiffeid import SpiffeId, TrustDomain

# Leeway for exp, as go-jose (which the Go helper uses) allows: one minute of clock skew.
DEFAULT_LEEWAY = dt.timedelta(minutes=1)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
_ES_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_ALGS = {f"{family}{bits}" for family in ("RS", "ES", "PS") for bits in _HASHES}

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url (JOSE's encoding)."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SvidError("malformed base64url in JWT") from None


# NamedTuples, not frozen dataclasses: a dataclass builds its methods with exec, ~1 ms of every cold start
# each. The reprs leave out the token, the claims and the JWKS bytes, as the dataclasses' field(repr=False) did.
class JwtSvid(NamedTuple):
    """A JWT-SVID: the compact token plus the claims read from it."""

    token: str  # a credential: never in the repr
    spiffe_id: SpiffeId
    audience: tuple[str, ...]
    expiry: dt.datetime
    claims: Mapping[str, Any]
    header: Mapping[str, Any]
    hint: str = ""

    def __repr__(self) -> str:
        return (
            f"JwtSvid(spiffe_id={self.spiffe_id!r}, audience={self.audience!r}, expiry={self.expiry!r}, "
            f"hint={self.hint!r})"
        )

    @classmethod
    def parse(cls, token: str, hint: str = "") -> JwtSvid:
        """Read header and claims WITHOUT checking the signature (see :func:`validate_jwt_svid`)."""
        parts = token.split(".")
        if len(parts) != 3:
            raise SvidError("JWT-SVID is not in JWS compact serialization")
        header = _json_object(b64url_decode(parts[0]), "header")
        claims = _json_object(b64url_decode(parts[1]), "claims")
        sub = claims.get("sub")
        if not isinstance(sub, str):
            raise SvidError("JWT-SVID has no 'sub' claim")
        aud = claims.get("aud")
        audience = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else ()
        if not audience or not all(isinstance(a, str) for a in audience):
            raise SvidError("JWT-SVID has no 'aud' claim")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise SvidError("JWT-SVID has no 'exp' claim")
        expiry = dt.datetime.fromtimestamp(exp, dt.UTC)
        return cls(token, SpiffeId.parse(sub), audience, expiry, claims, header, hint)


class JwtBundle(NamedTuple):
    """The JWT authorities of one trust domain: ``kid`` -> public key, plus the JWKS bytes as received."""

    trust_domain: TrustDomain
    keys: Mapping[str, PublicKey]
    jwks: bytes

    def __repr__(self) -> str:
        return f"JwtBundle(trust_domain={self.trust_domain!r}, keys={self.keys!r})"

    @classmethod
    def from_jwks(cls, trust_domain: TrustDomain, jwks: bytes) -> JwtBundle:
        """Parse a JWKS document; keys of unknown type or use are ignored, as the bundle spec requires."""
        doc = _json_object(jwks, f"JWT bundle for {trust_domain.name!r}")
        entries = doc.get("keys")
        if not isinstance(entries, list):
            raise SvidError(f"JWT bundle for {trust_domain.name!r} has no 'keys' list")
        keys: dict[str, PublicKey] = {}
        for jwk in entries:
            if not isinstance(jwk, dict) or jwk.get("use", "jwt-svid") != "jwt-svid":
                continue
            kid = jwk.get("kid")
            key = _public_key(jwk)
            if isinstance(kid, str) and kid and key is not None:
                keys[kid] = key
        return cls(trust_domain, keys, jwks)


class JwtBundleSet(NamedTuple):
    """JWT bundles of every trust domain known to the workload."""

    bundles: Mapping[TrustDomain, JwtBundle]

    @classmethod
    def from_wire(cls, bundles: Mapping[str, bytes]) -> JwtBundleSet:
        """Build from a ``JWTBundlesResponse`` map (keys ``spiffe://td`` or ``td``)."""
        parsed: dict[TrustDomain, JwtBundle] = {}
        for key, jwks in bundles.items():
            td = TrustDomain.parse(key)
            parsed[td] = JwtBundle.from_jwks(td, jwks)
        return cls(parsed)


def validate_jwt_svid(
    token: str,
    bundles: JwtBundleSet,
    audience: str,
    *,
    hint: str = "",
    now: dt.datetime | None = None,
    leeway: dt.timedelta = DEFAULT_LEEWAY,
) -> JwtSvid:
    """Parse and fully validate a JWT-SVID for ``audience``; raises :class:`SvidError` on any failure."""
    svid = JwtSvid.parse(token, hint)
    alg = svid.header.get("alg")
    if alg not in _ALGS:
        raise SvidError(f"JWT-SVID algorithm {alg!r} is not allowed")
    typ = svid.header.get("typ")
    if typ is not None and typ not in ("JWT", "JOSE"):
        raise SvidError(f"JWT-SVID header typ {typ!r} is not JWT or JOSE")
    bundle = bundles.bundles.get(svid.spiffe_id.trust_domain)
    if bundle is None:
        raise SvidError(f"no JWT bundle for trust domain {svid.spiffe_id.trust_domain.name!r}")
    kid = svid.header.get("kid")
    candidates = [bundle.keys[kid]] if isinstance(kid, str) and kid in bundle.keys else []
    if not candidates:
        raise SvidError(f"JWT-SVID key id {kid!r} is not in the bundle of {svid.spiffe_id.trust_domain.name!r}")
    signing_input, _, sig = token.rpartition(".")
    if not _verify(str(alg), candidates[0], signing_input.encode(), b64url_decode(sig)):
        raise SvidError("JWT-SVID signature is invalid")
    now = now or dt.datetime.now(dt.UTC)
    if svid.expiry + leeway < now:
        raise SvidError("JWT-SVID has expired")
    if audience not in svid.audience:
        raise SvidError(f"JWT-SVID audience does not include {audience!r}")
    return svid


def _verify(alg: str, key: PublicKey, data: bytes, sig: bytes) -> bool:
    algorithm = _HASHES[alg[2:]]()
    try:
        if alg.startswith("ES"):
            # RFC 7518 3.4: each ES algorithm is bound to one curve (ES256 on P-256, ...).
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _ES_CURVES[alg]:
                return False
            half = len(sig) // 2
            r, s = int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
            )
            key.verify(sig, data, pad, algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _public_key(jwk: Mapping[str, Any]) -> PublicKey | None:
    try:
        if jwk.get("kty") == "EC":
            curve = _CURVES.get(str(jwk.get("crv")))
            if curve is None:
                return None
            x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
            y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
            return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
        if jwk.get("kty") == "RSA":
            n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
            e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, ValueError, SvidError):
        return None  # a malformed key is skipped like an unknown one
    return None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SvidError(f"malformed JSON in {what}") from None
    if not isinstance(doc, dict):
        raise SvidError(f"{what} is not a JSON object")
    return doc
