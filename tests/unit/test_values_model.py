"""The configuration values (spiffe_helper/config/model.py) and the value types of the one-shot start-up path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spiffe_helper.config.model import Config, HealthChecksConfig, JwtSvidConfig, ReloadConfig, StartConfig
from spiffe_helper.runs.service import LIVE_KEYS, PROCESS_KEYS


def test_defaults_and_keyword_construction() -> None:
    cfg = Config(cert_dir="/out", jwt_svids=(JwtSvidConfig("aud", (), "t.jwt"),))
    assert cfg.health_checks == HealthChecksConfig() and cfg.health_checks.bind_port == 8081
    assert cfg.start is None and cfg.reload is None and cfg.daemon_mode is True
    assert cfg.jwt_svids_enabled and not cfg.x509_enabled and cfg.path("a/../b") == "/out/b"
    assert Config() == Config() and Config() != cfg
    assert StartConfig("sh").args == () and StartConfig("sh").restart == "never"
    assert ReloadConfig(signal="SIGHUP") == ReloadConfig("SIGHUP", "", (), "")


def test_values_are_immutable_and_replace_copies() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.cert_dir = "/elsewhere"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.health_checks.bind_port = 1  # type: ignore[misc]
    changed = cfg.replace(cert_dir="/elsewhere", daemon_mode=False)
    assert (changed.cert_dir, changed.daemon_mode) == ("/elsewhere", False)
    assert (cfg.cert_dir, cfg.daemon_mode) == ("", True)
    with pytest.raises(ValueError, match="no_such_key"):
        cfg.replace(no_such_key=1)


def test_field_names_are_the_helper_conf_keys_the_daemon_compares() -> None:
    # runs/service.py decides what a config change restarts by these names: a typo would silently never match.
    assert set(LIVE_KEYS) | set(PROCESS_KEYS) <= set(Config._fields)
    assert Config._fields[:3] == ("agent_address", "cmd", "cmd_args")


_STARTUP = """
import sys
import spiffe_helper.cli, spiffe_helper.app, spiffe_helper.runs.oneshot
import spiffe_helper.config.loader, spiffe_helper.config.validate, spiffe_helper.config.hcl_parser
found = [
    f"{name}.{attr}"
    for name, module in sorted(sys.modules.items())
    if name.startswith("spiffe_helper")
    for attr, value in vars(module).items()
    if isinstance(value, type) and value.__module__ == name and "__dataclass_fields__" in vars(value)
]
print("\\n".join(found))
"""


def test_the_one_shot_start_up_path_defines_no_dataclass() -> None:
    # A dataclass builds its methods with exec at import: ~1 ms of every cold start each (issue #7).
    # NamedTuples or small __slots__ classes give the same immutable values for a fraction of that.
    out = subprocess.run([sys.executable, "-c", _STARTUP], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == []
