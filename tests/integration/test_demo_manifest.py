"""The Coastal Containers server and client as real processes, with certificates made here.

Each test starts ``examples/manifest-server/server.py`` on a loopback port and drives it with ``client.py``
processes, raw sockets and in-process TLS connections built from the same files.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from spiffe_helper.demo_timeline import Tally, classify

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifest-server"
sys.path.insert(0, str(EXAMPLES))  # the scripts import their shared module as `mtls`
import mtls  # noqa: E402


def _load_client() -> ModuleType:
    # under a distinct name: a top-level module called `client` could shadow another test's import
    spec = importlib.util.spec_from_file_location("coastal_manifest_client", EXAMPLES / "client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


manifest_client = _load_client()

TD = "coastal-containers.example"
INTRUDER_ID = f"spiffe://{TD}/manifest/workload/intruder"


# --- certificates ------------------------------------------------------------------------------------------


@dataclass
class Authority:
    """A trust domain CA that issues leaf X509-SVIDs."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "Coastal CA") -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{TD}")]), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(self, spiffe_id: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIRE")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key


def write_svid(directory: Path, prefix: str, ca: Authority, spiffe_id: str, bundle: Authority | None = None) -> int:
    """Write <prefix>_cert.pem, <prefix>_key.pem and svid_bundle.pem (each by rename); returns the serial."""
    cert, key = ca.issue(spiffe_id)
    files = {
        f"{prefix}_cert.pem": cert.public_bytes(serialization.Encoding.PEM),
        f"{prefix}_key.pem": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "svid_bundle.pem": (bundle or ca).cert.public_bytes(serialization.Encoding.PEM),
    }
    for name, data in files.items():
        tmp = directory / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, directory / name)
    return cert.serial_number


# --- processes ---------------------------------------------------------------------------------------------


