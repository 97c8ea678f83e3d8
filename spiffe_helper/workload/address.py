"""Workload API addresses: ``agent_address`` / ``SPIFFE_ENDPOINT_SOCKET`` -> a gRPC target.

Accepted forms (anything else is an :class:`~spiffe_helper.errors.AddressError` naming the value):

* a bare absolute path, ``/run/spire/agent.sock`` -- what the Go helper takes (it prefixes ``unix://``);
* ``unix:///abs/path`` and ``unix:/abs/path`` -- the SPIFFE_ENDPOINT_SOCKET URI forms of the SPIFFE
  Workload Endpoint spec (no authority, no query or fragment, percent-encoding decoded);
* ``tcp://IP:port`` -- an IP literal (no DNS name) and a port, nothing else, as the spec requires.

Pure values: no I/O. Whether the socket exists is the client's business, not the address's.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Callable, Mapping
from typing import NamedTuple

from spiffe_helper.errors import AddressError

ENDPOINT_ENV = "SPIFFE_ENDPOINT_SOCKET"
# The Go helper's default when neither agent_address nor SPIFFE_ENDPOINT_SOCKET is set (SPIRE's socket).
DEFAULT_AGENT_ADDRESS = "/tmp/spire-agent/public/api.sock"


class WorkloadAddress(NamedTuple):  # not a frozen dataclass: that costs every cold start ~1 ms
    """A validated Workload API endpoint.

    ``target`` is what ``grpc.aio.insecure_channel`` takes; ``socket_path`` is the Unix socket file (``None``
    for TCP), used to wait for the socket to appear; ``value`` is the text as configured, for messages.
    """

    value: str
    target: str
    socket_path: str | None = None

    @property
    def is_unix(self) -> bool:
        """True for a Unix domain socket endpoint."""
        return self.socket_path is not None

    def __str__(self) -> str:
        return self.value


def parse_address(value: str, source: str = "agent_address") -> WorkloadAddress:
    """Validate ``value`` and map it to a gRPC target; ``source`` names where it came from in errors."""

    def fail(reason: str) -> AddressError:
        return AddressError(f'{source} "{value}": {reason}')

    if not value:
        raise fail("must not be empty")
    if "\x00" in value:
        raise fail("must not contain NUL bytes")
    if value.startswith("/"):
        return _unix(value, value)
    scheme, colon, _ = value.partition(":")
    if not colon or "/" in scheme:
        raise fail(
            "must be an absolute socket path, unix:///absolute/path or tcp://IP:port (relative paths are not allowed)"
        )
    scheme = scheme.lower()
    if "?" in value or "#" in value:
        raise fail("query and fragment are not allowed")
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError as exc:  # e.g. an unbalanced '[' in the host
        raise fail(f"not a valid URI: {exc}") from None
    if scheme == "unix":
        if value[len("unix:") :].startswith("//") and parts.netloc:
            raise fail(f"authority {parts.netloc!r} is not allowed in a unix address (use unix:///absolute/path)")
        path = urllib.parse.unquote(parts.path)
        if not path.startswith("/"):
            raise fail("the unix socket path must be absolute (unix:///absolute/path)")
        if "\x00" in path:
            raise fail("must not contain NUL bytes")
        return _unix(value, path)
    if scheme == "tcp":
        return _tcp(value, parts, fail)
    raise fail(f'unsupported scheme "{scheme}" (use unix or tcp)')


def resolve_address(config_value: str, environ: Mapping[str, str]) -> WorkloadAddress:
    """The endpoint to use: ``agent_address`` when set, else ``$SPIFFE_ENDPOINT_SOCKET``, else SPIRE's default.

    Unlike the Go helper, the environment variable may hold the URI form the SPIFFE spec defines.
    """
    if config_value:
        return parse_address(config_value, "agent_address")
    env_value = environ.get(ENDPOINT_ENV, "")
    if env_value:
        return parse_address(env_value, ENDPOINT_ENV)
    return parse_address(DEFAULT_AGENT_ADDRESS, "default agent address")


def _unix(value: str, path: str) -> WorkloadAddress:
    # gRPC percent-decodes its target, so characters such as '%', '?', '#' and spaces are encoded here.
    return WorkloadAddress(value, "unix://" + urllib.parse.quote(path, safe="/"), path)


def _tcp(value: str, parts: urllib.parse.SplitResult, fail: Callable[[str], AddressError]) -> WorkloadAddress:
    if not value[len("tcp:") :].startswith("//"):
        raise fail("a tcp address must be tcp://IP:port")
    if parts.username is not None or parts.password is not None:
        raise fail("user information is not allowed")
    if parts.path:
        raise fail("a tcp address must not have a path")
    host = parts.hostname
    if not host:
        raise fail("a tcp address needs an IP address")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise fail(f'host "{host}" is not an IP address (DNS names are not allowed)') from None
    try:
        port = parts.port
    except ValueError:
        raise fail("the port must be a number from 1 to 65535") from None
    if port is None or port == 0:
        raise fail("a tcp address needs a port from 1 to 65535")
    target = f"ipv4:{ip}:{port}" if ip.version == 4 else f"ipv6:[{ip}]:{port}"
    return WorkloadAddress(value, target)
