"""The Kubernetes manifests: schema-valid (strict, offline), buildable with kustomize, and within policy.

Every helper.conf inside a ConfigMap is also checked with ``spiffe-helper check``.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML not installed (see tests/deploy/requirements.txt)")

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
EXAMPLES = ROOT / "examples" / "manifest-server"
SPIRE_VERSION = "1.15.3"
TD = "coastal-containers.example"
# Containers allowed to have no probe, and why.
NO_PROBE = {
    # the driver serves only its CSI socket; the registrar next to it probes that socket through /healthz
    "spiffe-csi-driver",
}

Doc = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def docs() -> list[Doc]:
    out: list[Doc] = []
    for path in manifest_files():
        out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def pod_specs() -> Iterator[tuple[Doc, Doc]]:
    """(workload object, pod spec) for every object that runs pods."""
    for doc in docs():
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield doc, doc["spec"]["template"]["spec"]


def containers(spec: Doc) -> Iterator[tuple[Doc, bool]]:
    """(container, long_running) for every container and init container of a pod spec."""
    for c in spec.get("initContainers", []):
        yield c, c.get("restartPolicy") == "Always"
    for c in spec["containers"]:
        yield c, True


def config_maps() -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs() if d["kind"] == "ConfigMap"}


def helper_confs() -> dict[str, str]:
    """ConfigMap name -> helper.conf text, for every ConfigMap that carries one."""
    return {
        name: cm["data"]["helper.conf"] for name, cm in config_maps().items() if "helper.conf" in cm.get("data", {})
    }


def tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def kv_lines(conf: str) -> list[str]:
    """The settings of a helper.conf: lines without comments and blank lines."""
    return [ln.strip() for ln in conf.splitlines() if ln.strip() and not ln.strip().startswith("#")]


# --- schema and build --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates_strictly_against_the_schemas(path: Path) -> None:
    validator = tool("kubernetes-validate")
    if validator is None:
        pytest.skip("kubernetes-validate not installed (see tests/deploy/requirements.txt)")
    proc = subprocess.run([validator, "--strict", str(path)], capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    # Custom resources have no bundled schema and may only warn; anything else must pass.
    errors = [ln for ln in out.splitlines() if ln.startswith("ERROR")]
    assert not errors, out
    assert proc.returncode == 0, out
    assert "passed" in out


def test_kustomization_lists_every_manifest_and_builds() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = sorted(K8S / r for r in kustomization["resources"])
    assert listed == manifest_files(), "every manifest is part of the kustomization"
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the kustomize build was not run")
    proc = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    built = [d for d in yaml.safe_load_all(proc.stdout) if d]
    key = lambda d: (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, built)) == sorted(map(key, docs()))


# --- policy ------------------------------------------------------------------------------------------------


def test_images_are_pinned() -> None:
    images = [c["image"] for _, spec in pod_specs() for c, _ in containers(spec)]
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image} has no tag"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{image}: not an exact version"
    assert f"ghcr.io/spiffe/spire-server:{SPIRE_VERSION}" in images
    assert f"ghcr.io/spiffe/spire-agent:{SPIRE_VERSION}" in images
    assert any(i.startswith("ghcr.io/spiffe/spiffe-csi-driver:") for i in images)


def test_every_container_has_requests_a_read_only_root_and_no_escalation() -> None:
    for workload, spec in pod_specs():
        for c, _ in containers(spec):
            where = f"{workload['metadata']['name']}/{c['name']}"
            assert c["resources"]["requests"].keys() >= {"cpu", "memory"}, where
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            if not sc.get("privileged"):
                assert sc["allowPrivilegeEscalation"] is False, where


def test_demo_pods_run_non_root_under_restricted_pod_security() -> None:
    namespaces = {d["metadata"]["name"]: d for d in docs() if d["kind"] == "Namespace"}
    assert namespaces["coastal"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    demo = [(w, s) for w, s in pod_specs() if w["metadata"]["namespace"] == "coastal"]
    assert len(demo) == 5
    for workload, spec in demo:
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] >= 1000, workload["metadata"]["name"]
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        assert not {"hostPID", "hostNetwork"} & spec.keys()
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["spiffe-workload-api"]["csi"] == {"driver": "csi.spiffe.io", "readOnly": True}
        assert volumes["svids"]["emptyDir"]["medium"] == "Memory", "the private key never touches a disk"


def test_long_running_containers_have_probes() -> None:
    for workload, spec in pod_specs():
        for c, long_running in containers(spec):
            # a Job's containers run to completion: a probe would only restart finished work
            if not long_running or workload["kind"] == "Job" or c["name"] in NO_PROBE:
                continue
            probes = {"livenessProbe", "readinessProbe", "startupProbe"} & c.keys()
            assert "livenessProbe" in probes, f"{workload['metadata']['name']}/{c['name']}"
            assert probes & {"readinessProbe", "startupProbe"}, f"{workload['metadata']['name']}/{c['name']}"


def test_spire_server_statefulset_clusterip_psat_and_disk_keys() -> None:
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs()}
    assert ("StatefulSet", "spire-server") in by_kind
    assert all(d["spec"].get("type", "ClusterIP") == "ClusterIP" for d in docs() if d["kind"] == "Service")
    server = by_kind[("StatefulSet", "spire-server")]["spec"]["template"]["spec"]
    assert server["securityContext"]["runAsNonRoot"] is True
    conf = config_maps()["spire-server"]["data"]["server.conf"]
    assert re.search(r'KeyManager "disk"', conf) and 'KeyManager "memory"' not in conf
    assert 'NodeAttestor "k8s_psat"' in conf and f'trust_domain = "{TD}"' in conf
    assert 'log_level = "INFO"' in conf


def test_spire_agent_verifies_the_kubelet() -> None:
    conf = config_maps()["spire-agent"]["data"]["agent.conf"]
    assert "skip_kubelet_verification = false" in conf
    assert "skip_kubelet_verification = true" not in conf and "insecure_bootstrap" not in conf
    assert 'NodeAttestor "k8s_psat"' in conf


def test_sidecar_pattern_is_a_native_sidecar_gated_on_readiness() -> None:
    sidecars = [(w, s) for w, s in pod_specs() if w["metadata"]["labels"].get(f"{TD}/pattern") == "sidecar"]
    assert {w["metadata"]["name"] for w, _ in sidecars} == {"server-sidecar", "client-sidecar"}
    for _, spec in sidecars:
        (helper,) = spec["initContainers"]
        assert helper["restartPolicy"] == "Always"
        assert helper["startupProbe"]["httpGet"]["path"] == "/ready"
        assert spec["shareProcessNamespace"] is True  # so the helper can signal the app's PID
        conf = helper_confs()[spec["volumes"][0]["configMap"]["name"]]
        settings = kv_lines(conf)
        assert 'renew_signal = "SIGHUP"' in settings
        assert any(ln.startswith("pid_file_name") for ln in settings)
        assert not any(ln.startswith("cmd") for ln in settings), "the app runs in its own container"


def test_oneshot_pattern_runs_the_helper_once_before_the_app() -> None:
    (job,) = [d for d in docs() if d["kind"] == "Job"]
    spec = job["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert "restartPolicy" not in init, "a plain init container: it must finish before the app starts"
    conf = helper_confs()[spec["volumes"][0]["configMap"]["name"]]
    assert "daemon_mode = false" in kv_lines(conf)


def test_entrypoint_confs_are_the_examples_apart_from_agent_address_and_health() -> None:
    confs = helper_confs()
    for role in ("server", "client"):
        example = kv_lines((EXAMPLES / f"helper-{role}.conf").read_text())
        in_cluster = kv_lines(confs[f"helper-{role}"])
        assert 'agent_address = "/spiffe-workload-api/spire-agent.sock"' in in_cluster
        health = in_cluster.index("health_checks {")
        assert in_cluster[health:] == ["health_checks {", "listener_enabled = true", "bind_port = 8081", "}"]
        strip = lambda lines: [ln for ln in lines if not ln.startswith("agent_address")]  # noqa: E731
        assert strip(in_cluster[:health]) == strip(example)


def test_registration_script_matches_the_workloads(tmp_path: Path) -> None:
    script = (K8S / "register-entries.sh").read_text()
    assert subprocess.run(["sh", "-n", str(K8S / "register-entries.sh")], timeout=30).returncode == 0
    accounts = {s["serviceAccountName"] for _, s in pod_specs() if "serviceAccountName" in s}
    for role in ("server", "client"):
        assert f"spiffe://$TD/manifest/workload/{role}" in script
        assert f"-selector k8s:sa:{role}" in script and role in accounts
    assert f"TD={TD}" in script and "-selector k8s:ns:coastal" in script
    assert "k8s_psat:agent_sa:spire-agent" in script and "spire-agent" in accounts
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        proc = subprocess.run([shellcheck, str(K8S / "register-entries.sh")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


# --- helper.conf inside the ConfigMaps ---------------------------------------------------------------------


def _check_available() -> bool:
    try:
        return importlib.util.find_spec("spiffe_helper.config.check_cmd") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("name", sorted(helper_confs()))
def test_configmap_helper_conf_passes_spiffe_helper_check(name: str, tmp_path: Path) -> None:
    if not _check_available():
        pytest.skip("`spiffe-helper check` (spiffe_helper.config.check_cmd) is not there yet")
    conf = tmp_path / "helper.conf"
    conf.write_text(helper_confs()[name])
    (tmp_path / "svids").mkdir()  # cert_dir = "svids" is relative to where the helper runs
    proc = subprocess.run(
        [sys.executable, "-c", "from spiffe_helper.cli import main; main()", "check", "-config", str(conf)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", ["helper-server.conf", "helper-client.conf"])
def test_example_helper_conf_passes_spiffe_helper_check(name: str, tmp_path: Path) -> None:
    if not _check_available():
        pytest.skip("`spiffe-helper check` (spiffe_helper.config.check_cmd) is not there yet")
    (tmp_path / "svids").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", "from spiffe_helper.cli import main; main()", "check", "-config", str(EXAMPLES / name)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
