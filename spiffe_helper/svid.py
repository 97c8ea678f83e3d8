"""X.509 SVIDs, bundles and contexts: pure values, validated per the X509-SVID specification.

Nothing here does I/O or knows protobuf: the Workload API client hands raw bytes to
:meth:`X509Context.from_wire`, which either returns a fully validated context or raises
:class:`~spiffe_helper.errors.SvidError` with a one-line reason. A context that exists is safe to write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from spiffe_helper.cryptonames import Encoding, PublicFormat, load_der_private_key
from spiffe_helper.der import is_pkcs8, load_der_certificates
from spiffe_helper.errors import SvidError
from spiffe_helper.spiffeid import SpiffeId, TrustDomain

__all__ = [
    "SpiffeId",
    "TrustDomain",
    "WireX509Svid",
    "X509Bundle",
    "X509Context",
    "X509Svid",
    "preload_verification",
    "spiffe_id_of",
]


class WireX509Svid(NamedTuple):
    """The fields of one Workload API ``X509SVID`` message, as raw values."""

    spiffe_id: str
    x509_svid: bytes
    x509_svid_key: bytes
    bundle: bytes
    hint: str = ""


# NamedTuples, not frozen dataclasses: a dataclass builds its methods with exec, ~1 ms of every cold start
# each. Immutable, compared and hashed by value all the same.
class X509Bundle(NamedTuple):
    """The X.509 authorities (root CA certificates) of one trust domain, in the agent's order."""

    trust_domain: TrustDomain
    authorities: tuple[x509.Certificate, ...]

    @classmethod
    def from_der(cls, trust_domain: TrustDomain, blob: bytes) -> X509Bundle:
        """Parse a concatenated-DER bundle; an empty or unparsable bundle is an error."""
        certs = load_der_certificates(blob, f"bundle for trust domain {trust_domain.name!r}")
        if not certs:
            raise SvidError(f"bundle for trust domain {trust_domain.name!r} is empty")
        return cls(trust_domain, certs)


class X509Svid(NamedTuple):
    """One X.509-SVID: the SPIFFE ID, the chain (leaf first), its private key and the agent's hint.

    ``key_der`` is the key as the agent sent it (PKCS#8 DER, validated with ``private_key``): written as
    is, it needs no re-encoding, which would load cryptography's whole serialization package at the first
    write. Empty when the SVID was built from a key object alone.
    """

    spiffe_id: SpiffeId
    certificates: tuple[x509.Certificate, ...]
    private_key: PrivateKeyTypes  # never rendered in logs or reprs (see __repr__), nor is key_der
    hint: str = ""
    key_der: bytes = b""

    def __repr__(self) -> str:
        return f"X509Svid(spiffe_id={self.spiffe_id!r}, certificates={self.certificates!r}, hint={self.hint!r})"

    @property
    def leaf(self) -> x509.Certificate:
        """The end-entity certificate."""
        return self.certificates[0]

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """The chain without the leaf."""
        return self.certificates[1:]

    @property
    def expires_at(self) -> dt.datetime:
        """The earliest ``notAfter`` in the chain (UTC): when this SVID stops being usable."""
        return min(c.not_valid_after_utc for c in self.certificates)

    @classmethod
    def from_wire(cls, wire: WireX509Svid, bundle: X509Bundle | None, now: dt.datetime) -> X509Svid:
        """Parse and validate one SVID against the bundle of its trust domain."""
        spiffe_id = SpiffeId.parse(wire.spiffe_id)
        certs = load_der_certificates(wire.x509_svid, f"X.509-SVID {wire.spiffe_id!r}")
        if not certs:
            raise SvidError(f"X.509-SVID {wire.spiffe_id!r} has no certificates")
        not_pkcs8 = SvidError(f"X.509-SVID {wire.spiffe_id!r}: private key is not unencrypted PKCS#8 DER")
        if not is_pkcs8(wire.x509_svid_key):  # the loader also takes SEC1 and PKCS#1; the key is written as is
            raise not_pkcs8
        try:
            key = load_der_private_key(wire.x509_svid_key, password=None)
        except (ValueError, TypeError):
            raise not_pkcs8 from None
        svid = cls(spiffe_id, certs, key, wire.hint, wire.x509_svid_key)
        if bundle is None:
            raise SvidError(f"no bundle for trust domain {spiffe_id.trust_domain.name!r} of {wire.spiffe_id!r}")
        svid.validate(bundle, now)
        return svid

    def validate(self, bundle: X509Bundle, now: dt.datetime) -> None:
        """Apply the X509-SVID leaf rules, the key/leaf match and path validation to ``bundle``."""
        name = str(self.spiffe_id)
        try:
            leaf_id = spiffe_id_of(self.leaf)
        except SvidError as exc:
            raise SvidError(f"X.509-SVID {name!r}: {exc}") from None
        if leaf_id != self.spiffe_id:
            raise SvidError(f"X.509-SVID {name!r}: leaf URI SAN does not match the SPIFFE ID")
        if not self.spiffe_id.path:
            raise SvidError(f"X.509-SVID {name!r}: the SPIFFE ID of a leaf must have a path")
        _check_leaf_profile(self.leaf, name)
        if _spki(self.private_key.public_key()) != _spki(self.leaf.public_key()):
            raise SvidError(f"X.509-SVID {name!r}: private key does not match the leaf certificate")
        if bundle.trust_domain != self.spiffe_id.trust_domain:
            raise SvidError(f"X.509-SVID {name!r}: bundle is for another trust domain")
        _verify_chain(self.certificates, bundle, now, name)


