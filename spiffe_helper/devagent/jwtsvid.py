"""JWT-SVID minting for the dev agent: ES256 tokens with ``kid`` and ``typ: JWT``, and JWKS bundles.

Validation is not duplicated here: the agent's ValidateJWTSVID uses :func:`spiffe_helper.jwt.validate_jwt_svid`
against the same JWKS documents it publishes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_COORD_BYTES = 32  # P-256


def b64url(data: bytes) -> str:
    """Unpadded base64url, JOSE's encoding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class JwtKey:
    """A JWT signing key of one trust domain: key id, P-256 private key, and when it leaves the bundle."""

    kid: str
    key: ec.EllipticCurvePrivateKey
    not_after: float  # epoch seconds

    @classmethod
    def generate(cls, not_after: float) -> JwtKey:
        """A fresh P-256 key whose ``kid`` is derived from its public key."""
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key_id(key.public_key()), key, not_after)


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """A stable key id: base64url of the SHA-256 of the SubjectPublicKeyInfo, 32 characters."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(spki).digest())[:32]


def jwk(key: JwtKey) -> dict[str, str]:
    """The public JWK of ``key`` as it appears in a JWT bundle."""
    numbers = key.key.public_key().public_numbers()
    return {
        "kty": "EC",
        "kid": key.kid,
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(_COORD_BYTES, "big")),
        "y": b64url(numbers.y.to_bytes(_COORD_BYTES, "big")),
        "use": "jwt-svid",
    }


def jwks_json(keys: Iterable[JwtKey]) -> bytes:
    """A JWKS document (``{"keys": [...]}``) with the public half of every key."""
    return json.dumps({"keys": [jwk(k) for k in keys]}, separators=(",", ":")).encode()


def mint(
    spiffe_id: str,
    audience: Sequence[str],
    key: JwtKey,
    issued_at: float,
    expires_at: float,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Sign a JWT-SVID (ES256) for ``spiffe_id`` and ``audience``; ``aud`` is always a list."""
    header = {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    claims: dict[str, Any] = dict(extra_claims or {})
    claims.update({"sub": spiffe_id, "aud": list(audience), "iat": int(issued_at), "exp": int(expires_at)})
    signing_input = ".".join(b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    der = key.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_COORD_BYTES, "big") + s.to_bytes(_COORD_BYTES, "big")
    return f"{signing_input}.{b64url(raw)}"


class JwtSvidCache:
    """Re-uses a JWT-SVID until half its lifetime has passed or the signing key changed (as SPIRE does)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[str, float, float, str]] = {}

    def get(self, spiffe_id: str, audience: tuple[str, ...], key: JwtKey, ttl: float, now: float) -> tuple[str, bool]:
        """``(token, minted)``: a cached token still in its first half-life, or a fresh one."""
        cached = self._entries.get((spiffe_id, audience))
        if cached is not None:
            token, issued, expires, kid = cached
            if kid == key.kid and now < issued + (expires - issued) / 2:
                return token, False
        expires = min(now + ttl, key.not_after)
        token = mint(spiffe_id, audience, key, now, expires)
        self._entries[(spiffe_id, audience)] = (token, now, expires, key.kid)
        return token, True
