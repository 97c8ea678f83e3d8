"""SPIFFE Workload API client on ``grpc.aio``: streams (watches) and one-shot fetches.

Everything it hands out is a value from :mod:`spiffe_helper.svid` / :mod:`spiffe_helper.jwt` or a plain
mapping. Messages travel as bytes: requests are encoded and responses decoded by :mod:`.wire` (through
:mod:`.convert`), not by the protobuf runtime, which would cost a cold start ~24 ms (see ``wire``).

Every stream runs through one watch loop (:meth:`WorkloadApiClient._stream`):

* each message carries the full state and is converted and validated as a whole; a malformed one is reported
  through ``on_error`` (an :class:`~spiffe_helper.errors.SvidError`) and skipped, the stream stays up;
* the backoff is reset after every good message;
* ``InvalidArgument`` and ``Unimplemented`` end the watch (raised as a terminal :class:`WorkloadApiError`);
  every other status, and a stream the agent ends, is reported and retried after a backoff;
* while backing off on a Unix socket the client watches the socket file, so an agent that starts or restarts
  (a new socket file) is reconnected to at once instead of after the remaining delay; the file is compared
  with what it was when the failed attempt began, so one that appears while a failure is being handled
  counts too;
* cancelling the task running a watch stops it silently.

Each stream attempt and each unary call uses a fresh channel: a gRPC channel that failed to connect keeps its
own growing reconnect backoff (up to minutes) and fails new calls fast meanwhile, which would hide the agent's
return. On a local socket a new connection costs about a millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeAlias, TypeVar

import grpc

from spiffe_helper.errors import SpiffeHelperError, SvidError
from spiffe_helper.logs import get_logger
from spiffe_helper.spiffeid import SpiffeId, TrustDomain
from spiffe_helper.svid import X509Bundle, X509Context
from spiffe_helper.workload import convert, wire
from spiffe_helper.workload.address import WorkloadAddress, parse_address
from spiffe_helper.workload.backoff import Backoff
from spiffe_helper.workload.socketwait import SocketIdentity, socket_identity, wait_for_socket

if TYPE_CHECKING:
    from spiffe_helper.jwt import JwtBundleSet, JwtSvid

__all__ = [
    "DEFAULT_RPC_TIMEOUT",
    "ErrorCallback",
    "JwtValidation",
    "UpdateCallback",
    "WorkloadApiClient",
    "WorkloadApiError",
]

T = TypeVar("T")
UpdateCallback: TypeAlias = Callable[[T], Awaitable[None] | None]
ErrorCallback: TypeAlias = Callable[[Exception], Awaitable[None] | None]

SECURITY_HEADER = (("workload.spiffe.io", "true"),)
DEFAULT_RPC_TIMEOUT = 30.0
TERMINAL_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED})
# A private subchannel pool per channel: by default gRPC shares subchannels between channels to the same target,
# so a "fresh" channel would inherit the failed subchannel's reconnect backoff and fail fast with a stale error
# (seen in ~1 of 3 runs of tests/integration/test_workload_reconnect.py: "No such file or directory" 2 ms after
# the socket had appeared, then a full backoff lost). Also bound gRPC's own reconnect
# backoff (default: up to 120 s) should a channel outlive a failed connect.
# Despite its name, "grpc.min_reconnect_backoff_ms" is gRPC core's minimum *connect timeout*: how long one
# connection attempt, HTTP/2 handshake included, may take. It must stay at gRPC's default (20 s, as grpc-go):
# at 100 ms an agent that is slow to send its first SETTINGS frame -- just started, or on a loaded machine --
# failed the attempt ("connection attempt timed out before receiving SETTINGS frame"), and the client then slept
# a whole backoff next to an unchanged, healthy socket. A refused or missing socket still fails at once.
_CONNECT_TIMEOUT_MS = 20_000
_CHANNEL_OPTIONS = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", _CONNECT_TIMEOUT_MS),
    ("grpc.max_reconnect_backoff_ms", 1000),
)
_GO_CODE_NAMES = {grpc.StatusCode.CANCELLED: "Canceled"}  # Go spells this one differently

_log = get_logger("workload")


class WorkloadApiError(SpiffeHelperError):
    """A Workload API call or stream failed with a gRPC status (or the agent ended a stream: ``EOF``).

    ``str()`` renders like go-spiffe errors, ``rpc error: code = Unavailable desc = ...``, so log lines match
    the Go helper's.
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(self._render())

    @classmethod
    def from_rpc(cls, err: grpc.aio.AioRpcError) -> WorkloadApiError:
        """Wrap a gRPC error."""
        return cls(err.code(), err.details() or "")

    @classmethod
    def eof(cls) -> WorkloadApiError:
        """The agent closed a stream with status OK (Go reports this as ``EOF``); retried like an error."""
        return cls(grpc.StatusCode.OK, "EOF")

    @property
    def code_name(self) -> str:
        """The status name as Go prints it: ``Unavailable``, ``PermissionDenied``, ``Canceled``..."""
        return _GO_CODE_NAMES.get(self.code) or "".join(w.capitalize() for w in self.code.name.split("_"))

    @property
    def terminal(self) -> bool:
        """True for the codes that end a watch instead of being retried (InvalidArgument, Unimplemented)."""
        return bool(self.code in TERMINAL_CODES)

    @property
    def agent_unreachable(self) -> bool:
        """True when no agent answered at the address (no socket, connection refused, agent unavailable)."""
        return bool(self.code == grpc.StatusCode.UNAVAILABLE)

    def _render(self) -> str:
        if self.code == grpc.StatusCode.OK:
            return self.details
        return f"rpc error: code = {self.code_name} desc = {self.details}"


