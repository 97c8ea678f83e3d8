"""The Workload API servicer of one dev-agent socket (grpc.aio).

Every RPC first checks the security header (exactly one ``workload.spiffe.io: true``, else
INVALID_ARGUMENT), then whether the socket has an identity (else PERMISSION_DENIED "no identity issued").
Streams send the current state at once and then every change, coalesced to the newest (see ``hub.py``).
The WIT RPCs answer UNIMPLEMENTED. Identity and signing live in the agent (:class:`Backend`); this module
only maps requests and failures to gRPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

import grpc

from spiffe_helper.devagent.hub import Hub, Kind
from spiffe_helper.devagent.registrations import SvidSpec
from spiffe_helper.errors import SvidError
from spiffe_helper.jwt import JwtBundleSet, validate_jwt_svid
from spiffe_helper.workload._proto import workload_pb2 as pb
from spiffe_helper.workload._proto import workload_pb2_grpc as pb_grpc

HEADER = "workload.spiffe.io"
NO_IDENTITY = "no identity issued"


class Backend(Protocol):
    """What the servicer needs from the agent."""

    def hub(self, socket_name: str) -> Hub:
        """The socket's state fan-out."""
        ...

    def svid_specs(self, socket_name: str) -> tuple[SvidSpec, ...]:
        """The SVIDs the socket is entitled to (empty: none)."""
        ...

    def issue_jwt_svids(self, socket_name: str, specs: Sequence[SvidSpec], audience: Sequence[str]) -> list[str]:
        """One JWT-SVID per spec, in order."""
        ...

    def jwt_bundle_map(self) -> Mapping[str, bytes]:
        """Every JWT bundle the agent publishes, keyed ``spiffe://td``."""
        ...


class WorkloadServicer(pb_grpc.SpiffeWorkloadAPIServicer):  # type: ignore[misc]  # generated, untyped
    """Serves the Workload API for the identities of one socket."""

    def __init__(self, backend: Backend, socket_name: str) -> None:
        self._backend = backend
        self._name = socket_name

    async def _check_header(self, context: Any) -> None:
        values = [md.value for md in context.invocation_metadata() or () if md.key == HEADER]
        if values != ["true"]:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "security header missing from request")

    async def _require_identity(self, context: Any) -> tuple[SvidSpec, ...]:
        specs = self._backend.svid_specs(self._name)
        if not specs:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, NO_IDENTITY)
        return specs

    async def _stream(self, kind: Kind, context: Any) -> AsyncIterator[Any]:
        await self._check_header(context)
        await self._require_identity(context)
        subscription = self._backend.hub(self._name).subscribe(kind)
        try:
            while True:
                message = await subscription.next()
                if message is None:  # the identity was taken away while the stream was open
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, NO_IDENTITY)
                yield message
        finally:
            subscription.close()

    async def FetchX509SVID(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """Stream X.509-SVIDs and bundles."""
        # An async generator function (not a function returning one), or grpc.aio would run it in a thread.
        async for message in self._stream(Kind.X509, context):
            yield message

    async def FetchX509Bundles(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """Stream X.509 bundles keyed by trust domain."""
        # An async generator function (not a function returning one), or grpc.aio would run it in a thread.
        async for message in self._stream(Kind.X509_BUNDLES, context):
            yield message

    async def FetchJWTBundles(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """Stream JWT bundles (JWKS) keyed by trust domain."""
        # An async generator function (not a function returning one), or grpc.aio would run it in a thread.
        async for message in self._stream(Kind.JWT_BUNDLES, context):
            yield message

    async def FetchJWTSVID(self, request: Any, context: Any) -> Any:
        """Mint JWT-SVIDs for the requested audience: all entitled IDs, or the requested one."""
        await self._check_header(context)
        audience = [a for a in request.audience if a]
        if not audience:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "audience must be specified")
        specs = await self._require_identity(context)
        if request.spiffe_id:
            specs = tuple(s for s in specs if str(s.spiffe_id) == request.spiffe_id)
            if not specs:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"no identity issued for {request.spiffe_id}")
        tokens = self._backend.issue_jwt_svids(self._name, specs, audience)
        return pb.JWTSVIDResponse(
            svids=[
                pb.JWTSVID(spiffe_id=str(s.spiffe_id), svid=t, hint=s.hint) for s, t in zip(specs, tokens, strict=True)
            ]
        )

    async def ValidateJWTSVID(self, request: Any, context: Any) -> Any:
        """Validate a JWT-SVID against the agent's JWT bundles; any failure is INVALID_ARGUMENT."""
        await self._check_header(context)
        await self._require_identity(context)
        if not request.audience:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "audience must be specified")
        if not request.svid:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "svid must be specified")
        try:
            bundles = JwtBundleSet.from_wire(self._backend.jwt_bundle_map())
            svid = validate_jwt_svid(request.svid, bundles, request.audience)
        except SvidError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        response = pb.ValidateJWTSVIDResponse(spiffe_id=str(svid.spiffe_id))
        response.claims.update({**svid.claims, "aud": list(svid.audience)})  # aud always a list, as SPIRE
        return response

    async def FetchWITSVID(self, request: Any, context: Any) -> None:
        """Workload Identity Tokens are not supported."""
        await self._check_header(context)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "WIT-SVIDs are not supported by the dev agent")

    async def FetchWITBundles(self, request: Any, context: Any) -> None:
        """Workload Identity Tokens are not supported."""
        await self._check_header(context)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "WIT bundles are not supported by the dev agent")
