"""The bytes of every credential file, exactly as the Go spiffe-helper writes them. Pure: no I/O.

- Certificates: PEM ``CERTIFICATE`` blocks (64-column base64, ``\\n`` line ends, trailing newline), leaf first.
- Private key: PKCS#8 ``PRIVATE KEY`` PEM, unencrypted, for every key type (Go's ``MarshalPKCS8PrivateKey``).
- Bundle: own trust-domain roots in the agent's order, then the SVID's intermediates when
  ``add_intermediates_to_bundle``, then every other trust domain's roots sorted by name when
  ``include_federated_domains``.
- JWT-SVID: the raw compact token, no newline.
- JWT bundle: compact JSON object ``{"<td name>": "<std base64 of the JWKS>"}`` with sorted keys and no
  trailing newline (Go's ``json.Marshal`` of a map). The JWKS bytes are the agent's own: Go re-marshals them
  with a random key order, so no byte-exact form exists to copy, and keeping the agent's bytes makes an
  unchanged bundle render to unchanged bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from spiffe_helper.cryptonames import Encoding, NoEncryption, PrivateFormat
from spiffe_helper.spiffeid import SpiffeId
from spiffe_helper.svid import X509Context, X509Svid

if TYPE_CHECKING:
    # Types only: a run without JWT outputs never loads the JWT module.
    from spiffe_helper.jwt import JwtBundleSet, JwtSvid


# NamedTuples, not frozen dataclasses: same immutable values, but a frozen dataclass costs ~1 ms of
# start-up each (it compiles its generated methods), which a one-shot run pays on every start.
class X509Options(NamedTuple):
    """The config keys that shape the X.509 files."""

    hint: str = ""
    add_intermediates_to_bundle: bool = False
    include_federated_domains: bool = False
    omit_expired: bool = False


class X509Pem(NamedTuple):
    """The three X.509 payloads of one update. ``key`` never appears in a repr."""

    spiffe_id: SpiffeId
    cert: bytes
    key: bytes
    bundle: bytes
    not_after: dt.datetime

    def __repr__(self) -> str:
        return (
            f"X509Pem(spiffe_id={self.spiffe_id!r}, cert={self.cert!r}, bundle={self.bundle!r}, "
            f"not_after={self.not_after!r})"
        )


def pem_certificates(certs: Iterable[x509.Certificate]) -> bytes:
    """Concatenated PEM ``CERTIFICATE`` blocks in the given order."""
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def pem_private_key(key: PrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 ``PRIVATE KEY`` PEM (what Go's ``MarshalPKCS8PrivateKey`` + pem encoding give)."""
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def pem_block(label: str, der: bytes) -> bytes:
    """One PEM block: base64 in 64-character lines between BEGIN and END lines (RFC 7468)."""
    body = base64.b64encode(der)
    lines = b"".join(body[i : i + 64] + b"\n" for i in range(0, len(body), 64))
    return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label.encode(), lines, label.encode())


def _svid_key_pem(svid: X509Svid) -> bytes:
    # The agent's PKCS#8 DER as it came (validated against the leaf): the same bytes Go's helper writes for
    # a SPIRE key, and no re-encoding (which would load cryptography's serialization package, ~10 ms).
    return pem_block("PRIVATE KEY", svid.key_der) if svid.key_der else pem_private_key(svid.private_key)


def _unexpired(certs: Iterable[x509.Certificate], now: dt.datetime, omit_expired: bool) -> list[x509.Certificate]:
    # Go drops a certificate when NotAfter < now; one expiring exactly now is kept.
    if not omit_expired:
        return list(certs)
    return [c for c in certs if not c.not_valid_after_utc < now]


def render_x509(ctx: X509Context, opts: X509Options, now: dt.datetime | None = None) -> X509Pem:
    """Select the SVID (by hint) and render cert chain, key and bundle; SvidError when it cannot."""
    now = now or dt.datetime.now(dt.UTC)
    svid = ctx.svid_for_hint(opts.hint)
    own = ctx.bundle_for(svid.spiffe_id.trust_domain)
    chain = [svid.leaf] if opts.add_intermediates_to_bundle else list(svid.certificates)
    bundle = list(own.authorities)
    if opts.add_intermediates_to_bundle:
        bundle += svid.intermediates
    if opts.include_federated_domains:
        for fed in ctx.federated_bundles(svid.spiffe_id.trust_domain):
            bundle += fed.authorities
    return X509Pem(
        spiffe_id=svid.spiffe_id,
        cert=pem_certificates(_unexpired(chain, now, opts.omit_expired)),
        key=_svid_key_pem(svid),
        bundle=pem_certificates(_unexpired(bundle, now, opts.omit_expired)),
        not_after=svid.expires_at,
    )


def render_jwt_svid(svid: JwtSvid) -> bytes:
    """The token itself, no trailing newline."""
    return svid.token.encode("ascii")


def render_jwt_bundles(bundles: JwtBundleSet) -> bytes:
    """``{"td": base64(JWKS)}`` for every trust domain, keys sorted, compact, no newline."""
    doc = {td.name: base64.b64encode(b.jwks).decode("ascii") for td, b in bundles.bundles.items()}
    import json  # here: an X.509-only run never needs it (~2 ms of a cold start)

    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")
