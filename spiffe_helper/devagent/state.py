"""The ``--state-dir`` persistence of one trust domain's authority, so a restart keeps the trust root.

Layout of ``<state-dir>/<trust-domain>/`` (directory 0700)::

    authority.json          which roots and JWT keys are live, oldest first (0644)
    root-<serial>.pem       a root CA certificate (0644)
    root-<serial>.key       its private key, PKCS#8 PEM (0600)
    jwt-<kid>.key           a JWT signing key, PKCS#8 PEM (0600)

Intermediates are not stored: they are re-issued from the root at start. Every file is written atomically
(temp + fsync + rename) and key files are 0600 from creation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from spiffe_helper.devagent.errors import DevAgentError
from spiffe_helper.devagent.jwtsvid import JwtKey
from spiffe_helper.devagent.keys import PrivateKey, load_private_key, pkcs8_pem, same_public_key, write_file

MANIFEST = "authority.json"
KEY_MODE = 0o600
PUBLIC_MODE = 0o644


@dataclass(frozen=True)
class RootCA:
    """A root CA certificate of the trust domain and its key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def name(self) -> str:
        """The file stem used in the state directory."""
        return f"root-{self.cert.serial_number:x}"

    @property
    def not_after(self) -> float:
        """Expiry, epoch seconds."""
        return self.cert.not_valid_after_utc.timestamp()


class AuthorityStore:
    """Reads and writes one trust domain's roots and JWT keys under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self) -> tuple[list[RootCA], list[JwtKey]]:
        """The stored roots and JWT keys (oldest first); empty lists when nothing is stored yet."""
        manifest_path = self.directory / MANIFEST
        if not manifest_path.exists():
            return [], []
        try:
            doc = json.loads(manifest_path.read_bytes())
            roots = [self._load_root(str(name)) for name in doc["roots"]]
            jwt_keys = [self._load_jwt_key(str(e["kid"]), float(e["not_after"])) for e in doc["jwt_keys"]]
        except DevAgentError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DevAgentError(f"{manifest_path}: unreadable dev agent state: {exc}") from None
        return roots, jwt_keys

    def _load_root(self, name: str) -> RootCA:
        cert_path, key_path = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = load_private_key(key_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise DevAgentError(f"{self.directory / name}: unreadable root CA: {exc}") from None
        if not same_public_key(cert.public_key(), key.public_key()):  # type: ignore[arg-type]
            raise DevAgentError(f"{key_path}: key does not match {cert_path.name}")
        return RootCA(cert, key)

    def _load_jwt_key(self, kid: str, not_after: float) -> JwtKey:
        path = self.directory / f"jwt-{kid}.key"
        try:
            key = load_private_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise DevAgentError(f"{path}: unreadable JWT key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DevAgentError(f"{path}: JWT keys must be EC P-256")
        return JwtKey(kid, key, not_after)

    def save(self, roots: Sequence[RootCA], jwt_keys: Sequence[JwtKey]) -> None:
        """Write new files, then the manifest, then remove files the manifest no longer names."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        wanted = {MANIFEST}
        for root in roots:
            wanted |= {f"{root.name}.pem", f"{root.name}.key"}
            if not (self.directory / f"{root.name}.key").exists():
                write_file(self.directory / f"{root.name}.key", pkcs8_pem(root.key), KEY_MODE)
                write_file(self.directory / f"{root.name}.pem", root.cert.public_bytes(Encoding.PEM), PUBLIC_MODE)
        for jk in jwt_keys:
            wanted.add(f"jwt-{jk.kid}.key")
            if not (self.directory / f"jwt-{jk.kid}.key").exists():
                write_file(self.directory / f"jwt-{jk.kid}.key", pkcs8_pem(jk.key), KEY_MODE)
        manifest = {
            "version": 1,
            "roots": [r.name for r in roots],
            "jwt_keys": [{"kid": k.kid, "not_after": k.not_after} for k in jwt_keys],
        }
        write_file(self.directory / MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n", PUBLIC_MODE)
        for entry in os.listdir(self.directory):
            ours = entry.startswith(("root-", "jwt-")) and entry.endswith((".pem", ".key"))
            if ours and entry not in wanted:
                (self.directory / entry).unlink(missing_ok=True)
