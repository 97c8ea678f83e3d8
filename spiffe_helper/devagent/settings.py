"""The dev agent's validated settings: one frozen value built from the CLI or the Python API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from spiffe_helper.devagent.keys import KEY_TYPES, KeyType
from spiffe_helper.devagent.registrations import (
    RegistrationError,
    SocketRegistration,
    check_unique,
    parse_trust_domain,
    resolve_trust_domain,
)
from spiffe_helper.spiffeid import TrustDomain


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent needs to run; TTLs in seconds."""

    socket_dir: Path
    registrations: tuple[SocketRegistration, ...]
    trust_domain: TrustDomain
    federate_with: tuple[TrustDomain, ...] = ()
    state_dir: Path | None = None
    x509_ttl: float = 3600.0
    jwt_ttl: float = 300.0
    ca_ttl: float = 86400.0
    ca_key_type: KeyType = "ec"
    svid_key_type: KeyType = "ec"
    intermediate: bool = False
    socket_mode: int = 0o600

    @classmethod
    def build(
        cls,
        *,
        socket_dir: str | Path,
        registrations: Iterable[SocketRegistration],
        trust_domain: str | None = None,
        federate_with: Iterable[str] = (),
        state_dir: str | Path | None = None,
        x509_ttl: float = 3600.0,
        jwt_ttl: float = 300.0,
        ca_ttl: float = 86400.0,
        ca_key_type: KeyType = "ec",
        svid_key_type: KeyType = "ec",
        intermediate: bool = False,
        socket_mode: int = 0o600,
    ) -> AgentSettings:
        """Validate and combine; RegistrationError (a ValueError) names the first problem."""
        regs = tuple(check_unique(registrations))
        if not regs:
            raise RegistrationError("no sockets registered: give at least one --identity or --registration")
        td = resolve_trust_domain(regs, trust_domain)
        federated = tuple(dict.fromkeys(parse_trust_domain(t) for t in federate_with))
        if td in federated:
            raise RegistrationError(f"--federate-with {td.name}: that is the agent's own trust domain")
        for kind in (ca_key_type, svid_key_type):
            if kind not in KEY_TYPES:
                raise RegistrationError(f"unknown key type {kind!r}; use one of {', '.join(KEY_TYPES)}")
        if not 0 <= socket_mode <= 0o777:
            raise RegistrationError(f"invalid socket mode {socket_mode:o}")
        return cls(
            socket_dir=Path(socket_dir),
            registrations=regs,
            trust_domain=td,
            federate_with=federated,
            state_dir=Path(state_dir) if state_dir is not None else None,
            x509_ttl=x509_ttl,
            jwt_ttl=jwt_ttl,
            ca_ttl=ca_ttl,
            ca_key_type=ca_key_type,
            svid_key_type=svid_key_type,
            intermediate=intermediate,
            socket_mode=socket_mode,
        )

    @staticmethod
    def check_members(td: TrustDomain, registrations: Iterable[SocketRegistration]) -> None:
        """Every SVID of ``registrations`` must be in ``td`` (RegistrationError otherwise)."""
        resolve_trust_domain(registrations, td.name)
