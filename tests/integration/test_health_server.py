"""The health HTTP server over loopback, with a real client (http.client)."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
from collections.abc import Iterator

import pytest

from spiffe_helper.health import HealthServer, HealthServerError, StatusHealth
from spiffe_helper.runs.status import CredentialStatus
from spiffe_helper.store.writer import WriteResult
from tests.helpers.procs import Captured


def _get(port: int, path: str, method: str = "GET", host: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


async def _fetch(
    port: int, path: str, method: str = "GET", host: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_get, port, path, method, host)


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured.install()
    yield handler
    logging.getLogger("spiffe_helper").removeHandler(handler)


def test_live_and_ready_follow_the_state(captured: Captured) -> None:
    creds = CredentialStatus(True, ["certs/jwt.token"])

    async def scenario() -> None:
        server = HealthServer(StatusHealth(creds), bind_address="127.0.0.1", bind_port=0)
        await server.start()
        try:
            port = server.port
            status, headers, body = await _fetch(port, "/live")
            assert status == 200
            assert headers["content-type"] == "application/json"
            assert json.loads(body)["status"] == "OK"

            status, _, body = await _fetch(port, "/ready")
            assert status == 503
            doc = json.loads(body)
            assert doc["status"] == "Service Unavailable"
            assert doc["health"]["file_write_statuses"] == {
                "x509_write_status": "unwritten",
                "jwt_write_status": {"certs/jwt.token": "unwritten"},
            }
            assert doc["health"]["problems"] == ["x509: unwritten", "jwt certs/jwt.token: unwritten"]

            creds.x509_written(WriteResult(True, ("svid.pem",)))
            creds.jwt_written("certs/jwt.token")
            status, headers, body = await _fetch(port, "/ready")
            assert status == 200
            assert int(headers["content-length"]) == len(body)
            assert body == (
                b'{"status":"OK","health":{"file_write_statuses":{"x509_write_status":"written",'
                b'"jwt_write_status":{"certs/jwt.token":"written"}}}}'
            )

            creds.jwt_failed("certs/jwt.token", "disk full")
            assert (await _fetch(port, "/live"))[0] == 503
            assert (await _fetch(port, "/ready"))[0] == 503
        finally:
            await server.close()

    asyncio.run(scenario())
    assert "Starting health server" in captured.messages("info")


def test_paths_methods_and_unknown_paths() -> None:
    state = StatusHealth(CredentialStatus(False, []))

    async def scenario() -> None:
        server = HealthServer(
            state, bind_address="127.0.0.1", bind_port=0, liveness_path="/healthz", readiness_path="/readyz"
        )
        await server.start()
        try:
            port = server.port
            assert (await _fetch(port, "/healthz?verbose=1"))[0] == 200  # the query does not matter
            assert (await _fetch(port, "/readyz", method="POST"))[0] == 200  # any method, as Go's mux
            status, headers, body = await _fetch(port, "/readyz", method="HEAD")
            assert status == 200 and body == b"" and int(headers["content-length"]) > 0
            status, headers, body = await _fetch(port, "/live")
            assert status == 404 and body == b"404 page not found\n"
            assert headers["content-type"].startswith("text/plain")
            assert (await _fetch(port, "/healthz/"))[0] == 404  # exact match only
        finally:
            await server.close()

    asyncio.run(scenario())


def test_port_in_use_is_a_startup_error() -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]

    async def scenario() -> None:
        server = HealthServer(StatusHealth(CredentialStatus(True, [])), bind_address="127.0.0.1", bind_port=port)
        with pytest.raises(HealthServerError) as err:
            await server.start()
        assert (
            str(err.value) == f"Error serving health checks: listen tcp 127.0.0.1:{port}: bind: address already in use"
        )
        assert err.value.exit_code == 1

    try:
        asyncio.run(scenario())
    finally:
        blocker.close()


def test_default_binds_all_interfaces() -> None:
    async def scenario() -> list[str]:
        server = HealthServer(StatusHealth(CredentialStatus(False, [])), bind_port=0)
        await server.start()
        try:
            assert server._server is not None
            hosts = sorted(s.getsockname()[0] for s in server._server.sockets)
            assert (await _fetch(server.port, "/live"))[0] == 200
            return hosts
        finally:
            await server.close()

    hosts = asyncio.run(scenario())
    assert "0.0.0.0" in hosts or "::" in hosts


def test_slow_client_does_not_block_others() -> None:
    state = StatusHealth(CredentialStatus(False, []))

    async def scenario() -> None:
        server = HealthServer(state, bind_address="127.0.0.1", bind_port=0)
        await server.start()
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /live HTTP/1.1\r\n")  # never finishes its headers
            await writer.drain()
            assert (await _fetch(server.port, "/live"))[0] == 200
            writer.close()
        finally:
            await server.close()

    asyncio.run(scenario())
