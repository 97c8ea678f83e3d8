"""Interoperability: py-spiffe (PyPI ``spiffe``), an independent client, against the dev agent.

py-spiffe ships stubs with the same top-level protobuf names as ours, so it cannot share a process with
them: it runs from its own virtualenv (:mod:`tests.pyspiffe_env`) in a subprocess. No network on the first
run means this test fails (CI has PyPI).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from spiffe_helper.devagent import DevAgentProcess
from tests import pyspiffe_env

TD = "coastal-containers.example"
SERVER_ID = f"spiffe://{TD}/manifest/workload/server"

CLIENT_SCRIPT = r"""
import json, sys, threading
from spiffe import JwtSvid, SpiffeId, TrustDomain, WorkloadApiClient

socket_path, audience = sys.argv[1], sys.argv[2]
out = {}
client = WorkloadApiClient(socket_path=socket_path, default_timeout=20)
try:
    ctx = client.fetch_x509_context()
    svid = ctx.default_svid
    out["x509_ids"] = [str(s.spiffe_id) for s in ctx.x509_svids]
    out["chain_length"] = len(svid.cert_chain)
    td = svid.spiffe_id.trust_domain
    out["bundle_tds"] = sorted(str(b.trust_domain) for b in ctx.x509_bundle_set.bundles)
    roots = ctx.x509_bundle_set.get_bundle_for_trust_domain(td).x509_authorities
    chain = svid.cert_chain
    chain[-1].verify_directly_issued_by(next(iter(roots)))  # chain ends at a root of the bundle
    for child, parent in zip(chain, chain[1:]):
        child.verify_directly_issued_by(parent)
    out["x509_bundle_tds"] = sorted(str(b.trust_domain) for b in client.fetch_x509_bundles().bundles)

    jwt = client.fetch_jwt_svid(audience={audience})
    out["jwt_id"] = str(jwt.spiffe_id)
    out["jwt_audience"] = sorted(jwt.audience)
    bundles = client.fetch_jwt_bundles()
    out["jwt_bundle_tds"] = sorted(str(b.trust_domain) for b in bundles.bundles)
    local = JwtSvid.parse_and_validate(jwt.token, bundles.get_bundle_for_trust_domain(td), {audience})
    out["local_validation"] = str(local.spiffe_id)
    out["validated"] = str(client.validate_jwt_svid(jwt.token, audience).spiffe_id)
    try:
        client.validate_jwt_svid(jwt.token, "someone-else")
        out["wrong_audience"] = "accepted"
    except Exception as exc:
        out["wrong_audience"] = "INVALID_ARGUMENT" if "INVALID_ARGUMENT" in str(exc) else repr(exc)
    try:
        client.fetch_jwt_svid(audience={audience}, subject=SpiffeId("spiffe://" + str(td) + "/not-mine"))
        out["not_entitled"] = "accepted"
    except Exception as exc:
        out["not_entitled"] = "PERMISSION_DENIED" if "PERMISSION_DENIED" in str(exc) else repr(exc)

    serials, done = set(), threading.Event()
    def on_success(context):
        serials.add(context.default_svid.leaf.serial_number)
        if len(serials) >= 2:
            done.set()
    def on_error(exc):
        out.setdefault("stream_errors", []).append(repr(exc))
    handle = client.stream_x509_contexts(on_success=on_success, on_error=on_error)
    out["stream_rotation"] = done.wait(30)
    handle.cancel()
finally:
    client.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def pyspiffe_python() -> Path:
    """The cached py-spiffe virtualenv's Python (shared with the benchmarks)."""
    return pyspiffe_env.pyspiffe_python()


def test_py_spiffe_client_works_against_the_dev_agent(sock_dir: Path, pyspiffe_python: Path) -> None:
    identities = {"server": [f"{SERVER_ID}#server", f"spiffe://{TD}/manifest/workload/admin"]}
    agent = DevAgentProcess(sock_dir, identities, x509_ttl="2s", intermediate=True, federate_with=["partner.example"])
    with agent:
        result = subprocess.run(
            [str(pyspiffe_python), "-c", CLIENT_SCRIPT, agent.address("server"), "manifest-api"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, f"{result.stderr}\n--- agent ---\n{agent.output()[-3000:]}"
    out = json.loads(result.stdout)
    assert out["x509_ids"] == [SERVER_ID, f"spiffe://{TD}/manifest/workload/admin"]
    assert out["chain_length"] == 2
    assert out["bundle_tds"] == out["x509_bundle_tds"] == out["jwt_bundle_tds"] == [TD, "partner.example"]
    assert out["jwt_id"] == out["local_validation"] == out["validated"] == SERVER_ID
    assert out["jwt_audience"] == ["manifest-api"]
    assert out["wrong_audience"] == "INVALID_ARGUMENT"
    assert out["not_entitled"] == "PERMISSION_DENIED"
    assert out["stream_rotation"] is True
    assert "stream_errors" not in out
