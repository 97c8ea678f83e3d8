"""A real server as the child: nginx serves mTLS with the helper's files and reloads on SIGHUP; a client
loop keeps succeeding across 20 rotations with no failed request."""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from spiffe_helper.devagent.harness import DevAgentProcess
from tests.helpers.procs import PYTHON, eventually, stop_process

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make system-deps installs nginx-light)")

HELPER = [str(Path(PYTHON).with_name("spiffe-helper"))]
ROTATIONS = 20

NGINX_CONF = """\
worker_processes 1;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certs}/svid.pem;
        ssl_certificate_key {certs}/svid_key.pem;
        ssl_client_certificate {certs}/svid_bundle.pem;
        ssl_verify_client on;
        location / {{ return 200 "ok $ssl_client_verify\\n"; }}
    }}
}}
"""


def _helper_conf(sock: Path, certs: Path, extra: str = "") -> str:
    return (
        f'agent_address = "{sock}"\ncert_dir = "{certs}"\nsvid_file_name = "svid.pem"\n'
        f'svid_key_file_name = "svid_key.pem"\nsvid_bundle_file_name = "svid_bundle.pem"\n{extra}'
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ClientLoop(threading.Thread):
    """Requests over fresh mTLS connections until stopped; counts failures and the server serials seen."""

    def __init__(self, port: int, client_certs: Path) -> None:
        super().__init__(daemon=True)
        self.port = port
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # SPIFFE server certificates carry a URI SAN, no DNS name
        ctx.load_verify_locations(client_certs / "svid_bundle.pem")
        ctx.load_cert_chain(client_certs / "svid.pem", client_certs / "svid_key.pem")
        self.ctx = ctx
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.serials: list[int] = []  # distinct server certificate serials, in order of first sight
        self.last_serial = 0

    def request(self) -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        try:
            conn.connect()
            assert isinstance(conn.sock, ssl.SSLSocket)
            der = conn.sock.getpeercert(binary_form=True)  # before the server may close the connection
            assert der is not None
            serial = x509.load_der_x509_certificate(der).serial_number
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200 or body != b"ok SUCCESS\n":
                self.failures.append(f"{resp.status} {body!r}")
            else:
                self.ok += 1
                self.last_serial = serial
                if serial not in self.serials:  # during a reload old and new workers both answer
                    self.serials.append(serial)
        finally:
            conn.close()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.request()
            except (OSError, ssl.SSLError, http.client.HTTPException, AssertionError) as err:
                self.failures.append(repr(err))


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        stop_process(p)  # SIGTERM first: the helper then stops its own child (nginx, sigecho)


def test_nginx_mtls_survives_20_rotations(tmp_path: Path, sock_dir: Path, procs: list[subprocess.Popen[str]]) -> None:
    assert NGINX is not None
    prefix, certs, client_certs = tmp_path / "nginx", tmp_path / "certs", tmp_path / "client"
    for d in (prefix / "tmp", certs, client_certs):
        d.mkdir(parents=True)
    port = _free_port()
    (prefix / "nginx.conf").write_text(NGINX_CONF.format(prefix=prefix, port=port, certs=certs))
    # Go's cmd_args syntax: the -g value is one CSV-quoted argument.
    cmd_args = f'-p {prefix} -e {prefix}/error.log -c {prefix}/nginx.conf -g \\"daemon off; pid {prefix}/nginx.pid;\\"'
    server_conf = tmp_path / "server.conf"
    server_conf.write_text(
        _helper_conf(
            sock_dir / "server.sock", certs, f'cmd = "{NGINX}"\ncmd_args = "{cmd_args}"\nrenew_signal = "SIGHUP"\n'
        )
    )
    client_conf = tmp_path / "client.conf"
    client_conf.write_text(_helper_conf(sock_dir / "client.sock", client_certs, "daemon_mode = false\n"))

    ids = {"server": "spiffe://example.org/server", "client": "spiffe://example.org/client"}
    with DevAgentProcess(sock_dir, ids) as agent:
        oneshot = subprocess.run(
            [*HELPER, "-config", str(client_conf)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
        assert oneshot.returncode == 0, oneshot.stderr
        helper = subprocess.Popen(
            [*HELPER, "-config", str(server_conf)], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        procs.append(helper)
        client = ClientLoop(port, client_certs)

        def serving() -> bool:
            try:
                client.request()
            except (OSError, ssl.SSLError, http.client.HTTPException):
                return False
            return True

        eventually(serving, timeout=30)
        client.failures.clear()
        client.start()
        try:
            for n in range(ROTATIONS):
                seen = len(client.serials)
                agent.rotate_now()
                eventually(lambda seen=seen: len(client.serials) > seen, timeout=30)  # type: ignore[misc]
                assert not client.failures, (n, client.failures[:5])
        finally:
            client.stop.set()
            client.join(30)
        # Old workers drain for a moment after a reload; then every answer carries the certificate on disk.
        on_disk = x509.load_pem_x509_certificates((certs / "svid.pem").read_bytes())[0].serial_number
        assert on_disk == client.serials[-1]

        def served() -> int:
            client.request()
            return client.last_serial

        eventually(lambda: all(served() == on_disk for _ in range(5)))
        helper.send_signal(signal.SIGTERM)
        _, err = helper.communicate(timeout=30)
    assert client.failures == []
    assert len(client.serials) == ROTATIONS + 1  # nginx served every new certificate
    assert client.ok > ROTATIONS
    assert helper.returncode == 0, err
    assert err.count("Process started") == 1  # reloaded by SIGHUP, never restarted
    print(f"nginx: {client.ok} requests, {len(client.failures)} failed, {ROTATIONS} rotations")
