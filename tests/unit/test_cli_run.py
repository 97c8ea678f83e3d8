"""The real ``spiffe-helper`` console script in a subprocess: exit codes, stdout/stderr, the Go log lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spiffe_helper import __version__

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "spiffe-helper"
EXAMPLE = ROOT / "conf" / "helper.conf.example"
X509 = 'svid_file_name = "a"\nsvid_key_file_name = "b"\nsvid_bundle_file_name = "c"\n'

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason=f"console script not installed at {SCRIPT}")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_help_goes_to_stderr_with_exit_0(tmp_path: Path) -> None:
    for flag in ("-h", "-help", "--help"):
        proc = run(flag, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout == ""
        assert proc.stderr.startswith(f"Usage of {SCRIPT}:\n  -config string\n")


def test_unknown_flag_exits_2_with_gos_message_and_usage(tmp_path: Path) -> None:
    proc = run("-exitWhenReady", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0] == "flag provided but not defined: -exitWhenReady"
    assert lines[1] == f"Usage of {SCRIPT}:"


def test_bad_bool_exits_2(tmp_path: Path) -> None:
    proc = run("-daemon-mode=maybe", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == 'invalid boolean value "maybe" for -daemon-mode: parse error'


def test_version_on_stdout(tmp_path: Path) -> None:
    proc = run("-version", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, f"{__version__}\n")


def test_missing_default_config_file(tmp_path: Path) -> None:
    proc = run(cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert 'level=info msg="Using configuration file: \\"helper.conf\\"" system=spiffe-helper' in lines[0]
    assert 'level=error msg="failed to parse configuration"' in lines[1]
    assert 'error="failed to parse \\"helper.conf\\": open helper.conf: no such file or directory"' in lines[1]


def test_parse_error_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "helper.conf").write_text(X509 + 'agent_address: "/x"\n')
    proc = run("-config", "helper.conf", cwd=tmp_path)
    assert proc.returncode == 1
    assert "failed to parse configuration" in proc.stderr
    assert "helper.conf:4:14: illegal char" in proc.stderr


def test_invalid_configuration_logs_gos_message(tmp_path: Path) -> None:
    (tmp_path / "c.conf").write_text(X509 + 'foo = "bar"\n')
    proc = run("--config=c.conf", cwd=tmp_path)
    assert proc.returncode == 1
    assert 'msg="invalid configuration"' in proc.stderr
    assert "unknown top level key(s): foo" in proc.stderr


def test_daemon_mode_space_false_gotcha_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / "c.conf").write_text("bogus = 1\n")
    proc = run("-config", "c.conf", "-daemon-mode", "false", cwd=tmp_path)
    assert proc.returncode == 1  # invalid config; daemon mode stayed on, as in Go
    assert "ignoring command-line argument" in proc.stderr and "-daemon-mode=false" in proc.stderr


def test_one_shot_flags_reach_the_run(tmp_path: Path) -> None:
    # No agent listens on this socket: a one-shot run gives up after -oneshot-timeout and exits 1.
    (tmp_path / "c.conf").write_text(X509 + f'agent_address = "{tmp_path}/none.sock"\ncert_dir = "{tmp_path}"\n')
    proc = run("-config", "c.conf", "-daemon-mode=false", "-oneshot-timeout", "1s", cwd=tmp_path)
    assert proc.returncode == 1
    assert 'msg="Daemon mode disabled"' in proc.stderr


def test_one_shot_warnings_use_gos_text(tmp_path: Path) -> None:
    (tmp_path / "c.conf").write_text(X509 + 'cmd = "x"\npid_file_name = "/p"\nrenew_signal = "SIGHUP"\n')
    proc = run("-config", "c.conf", "-daemon-mode=false", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert 'level=warning msg="cmd is set but daemon_mode is false.' in lines[1]
    assert 'level=warning msg="renew_signal is set but daemon_mode is false.' in lines[2]
    assert "pid_file_name is set but daemon_mode is false" in lines[3]


def test_log_level_from_the_file_applies_before_validation_warnings(tmp_path: Path) -> None:
    (tmp_path / "c.conf").write_text(X509 + 'log_level = "error"\ncmd = "x"\ndaemon_mode = false\nfoo = 1\n')
    proc = run("-config", "c.conf", cwd=tmp_path)
    assert proc.returncode == 1
    assert "level=warning" not in proc.stderr and 'msg="invalid configuration"' in proc.stderr


def test_check_json_prints_the_effective_config(tmp_path: Path) -> None:
    (tmp_path / "c.conf").write_text(X509 + "cert_file_mode = 0640\nhealth_checks {\n listener_enabled = true\n}\n")
    proc = run("check", "-config", "c.conf", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["cert_file_mode"], doc["key_file_mode"], doc["daemon_mode"]) == (0o640, 0o600, True)
    assert doc["health_checks"]["bind_port"] == 8081 and doc["jwt_svids"] == []
    assert list(doc)[:3] == ["add_intermediates_to_bundle", "agent_address", "cmd"]


def test_check_text_output_is_valid_helper_conf(tmp_path: Path) -> None:
    (tmp_path / "c.conf").write_text(
        X509 + 'jwt_svids = [{jwt_audience = "a", jwt_svid_file_name = "t", jwt_extra_audiences = ["x"]}]\n'
    )
    first = run("check", "-config=c.conf", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "again.conf").write_text(first.stdout)
    second = run("check", "--config", "again.conf", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["jwt_svids"][0]["jwt_extra_audiences"] == ["x"]


def test_check_invalid_exits_1_with_the_error_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "c.conf").write_text('svid_file_name = "a"\n')
    proc = run("check", "-config", "c.conf", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    expected = "c.conf:1:1: all or none of 'svid_file_name', 'svid_key_file_name',"
    assert proc.stderr.startswith(expected)


def test_check_usage_error_exits_2(tmp_path: Path) -> None:
    proc = run("check", "--bogus", cwd=tmp_path)
    assert proc.returncode == 2 and "No such option" in proc.stderr


def test_example_config_checks(tmp_path: Path) -> None:
    proc = run("check", "-config", str(EXAMPLE), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["svid_file_name"] == "svid.pem" and doc["jwt_svids"][0]["jwt_audience"] == "your-audience"
