"""``spiffe-helper inspect DIR-or-CONFIG [--json]``: what is on disk, checked.

For each X.509-SVID file: SPIFFE ID, serial, validity window, time to expiry, whether the chain verifies to
the bundle and whether the key matches. For JWT files: the token's SPIFFE ID, audience and expiry (never the
token), and the JWT bundle's trust domains. Keys and tokens are never printed.

Given a config file, the files it names are checked in their roles. Given a directory, roles are found from
content: a file whose first certificate is a SPIFFE leaf is an SVID, a file of CA certificates a bundle, a
``PRIVATE KEY`` block a key (paired with the leaf it matches), a compact JWS a JWT-SVID, a JSON object of
base64 JWKS a JWT bundle. Exit status: 0 when everything found is valid now, verifies and matches; 1 when
something does not, or nothing was found, or the input cannot be read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import click
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from spiffe_helper.errors import SpiffeHelperError
from spiffe_helper.jwt import JwtBundleSet, JwtSvid
from spiffe_helper.store.atomic import DATA_LINK
from spiffe_helper.svid import spiffe_id_of

_JWS = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_KEY_BLOCK = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.+?-----END (?:[A-Z]+ )?PRIVATE KEY-----", re.S)


@dataclass
class SvidReport:
    """One X.509-SVID file, checked."""

    file: str
    spiffe_id: str = ""
    serial: str = ""
    not_before: str = ""
    not_after: str = ""
    expires_in_seconds: int = 0
    chain_length: int = 0
    bundle_file: str = ""
    chain_verifies: bool = False
    chain_error: str = ""
    key_file: str = ""
    key_matches: bool = False


@dataclass
class Inspection:
    """Everything found in one directory or config."""

    source: str
    layout: str = "plain"
    generation: str = ""
    x509_svids: list[SvidReport] = field(default_factory=list)
    bundles: dict[str, list[str]] = field(default_factory=dict)  # file -> authority subjects
    jwt_svids: list[dict[str, Any]] = field(default_factory=list)
    jwt_bundles: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> td -> key count
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when something was found and every check passed."""
        found = self.x509_svids or self.jwt_svids or self.bundles or self.jwt_bundles
        svids_ok = all(s.chain_verifies and s.key_matches and s.expires_in_seconds > 0 for s in self.x509_svids)
        jwt_ok = all(j["expires_in_seconds"] > 0 for j in self.jwt_svids)
        return bool(found) and svids_ok and jwt_ok and not self.errors


@dataclass
class _Parsed:
    certs: list[x509.Certificate] = field(default_factory=list)
    keys: list[PrivateKeyTypes] = field(default_factory=list)
    jwt: JwtSvid | None = None
    jwt_bundles: JwtBundleSet | None = None


def _parse(data: bytes) -> _Parsed:
    out = _Parsed()
    if b"-----BEGIN CERTIFICATE-----" in data:
        out.certs = x509.load_pem_x509_certificates(data)
    for block in _KEY_BLOCK.findall(data):
        out.keys.append(serialization.load_pem_private_key(block, None))
    text = data.strip()
    if _JWS.match(text):
        out.jwt = JwtSvid.parse(text.decode())
    elif text.startswith(b"{"):
        out.jwt_bundles = _jwt_bundle_file(text)
    return out