class X509Context(NamedTuple):
    """One full Workload API X.509 update: the SVIDs (first is the default) and every trust bundle."""

    svids: tuple[X509Svid, ...]
    bundles: Mapping[TrustDomain, X509Bundle]

    @property
    def default_svid(self) -> X509Svid:
        """The first SVID, which the Workload API defines as the default."""
        return self.svids[0]

    def svid_for_hint(self, hint: str) -> X509Svid:
        """The SVID with this exact hint; an empty hint selects the default (Go helper semantics)."""
        if not hint:
            return self.default_svid
        for svid in self.svids:
            if svid.hint == hint:
                return svid
        raise SvidError("failed to find the hinted x509 SVID")

    def bundle_for(self, td: TrustDomain) -> X509Bundle:
        """The bundle of ``td``; Go's message when it is missing."""
        try:
            return self.bundles[td]
        except KeyError:
            raise SvidError(f'no bundles found for "{td.name}" trust domain') from None

    def federated_bundles(self, own: TrustDomain) -> list[X509Bundle]:
        """Every bundle except ``own``'s, sorted by trust-domain name (the Go helper's file order)."""
        return [b for td, b in sorted(self.bundles.items()) if td != own]

    @classmethod
    def from_wire(
        cls,
        svids: Sequence[WireX509Svid],
        federated_bundles: Mapping[str, bytes],
        now: dt.datetime | None = None,
    ) -> X509Context:
        """Build and validate a context from one ``X509SVIDResponse``; any invalid part rejects it whole."""
        try:
            return cls._from_wire(svids, federated_bundles, now or dt.datetime.now(dt.UTC))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # cryptography parses extensions and keys lazily: a malformed one surfaces here, at first use.
            raise SvidError(f"X.509 response has a malformed certificate or key: {exc}") from None

    @classmethod
    def _from_wire(
        cls, svids: Sequence[WireX509Svid], federated_bundles: Mapping[str, bytes], now: dt.datetime
    ) -> X509Context:
        if not svids:
            raise SvidError("X.509 response contains no SVIDs")
        bundles: dict[TrustDomain, X509Bundle] = {}
        for key, blob in federated_bundles.items():
            td = TrustDomain.parse(key)
            if td in bundles:  # "td" and "spiffe://td" both present: the spec says reject
                raise SvidError(f"X.509 response has two bundles for trust domain {td.name!r}")
            bundles[td] = X509Bundle.from_der(td, blob)
        # Each SVID's own bundle field wins over a federated entry for the same trust domain.
        for wire in svids:
            td = SpiffeId.parse(wire.spiffe_id).trust_domain
            if wire.bundle:
                bundles[td] = X509Bundle.from_der(td, wire.bundle)
        parsed: list[X509Svid] = []
        seen_hints: set[str] = set()
        for wire in svids:
            if wire.hint and wire.hint in seen_hints:
                continue  # the first SVID with a given hint wins, as the spec says
            td = SpiffeId.parse(wire.spiffe_id).trust_domain
            parsed.append(X509Svid.from_wire(wire, bundles.get(td), now))
            if wire.hint:
                seen_hints.add(wire.hint)
        return cls(tuple(parsed), bundles)


