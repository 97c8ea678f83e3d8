"""The health endpoint under 200 concurrent requests while the SVID rotates: every request answered, 200.

The real helper serves ``/live`` and ``/ready`` on loopback; the dev agent (in a thread of the test
process) rotates the SVID every few milliseconds meanwhile. Three waves of 200 concurrent connections each,
half ``/live``, half ``/ready``; every response must be a complete HTTP 200 with a JSON body. Skipped,
naming the blocker, while ``spiffe-helper`` does not start the health server yet.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

from spiffe_helper.devagent import DevAgentThread
from tests.faults.harness import HelperProcess, eventually, write_conf

SPIFFE_ID = "spiffe://faults.example/workload/health"
CONCURRENCY = 200
WAVES = 3
REQUEST_TIMEOUT = 30.0  # generous: a full accept queue makes the kernel retry a SYN after 1 s


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def get(port: int, path: str) -> tuple[int, bytes]:
    """One HTTP/1.1 request on its own connection; (status, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def waves(port: int) -> list[tuple[int, bytes] | BaseException]:
    """``WAVES`` rounds of ``CONCURRENCY`` simultaneous requests."""
    results: list[tuple[int, bytes] | BaseException] = []
    for _ in range(WAVES):
        paths = ["/live" if i % 2 else "/ready" for i in range(CONCURRENCY)]
        results += await asyncio.gather(*(get(port, p) for p in paths), return_exceptions=True)
    return results


class Rotator(threading.Thread):
    """Rotates the SVID every 5 ms until stopped; counts rotations."""

    def __init__(self, agent: DevAgentThread) -> None:
        super().__init__(daemon=True)
        self.agent, self.done, self.count = agent, threading.Event(), 0

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while not self.done.wait(0.005) and time.monotonic() < deadline:
            self.agent.rotate_now("w")
            self.count += 1


def test_health_answers_200_concurrent_requests_while_rotating(sock_dir: Path) -> None:
    out = sock_dir / "out"
    port = free_port()
    with DevAgentThread(sock_dir, {"w": [SPIFFE_ID]}, x509_ttl="1h") as agent:
        conf = write_conf(
            sock_dir / "helper.conf",
            {
                "agent_address": agent.address("w"),
                "cert_dir": str(out),
                "svid_file_name": "svid.pem",
                "svid_key_file_name": "svid_key.pem",
                "svid_bundle_file_name": "svid_bundle.pem",
            },
            {"health_checks": {"listener_enabled": True, "bind_address": "127.0.0.1", "bind_port": port}},
        )
        with HelperProcess(conf) as helper:
            helper.wait_for(r"X\.509 certificates updated")
            eventually(lambda: asyncio.run(get(port, "/ready"))[0] == 200, 15, 0.05, what="ready")
            rotator = Rotator(agent)
            rotator.start()
            try:
                results = asyncio.run(waves(port))
            finally:
                rotator.done.set()
                rotator.join(10)
            helper.assert_clean_log()
            assert helper.running()
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    assert errors == [], errors[:10]
    answers = [r for r in results if not isinstance(r, BaseException)]
    assert len(answers) == CONCURRENCY * WAVES
    assert [status for status, _ in answers if status != 200] == []
    for _, body in answers:
        assert isinstance(json.loads(body), dict)
    assert rotator.count > 0
    print(f"\n{len(answers)} health requests in waves of {CONCURRENCY}, {rotator.count} rotations meanwhile")
