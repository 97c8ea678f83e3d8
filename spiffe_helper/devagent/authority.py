"""One trust domain's signing authority: root CAs, optional intermediate and JWT keys, with rotation.

Rotation keeps the old trust material published: at (jittered) half-life of the active root a new root and
JWT key become active, while the previous root and key stay in the bundles until they expire. Workloads
that still hold SVIDs from the old root can therefore be verified during the overlap.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from spiffe_helper.devagent.ca import BACKDATE, Issuer, der_chain, make_intermediate, make_root
from spiffe_helper.devagent.durations import format_duration
from spiffe_helper.devagent.jwtsvid import JwtKey, jwks_json
from spiffe_helper.devagent.keys import KeyType, generate_key
from spiffe_helper.devagent.state import AuthorityStore, RootCA
from spiffe_helper.spiffeid import TrustDomain

log = logging.getLogger("spiffe_helper.devagent")

# Rotation happens at half-life +/- this fraction of the lifetime (SPIRE: half-life +/- 10% of it).
ROTATION_JITTER = 0.05


class Authority:
    """The CA and JWT signing keys of one trust domain (the agent's own, or a federated one)."""

    def __init__(
        self,
        trust_domain: TrustDomain,
        *,
        ca_ttl: float,
        key_type: KeyType = "ec",
        intermediate: bool = False,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.trust_domain = trust_domain
        self.ca_ttl = ca_ttl
        self.key_type = key_type
        self.use_intermediate = intermediate
        self._store = AuthorityStore(state_dir / trust_domain.name) if state_dir else None
        self._clock = clock
        self.roots: list[RootCA] = []  # oldest first; the last one is active
        self.jwt_keys: list[JwtKey] = []  # oldest first; the last one is active
        self.issuer: Issuer | None = None
        self.rotate_at = 0.0

    def open(self) -> None:
        """Load the stored authority (dropping expired material) or create a fresh one."""
        now = self._clock()
        if self._store is not None:
            roots, jwt_keys = self._store.load()
            self.roots = [r for r in roots if r.not_after > now]
            self.jwt_keys = [k for k in jwt_keys if k.not_after > now]
            if self.roots and self.jwt_keys:
                self._activate(now)
                log.info(
                    "Loaded CA from state directory",
                    extra={"fields": {"trust_domain": self.trust_domain.name, "roots": len(self.roots)}},
                )
                if len(self.roots) != len(roots) or len(self.jwt_keys) != len(jwt_keys):
                    self._save()
                return
        self.rotate()

    def rotate(self) -> None:
        """Create a new root (and JWT key) and make it active; older ones stay until they expire."""
        now = self._clock()
        key = generate_key(self.key_type)
        root = RootCA(make_root(self.trust_domain, key, now, self.ca_ttl), key)
        self.roots.append(root)
        self.jwt_keys.append(JwtKey.generate(root.not_after))
        self._activate(now)
        self._save()
        log.info(
            "Rotated CA" if len(self.roots) > 1 else "Created CA",
            extra={
                "fields": {
                    "trust_domain": self.trust_domain.name,
                    "serial": f"{root.cert.serial_number:x}",
                    "ttl": format_duration(self.ca_ttl),
                    "key_type": self.key_type,
                    "jwt_kid": self.jwt_keys[-1].kid,
                }
            },
        )

    def _activate(self, now: float) -> None:
        root = self.roots[-1]
        issuer = Issuer(root.cert, root.key)
        if self.use_intermediate:
            key = generate_key(self.key_type)
            cert = make_intermediate(self.trust_domain, key, issuer, now)
            issuer = Issuer(cert, key, (cert,))
        self.issuer = issuer
        issued = root.cert.not_valid_before_utc.timestamp() + BACKDATE.total_seconds()
        lifetime = root.not_after - issued
        self.rotate_at = issued + lifetime * (0.5 + random.uniform(-ROTATION_JITTER, ROTATION_JITTER))

    def prune(self) -> bool:
        """Drop expired non-active roots and JWT keys; True when the bundles changed."""
        now = self._clock()
        roots = [r for r in self.roots[:-1] if r.not_after > now] + self.roots[-1:]
        keys = [k for k in self.jwt_keys[:-1] if k.not_after > now] + self.jwt_keys[-1:]
        if len(roots) == len(self.roots) and len(keys) == len(self.jwt_keys):
            return False
        dropped = len(self.roots) - len(roots)
        self.roots, self.jwt_keys = roots, keys
        self._save()
        log.info(
            "Removed expired CA from bundle",
            extra={"fields": {"trust_domain": self.trust_domain.name, "removed": dropped, "roots": len(roots)}},
        )
        return True

    def next_deadline(self) -> float:
        """When :meth:`rotate` or :meth:`prune` has work next (epoch seconds)."""
        expiries = [r.not_after for r in self.roots[:-1]] + [k.not_after for k in self.jwt_keys[:-1]]
        return min([self.rotate_at, *expiries])

    def _save(self) -> None:
        if self._store is not None:
            self._store.save(self.roots, self.jwt_keys)

    @property
    def active_issuer(self) -> Issuer:
        """The CA that signs new X.509-SVIDs (the intermediate when one is used)."""
        if self.issuer is None:
            raise RuntimeError("authority is not open")
        return self.issuer

    @property
    def active_jwt_key(self) -> JwtKey:
        """The key that signs new JWT-SVIDs."""
        return self.jwt_keys[-1]

    @property
    def root_certs(self) -> tuple[x509.Certificate, ...]:
        """Every published root, oldest first."""
        return tuple(r.cert for r in self.roots)

    def bundle_der(self) -> bytes:
        """The X.509 bundle as the Workload API sends it: concatenated DER roots."""
        return der_chain(self.root_certs)

    def jwks(self) -> bytes:
        """The JWT bundle: a JWKS with every published JWT key."""
        return jwks_json(self.jwt_keys)
