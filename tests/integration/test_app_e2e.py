"""End to end: the real helper process, the real dev agent on a Unix socket, real files checked with openssl.

Every output key is exercised across the two runs: file names (X.509 trio, JWT bundle, JWT-SVIDs with extra
audiences, combined cert+key), all four modes, include_federated_domains, add_intermediates_to_bundle,
omit_expired, hint, file_layout (both), log_level, log_format (both), daemon_mode (both).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from spiffe_helper.devagent import DevAgentThread
from spiffe_helper.jwt import JwtBundleSet, validate_jwt_svid
from spiffe_helper.store.medium import memory_backed
from spiffe_helper.svid import spiffe_id_of
from tests.integration.test_app_harness import Helper, check_pair, eventually, openssl_key_matches, openssl_verify


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _no_secrets_in(log: str, *secrets: bytes | str) -> None:
    assert "PRIVATE KEY" not in log
    for secret in secrets:
        text = secret.decode() if isinstance(secret, bytes) else secret
        assert text not in log


@pytest.fixture(params=["disk", "memory"])
def out_base(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Where the outputs go: the test's directory (disk) or tmpfs, where the daemon writes on its event loop
    and syncs inline (store/medium.py)."""
    if request.param == "disk":
        yield tmp_path
        return
    if not memory_backed("/dev/shm"):
        pytest.skip("this machine has no tmpfs at /dev/shm")
    base = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_daemon_every_option_rotation_and_sigterm(sock_dir: Path, tmp_path: Path, out_base: Path) -> None:
    ids = ["spiffe://example.org/app#main", "spiffe://example.org/other#second"]
    with DevAgentThread(
        sock_dir, {"app": ids}, x509_ttl="4s", jwt_ttl="10s", federate_with=["partner.example"], intermediate=True
    ) as agent:
        certs = out_base / "out" / "certs"  # missing: the helper creates it
        cfg = {
            "agent_address": str(agent.socket_path("app")),
            "cert_dir": str(certs),
            "svid_file_name": "svid.pem",
            "svid_key_file_name": "svid_key.pem",
            "svid_bundle_file_name": "bundle.pem",
            "jwt_bundle_file_name": "jwt_bundle.json",
            "jwt_svids": [
                {"jwt_audience": "aud1", "jwt_extra_audiences": ["aud2", "aud3"], "jwt_svid_file_name": "jwt1.token"},
                {"jwt_audience": "other", "jwt_svid_file_name": "jwt2.token"},
            ],
            "cert_file_mode": 0o640,
            "key_file_mode": 0o400,
            "jwt_bundle_file_mode": 0o644,
            "jwt_svid_file_mode": 0o440,
            "include_federated_domains": True,
            "add_intermediates_to_bundle": True,
            "omit_expired": True,
            "hint": "second",
            "log_level": "debug",
            "log_format": "json",
        }
        with Helper(cfg, tmp_path) as helper:
            helper.wait_log("X.509 certificates updated")
            helper.wait_log("JWT SVID updated", 2)
            helper.wait_log("JWT bundle updated")
            svid, key, bundle = certs / "svid.pem", certs / "svid_key.pem", certs / "bundle.pem"

            chain = x509.load_pem_x509_certificates(svid.read_bytes())
            assert len(chain) == 1  # intermediates moved to the bundle
            assert str(spiffe_id_of(chain[0])) == "spiffe://example.org/other"  # hint "second"
            roots = x509.load_pem_x509_certificates(bundle.read_bytes())
            subjects = [c.subject.rfc4514_string() for c in roots]
            assert len(roots) >= 3, subjects  # own root, the intermediate, the partner's root
            assert chain[0].issuer != roots[0].subject  # leaf is issued by the intermediate, not the root
            openssl_verify(bundle, svid)
            check_pair(svid.read_bytes(), key.read_bytes())
            assert openssl_key_matches(svid, key)
            modes = {p.name: _mode(p) for p in certs.iterdir() if not p.name.startswith("..")}
            assert modes == {
                "svid.pem": 0o640,
                "bundle.pem": 0o640,
                "svid_key.pem": 0o400,
                "jwt_bundle.json": 0o644,
                "jwt1.token": 0o440,
                "jwt2.token": 0o440,
            }
            assert _mode(certs) == 0o755
            assert os.readlink(svid) == "..data/svid.pem"

            jwt_doc = json.loads((certs / "jwt_bundle.json").read_bytes())
            assert sorted(jwt_doc) == ["example.org", "partner.example"]
            jwt_bundles = JwtBundleSet.from_wire({td: base64.b64decode(v) for td, v in jwt_doc.items()})
            token1 = (certs / "jwt1.token").read_text()
            assert not token1.endswith("\n")
            jwt1 = validate_jwt_svid(token1, jwt_bundles, "aud1")
            assert set(jwt1.audience) == {"aud1", "aud2", "aud3"}
            assert str(jwt1.spiffe_id) == "spiffe://example.org/other"
            token2 = (certs / "jwt2.token").read_text()
            assert validate_jwt_svid(token2, jwt_bundles, "other").audience == ("other",)

            # Rotation: the agent re-issues at half-life; new files, still a consistent set.
            first = svid.read_bytes()
            eventually(lambda: svid.read_bytes() != first, timeout=20)
            helper.wait_log("X.509 certificates updated", 2)
            check_pair(svid.read_bytes(), key.read_bytes())
            openssl_verify(bundle, svid)
            key_pem = key.read_bytes()

            # What `spiffe-helper inspect` sees, from the config and from the directory.
            for target in (helper.conf, certs):
                out = subprocess.run(
                    [*helper.command[:-2], "inspect", str(target), "--json"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                report = json.loads(out.stdout)
                assert out.returncode == 0 and report["ok"] is True, out.stdout + out.stderr
                [found] = report["x509_svids"]
                assert found["spiffe_id"] == "spiffe://example.org/other"
                assert found["chain_verifies"] and found["key_matches"]
                assert sorted(j["spiffe_id"] for j in report["jwt_svids"]) == ["spiffe://example.org/other"] * 2
                assert "PRIVATE" not in out.stdout and token1 not in out.stdout
            assert helper.stop(signal.SIGTERM) == 0

        log = helper.output()
        lines = [line for line in log.splitlines() if line.strip()]
        if "Using configuration file" in lines[0]:
            lines = lines[1:]  # logged before the file (and its log_format) is read, so always text
        records = [json.loads(line) for line in lines]
        msgs = [r["msg"] for r in records]
        for expected in (
            "Launching daemon",
            "Watching for X509 Context",
            "Watching for JWT Bundles",
            "Received update",
            "Updating X.509 certificates",
            "X.509 certificates updated",
            "JWT bundle updated",
            "JWT SVID updated",
            "Exiting",
        ):
            assert expected in msgs, expected
        assert all(r["system"] == "spiffe-helper" and r["level"] in ("debug", "info", "warning") for r in records)
        _no_secrets_in(log, token1, token2, key_pem.split(b"\n")[1])


def test_oneshot_combined_pem_plain_layout_extra_audiences(sock_dir: Path, tmp_path: Path) -> None:
    with DevAgentThread(sock_dir, {"app": ["spiffe://example.org/app"]}) as agent:
        cfg = {
            "agent_address": str(agent.socket_path("app")),
            "cert_dir": "certs",  # relative to the helper's working directory
            "svid_file_name": "combined.pem",
            "svid_key_file_name": "combined.pem",
            "svid_bundle_file_name": "ca.pem",
            "jwt_bundle_file_name": "jwt_bundle.json",
            "jwt_svids": [{"jwt_audience": "a", "jwt_extra_audiences": ["b"], "jwt_svid_file_name": "t.jwt"}],
            "daemon_mode": False,
            "file_layout": "plain",
        }
        helper = Helper(cfg, tmp_path).start()
        assert helper.wait() == 0, helper.output()
    certs = tmp_path / "certs"
    combined = certs / "combined.pem"
    assert not combined.is_symlink() and _mode(combined) == 0o600
    data = combined.read_bytes()
    assert data.index(b"CERTIFICATE") < data.index(b"PRIVATE KEY")  # chain, then key
    check_pair(data, data)
    openssl_verify(certs / "ca.pem", combined)
    assert openssl_key_matches(combined, combined)
    assert _mode(certs / "ca.pem") == 0o644
    token = (certs / "t.jwt").read_text()
    doc = json.loads((certs / "jwt_bundle.json").read_bytes())
    svid = validate_jwt_svid(token, JwtBundleSet.from_wire({k: base64.b64decode(v) for k, v in doc.items()}), "a")
    assert set(svid.audience) == {"a", "b"}  # Go's one-shot drops the extra audiences
    log = helper.output()
    for line in (
        "Daemon mode disabled",
        "Successfully fetched x509 certificates",
        "Successfully fetched JWT bundle",
        "Successfully fetched JWT SVIDs",
        "msg=Exiting",
    ):
        assert line in log, line
    assert all(line.startswith('time="') and "system=spiffe-helper" in line for line in log.splitlines()), log
    _no_secrets_in(log, token)


def test_invalid_svid_keeps_files_logs_once_and_unchanged_is_not_rewritten(sock_dir: Path, tmp_path: Path) -> None:
    with DevAgentThread(sock_dir, {"app": ["spiffe://example.org/app"]}) as agent:
        cfg = {
            "agent_address": str(agent.socket_path("app")),
            "cert_dir": str(tmp_path / "certs"),
            "svid_file_name": "svid.pem",
            "svid_key_file_name": "key.pem",
            "svid_bundle_file_name": "bundle.pem",
            "log_level": "debug",
        }
        certs = tmp_path / "certs"
        with Helper(cfg, tmp_path) as helper:
            helper.wait_log("X.509 certificates updated")
            gen = os.readlink(certs / "..data")
            before = {n: (certs / n).read_bytes() for n in ("svid.pem", "key.pem", "bundle.pem")}
            for i in range(1, 4):  # the same bad message three times, no good one in between
                agent.inject_x509_fault("app", "key_mismatch", resend_good=False)
                helper.wait_log("Error while watching x509 context: ", i)
            assert helper.count("level=error") == 1, helper.output()  # once per cause; repeats at debug
            assert helper.count('level=debug msg="Error while watching x509 context: ') == 2
            agent.inject_x509_fault("app", "key_mismatch")  # bad, then the current good state again
            helper.wait_log("changed=false")
            assert os.readlink(certs / "..data") == gen  # the unchanged SVID was not rewritten
            assert {n: (certs / n).read_bytes() for n in before} == before
            assert helper.count("level=error") == 1
            agent.rotate_now()
            helper.wait_log("X.509 certificates updated", 3)
            assert os.readlink(certs / "..data") != gen
            assert helper.stop(signal.SIGINT) == 0
        # A restart with the same SVID: unchanged, not rewritten (no renew signal would be sent).
        gen = os.readlink(certs / "..data")
        with Helper(cfg, tmp_path) as again:
            again.wait_log("changed=false")
            assert os.readlink(certs / "..data") == gen
            assert again.stop() == 0


def test_x509_keeps_working_when_jwt_cannot_be_written(sock_dir: Path, tmp_path: Path) -> None:
    """X.509 never waits for or fails with JWT: here every JWT-SVID write fails (its directory cannot exist)."""
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "jwt").write_text("a file where the JWT directory should be")
    with DevAgentThread(sock_dir, {"app": ["spiffe://example.org/app"]}, x509_ttl="2s") as agent:
        cfg = {
            "agent_address": str(agent.socket_path("app")),
            "cert_dir": str(certs),
            "svid_file_name": "svid.pem",
            "svid_key_file_name": "key.pem",
            "svid_bundle_file_name": "bundle.pem",
            "jwt_svids": [{"jwt_audience": "a", "jwt_svid_file_name": "jwt/a.token"}],
        }
        with Helper(cfg, tmp_path) as helper:
            helper.wait_log("X.509 certificates updated", 3)  # rotations keep being written
            helper.wait_log("Unable to update JWT SVID: ")
            assert helper.count("Unable to update JWT SVID: ") == 1  # retried with backoff, logged once
            check_pair((certs / "svid.pem").read_bytes(), (certs / "key.pem").read_bytes())
            assert helper.stop() == 0
