"""Steady-state benchmark: an idle daemon with outputs, health and a child; its RSS and CPU.

The helper (real ``spiffe-helper`` process) writes X.509 files, a JWT bundle and one JWT-SVID, serves health
on loopback and supervises a child (``sleep``). The dev agent is a separate process; SVIDs and JWTs live an
hour, so nothing rotates during the window. After a settling period the window starts: CPU time from
``/proc`` (psutil) at both ends, RSS and USS sampled every second. The child's own memory is not counted.

References idling in the same window: the floor (a Python process that imported ``grpc.aio`` and
``cryptography.x509``), py-spiffe's ``X509Source`` (a live X.509 stream with the context in memory, in
py-spiffe's own virtualenv) and "floor + live stream" (the floor's imports, one open FetchX509SVID stream
through a generic bytes method, the first response's certificates parsed with cryptography and kept: the
least a Python daemon on grpcio can weigh). Targets: RSS <= 45 MB, CPU <= 0.1 % (of one core).

    python bench/steady.py [--duration 60] [--helper CMD]
"""

from __future__ import annotations

import argparse
import select
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from _common import (
    HELPER,
    VENV_PYTHON,
    helper_env,
    print_header,
    print_table,
    pyspiffe_python,
    scratch_dir,
    verdict,
    write_helper_conf,
)

from spiffe_helper.devagent import DevAgentProcess

