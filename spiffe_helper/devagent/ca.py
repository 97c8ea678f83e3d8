"""Certificate profiles of the dev agent: root CA, intermediate CA and X.509-SVID leaves.

The leaf follows the X509-SVID spec: exactly one URI SAN (the SPIFFE ID), critical ``basicConstraints``
with ``cA=false``, critical key usage ``digitalSignature`` (plus ``keyEncipherment`` for RSA keys), EKU
``serverAuth`` + ``clientAuth``. CA certificates carry ``spiffe://<td>`` (no path), ``cA=true`` and
``keyCertSign``/``cRLSign``. Pure functions: callers pass keys and times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from spiffe_helper.devagent.keys import PrivateKey, PublicKey
from spiffe_helper.spiffeid import TrustDomain

# Certificates start this long before their issuance, so small clock skew between agent and workload
# does not make a fresh SVID "not yet valid" (SPIRE uses the same cushion).
BACKDATE = dt.timedelta(seconds=10)
_ORG = "SPIFFE dev agent"


@dataclass(frozen=True)
class Issuer:
    """A CA that signs certificates: its certificate, its key and the chain to send after its leaves.

    ``chain`` is empty when the issuer is a root (roots travel in the bundle, never in ``x509_svid``) and
    holds the intermediate itself when the issuer is an intermediate.
    """

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _ca_builder(
    td: TrustDomain, common_name: str, public_key: PublicKey, not_before: dt.datetime, not_after: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_ca_name(common_name))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(td.id_string)]), critical=False)
    )


def make_root(td: TrustDomain, key: PrivateKey, issued_at: float, ttl: float) -> x509.Certificate:
    """A self-signed root for ``td`` valid from ``issued_at - BACKDATE`` to ``issued_at + ttl``."""
    builder = _ca_builder(td, f"{td.name} root CA", key.public_key(), _utc(issued_at) - BACKDATE, _utc(issued_at + ttl))
    builder = builder.issuer_name(_ca_name(f"{td.name} root CA")).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
    )
    return builder.sign(key, hashes.SHA256())


def make_intermediate(td: TrustDomain, key: PrivateKey, parent: Issuer, issued_at: float) -> x509.Certificate:
    """An intermediate CA signed by ``parent``, valid as long as the parent."""
    not_after = parent.cert.not_valid_after_utc
    builder = _ca_builder(td, f"{td.name} intermediate CA", key.public_key(), _utc(issued_at) - BACKDATE, not_after)
    return _signed_by(builder, parent)


def _signed_by(builder: x509.CertificateBuilder, issuer: Issuer) -> x509.Certificate:
    builder = builder.issuer_name(issuer.cert.subject).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
    )
    return builder.sign(issuer.key, hashes.SHA256())


def _key_usage(*, cert_sign: bool, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_leaf(
    uris: Sequence[str],
    public_key: PublicKey,
    issuer: Issuer,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    ca: bool = False,
) -> x509.Certificate:
    """An X.509-SVID leaf for ``uris`` (one URI for a valid SVID; the fault builders pass other shapes).

    ``not_after`` is capped to the issuer's own expiry, as a CA cannot vouch past its lifetime.
    ``ca=True`` builds the invalid "CA as leaf" shape the fault injection needs.
    """
    not_after = min(not_after, issuer.cert.not_valid_after_utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(public_key, ca), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False)
    )
    return _signed_by(builder, issuer)


def _leaf_key_usage(public_key: PublicKey, ca: bool) -> x509.KeyUsage:
    if ca:
        return _key_usage(cert_sign=True)
    return _key_usage(cert_sign=False, key_encipherment=isinstance(public_key, rsa.RSAPublicKey))


def issue_leaf(spiffe_id: str, public_key: PublicKey, issuer: Issuer, issued_at: float, ttl: float) -> x509.Certificate:
    """A valid X.509-SVID for ``spiffe_id`` living ``ttl`` seconds from ``issued_at`` (capped by the issuer)."""
    return make_leaf([spiffe_id], public_key, issuer, _utc(issued_at) - BACKDATE, _utc(issued_at + ttl))


def der_chain(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenated DER, the Workload API's encoding of chains and bundles."""
    return b"".join(c.public_bytes(Encoding.DER) for c in certs)


@dataclass(frozen=True)
class IssuedSvid:
    """An X.509-SVID the agent issued: the leaf, its key, the chain after it, and its hint."""

    spiffe_id: str
    hint: str
    leaf: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    issued_at: float

    @property
    def expires_at(self) -> float:
        """Leaf expiry, epoch seconds."""
        return self.leaf.not_valid_after_utc.timestamp()

    def chain_der(self) -> bytes:
        """``x509_svid`` on the wire: leaf first, then intermediates."""
        return der_chain((self.leaf, *self.chain))
