"""Workload API response messages (serialized bytes) -> validated values.

Kept apart from the client so the I/O loop and the conversion rules can be read (and tested) separately.
Decoding happens here rather than in gRPC's deserializer so that bytes that are not a well-formed message are
one more malformed response: reported and skipped by the watch loop like any other, never a failed stream.
Every function raises :class:`SvidError` for a response that breaks the wire format, the Workload API or the
SVID rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm

from spiffe_helper.errors import SvidError
from spiffe_helper.spiffeid import TrustDomain
from spiffe_helper.svid import X509Bundle, X509Context
from spiffe_helper.workload import wire

if TYPE_CHECKING:
    # Imported where used: an X.509-only run never loads the JWT module.
    from spiffe_helper.jwt import JwtBundleSet, JwtSvid

P = ParamSpec("P")
R = TypeVar("R")


def _malformed(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn parse errors that escape the value layer into :class:`SvidError`.

    ``cryptography`` parses certificate extensions and keys lazily, so a corrupt extension or key can surface
    as ``ValueError`` / ``UnsupportedAlgorithm`` deep inside validation. It is still just a malformed message:
    the watch must report and skip it, never die on it. (Parse errors name ASN.1 positions, never key bytes.)
    """

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise SvidError(f"malformed {what}: {exc}") from None

        return inner

    return wrap


@_malformed("X.509-SVID response")
def to_x509_context(data: bytes) -> X509Context:
    """An ``X509SVIDResponse`` -> a validated :class:`X509Context` (CRLs are not used)."""
    svids, federated = wire.decode_x509_svid_response(data)
    return X509Context.from_wire(svids, federated)


@_malformed("X.509 bundles response")
def to_x509_bundles(data: bytes) -> Mapping[TrustDomain, X509Bundle]:
    """An ``X509BundlesResponse`` -> bundles by trust domain; empty or duplicate trust domains are errors."""
    bundles = wire.decode_x509_bundles_response(data)
    if not bundles:
        raise SvidError("X.509 bundles response contains no bundles")
    out: dict[TrustDomain, X509Bundle] = {}
    for key, der in bundles.items():
        td = TrustDomain.parse(key)
        if td in out:
            raise SvidError(f"X.509 bundles response has trust domain {td.name!r} twice")
        out[td] = X509Bundle.from_der(td, der)
    return out


@_malformed("JWT bundles response")
def to_jwt_bundles(data: bytes) -> JwtBundleSet:
    """A ``JWTBundlesResponse`` -> a :class:`JwtBundleSet`; at least one bundle is mandatory."""
    from spiffe_helper.jwt import JwtBundleSet

    bundles = wire.decode_jwt_bundles_response(data)
    if not bundles:
        raise SvidError("JWT bundles response contains no bundles")
    return JwtBundleSet.from_wire(bundles)


@_malformed("JWT-SVID response")
def to_jwt_svids(data: bytes, audience: str, bundles: JwtBundleSet | None) -> tuple[JwtSvid, ...]:
    """A ``JWTSVIDResponse`` -> JWT-SVIDs (first wins per hint); validated against ``bundles`` when given."""
    from spiffe_helper.jwt import JwtSvid, validate_jwt_svid

    items = wire.decode_jwt_svid_response(data)
    if not items:
        raise SvidError("JWT-SVID response contains no SVIDs")
    out: list[JwtSvid] = []
    hints: set[str] = set()
    for item in items:
        if item.hint and item.hint in hints:
            continue  # the first SVID with a given hint wins, as the spec says
        if bundles is None:
            svid = JwtSvid.parse(item.svid, item.hint)
        else:
            svid = validate_jwt_svid(item.svid, bundles, audience, hint=item.hint)
        if str(svid.spiffe_id) != item.spiffe_id:
            raise SvidError(f"JWT-SVID for {item.spiffe_id!r} has subject {str(svid.spiffe_id)!r}")
        out.append(svid)
        if item.hint:
            hints.add(item.hint)
    return tuple(out)


@_malformed("ValidateJWTSVID response")
def to_jwt_validation(data: bytes) -> tuple[str, dict[str, object]]:
    """A ``ValidateJWTSVIDResponse`` -> the SPIFFE ID (never empty) and the claims as plain JSON values."""
    spiffe_id, claims = wire.decode_validate_jwt_svid_response(data)
    if not spiffe_id:
        raise SvidError("ValidateJWTSVID response has no SPIFFE ID")
    return spiffe_id, claims