class JwtValidation(NamedTuple):
    """The agent's answer to ValidateJWTSVID: the token's SPIFFE ID and its claims (``aud`` as a list)."""

    spiffe_id: SpiffeId
    claims: dict[str, Any]


class WorkloadApiClient:
    """A client for one Workload API endpoint; use as ``async with WorkloadApiClient(addr) as client``.

    ``backoff`` makes the retry policy of each watch or retrying fetch (tests pass a seeded one).
    """

    def __init__(self, address: WorkloadAddress | str, *, backoff: Callable[[], Backoff] = Backoff) -> None:
        self.address = address if isinstance(address, WorkloadAddress) else parse_address(address)
        self._new_backoff = backoff

    async def __aenter__(self) -> WorkloadApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the client. Every call and watch uses (and closes) its own channel, so nothing is left
        open; this exists so callers need not know that."""

    # ----- streams -----

    async def watch_x509_context(self, on_update: UpdateCallback[X509Context], on_error: ErrorCallback) -> NoReturn:
        """Stream X.509 contexts (FetchX509SVID) until cancelled or a terminal error, which is raised."""
        await self._watch(_open_x509_svid, convert.to_x509_context, on_update, on_error)

    async def watch_x509_bundles(
        self, on_update: UpdateCallback[Mapping[TrustDomain, X509Bundle]], on_error: ErrorCallback
    ) -> NoReturn:
        """Stream X.509 bundles (FetchX509Bundles) until cancelled or a terminal error, which is raised."""
        await self._watch(_open_x509_bundles, convert.to_x509_bundles, on_update, on_error)

    async def watch_jwt_bundles(self, on_update: UpdateCallback[JwtBundleSet], on_error: ErrorCallback) -> NoReturn:
        """Stream JWT bundles (FetchJWTBundles) until cancelled or a terminal error, which is raised."""
        await self._watch(_open_jwt_bundles, convert.to_jwt_bundles, on_update, on_error)

    # ----- one-shot fetches -----

    async def fetch_x509_context(
        self, *, timeout: float | None = None, retry: bool = False, on_error: ErrorCallback | None = None
    ) -> X509Context:
        """The first X.509 context of a FetchX509SVID stream.

        ``retry=False``: one attempt; a gRPC failure raises :class:`WorkloadApiError`, a malformed response
        :class:`SvidError`. ``retry=True``: retry like a watch (reporting each failure to ``on_error``) until a
        good context arrives, a terminal error, or ``timeout`` (then ``WorkloadApiError(DEADLINE_EXCEEDED)``).
        """
        attempt = functools.partial(self._first_message, _open_x509_svid, convert.to_x509_context)
        return await self._first(attempt, "X.509 context", timeout, retry, on_error)

    async def fetch_jwt_bundles(
        self, *, timeout: float | None = None, retry: bool = False, on_error: ErrorCallback | None = None
    ) -> JwtBundleSet:
        """The first message of a FetchJWTBundles stream; ``retry`` and ``timeout`` as for fetch_x509_context."""
        attempt = functools.partial(self._first_message, _open_jwt_bundles, convert.to_jwt_bundles)
        return await self._first(attempt, "JWT bundles", timeout, retry, on_error)

    async def fetch_jwt_svids(
        self,
        audience: str,
        extra_audiences: Sequence[str] = (),
        *,
        spiffe_id: str = "",
        bundles: JwtBundleSet | None = None,
        timeout: float | None = DEFAULT_RPC_TIMEOUT,
        retry: bool = False,
        on_error: ErrorCallback | None = None,
    ) -> tuple[JwtSvid, ...]:
        """FetchJWTSVID for ``audience`` (+ extras): every JWT-SVID, the default first, later duplicate hints dropped.

        With ``bundles`` every token is also validated (signature, ``exp``, ``audience``), as the Go helper does.
        """
        request = wire.encode_jwt_svid_request([audience, *extra_audiences], spiffe_id)

        async def attempt(t: float | None) -> tuple[JwtSvid, ...]:
            return convert.to_jwt_svids(await self._unary("FetchJWTSVID", request, t), audience, bundles)

        return await self._first(attempt, "JWT-SVID", timeout, retry, on_error)

    async def fetch_jwt_svid(
        self,
        audience: str,
        extra_audiences: Sequence[str] = (),
        hint: str = "",
        *,
        bundles: JwtBundleSet | None = None,
        timeout: float | None = DEFAULT_RPC_TIMEOUT,
        retry: bool = False,
        on_error: ErrorCallback | None = None,
    ) -> JwtSvid:
        """The JWT-SVID the Go helper would write: the one with ``hint``, or the first when ``hint`` is empty."""
        svids = await self.fetch_jwt_svids(
            audience, extra_audiences, bundles=bundles, timeout=timeout, retry=retry, on_error=on_error
        )
        if not hint:
            return svids[0]
        for svid in svids:
            if svid.hint == hint:
                return svid
        raise SvidError("failed to find the hinted JWT SVID")

    async def validate_jwt_svid(
        self, token: str, audience: str, *, timeout: float | None = DEFAULT_RPC_TIMEOUT
    ) -> JwtValidation:
        """Ask the agent to validate ``token`` for ``audience`` (ValidateJWTSVID); a rejection is InvalidArgument."""
        request = wire.encode_validate_jwt_svid_request(audience, token)
        spiffe_id, claims = convert.to_jwt_validation(await self._unary("ValidateJWTSVID", request, timeout))
        return JwtValidation(SpiffeId.parse(spiffe_id), claims)

    # ----- the machinery -----

    async def _watch(
        self,
        open_call: _OpenStream,
        parse: Callable[[bytes], T],
        on_update: UpdateCallback[T],
        on_error: ErrorCallback,
    ) -> NoReturn:
        async with contextlib.aclosing(self._stream(open_call, parse, on_error)) as values:
            async for value in values:
                await _call(on_update, value)
        raise AssertionError("a Workload API stream ended without an error")  # _stream never returns

    async def _stream(
        self, open_call: _OpenStream, parse: Callable[[bytes], T], on_error: ErrorCallback | None
    ) -> AsyncGenerator[T, None]:
        """The one watch loop (see the module docstring); yields converted values, raises terminal errors."""
        backoff = self._new_backoff()
        while True:
            seen = self._socket_identity()  # before connecting: see _pause
            try:
                async with self._channel() as channel:
                    call = open_call(channel, None)
                    try:
                        async for msg in call:
                            try:
                                value = parse(msg)
                            except SvidError as exc:
                                await _call(on_error, exc)
                                continue
                            backoff.reset()
                            yield value
                    finally:
                        call.cancel()
                error = WorkloadApiError.eof()
            except grpc.aio.AioRpcError as exc:
                error = WorkloadApiError.from_rpc(exc)
            await _call(on_error, error)
            if error.terminal:
                raise error
            await self._pause(backoff, seen)

    async def _first(
        self,
        attempt: Callable[[float | None], Awaitable[T]],
        what: str,
        timeout: float | None,
        retry: bool,
        on_error: ErrorCallback | None,
    ) -> T:
        """One attempt, or retry attempts (as a watch would) until one succeeds within ``timeout``."""
        if not retry:
            return await attempt(timeout)
        backoff = self._new_backoff()
        last: Exception | None = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    seen = self._socket_identity()  # before connecting: see _pause
                    try:
                        return await attempt(None)
                    except (WorkloadApiError, SvidError) as exc:
                        last = exc
                        await _call(on_error, exc)
                        if isinstance(exc, WorkloadApiError) and exc.terminal:
                            raise
                    await self._pause(backoff, seen)
        except TimeoutError:
            reason = f"no {what} within {timeout:g}s" + (f"; last error: {last}" if last else "")
            raise WorkloadApiError(grpc.StatusCode.DEADLINE_EXCEEDED, reason) from None

    async def _first_message(self, open_call: _OpenStream, parse: Callable[[bytes], T], timeout: float | None) -> T:
        async with self._channel() as channel:
            call = open_call(channel, timeout)
            try:
                async for msg in call:
                    return parse(msg)
            except grpc.aio.AioRpcError as exc:
                raise WorkloadApiError.from_rpc(exc) from None
            finally:
                call.cancel()
        raise WorkloadApiError.eof()

    async def _unary(self, method: str, request: bytes, timeout: float | None) -> bytes:
        """Call a unary method; the response's serialized bytes."""
        # A fresh channel per call, as for streams: a local connect costs about a millisecond, and a shared
        # channel would carry gRPC's reconnect backoff (and its fail-fast errors) from one call to the next.
        async with self._channel() as channel:
            try:
                response: bytes = await channel.unary_unary(_SERVICE + method)(
                    request, metadata=SECURITY_HEADER, timeout=timeout
                )
            except grpc.aio.AioRpcError as exc:
                raise WorkloadApiError.from_rpc(exc) from None
            return response

    def _channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.address.target, options=_CHANNEL_OPTIONS)

    def _socket_identity(self) -> SocketIdentity | None:
        path = self.address.socket_path
        return None if path is None else socket_identity(path)

    async def _pause(self, backoff: Backoff, seen: SocketIdentity | None) -> None:
        """Back off after a failed attempt; ``seen`` is the socket file's identity from before that attempt.

        Comparing with ``seen`` rather than with the file as it is now means a socket that appeared (or was
        replaced) while we connected or ran ``on_error`` ends the pause at once instead of being taken for
        the file that just failed us.
        """
        delay = backoff.next_delay()
        path = self.address.socket_path
        if path is None:
            await asyncio.sleep(delay)
            return
        _log.debug("Retrying the Workload API", extra={"fields": {"delay": f"{delay:.2f}s", "socket": path}})
        if await wait_for_socket(path, delay, seen=seen):
            backoff.reset()  # a new socket file: the agent (re)started, so start retrying quickly again


_OpenStream: TypeAlias = Callable[[grpc.aio.Channel, float | None], Any]
# No ``package`` in the spec's proto: methods are /SpiffeWorkloadAPI/<Method>, as SPIRE serves them.
_SERVICE = "/SpiffeWorkloadAPI/"
# The three streams take an empty request message, which serializes to no bytes at all.
_EMPTY_REQUEST = b""


def _open_stream(method: str) -> _OpenStream:
    """Opener of a server stream; without (de)serializers gRPC sends and hands back the raw bytes."""
    path = _SERVICE + method

    def open_call(channel: grpc.aio.Channel, timeout: float | None) -> Any:
        return channel.unary_stream(path)(_EMPTY_REQUEST, metadata=SECURITY_HEADER, timeout=timeout)

    return open_call


_open_x509_svid = _open_stream("FetchX509SVID")
_open_x509_bundles = _open_stream("FetchX509Bundles")
_open_jwt_bundles = _open_stream("FetchJWTBundles")


async def _call(callback: Callable[[T], Awaitable[None] | None] | None, value: T) -> None:
    """Run a sync or async callback."""
    if callback is None:
        return
    result = callback(value)
    if inspect.isawaitable(result):
        await result
