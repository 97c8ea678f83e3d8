"""Dev agent fan-out benchmark: N watchers on one socket, time from a rotation to the last watcher.

The agent runs as a real child process (``python -m spiffe_helper.devagent``); each watcher is its own
gRPC channel (its own connection) with a FetchX509SVID stream, as N workloads would be. A rotation is
triggered with SIGUSR1; the figure is the time from sending the signal until the last watcher has the new
SVID. The SVID issuance rate is measured in-process on the agent's own issuing code (key generation plus
signing), for EC P-256 and RSA 2048 leaf keys.

    python bench/devagent_fanout.py [--watchers 200] [--rotations 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

from spiffe_helper.devagent import DevAgentProcess
from spiffe_helper.devagent.authority import Authority
from spiffe_helper.devagent.ca import issue_leaf
from spiffe_helper.devagent.keys import KeyType, generate_key
from spiffe_helper.spiffeid import TrustDomain
from spiffe_helper.workload._proto import workload_pb2 as pb
from spiffe_helper.workload._proto import workload_pb2_grpc as pb_grpc

MD = (("workload.spiffe.io", "true"),)
SERVER_ID = "spiffe://coastal-containers.example/bench/workload"


class Watcher:
    """One workload: a channel, a stream, and when it last saw a new SVID."""

    def __init__(self, address: str) -> None:
        # A local subchannel pool: otherwise grpc shares one connection among channels to the same target.
        self.channel = grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        self.call = pb_grpc.SpiffeWorkloadAPIStub(self.channel).FetchX509SVID(pb.X509SVIDRequest(), metadata=MD)
        self.current = b""
        self.updated = asyncio.Event()
        self.seen_at = 0.0

    async def run(self) -> None:
        async for message in self.call:
            leaf = message.svids[0].x509_svid
            if leaf != self.current:
                self.current, self.seen_at = leaf, time.perf_counter()
                self.updated.set()

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close()


def socket_fds(pid: int) -> int:
    """Open sockets of a process (Linux /proc), to confirm each watcher has its own connection."""
    try:
        return sum(
            1 for fd in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        )
    except OSError:
        return -1


async def fanout(address: str, agent: DevAgentProcess, watchers: int, rotations: int) -> tuple[float, int, list[float]]:
    """Connect ``watchers`` streams; return (time until all had the first SVID, agent sockets, latencies)."""
    start = time.perf_counter()
    group = [Watcher(address) for _ in range(watchers)]
    tasks = [asyncio.create_task(w.run()) for w in group]
    await asyncio.wait_for(asyncio.gather(*(w.updated.wait() for w in group)), 120)
    connect_time = time.perf_counter() - start
    sockets = socket_fds(agent.pid)
    latencies = []
    for _ in range(rotations):
        before = {id(w): w.current for w in group}
        for w in group:
            w.updated.clear()
        sent = time.perf_counter()
        agent.rotate_now()
        await asyncio.wait_for(asyncio.gather(*(w.updated.wait() for w in group)), 120)
        assert all(w.current != before[id(w)] for w in group)
        latencies.append(max(w.seen_at for w in group) - sent)
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(w.close() for w in group))
    return connect_time, sockets, latencies


def issuance_rate(kind: KeyType, seconds: float) -> float:
    """X.509-SVIDs per second through the agent's issuing path (fresh leaf key + signature)."""
    authority = Authority(TrustDomain("coastal-containers.example"), ca_ttl=3600, key_type=kind)
    authority.open()
    issuer = authority.active_issuer
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        key = generate_key(kind)
        issue_leaf(SERVER_ID, key.public_key(), issuer, time.time(), 3600)
        count += 1
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=200, help="concurrent FetchX509SVID streams (200)")
    parser.add_argument("--rotations", type=int, default=5, help="rotations to time (5)")
    parser.add_argument("--issue-seconds", type=float, default=2.0, help="time spent per issuance-rate run")
    args = parser.parse_args()

    sock_dir = Path(tempfile.mkdtemp(prefix="sh-bench-", dir="/tmp"))
    with DevAgentProcess(sock_dir, {"bench": SERVER_ID}, x509_ttl="1h") as agent:
        connect_time, sockets, latencies = asyncio.run(
            fanout(agent.address("bench"), agent, args.watchers, args.rotations)
        )
    sock_dir.rmdir()
    ec_rate = issuance_rate("ec", args.issue_seconds)
    rsa_rate = issuance_rate("rsa", args.issue_seconds)

    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, grpcio {grpc.__version__}, "
        f"{platform.system()} {platform.machine()}"
    )
    rows = [
        ("watchers (one connection each)", f"{args.watchers}"),
        ("agent sockets open (listener + conns)", f"{sockets}"),
        ("all watchers have first SVID", f"{connect_time * 1000:.0f} ms"),
        ("rotation -> last watcher, median", f"{statistics.median(latencies) * 1000:.1f} ms"),
        ("rotation -> last watcher, max", f"{max(latencies) * 1000:.1f} ms"),
        ("rotation -> last watcher, all", ", ".join(f"{x * 1000:.0f}" for x in latencies) + " ms"),
        ("X.509-SVID issuance, EC P-256", f"{ec_rate:.0f} /s"),
        ("X.509-SVID issuance, RSA 2048", f"{rsa_rate:.1f} /s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
