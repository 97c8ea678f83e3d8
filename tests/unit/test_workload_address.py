"""Workload API address parsing (spiffe_helper/workload/address.py)."""

from __future__ import annotations

import pytest

from spiffe_helper.errors import AddressError
from spiffe_helper.workload.address import DEFAULT_AGENT_ADDRESS, ENDPOINT_ENV, parse_address, resolve_address


@pytest.mark.parametrize(
    ("value", "target", "path"),
    [
        ("/run/spire/agent.sock", "unix:///run/spire/agent.sock", "/run/spire/agent.sock"),
        ("unix:///run/spire/agent.sock", "unix:///run/spire/agent.sock", "/run/spire/agent.sock"),
        ("unix:/run/spire/agent.sock", "unix:///run/spire/agent.sock", "/run/spire/agent.sock"),
        ("UNIX:///run/a.sock", "unix:///run/a.sock", "/run/a.sock"),
        ("unix:///tmp/a%20b.sock", "unix:///tmp/a%20b.sock", "/tmp/a b.sock"),  # URI: percent-decoded
        ("/tmp/100%.sock", "unix:///tmp/100%25.sock", "/tmp/100%.sock"),  # bare path: literal, encoded for gRPC
        ("/tmp/a b.sock", "unix:///tmp/a%20b.sock", "/tmp/a b.sock"),
        ("/tmp/q?x#y.sock", "unix:///tmp/q%3Fx%23y.sock", "/tmp/q?x#y.sock"),  # a bare path may hold ? and #
    ],
)
def test_unix_forms(value: str, target: str, path: str) -> None:
    addr = parse_address(value)
    assert (addr.target, addr.socket_path, addr.is_unix) == (target, path, True)
    assert str(addr) == addr.value == value


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("tcp://127.0.0.1:8081", "ipv4:127.0.0.1:8081"),
        ("tcp://10.1.2.3:1", "ipv4:10.1.2.3:1"),
        ("tcp://[::1]:65535", "ipv6:[::1]:65535"),
        ("TCP://127.0.0.1:80", "ipv4:127.0.0.1:80"),
    ],
)
def test_tcp_forms(value: str, target: str) -> None:
    addr = parse_address(value)
    assert (addr.target, addr.socket_path, addr.is_unix) == (target, None, False)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must not be empty"),
        ("agent.sock", "relative paths are not allowed"),
        ("./agent.sock", "relative paths are not allowed"),
        ("run/agent.sock", "relative paths are not allowed"),
        ("unix:agent.sock", "must be absolute"),
        ("unix:", "must be absolute"),
        ("unix://", "must be absolute"),
        ("unix://host/agent.sock", "authority 'host' is not allowed"),
        ("unix://agent.sock", "authority 'agent.sock' is not allowed"),  # what Go builds from a relative path
        ("unix:///a.sock?x=1", "query and fragment"),
        ("unix:///a.sock#frag", "query and fragment"),
        ("unix:///a.sock?", "query and fragment"),
        ("tcp://localhost:8081", 'host "localhost" is not an IP address'),
        ("tcp://agent.example:8081", "not an IP address"),
        ("tcp://127.0.0.1", "needs a port"),
        ("tcp://127.0.0.1:", "needs a port"),
        ("tcp://127.0.0.1:0", "needs a port"),
        ("tcp://127.0.0.1:70000", "port must be a number"),
        ("tcp://127.0.0.1:http", "port must be a number"),
        ("tcp://127.0.0.1:8081/", "must not have a path"),
        ("tcp://127.0.0.1:8081/foo", "must not have a path"),
        ("tcp://user@127.0.0.1:8081", "user information"),
        ("tcp:127.0.0.1:8081", "must be tcp://IP:port"),
        ("tcp://:8081", "needs an IP address"),
        ("tcp://[::1:8081", "not a valid URI"),
        ("http:///agent.sock", 'unsupported scheme "http"'),
        ("npipe:spire-agent", 'unsupported scheme "npipe"'),
        ("/tmp/a\x00b", "NUL"),
        ("unix:///tmp/a%00b", "NUL"),
    ],
)
def test_rejected_values_are_named(value: str, reason: str) -> None:
    with pytest.raises(AddressError) as err:
        parse_address(value)
    message = str(err.value)
    assert message.startswith(f'agent_address "{value}": '), message
    assert reason in message
    assert "\n" not in message


def test_source_is_named_in_errors() -> None:
    with pytest.raises(AddressError, match=r'^SPIFFE_ENDPOINT_SOCKET "rel": '):
        parse_address("rel", ENDPOINT_ENV)


def test_resolve_prefers_config_then_env_then_default() -> None:
    env = {ENDPOINT_ENV: "unix:///from/env.sock"}
    assert resolve_address("/from/config.sock", env).socket_path == "/from/config.sock"
    assert resolve_address("", env).socket_path == "/from/env.sock"
    assert resolve_address("", {}).socket_path == DEFAULT_AGENT_ADDRESS == "/tmp/spire-agent/public/api.sock"
    assert resolve_address("", {ENDPOINT_ENV: ""}).socket_path == DEFAULT_AGENT_ADDRESS


def test_resolve_accepts_the_spiffe_uri_form_in_the_environment() -> None:
    # The Go helper turns this into "unix://unix:///run/agent.sock" and fails; the spec form must work.
    addr = resolve_address("", {ENDPOINT_ENV: "unix:///run/agent.sock"})
    assert addr.target == "unix:///run/agent.sock"


def test_resolve_names_the_environment_variable_in_errors() -> None:
    with pytest.raises(AddressError, match=r'^SPIFFE_ENDPOINT_SOCKET "tcp://localhost:1": '):
        resolve_address("", {ENDPOINT_ENV: "tcp://localhost:1"})
    with pytest.raises(AddressError, match=r'^agent_address "x.sock": '):
        resolve_address("x.sock", {ENDPOINT_ENV: "/ok.sock"})
