"""The dev agent itself: authorities, one gRPC server per socket, rotation, and the test-facing API.

Use it in-process on the running asyncio loop::

    async with DevAgent(sock_dir, {"server": ["spiffe://td/server"]}, x509_ttl="4s") as agent:
        path = agent.socket_path("server")   # <sock_dir>/server.sock, already listening
        agent.rotate_now()                   # push fresh X.509-SVIDs to every open stream
        agent.inject_x509_fault("server", "garbage_der")

All methods except :meth:`start`/:meth:`stop` are synchronous and must be called on the agent's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509

from spiffe_helper.devagent.authority import ROTATION_JITTER, Authority
from spiffe_helper.devagent.ca import IssuedSvid, Issuer, issue_leaf
from spiffe_helper.devagent.durations import parse_duration
from spiffe_helper.devagent.errors import DevAgentError
from spiffe_helper.devagent.faults import FAULTS
from spiffe_helper.devagent.hub import Hub, Kind
from spiffe_helper.devagent.jwtsvid import JwtSvidCache, mint
from spiffe_helper.devagent.keys import KeyType, generate_key
from spiffe_helper.devagent.registrations import SocketRegistration, SvidSpec, registrations_from_mapping
from spiffe_helper.devagent.server import WorkloadServicer
from spiffe_helper.devagent.settings import AgentSettings
from spiffe_helper.devagent.snapshots import SnapshotBuilder
from spiffe_helper.devagent.sockets import BoundSocket, bind_and_start
from spiffe_helper.spiffeid import SpiffeId, TrustDomain
from spiffe_helper.workload._proto import workload_pb2 as pb
from spiffe_helper.workload._proto import workload_pb2_grpc as pb_grpc

log = logging.getLogger("spiffe_helper.devagent")

MIN_ROTATION_DELAY = 0.05  # never re-issue in a tight loop, whatever the TTLs
STOP_GRACE = 0.2


@dataclass
class _Socket:
    registration: SocketRegistration
    hub: Hub = field(default_factory=Hub)
    svids: tuple[IssuedSvid, ...] = ()
    issuer: Issuer | None = None
    rotate_at: float = float("inf")
    server: Any = None
    bound: BoundSocket | None = None


@dataclass
class AgentStats:
    """Counters for benchmarks and tests."""

    x509_issued: int = 0
    jwt_issued: int = 0
    x509_rotations: int = 0
    ca_rotations: int = 0


class DevAgent:
    """A development Workload API agent serving one Unix socket per registered identity."""

    def __init__(
        self,
        socket_dir: str | Path,
        identities: Mapping[str, Sequence[str | SvidSpec] | str] | None = None,
        *,
        registrations: Iterable[SocketRegistration] = (),
        trust_domain: str | None = None,
        federate_with: Iterable[str] = (),
        state_dir: str | Path | None = None,
        x509_ttl: str | float = 3600.0,
        jwt_ttl: str | float = 300.0,
        ca_ttl: str | float = 86400.0,
        ca_key_type: KeyType = "ec",
        svid_key_type: KeyType = "ec",
        intermediate: bool = False,
        socket_mode: int = 0o600,
    ) -> None:
        regs = [*registrations, *registrations_from_mapping(identities or {})]
        self.settings = AgentSettings.build(
            socket_dir=socket_dir,
            registrations=regs,
            trust_domain=trust_domain,
            federate_with=federate_with,
            state_dir=state_dir,
            x509_ttl=parse_duration(x509_ttl),
            jwt_ttl=parse_duration(jwt_ttl),
            ca_ttl=parse_duration(ca_ttl),
            ca_key_type=ca_key_type,
            svid_key_type=svid_key_type,
            intermediate=intermediate,
            socket_mode=socket_mode,
        )
        self._init_state()

    @classmethod
    def from_settings(cls, settings: AgentSettings) -> DevAgent:
        """Build from already validated settings (the CLI's path)."""
        agent = cls.__new__(cls)
        agent.settings = settings
        agent._init_state()
        return agent

    def _init_state(self) -> None:
        s = self.settings
        self._authorities: dict[TrustDomain, Authority] = {
            td: Authority(
                td,
                ca_ttl=s.ca_ttl,
                key_type=s.ca_key_type,
                intermediate=s.intermediate and td == s.trust_domain,
                state_dir=s.state_dir,
            )
            for td in (s.trust_domain, *s.federate_with)
        }
        self._sockets = {reg.name: _Socket(reg) for reg in s.registrations}
        self._snapshots = SnapshotBuilder(s.trust_domain)
        self._jwt_cache = JwtSvidCache()
        self._wake = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self.stats = AgentStats()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open (or create) the CAs, issue every SVID, and start listening on every socket.

        Raises DevAgentError (one line) when a socket is in use or a directory cannot be written.
        """
        try:
            if self.settings.state_dir is not None:
                self.settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for authority in self._authorities.values():
                authority.open()
            for sock in self._sockets.values():
                self._reissue(sock, "initial")
            for name, sock in self._sockets.items():
                sock.server = grpc.aio.server()
                pb_grpc.add_SpiffeWorkloadAPIServicer_to_server(WorkloadServicer(self, name), sock.server)
                sock.bound = await bind_and_start(sock.server, self.socket_path(name), self.settings.socket_mode)
                log.info("Serving Workload API", extra={"fields": self._socket_fields(sock)})
        except OSError as exc:
            await self.stop()
            raise DevAgentError(f"{exc.filename or 'dev agent'}: {exc.strerror or exc}") from None
        except BaseException:
            await self.stop()
            raise
        self._scheduler = asyncio.get_running_loop().create_task(self._schedule(), name="devagent-scheduler")

    async def stop(self) -> None:
        """Stop serving, end all streams and remove the socket files this agent created."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        servers = [s.server for s in self._sockets.values() if s.server is not None]
        await asyncio.gather(*(server.stop(STOP_GRACE) for server in servers))
        for sock in self._sockets.values():
            sock.server = None
            if sock.bound is not None:
                sock.bound.remove()
                sock.bound = None

    async def __aenter__(self) -> DevAgent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def trust_domain(self) -> TrustDomain:
        """The trust domain the agent issues SVIDs for."""
        return self.settings.trust_domain

    def socket_path(self, name: str) -> Path:
        """``<socket-dir>/<name>.sock``."""
        self._socket(name)
        return self.settings.socket_dir / f"{name}.sock"

    def address(self, name: str) -> str:
        """The socket as a Workload API address (``unix:///abs/path``)."""
        return f"unix://{self.socket_path(name).resolve()}"

    def socket_names(self) -> list[str]:
        """Every registered socket name."""
        return list(self._sockets)

    # -- Backend protocol (used by the servicer) --------------------------------------------------

    def hub(self, socket_name: str) -> Hub:
        """The state fan-out of one socket."""
        return self._socket(socket_name).hub

    def svid_specs(self, socket_name: str) -> tuple[SvidSpec, ...]:
        """The SVIDs a socket is entitled to."""
        return self._socket(socket_name).registration.svids

    def jwt_bundle_map(self) -> dict[str, bytes]:
        """Every published JWT bundle, keyed ``spiffe://td``."""
        return {td.id_string: a.jwks() for td, a in self._authorities.items()}

    def issue_jwt_svids(self, socket_name: str, specs: Sequence[SvidSpec], audience: Sequence[str]) -> list[str]:
        """JWT-SVIDs for ``specs``, cached and re-minted past half-life as SPIRE does."""
        return [self._jwt_for(socket_name, str(spec.spiffe_id), tuple(audience)) for spec in specs]

    def _jwt_for(self, socket_name: str, spiffe_id: str, audience: tuple[str, ...]) -> str:
        key = self._authorities[self.trust_domain].active_jwt_key
        token, minted = self._jwt_cache.get(spiffe_id, audience, key, self.settings.jwt_ttl, time.time())
        if minted:
            self.stats.jwt_issued += 1
            fields = {"socket": socket_name, "spiffe_id": spiffe_id, "audience": ",".join(audience), "kid": key.kid}
            log.info("Issued JWT-SVID", extra={"fields": fields})
        return token

    # -- test hooks --------------------------------------------------------------------------------

    def rotate_now(self, name: str | None = None) -> None:
        """Re-issue the X.509-SVIDs of one socket (or all) now and push them to every open stream."""
        for sock in [self._socket(name)] if name else list(self._sockets.values()):
            self._reissue(sock, "manual")
        self._wake.set()

    def rotate_ca_now(self) -> None:
        """Rotate the agent's CA now; the old root stays in the bundle until it expires."""
        self._authorities[self.trust_domain].rotate()
        self.stats.ca_rotations += 1
        for sock in self._sockets.values():
            self._reissue(sock, "ca_rotation")
        self._wake.set()

    def set_identities(self, name: str, svids: Sequence[str | SvidSpec]) -> None:
        """Change what a socket hands out; an empty list revokes it (open streams get PERMISSION_DENIED)."""
        sock = self._socket(name)
        reg = registrations_from_mapping({name: list(svids)})[0]
        AgentSettings.check_members(self.settings.trust_domain, [reg])
        self.settings = replace(
            self.settings, registrations=tuple(reg if r.name == name else r for r in self.settings.registrations)
        )
        sock.registration = reg
        self._reissue(sock, "registration")
        self._wake.set()

    def current_x509_response(self, name: str) -> Any:
        """A copy of the X509SVIDResponse the socket currently sends (None without identity)."""
        snapshot = self._socket(name).hub.snapshot
        if snapshot is None:
            return None
        out = pb.X509SVIDResponse()
        out.CopyFrom(snapshot.messages[Kind.X509])
        return out

    def inject_x509_response(self, name: str, response: Any, *, resend_good: bool = True) -> int:
        """Send ``response`` (an X509SVIDResponse) on every open X.509 stream of ``name`` (or the next one).

        Afterwards each stream re-sends the current good state (unless ``resend_good`` is False), so a
        client that skipped the bad message recovers. Returns the number of streams reached.
        """
        sock = self._socket(name)
        count = sock.hub.inject(Kind.X509, response, resend_good=resend_good)
        log.info("Injected X.509 response", extra={"fields": {"socket": name, "streams": count}})
        return count

    def inject_x509_fault(self, name: str, fault: str, *, index: int = 0, resend_good: bool = True) -> Any:
        """Build fault ``fault`` (see ``faults.FAULTS``) from the current response and inject it; returns it."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        sock = self._socket(name)
        good = self.current_x509_response(name)
        if good is None or sock.issuer is None:
            raise DevAgentError(f"socket {name!r} has no identity to spoil")
        bad = FAULTS[fault](good, sock.issuer, index)
        self.inject_x509_response(name, bad, resend_good=resend_good)
        return bad

    def mint_jwt_svid(self, spiffe_id: str, audience: Sequence[str], *, expires_at: float | None = None) -> str:
        """Sign a JWT-SVID with the JWT key of ``spiffe_id``'s trust domain (own or federated), for tests."""
        td = SpiffeId.parse(spiffe_id).trust_domain
        if td not in self._authorities:
            raise DevAgentError(f"no authority for trust domain {td.name!r}")
        now = time.time()
        key = self._authorities[td].active_jwt_key
        return mint(
            spiffe_id, audience, key, now, expires_at if expires_at is not None else now + self.settings.jwt_ttl
        )

    def bundle(self, trust_domain: str | None = None) -> tuple[x509.Certificate, ...]:
        """The root certificates (cryptography objects) published for a trust domain (default: own)."""
        td = TrustDomain.parse(trust_domain) if trust_domain else self.trust_domain
        return self._authorities[td].root_certs

    def stream_count(self, name: str, kind: str | None = None) -> int:
        """Open streams on a socket (``kind``: "x509", "x509_bundles", "jwt_bundles" or all)."""
        return self._socket(name).hub.count(Kind(kind) if kind else None)

    # -- internals ---------------------------------------------------------------------------------

    def _socket(self, name: str) -> _Socket:
        try:
            return self._sockets[name]
        except KeyError:
            raise KeyError(f"no socket named {name!r}; registered: {', '.join(self._sockets)}") from None

    def _socket_fields(self, sock: _Socket) -> dict[str, Any]:
        return {
            "socket": sock.registration.name,
            "path": str(self.settings.socket_dir / f"{sock.registration.name}.sock"),
            "spiffe_ids": ",".join(str(s) for s in sock.registration.svids) or "(none)",
        }

    def _reissue(self, sock: _Socket, reason: str) -> None:
        now = time.time()
        issuer = self._authorities[self.trust_domain].active_issuer
        svids = []
        for spec in sock.registration.svids:
            key = generate_key(self.settings.svid_key_type)
            leaf = issue_leaf(str(spec.spiffe_id), key.public_key(), issuer, now, self.settings.x509_ttl)
            svids.append(IssuedSvid(str(spec.spiffe_id), spec.hint, leaf, key, issuer.chain, now))
            log.info(
                "Issued X.509-SVID",
                extra={
                    "fields": {
                        "socket": sock.registration.name,
                        "spiffe_id": str(spec.spiffe_id),
                        "serial": f"{leaf.serial_number:x}",
                        "expires_at": int(svids[-1].expires_at),
                        "reason": reason,
                    }
                },
            )
        sock.svids, sock.issuer = tuple(svids), issuer
        self.stats.x509_issued += len(svids)
        if reason != "initial":
            self.stats.x509_rotations += 1
        if svids:
            lifetime = min(s.expires_at for s in svids) - now
            jitter = random.uniform(-ROTATION_JITTER, ROTATION_JITTER)
            sock.rotate_at = now + max(lifetime * (0.5 + jitter), MIN_ROTATION_DELAY)
        else:
            sock.rotate_at = float("inf")
        self._publish(sock)

    def _publish(self, sock: _Socket) -> None:
        if not sock.svids:
            sock.hub.publish(None)
            return
        sock.hub.publish(self._snapshots.build(sock.registration.name, sock.svids, self._authorities))

    def _tick(self) -> None:
        now = time.time()
        own = self._authorities[self.trust_domain]
        bundles_changed = False
        for authority in self._authorities.values():
            if now >= authority.rotate_at:
                authority.rotate()
                self.stats.ca_rotations += 1
                bundles_changed = True
            bundles_changed = authority.prune() or bundles_changed
        for sock in self._sockets.values():
            if sock.issuer is not own.active_issuer or now >= sock.rotate_at:
                self._reissue(sock, "ca_rotation" if sock.issuer is not own.active_issuer else "rotation")
            elif bundles_changed:
                self._publish(sock)

    def _next_deadline(self) -> float:
        deadlines = [a.next_deadline() for a in self._authorities.values()]
        deadlines += [s.rotate_at for s in self._sockets.values()]
        return min(deadlines)

    async def _schedule(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._tick()
                delay = max(self._next_deadline() - time.time(), 0.0)
            except Exception:  # a failed rotation (e.g. state dir full) must not stop the agent
                log.exception("Rotation failed; retrying in 1s")
                delay = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 3600.0))
