"""Malformed ``X509SVIDResponse`` builders, for testing how a Workload API client copes with bad messages.

Every fault is a function ``fault(good, issuer, index=0) -> bad``: it takes a good response (as the agent
sends it), the CA that signed its SVIDs, and which SVID to spoil, and returns a new response with exactly
one thing wrong. ``good`` is never modified. Certificates that must still chain (two URI SANs, a CA as
leaf, an expired leaf) are signed by the real ``issuer``, so a client rejects them for the intended reason
only. The ten faults (names in :data:`FAULTS`):

=====================  =====================================================================
``empty_svid_list``    ``svids`` is empty (a mandatory field at its default value)
``garbage_der``        ``x509_svid`` is a truncated certificate (not parseable DER)
``key_mismatch``       ``x509_svid_key`` is a valid key that does not belong to the leaf
``spiffe_id_mismatch`` ``spiffe_id`` differs from the leaf's URI SAN
``two_uri_sans``       the leaf has two URI SANs
``ca_leaf``            the leaf is a CA certificate (``cA=true``, ``keyCertSign``)
``expired_svid``       the leaf expired an hour ago
``missing_bundle``     ``bundle`` is empty: no bundle for the SVID's trust domain
``unchained_bundle``   ``bundle`` is an unrelated root of the same trust domain: the leaf does not chain
``oversized_message``  the message is larger than gRPC's default 4 MiB receive limit
=====================  =====================================================================

With a running :class:`~spiffe_helper.devagent.agent.DevAgent`, use
``agent.inject_x509_fault(socket_name, "garbage_der")``; the pure functions are for building messages
yourself.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from spiffe_helper.der import split_der
from spiffe_helper.devagent.ca import Issuer, der_chain, make_leaf, make_root
from spiffe_helper.devagent.keys import KeyType, generate_key, pkcs8_der
from spiffe_helper.spiffeid import SpiffeId
from spiffe_helper.workload._proto import workload_pb2 as pb

Fault = Callable[[pb.X509SVIDResponse, Issuer, int], pb.X509SVIDResponse]

# gRPC's default max receive size is 4 MiB; this exceeds it with room for the rest of the message.
OVERSIZE_BYTES = 4 * 1024 * 1024 + 64 * 1024


def _copy(good: pb.X509SVIDResponse) -> pb.X509SVIDResponse:
    bad = pb.X509SVIDResponse()
    bad.CopyFrom(good)
    return bad


def _leaf(svid: pb.X509SVID) -> tuple[x509.Certificate, list[bytes]]:
    ders = split_der(svid.x509_svid, "x509_svid")
    return x509.load_der_x509_certificate(ders[0]), ders[1:]


def _key_type(cert: x509.Certificate) -> KeyType:
    return "rsa" if isinstance(cert.public_key(), rsa.RSAPublicKey) else "ec"


def _resign(
    bad: pb.X509SVIDResponse,
    issuer: Issuer,
    index: int,
    *,
    uris: list[str] | None = None,
    ca: bool = False,
    validity: tuple[dt.datetime, dt.datetime] | None = None,
) -> pb.X509SVIDResponse:
    svid = bad.svids[index]
    leaf, rest = _leaf(svid)
    key = generate_key(_key_type(leaf))
    not_before, not_after = validity or (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    cert = make_leaf(uris or [svid.spiffe_id], key.public_key(), issuer, not_before, not_after, ca=ca)
    svid.x509_svid = der_chain([cert]) + b"".join(rest)
    svid.x509_svid_key = pkcs8_der(key)
    return bad


def empty_svid_list(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """No SVIDs at all; bundles kept."""
    bad = _copy(good)
    bad.ClearField("svids")
    return bad


def garbage_der(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """The chain is the first half of the leaf's DER: a SEQUENCE header that promises more than follows."""
    bad = _copy(good)
    leaf_der = split_der(bad.svids[index].x509_svid, "x509_svid")[0]
    bad.svids[index].x509_svid = leaf_der[: len(leaf_der) // 2]
    return bad


def key_mismatch(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """A fresh key of the leaf's type that is not the leaf's key."""
    bad = _copy(good)
    leaf, _ = _leaf(bad.svids[index])
    bad.svids[index].x509_svid_key = pkcs8_der(generate_key(_key_type(leaf)))
    return bad


def spiffe_id_mismatch(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """``spiffe_id`` names another (valid) ID of the same trust domain than the certificate."""
    bad = _copy(good)
    bad.svids[index].spiffe_id = f"{SpiffeId.parse(bad.svids[index].spiffe_id)}/not-the-san"
    return bad


def two_uri_sans(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """The leaf carries the SPIFFE ID and a second URI SAN."""
    bad = _copy(good)
    spiffe_id = bad.svids[index].spiffe_id
    return _resign(bad, issuer, index, uris=[spiffe_id, f"{spiffe_id}/second"])


def ca_leaf(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """The leaf is a CA (``cA=true``, ``keyCertSign``): it must not be used for authentication."""
    return _resign(_copy(good), issuer, index, ca=True)


def expired_svid(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """A well-formed leaf that expired an hour ago."""
    now = dt.datetime.fromtimestamp(time.time(), dt.UTC)
    validity = (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1))
    return _resign(_copy(good), issuer, index, validity=validity)


def missing_bundle(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """No bundle for the SVID's trust domain (``bundle`` empty, nor in ``federated_bundles``)."""
    bad = _copy(good)
    svid = bad.svids[index]
    svid.bundle = b""
    bad.federated_bundles.pop(SpiffeId.parse(svid.spiffe_id).trust_domain.id_string, None)
    return bad


def unchained_bundle(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """The bundle is a different root of the same trust domain, so the chain cannot be verified."""
    bad = _copy(good)
    svid = bad.svids[index]
    td = SpiffeId.parse(svid.spiffe_id).trust_domain
    key = generate_key("ec")
    svid.bundle = der_chain([make_root(td, key, time.time(), 3600.0)])
    return bad


def oversized_message(good: pb.X509SVIDResponse, issuer: Issuer, index: int = 0) -> pb.X509SVIDResponse:
    """The good message plus a CRL entry large enough to exceed the default 4 MiB receive limit."""
    bad = _copy(good)
    bad.crl.append(b"\0" * OVERSIZE_BYTES)
    return bad


FAULTS: dict[str, Fault] = {
    f.__name__: f
    for f in (
        empty_svid_list,
        garbage_der,
        key_mismatch,
        spiffe_id_mismatch,
        two_uri_sans,
        ca_leaf,
        expired_svid,
        missing_bundle,
        unchained_bundle,
        oversized_message,
    )
}