class Proc:
    """A script of the example running as a real process, its output collected line by line."""

    def __init__(self, script: str, args: list[str], cwd: Path) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.popen = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 15.0, start: int = 0) -> re.Match[str]:
        """The first line from index ``start`` on matching ``pattern``; fails after ``timeout`` seconds."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if m := regex.search(line):
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._cond.wait(0.2)):
                    pytest.fail(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


@dataclass
class Lab:
    """Certificates on disk plus a way to start the two scripts against them."""

    dir: Path
    ca: Authority
    procs: list[Proc]
    server_serial: int = 0
    client_serial: int = 0

    def server(self, *extra: str, listen: str = "127.0.0.1:0") -> tuple[Proc, int]:
        proc = Proc(
            "server.py",
            [
                "--listen",
                listen,
                "--cert",
                "server_cert.pem",
                "--key",
                "server_key.pem",
                "--bundle",
                "svid_bundle.pem",
                *extra,
            ],
            self.dir,
        )
        self.procs.append(proc)
        port = int(proc.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        return proc, port

    def client(self, port: int, *extra: str, prefix: str = "client", cwd: Path | None = None) -> Proc:
        proc = Proc(
            "client.py",
            [
                "--server",
                f"127.0.0.1:{port}",
                "--cert",
                f"{prefix}_cert.pem",
                "--key",
                f"{prefix}_key.pem",
                "--bundle",
                "svid_bundle.pem",
                "--initial-backoff",
                "0.1",
                "--max-backoff",
                "0.5",
                *extra,
            ],
            cwd or self.dir,
        )
        self.procs.append(proc)
        return proc

    def ssl_client_context(self, prefix: str = "client") -> ssl.SSLContext:
        return mtls.client_context(
            mtls.Credentials(
                *(str(self.dir / f) for f in (f"{prefix}_cert.pem", f"{prefix}_key.pem", "svid_bundle.pem"))
            )
        )


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    ca = Authority.create()
    result = Lab(tmp_path, ca, [])
    result.server_serial = write_svid(tmp_path, "server", ca, mtls.SERVER_ID)
    result.client_serial = write_svid(tmp_path, "client", ca, mtls.CLIENT_ID)
    yield result
    for proc in result.procs:
        proc.stop()


def fetch(ctx: ssl.SSLContext, port: int) -> tuple[str, str, dict[str, object]]:
    return manifest_client.fetch(ctx, "127.0.0.1", port, mtls.SERVER_ID, timeout=10)


# --- tests -------------------------------------------------------------------------------------------------


def test_client_prints_manifest_with_server_id_and_serial(lab: Lab) -> None:
    server, port = lab.server()
    client = lab.client(port, "--once")
    assert client.popen.wait(timeout=20) == 0, client.text()
    m = client.wait_for(r"Received ship manifest from (\S+) \(server cert serial ([0-9a-f]+)\): (.*)$")
    assert m.group(1) == mtls.SERVER_ID
    assert int(m.group(2), 16) == lab.server_serial
    assert '"ship_name": "SS Coastal Carrier"' in m.group(3)
    assert '"quantity": 3000' in m.group(3)
    served = server.wait_for(r"served manifest to (\S+) at \S+ \(cert serial ([0-9a-f]+)\)")
    assert served.group(1) == mtls.CLIENT_ID
    assert int(served.group(2), 16) == lab.client_serial
    # the client read up to the server's close_notify (suppress_ragged_eofs=False would have raised otherwise)
    assert "fetch failed" not in client.text()


def test_contexts_trust_only_the_bundle(lab: Lab) -> None:
    creds = mtls.Credentials(*(str(lab.dir / f) for f in ("server_cert.pem", "server_key.pem", "svid_bundle.pem")))
    for ctx in (mtls.server_context(creds), mtls.client_context(creds)):
        cas = ctx.get_ca_certs(binary_form=True)
        assert cas == [lab.ca.cert.public_bytes(serialization.Encoding.DER)]
        assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_wrong_spiffe_id_is_refused_by_the_server(lab: Lab) -> None:
    write_svid(lab.dir, "intruder", lab.ca, INTRUDER_ID)
    server, port = lab.server()
    intruder = lab.client(port, "--once", prefix="intruder")
    assert intruder.popen.wait(timeout=20) == 1
    assert "without a manifest" in intruder.text()
    server.wait_for(rf"refused {re.escape(INTRUDER_ID)} from 127\.0\.0\.1:\d+ .*not allowed")
    # the allowed client still gets its manifest afterwards
    assert fetch(lab.ssl_client_context(), port)[0] == mtls.SERVER_ID


def test_allowed_ids_are_configurable(lab: Lab) -> None:
    write_svid(lab.dir, "intruder", lab.ca, INTRUDER_ID)
    server, port = lab.server("--allow-id", INTRUDER_ID)
    assert fetch(lab.ssl_client_context("intruder"), port)[0] == mtls.SERVER_ID
    with pytest.raises(manifest_client.FetchError, match="without a manifest"):
        fetch(lab.ssl_client_context(), port)
    server.wait_for(rf"refused {re.escape(mtls.CLIENT_ID)}")


def test_client_refuses_a_server_with_another_id(lab: Lab) -> None:
    _, port = lab.server()
    other = f"spiffe://{TD}/manifest/workload/other-server"
    client = lab.client(port, "--once", "--server-id", other)
    assert client.popen.wait(timeout=20) == 1
    client.wait_for(rf"refused server {re.escape(mtls.SERVER_ID)} .*expected {re.escape(other)}")


def test_untrusted_certificate_is_rejected_and_server_survives(lab: Lab) -> None:
    rogue_dir = lab.dir / "rogue"
    rogue_dir.mkdir()
    # a client certificate with the right SPIFFE ID but from another CA; its own bundle trusts the real CA
    write_svid(rogue_dir, "client", Authority.create("Rogue CA"), mtls.CLIENT_ID, bundle=lab.ca)
    server, port = lab.server()
    rogue = lab.client(port, "--once", cwd=rogue_dir)
    assert rogue.popen.wait(timeout=20) == 1
    server.wait_for(r"WARNING handshake with 127\.0\.0\.1:\d+ failed: refused its certificate: \S")
    assert "served manifest" not in server.text()
    assert fetch(lab.ssl_client_context(), port)[0] == mtls.SERVER_ID


def test_bare_tcp_idle_and_trickling_sockets_do_not_block_anyone(lab: Lab) -> None:
    server, port = lab.server("--handshake-timeout", "1.5", "--log-level", "DEBUG")
    with socket.create_connection(("127.0.0.1", port)):
        pass  # connect and close at once: the lab's server crashed here
    server.wait_for(r"DEBUG handshake with 127\.0\.0\.1:\d+ failed: peer closed the connection")
    idle = socket.create_connection(("127.0.0.1", port))
    trickle = socket.create_connection(("127.0.0.1", port))
    try:
        # while both hold a connection, other clients are served concurrently
        assert fetch(lab.ssl_client_context(), port)[0] == mtls.SERVER_ID
        # a TLS record header announcing 16 KiB, then one byte every 0.3 s: each byte resets a per-call
        # timeout, only the overall handshake deadline ends it
        trickle.sendall(bytes([0x16, 0x03, 0x01, 0x40, 0x00]))
        closed = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                trickle.send(b"\x00")
            except OSError:
                closed = True
                break
            time.sleep(0.3)
        assert closed, "the handshake deadline did not close a trickling peer"
        idle.settimeout(10)
        assert idle.recv(1) == b"", "the idle connection was not closed by the server"
    finally:
        idle.close()
        trickle.close()
    assert fetch(lab.ssl_client_context(), port)[0] == mtls.SERVER_ID
    assert server.popen.poll() is None


def test_many_concurrent_clients(lab: Lab) -> None:
    _, port = lab.server()
    ctx = lab.ssl_client_context()
    results: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(fetch(ctx, port)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert results == [mtls.SERVER_ID] * 40


def test_client_waits_with_backoff_until_the_server_is_up(lab: Lab) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = lab.client(port, "--interval", "0.2", "--count", "2")
    client.wait_for(r"not ready yet: .*retrying in 0\.4s")
    lab.server(listen=f"127.0.0.1:{port}")
    assert client.popen.wait(timeout=30) == 0, client.text()
    assert len(re.findall("Received ship manifest", client.text())) == 2
    delays = [float(d) for d in re.findall(r"retrying in ([0-9.]+)s", client.text())]
    assert delays[:3] == [0.1, 0.2, 0.4]


def test_sighup_reload_swaps_context_for_new_connections_only(lab: Lab) -> None:
    server, port = lab.server("--handshake-timeout", "20")
    old_ctx = lab.ssl_client_context()
    # a connection accepted before the reload keeps the context it was accepted with
    in_flight = socket.create_connection(("127.0.0.1", port))
    server_ca2 = Authority.create("Coastal CA 2")
    time.sleep(0.3)  # let the server accept it
    new_server_serial = write_svid(lab.dir, "server", server_ca2, mtls.SERVER_ID)
    server.popen.send_signal(signal.SIGHUP)
    server.wait_for(rf"reloaded TLS context \(SIGHUP\): own cert serial [0-9a-f]+ -> {new_server_serial:x}")
    with in_flight, old_ctx.wrap_socket(in_flight, suppress_ragged_eofs=False) as tls:
        assert mtls.peer_serial(tls) == f"{lab.server_serial:x}"
        assert b"SS Coastal Carrier" in manifest_client._read_to_close(tls)
        mtls.close_tls(tls)
    # new connections get the new certificate and trust only the new bundle
    with pytest.raises(manifest_client.FetchError, match="TLS error"):
        fetch(old_ctx, port)
    write_svid(lab.dir, "client", server_ca2, mtls.CLIENT_ID)
    _, serial, _ = fetch(lab.ssl_client_context(), port)
    assert serial == f"{new_server_serial:x}"


def test_rotation_under_a_running_client_loses_no_fetch(lab: Lab) -> None:
    server, port = lab.server()
    client = lab.client(port, "--interval", "0.05")
    client.wait_for("Received ship manifest")
    seen_server = {lab.server_serial}
    seen_client = {lab.client_serial}
    for _ in range(3):
        new_server = write_svid(lab.dir, "server", lab.ca, mtls.SERVER_ID)
        new_client = write_svid(lab.dir, "client", lab.ca, mtls.CLIENT_ID)
        seen_server.add(new_server)
        seen_client.add(new_client)
        server.popen.send_signal(signal.SIGHUP)
        client.popen.send_signal(signal.SIGHUP)
        client.wait_for(rf"server cert serial {new_server:x}\)")
        server.wait_for(rf"served manifest to \S+ at \S+ \(cert serial {new_client:x}\)")
    assert client.stop() == 0
    text = client.text()
    assert "fetch failed" not in text
    assert re.search(r"stopped after \d+ manifests, 0 failed fetches, 3 reloads", text)
    used = set(re.findall(r"server cert serial ([0-9a-f]+)", text))
    assert used == {f"{s:x}" for s in seen_server}
    served_to = set(re.findall(r"served manifest to \S+ at \S+ \(cert serial ([0-9a-f]+)\)", server.text()))
    assert served_to == {f"{s:x}" for s in seen_client}
    # `spiffe-helper demo` reads these very lines: its parser must see the same three rotations
    tally = Tally()
    for source, proc in (("client", client), ("server", server)):
        for line in proc.lines:
            if (event := classify(source, line)) is not None:
                tally.add(event)
    assert tally.rotations() == (3, 3)
    assert tally.failed == 0 and tally.fetched == text.count("Received ship manifest")
    assert tally.reloads == {"client": 3, "server": 3}


def test_failed_reload_keeps_serving_with_the_old_context(lab: Lab) -> None:
    server, port = lab.server()
    (lab.dir / "server_key.pem").write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )  # a key that does not match the certificate
    server.popen.send_signal(signal.SIGHUP)
    server.wait_for(r"reload failed \(SIGHUP\), keeping the previous TLS context")
    assert fetch(lab.ssl_client_context(), port)[1] == f"{lab.server_serial:x}"


def test_sigterm_stops_the_server_cleanly(lab: Lab) -> None:
    server, port = lab.server()
    assert fetch(lab.ssl_client_context(), port)[0] == mtls.SERVER_ID
    assert server.stop() == 0
    server.wait_for(r"stopped after 0 reloads")


def test_server_without_files_fails_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "server.py"), "--listen", "127.0.0.1:0", "--wait-for-files", "0.2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "cannot start: missing svids/server_cert.pem" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_pid_file_and_heartbeat_for_the_sidecar_pattern(lab: Lab) -> None:
    pid_file, heartbeat = lab.dir / "server.pid", lab.dir / "client.ok"
    server, port = lab.server("--pid-file", str(pid_file))
    assert int(pid_file.read_text()) == server.popen.pid
    client = lab.client(port, "--count", "1", "--heartbeat", str(heartbeat))
    assert client.popen.wait(timeout=20) == 0
    assert heartbeat.exists()
    # what a sidecar helper does on rotation: read the pid file and signal that process
    new_serial = write_svid(lab.dir, "server", lab.ca, mtls.SERVER_ID)
    os.kill(int(pid_file.read_text()), signal.SIGHUP)
    server.wait_for(rf"own cert serial [0-9a-f]+ -> {new_serial:x}")
    assert server.stop() == 0
    assert not pid_file.exists()
