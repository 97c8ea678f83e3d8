"""``spiffe-helper demo``: the Coastal Containers lab on one machine, rotating certificates every few seconds.

It starts the development Workload API agent with three identities (server, client and an intruder that the
server must refuse), runs ``examples/manifest-server``'s server and client each under its own
``spiffe-helper -config`` with the example helper.conf (only ``agent_address`` changed), and prints a timeline
built from their output: SVID issuance, files written, TLS reloads, every fetch with the certificate serial
the peer presented. Ctrl-C stops everything. ``--duration`` runs a bounded check instead: exit 0 only if no
fetch failed, both identities rotated at least three times and the intruder was refused.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import click
import psutil

from spiffe_helper.demo_timeline import IDS, Tally, classify, describe

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "manifest-server"
SCRIPTS = ("server.py", "client.py", "mtls.py")
STOP_GRACE = 10.0


class Runner:
    """Starts the processes, streams their output to one queue, and stops them."""

    def __init__(self, workdir: Path, verbose: bool) -> None:
        self.workdir = workdir
        self.verbose = verbose
        self.lines: queue.Queue[tuple[float, str, str]] = queue.Queue()
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.t0 = time.monotonic()

    def start(self, name: str, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
        """Start a process in its own session (a terminal's Ctrl-C reaches only the demo) and pump its output."""
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True,
        )  # fmt: skip
        self.procs[name] = proc
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()
        return proc

    def _pump(self, name: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put((time.monotonic() - self.t0, name, line.rstrip("\n")))

    def stop(self, name: str) -> int | None:
        """SIGTERM, wait, then SIGKILL the process and anything it left behind; returns its exit code."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        try:
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            family = []
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for child in family:
            with contextlib.suppress(psutil.Error):
                child.kill()
        return code


def _helper_argv() -> list[str]:
    script = Path(sys.executable).with_name("spiffe-helper")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from spiffe_helper.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_conf(example: str, socket_path: Path) -> str:
    """The example helper.conf with only ``agent_address`` pointing at the dev agent's socket."""
    new, count = re.subn(r"(?m)^agent_address\s*=.*$", f'agent_address = "{socket_path}"', example)
    if count != 1:
        raise click.ClickException("the example helper.conf has no single agent_address line")
    return new


INTRUDER_CONF = """# The intruder: a valid SVID of the trust domain, but not an ID the server allows. One-shot mode.
agent_address = "{socket}"
daemon_mode = false
cert_dir = "svids"
svid_file_name = "client_cert.pem"
svid_key_file_name = "client_key.pem"
svid_bundle_file_name = "svid_bundle.pem"
"""


class Demo:
    """One demo run in a fresh temporary directory."""

    def __init__(self, ttl: float, interval: float, verbose: bool) -> None:
        self.ttl, self.interval = ttl, interval
        self.workdir = Path(tempfile.mkdtemp(prefix="coastal-", dir="/tmp"))  # short: socket paths < 107 bytes
        self.runner = Runner(self.workdir, verbose)
        self.tally = Tally()
        self.port = _free_port()
        self.stopping = threading.Event()
        bindir = str(Path(sys.executable).parent)  # `cmd = "python3"` resolves to this Python
        self.env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
                    "PYTHONUNBUFFERED": "1", "MANIFEST_LISTEN": f"127.0.0.1:{self.port}",
                    "MANIFEST_SERVER": f"127.0.0.1:{self.port}", "MANIFEST_INTERVAL": str(interval)}  # fmt: skip
        self.env.pop("SPIFFE_ENDPOINT_SOCKET", None)

    def setup(self) -> None:
        """Agent socket directory, one directory per workload with the scripts and its helper.conf."""
        agent_dir = self.workdir / "agent"
        agent_dir.mkdir()
        for role in ("server", "client", "intruder"):
            d = self.workdir / role
            (d / "svids").mkdir(parents=True)
            for script in SCRIPTS:
                shutil.copy2(EXAMPLES / script, d / script)
            sock = agent_dir / f"{role}.sock"
            if role == "intruder":
                conf = INTRUDER_CONF.format(socket=sock)
            else:
                conf = render_conf((EXAMPLES / f"helper-{role}.conf").read_text(), sock)
            (d / "helper.conf").write_text(conf)

    def start_agent(self) -> None:
        """The dev agent with the three identities; returns once every socket exists."""
        argv = [sys.executable, "-m", "spiffe_helper.devagent", "--socket-dir", str(self.workdir / "agent"),
                "--x509-ttl", f"{self.ttl:g}s"]  # fmt: skip
        for role, spiffe_id in IDS.items():
            argv += ["--identity", f"{role}={spiffe_id}"]
        proc = self.runner.start("agent", argv, self.workdir, self.env)
        deadline = time.monotonic() + 30
        while not all((self.workdir / "agent" / f"{r}.sock").exists() for r in IDS):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException(f"the dev agent did not start (exit {proc.poll()}); see its output above")
            self.pump(0.1)

    def start_helpers(self) -> None:
        for role in ("server", "client"):
            argv = [*_helper_argv(), "-config", str(self.workdir / role / "helper.conf")]
            self.runner.start(role, argv, self.workdir / role, self.env)

    def try_intruder(self) -> None:
        """In a thread: fetch the intruder's SVID once, then try to get the manifest with it."""
        d = self.workdir / "intruder"
        helper = self.runner.start("intruder", [*_helper_argv(), "-config", str(d / "helper.conf")], d, self.env)
        code = helper.wait()
        if code != 0:
            self.runner.lines.put((time.monotonic() - self.runner.t0, "intruder", f"demo: one-shot helper exit {code}"))
            return
        client = self.runner.start(
            "intruder-client",
            [sys.executable, "client.py", "--once", "--cert", "svids/client_cert.pem", "--key",
             "svids/client_key.pem", "--bundle", "svids/svid_bundle.pem"],
            d, self.env,
        )  # fmt: skip
        self.tally.intruder_exit = client.wait()

    def pump(self, timeout: float) -> None:
        """Print and count the output lines that arrive within ``timeout`` seconds."""
        try:
            t, source, text = self.runner.lines.get(timeout=timeout)
        except queue.Empty:
            return
        event = classify(source, text)
        if event is not None:
            self.tally.add(event)
        shown = describe(event) if event is not None else None
        if self.runner.verbose:
            click.echo(f"{t:7.1f}s  {source:<15} {text}")
        elif shown:
            click.echo(f"{t:7.1f}s  {source:<15} {shown}")

    def run(self, duration: float | None) -> int:
        """Until ``duration`` has passed (or Ctrl-C); returns the exit code."""
        self.setup()
        self.start_agent()
        self.start_helpers()
        deadline = None if duration is None else time.monotonic() + duration
        intruder: threading.Thread | None = None
        crashed: str | None = None
        while not self.stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            self.pump(0.2)
            if intruder is None and self.tally.fetched:
                intruder = threading.Thread(target=self.try_intruder, daemon=True)
                intruder.start()
            dead = [n for n in ("agent", "server", "client") if self.runner.procs[n].poll() is not None]
            if dead:
                crashed = f"{dead[0]} exited with code {self.runner.procs[dead[0]].poll()}"
                break
        return self.finish(duration, intruder, crashed)

    def finish(self, duration: float | None, intruder: threading.Thread | None, crashed: str | None) -> int:
        click.echo("stopping ...")
        if intruder is not None:
            intruder.join(timeout=5)  # it normally took a second; stopping its processes ends it otherwise
        names = ("intruder-client", "intruder", "client", "server", "agent")
        codes = {name: self.runner.stop(name) for name in names if name in self.runner.procs}
        while not self.runner.lines.empty():
            self.pump(0)
        server_rot, client_rot = self.tally.rotations()
        click.echo(
            f"summary: {self.tally.fetched} manifests fetched, {self.tally.failed} failed; rotations seen in use: "
            f"server {server_rot}, client {client_rot}; exit codes {codes}"
        )
        if crashed:
            click.echo(f"FAILED: {crashed}", err=True)
            return 1
        if duration is None:
            return 0 if self.tally.failed == 0 else 1
        ok = True
        for passed, text in self.tally.verdict():
            click.echo(f"  [{'ok' if passed else 'FAIL'}] {text}")
            ok = ok and passed
        return 0 if ok else 1


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--duration", type=click.FloatRange(min=1), help="Run this many seconds, then check and exit.")
@click.option("--ttl", type=click.FloatRange(min=2), default=20, show_default=True, help="X.509-SVID TTL (s).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=2, show_default=True, help="Fetch every (s).")
@click.option("--verbose", is_flag=True, help="Print every output line instead of the timeline.")
@click.option("--keep", is_flag=True, help="Keep the temporary directory (certificates, configs).")
@click.pass_context
def demo(ctx: click.Context, duration: float | None, ttl: float, interval: float, verbose: bool, keep: bool) -> None:
    """The Coastal Containers mTLS demo with the development agent (see module docs). Ctrl-C stops it.

    Exit codes: 0 success, 1 a check failed or a process died, 2 bad option.
    """
    if not all((EXAMPLES / f).exists() for f in (*SCRIPTS, "helper-server.conf", "helper-client.conf")):
        raise click.ClickException(f"the demo needs examples/manifest-server from a source checkout ({EXAMPLES})")
    if duration is not None and duration < 1.5 * ttl + 3:
        click.echo(f"note: 3 rotations at --ttl {ttl:g} take about {1.5 * ttl + 3:g}s; --duration is shorter")
    run = Demo(ttl, interval, verbose)
    click.echo(
        f"Coastal Containers demo: dev agent (X.509 TTL {ttl:g}s, rotation about every {ttl / 2:g}s), "
        f"server and client each under spiffe-helper. Workdir {run.workdir}. "
        + (f"Running {duration:g}s." if duration else "Ctrl-C to stop.")
    )
    previous = {s: signal.signal(s, lambda *_: run.stopping.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = run.run(duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for name in list(run.runner.procs):
            run.runner.stop(name)
        if keep:
            click.echo(f"kept {run.workdir}")
        else:
            shutil.rmtree(run.workdir, ignore_errors=True)
    ctx.exit(code)