SPIFFE_ID = "spiffe://bench.example/steady/workload"
TARGET_RSS_MB = 45.0
TARGET_CPU_PERCENT = 0.1
UNWIRED = "not wired into the daemon yet"
FLOOR_CODE = "import grpc.aio, cryptography.x509, time; time.sleep(100000)"
# The least a Python daemon on grpcio can weigh: the floor's imports, one open FetchX509SVID stream (generic
# bytes-in/bytes-out method, no protobuf), the certificates of the first response parsed with cryptography and
# kept, then idle with the stream open. Prints "ready" once the certificates are loaded.
STREAM_CODE = """\
import asyncio, sys
import grpc.aio
from cryptography import x509

def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]; i += 1
        value |= (b & 0x7F) << shift; shift += 7
        if b < 0x80:
            return value, i

def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        if key & 7 == 2:
            n, i = varint(buf, i)
            yield key >> 3, buf[i:i + n]
            i += n
        elif key & 7 == 0:
            i = varint(buf, i)[1]
        else:
            raise ValueError("unexpected wire type")

def split_der(blob):
    i = 0
    while i < len(blob):
        n = blob[i + 1]
        head = 2
        if n & 0x80:
            k = n & 0x7F
            n, head = int.from_bytes(blob[i + 2:i + 2 + k], "big"), 2 + k
        yield blob[i:i + head + n]
        i += head + n

async def main(address):
    channel = grpc.aio.insecure_channel(address)
    fetch = channel.unary_stream(
        "/SpiffeWorkloadAPI/FetchX509SVID", request_serializer=lambda _: b"", response_deserializer=lambda b: b
    )
    call = fetch(None, metadata=(("workload.spiffe.io", "true"),))
    certs = []
    while True:
        message = await call.read()
        if message is grpc.aio.EOF:
            raise SystemExit("stream ended")
        certs = [
            x509.load_der_x509_certificate(der)
            for number, svid in fields(message) if number == 1
            for field, blob in fields(svid) if field in (2, 4)  # x509_svid (chain), bundle
            for der in split_der(blob)
        ]
        if not certs:
            raise SystemExit("no certificate in the response")
        print("ready", len(certs), flush=True)

asyncio.run(main(sys.argv[1]))
"""
PYSPIFFE_CODE = """\
import sys, time
from spiffe import X509Source
source = X509Source(socket_path=sys.argv[1])
assert source.get_x509_context().default_svid is not None
time.sleep(100000)
"""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def health_ok(port: int) -> bool:
    """GET /ready answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Sampler:
    """CPU time at the start and end of the window, memory sampled along the way, for one process."""

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self.proc = psutil.Process(pid)
        self.rss: list[int] = []
        self.uss: list[int] = []
        self.cpu_start = self._cpu()
        self.cpu_end = self.cpu_start
        self.threads = 0

    def _cpu(self) -> float:
        t = self.proc.cpu_times()
        return float(t.user + t.system)

    def sample(self) -> None:
        """One memory sample."""
        info = self.proc.memory_full_info()
        self.rss.append(info.rss)
        self.uss.append(info.uss)
        self.threads = self.proc.num_threads()

    def finish(self) -> None:
        """End of the window."""
        self.sample()
        self.cpu_end = self._cpu()

    def row(self, window: float, target: bool) -> list[object]:
        """Table row: RSS (last, max), USS, threads, CPU seconds, CPU %."""
        rss_mb = self.rss[-1] / 1e6
        cpu_percent = (self.cpu_end - self.cpu_start) / window * 100
        return [
            self.name,
            rss_mb,
            max(self.rss) / 1e6,
            self.uss[-1] / 1e6,
            self.threads,
            (self.cpu_end - self.cpu_start) * 1000,
            f"{cpu_percent:.3f}",
            f"{verdict(rss_mb, TARGET_RSS_MB)}/{verdict(cpu_percent, TARGET_CPU_PERCENT)}" if target else "",
        ]


def stream_ready(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """The stream reference printed its first "ready" line (certificates received and parsed)."""
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], timeout)
    return bool(readable) and proc.stdout.readline().startswith(b"ready")


def wait_until(cond: object, timeout: float) -> bool:
    """Poll a zero-argument callable every 50 ms until it returns True (False at the deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="idle window in seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after start-up before the window")
    parser.add_argument("--helper", default=str(HELPER), help="the helper command (shell-quoted)")
    args = parser.parse_args()

    print_header(f"steady: idle daemon for {args.duration:g} s (outputs, health, child)")
    env = helper_env()
    notes: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    with scratch_dir() as d:
        (d / "sock").mkdir()
        agent = DevAgentProcess(d / "sock", {"w": [SPIFFE_ID]}, x509_ttl="1h", jwt_ttl="1h")
        port = free_port()
        out = d / "out"
        conf = write_helper_conf(
            d / "helper.conf",
            {
                "agent_address": agent.address("w"),
                "cert_dir": str(out),
                "svid_file_name": "svid.pem",
                "svid_key_file_name": "svid_key.pem",
                "svid_bundle_file_name": "svid_bundle.pem",
                "jwt_bundle_file_name": "jwt_bundle.json",
                "cmd": "/bin/sleep",
                "cmd_args": "100000",
            },
            'jwt_svids = [{ jwt_audience = "bench", jwt_svid_file_name = "jwt.token" }]\n'
            f'health_checks {{\n  listener_enabled = true\n  bind_address = "127.0.0.1"\n  bind_port = {port}\n}}\n',
        )
        log_path = d / "helper.log"
        with agent:
            try:
                with open(log_path, "wb") as log:
                    helper = subprocess.Popen(
                        [*shlex.split(args.helper), "-config", str(conf)], stdout=log, stderr=log, env=env
                    )
                procs.append(helper)
                outputs = [out / n for n in ("svid.pem", "svid_key.pem", "svid_bundle.pem", "jwt_bundle.json")]
                if not wait_until(lambda: all(p.exists() for p in [*outputs, out / "jwt.token"]), 30):
                    raise SystemExit(f"the helper did not write its outputs:\n{log_path.read_text()[-3000:]}")
                procs.append(subprocess.Popen([str(VENV_PYTHON), "-c", FLOOR_CODE], env=env))
                procs.append(
                    subprocess.Popen([str(pyspiffe_python()), "-c", PYSPIFFE_CODE, agent.address("w")], env=env)
                )
                stream = subprocess.Popen(
                    [str(VENV_PYTHON), "-c", STREAM_CODE, agent.address("w")], stdout=subprocess.PIPE, env=env
                )
                procs.append(stream)
                if not stream_ready(stream, 30):
                    raise SystemExit("the floor + live stream reference did not receive its certificates")
                health = wait_until(lambda: health_ok(port), 5)
                children = psutil.Process(helper.pid).children()
                if UNWIRED in log_path.read_text():
                    notes.append("app.py does not start health and `cmd` yet: measured without them")
                if not health:
                    notes.append("health endpoint: not answering")
                if not children:
                    notes.append("child: not running")
                time.sleep(args.settle)
                samplers = [
                    Sampler("spiffe-helper daemon", helper.pid),
                    Sampler("floor: idle grpc.aio + cryptography", procs[1].pid),
                    Sampler("py-spiffe X509Source, idle", procs[2].pid),
                    Sampler("floor + live X.509 stream, idle", procs[3].pid),
                ]
                start = time.monotonic()
                while time.monotonic() - start < args.duration:
                    for s in samplers:
                        s.sample()
                    time.sleep(min(1.0, max(0.0, args.duration - (time.monotonic() - start))))
                for s in samplers:
                    s.finish()
                window = time.monotonic() - start
                alive = helper.poll() is None
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(15)
        output = log_path.read_text()
    if not alive:
        notes.append("the helper exited during the window")
    if "Traceback" in output:
        notes.append("the helper printed a traceback")
    wired = f"health {'on' if health else 'OFF'}, child {'running' if children else 'NOT running'}"
    print(f"window {window:.1f} s after {args.settle:g} s settling; helper: {args.helper} ({wired})")
    print_table(
        ["process", "RSS MB", "max RSS MB", "USS MB", "threads", "CPU ms", "CPU %", "RSS/CPU target"],
        [samplers[0].row(window, True), *(s.row(window, False) for s in samplers[1:])],
    )
    over = (samplers[0].rss[-1] - samplers[3].rss[-1]) / 1e6
    print(f"daemon above the floor + live stream: RSS {over:+.2f} MB")
    print(f"targets: RSS <= {TARGET_RSS_MB:g} MB, CPU <= {TARGET_CPU_PERCENT:g} % of one core")
    for note in notes:
        print("note: " + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
