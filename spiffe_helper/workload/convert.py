"""Workload API response messages -> validated values (protobuf messages come in typed as ``Any``).

Kept apart from the client so the I/O loop and the conversion rules can be read (and tested) separately; this
module never imports the generated stubs. Every function raises :class:`SvidError` for a response that breaks
the Workload API or SVID rules, which the watch loop reports and skips.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm

from spiffe_helper.errors import SvidError
from spiffe_helper.jwt import JwtBundleSet, JwtSvid, validate_jwt_svid
from spiffe_helper.spiffeid import TrustDomain
from spiffe_helper.svid import WireX509Svid, X509Bundle, X509Context

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
def to_x509_context(msg: Any) -> X509Context:
    """An ``X509SVIDResponse`` -> a validated :class:`X509Context` (CRLs are not used)."""
    svids = [WireX509Svid(s.spiffe_id, s.x509_svid, s.x509_svid_key, s.bundle, s.hint) for s in msg.svids]
    return X509Context.from_wire(svids, dict(msg.federated_bundles))


@_malformed("X.509 bundles response")
def to_x509_bundles(msg: Any) -> Mapping[TrustDomain, X509Bundle]:
    """An ``X509BundlesResponse`` -> bundles by trust domain; empty or duplicate trust domains are errors."""
    if not msg.bundles:
        raise SvidError("X.509 bundles response contains no bundles")
    out: dict[TrustDomain, X509Bundle] = {}
    for key, der in msg.bundles.items():
        td = TrustDomain.parse(key)
        if td in out:
            raise SvidError(f"X.509 bundles response has trust domain {td.name!r} twice")
        out[td] = X509Bundle.from_der(td, der)
    return out


@_malformed("JWT bundles response")
def to_jwt_bundles(msg: Any) -> JwtBundleSet:
    """A ``JWTBundlesResponse`` -> a :class:`JwtBundleSet`; at least one bundle is mandatory."""
    if not msg.bundles:
        raise SvidError("JWT bundles response contains no bundles")
    return JwtBundleSet.from_wire(dict(msg.bundles))


@_malformed("JWT-SVID response")
def to_jwt_svids(msg: Any, audience: str, bundles: JwtBundleSet | None) -> tuple[JwtSvid, ...]:
    """A ``JWTSVIDResponse`` -> JWT-SVIDs (first wins per hint); validated against ``bundles`` when given."""
    if not msg.svids:
        raise SvidError("JWT-SVID response contains no SVIDs")
    out: list[JwtSvid] = []
    hints: set[str] = set()
    for item in msg.svids:
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


def struct_to_dict(struct: Any) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` as plain JSON values (integral numbers as ints: ``exp``, ``iat``)."""
    return {key: _plain(value) for key, value in struct.fields.items()}


def _plain(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_plain(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None  # null_value, or unset