def preload_verification() -> None:
    """Load the modules the first chain verification needs and does not have yet.

    cryptography imports its OpenSSL backend module (with the cipher modules it registers) the first time
    an ECDSA signature is checked: ~7 ms in the middle of a cold one-shot run's first validation. Called on
    a thread while the agent's answer is awaited, that time overlaps the wait; should the validation come
    first, it simply waits for the same import.
    """
    from cryptography.hazmat.backends import default_backend

    default_backend()


def spiffe_id_of(cert: x509.Certificate) -> SpiffeId:
    """The SPIFFE ID in a certificate's single URI SAN; zero or several URI SANs is an error."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise SvidError("certificate has no subjectAltName extension") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise SvidError(f"certificate must have exactly one URI SAN, found {len(uris)}")
    return SpiffeId.parse(uris[0])


def _check_leaf_profile(leaf: x509.Certificate, name: str) -> None:
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise SvidError(f"X.509-SVID {name!r}: leaf certificate must not be a CA")
    except x509.ExtensionNotFound:
        pass  # absent basicConstraints means cA=false
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise SvidError(f"X.509-SVID {name!r}: leaf has no key usage extension") from None
    if not ku.digital_signature:
        raise SvidError(f"X.509-SVID {name!r}: leaf key usage lacks digitalSignature")
    if ku.key_cert_sign or ku.crl_sign:
        raise SvidError(f"X.509-SVID {name!r}: leaf key usage must not include keyCertSign or cRLSign")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return  # EKU is optional (SHOULD); when present it must allow both TLS roles
    if ExtendedKeyUsageOID.SERVER_AUTH not in eku or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise SvidError(f"X.509-SVID {name!r}: leaf extended key usage must include serverAuth and clientAuth")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _may_sign_certificates(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign)
    except x509.ExtensionNotFound:
        return True  # no key usage extension means no restriction (RFC 5280 4.2.1.3)


def _verify_chain(chain: tuple[x509.Certificate, ...], bundle: X509Bundle, now: dt.datetime, name: str) -> None:
    """Path validation: each link signed by the next, intermediates are CAs, all in their validity window,
    and the last one signed by (or equal to) one of the trust domain's authorities."""
    for i, cert in enumerate(chain):
        if now < cert.not_valid_before_utc:
            raise SvidError(f"X.509-SVID {name!r}: certificate {i} is not valid yet")
        if now > cert.not_valid_after_utc:
            raise SvidError(f"X.509-SVID {name!r}: certificate {i} has expired")
    for i in range(len(chain) - 1):
        issuer = chain[i + 1]
        if not _is_ca(issuer) or not _may_sign_certificates(issuer):
            raise SvidError(f"X.509-SVID {name!r}: intermediate certificate {i + 1} is not a signing CA")
        if not _issued_by(chain[i], issuer):
            raise SvidError(f"X.509-SVID {name!r}: certificate {i} is not signed by certificate {i + 1}")
    last = chain[-1]
    if not any(last == root or _issued_by(last, root) for root in bundle.authorities):
        raise SvidError(
            f"X.509-SVID {name!r}: certificate chain does not verify to the bundle of "
            f"trust domain {bundle.trust_domain.name!r}"
        )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        # Name mismatch, wrong key type, bad signature: all mean "not issued by".
        return False
    return True


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined, no-any-return]