def _jwt_bundle_file(text: bytes) -> JwtBundleSet | None:
    """A JWT bundle file, or None for JSON that is something else."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or not doc or not all(isinstance(v, str) for v in doc.values()):
            return None
        return JwtBundleSet.from_wire({k: base64.b64decode(v, validate=True) for k, v in doc.items()})
    except (ValueError, binascii.Error, SpiffeHelperError):
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def verify_chain(chain: list[x509.Certificate], bundle: list[x509.Certificate], now: dt.datetime) -> str:
    """Why ``chain`` (leaf first) does not lead to a self-signed authority in ``bundle``; "" when it does."""
    pool = list(bundle)
    path = list(chain)
    for i, (a, b) in enumerate(itertools.pairwise(path)):
        if not _issued_by(a, b):
            return f"certificate {i} is not signed by certificate {i + 1}"
    cert = path[-1]
    for _ in range(len(pool) + 1):
        if cert in pool and _issued_by(cert, cert):
            break
        issuer = next((c for c in pool if c != cert and _issued_by(cert, c)), None)
        if issuer is None:
            return "does not chain to the bundle"
        path.append(issuer)
        cert = issuer
    else:
        return "does not chain to the bundle"
    for i, c in enumerate(path):
        if now < c.not_valid_before_utc:
            return f"certificate {i} is not valid yet"
        if now > c.not_valid_after_utc:
            return f"certificate {i} has expired"
    return ""


def _public_bytes(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _svid_report(
    name: str,
    chain: list[x509.Certificate],
    keys: dict[str, list[PrivateKeyTypes]],
    bundles: dict[str, list[x509.Certificate]],
    now: dt.datetime,
) -> SvidReport:
    leaf = chain[0]
    rep = SvidReport(file=name, chain_length=len(chain))
    try:
        rep.spiffe_id = str(spiffe_id_of(leaf))
    except SpiffeHelperError as exc:
        rep.spiffe_id = f"(none: {exc})"
    rep.serial = format(leaf.serial_number, "x")
    rep.not_before, rep.not_after = _iso(leaf.not_valid_before_utc), _iso(leaf.not_valid_after_utc)
    rep.expires_in_seconds = int((leaf.not_valid_after_utc - now).total_seconds())
    leaf_key = _public_bytes(leaf.public_key())
    rep.key_file = next(
        (f for f, ks in keys.items() for k in ks if _public_bytes(k.public_key()) == leaf_key),
        next(iter(keys), ""),
    )
    rep.key_matches = any(_public_bytes(k.public_key()) == leaf_key for k in keys.get(rep.key_file, []))
    errors = {f: verify_chain(chain, b, now) for f, b in bundles.items()}
    good = [f for f, e in errors.items() if not e]
    rep.bundle_file = good[0] if good else next(iter(bundles), "")
    rep.chain_verifies = bool(good)
    rep.chain_error = "" if good else errors.get(rep.bundle_file, "no bundle found")
    return rep


def analyse(files: dict[str, str], source: str, now: dt.datetime | None = None) -> Inspection:
    """Check ``files`` (display name -> path). Roles come from content."""
    now = now or dt.datetime.now(dt.UTC)
    result = Inspection(source)
    leaves: dict[str, list[x509.Certificate]] = {}
    keys: dict[str, list[PrivateKeyTypes]] = {}
    bundles: dict[str, list[x509.Certificate]] = {}
    for name, path in files.items():
        try:
            with open(path, "rb") as f:
                parsed = _parse(f.read())
        except (OSError, ValueError, TypeError, binascii.Error, UnsupportedAlgorithm, SpiffeHelperError) as exc:
            result.errors.append(f"{name}: {getattr(exc, 'strerror', None) or exc}")
            continue
        if parsed.certs and not _is_ca(parsed.certs[0]):
            leaves[name] = parsed.certs
        elif parsed.certs:
            bundles[name] = parsed.certs
            result.bundles[name] = [c.subject.rfc4514_string() for c in parsed.certs]
        if parsed.keys:
            keys[name] = parsed.keys
        if parsed.jwt is not None:
            jwt = parsed.jwt
            result.jwt_svids.append(
                {
                    "file": name,
                    "spiffe_id": str(jwt.spiffe_id),
                    "audience": list(jwt.audience),
                    "expires_at": _iso(jwt.expiry),
                    "expires_in_seconds": int((jwt.expiry - now).total_seconds()),
                }
            )
        if parsed.jwt_bundles is not None:
            result.jwt_bundles[name] = {td.name: len(b.keys) for td, b in sorted(parsed.jwt_bundles.bundles.items())}
    result.x509_svids = [_svid_report(n, c, keys, bundles, now) for n, c in leaves.items()]
    return result


def _from_directory(directory: str) -> Inspection:
    names = sorted(n for n in os.listdir(directory) if not n.startswith("."))
    files = {n: os.path.join(directory, n) for n in names if os.path.isfile(os.path.join(directory, n))}
    result = analyse(files, directory)
    _layout(result, directory)
    return result


def _from_config(path: str) -> Inspection:
    from spiffe_helper.config.loader import load_config
    from spiffe_helper.store.writer import CredentialWriter

    writer = CredentialWriter(load_config(path, warn=lambda _: None))
    paths = [f.path for f in writer.x509_files] + list(writer.jwt_paths)
    result = analyse({p: p for p in paths}, path)
    missing = [p for p in paths if not os.path.exists(p)]
    result.errors = [f"{p}: missing" for p in missing] + [e for e in result.errors if e.split(":")[0] not in missing]
    if writer.x509_files:
        _layout(result, writer.x509_dir or ".")
    return result


def _layout(result: Inspection, directory: str) -> None:
    try:
        result.generation = os.readlink(os.path.join(directory, DATA_LINK))
        result.layout = "atomic_dir"
    except OSError:
        result.layout = "plain"


def _duration(seconds: int) -> str:
    s = abs(seconds)
    text = f"{s // 86400}d{s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h{s % 3600 // 60}m"
    text = text if s >= 3600 else f"{s // 60}m{s % 60}s"
    return f"in {text}" if seconds > 0 else f"EXPIRED {text} ago"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def render_text(r: Inspection) -> str:
    """The human-readable report."""
    gen = f", generation {r.generation}" if r.generation else ""
    out = [f"{r.source} ({r.layout} layout{gen})"]
    for s in r.x509_svids:
        out += [
            f"  {s.file}: X.509-SVID {s.spiffe_id}",
            f"    serial       {s.serial}",
            f"    not before   {s.not_before}",
            f"    not after    {s.not_after} (expires {_duration(s.expires_in_seconds)})",
            f"    chain        {s.chain_length} certificate(s); verifies to bundle {s.bundle_file or '-'}: "
            f"{_yes(s.chain_verifies)}" + (f" ({s.chain_error})" if s.chain_error else ""),
            f"    key          {s.key_file or '-'} matches: {_yes(s.key_matches)}",
        ]
    for name, subjects in r.bundles.items():
        out.append(f"  {name}: X.509 bundle, {len(subjects)} authorit{'y' if len(subjects) == 1 else 'ies'}")
    for j in r.jwt_svids:
        aud = ",".join(j["audience"])
        out.append(f"  {j['file']}: JWT-SVID {j['spiffe_id']} aud={aud} expires {_duration(j['expires_in_seconds'])}")
    for name, tds in r.jwt_bundles.items():
        out.append(f"  {name}: JWT bundle, " + ", ".join(f"{td} ({n} key(s))" for td, n in tds.items()))
    out += [f"  error: {e}" for e in r.errors]
    if not (r.x509_svids or r.bundles or r.jwt_svids or r.jwt_bundles or r.errors):
        out.append("  no credentials found")
    return "\n".join(out)


@click.command("inspect")
@click.argument("target", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def inspect(target: str, as_json: bool) -> int:
    """Show the credentials on disk: a cert_dir, or the files a config file names.

    For each SVID: SPIFFE ID, serial, validity, time to expiry, chain verifies to the bundle, key matches.
    Exit status 0 when all is valid and consistent, 1 otherwise.
    """
    try:
        result = _from_directory(target) if os.path.isdir(target) else _from_config(target)
    except (SpiffeHelperError, OSError) as exc:
        click.echo(f"spiffe-helper inspect: {exc}", err=True)
        return 1
    if as_json:
        doc = asdict(result)
        doc["ok"] = result.ok
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        click.echo(render_text(result))
    return 0 if result.ok else 1
