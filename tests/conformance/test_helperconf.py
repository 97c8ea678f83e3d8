"""Conformance with the Go helper over ../shared/conformance/helperconf: 79 real helper.conf files from public
projects, the Go unit-test inputs and 63 synthetic probes, each with the outcome the Go helper (hcl
v1.0.1-vault-7 + ValidateConfig at HEAD) produced.

For every file: accepted exactly when Go accepted; accepted files give Go's effective configuration
(``final_after_validation``) and warnings; validation failures give Go's message; parse failures give an
error naming a line (and, where Go printed ``At line:col: msg``, that same position and message).

The one normalisation: Go's JSON prints an absent list as ``null``; ``check --json`` always prints a list.
Our own keys (``log_level``, ``health_checks.bind_address``, ...) are extra keys and are not compared.
The corpus is not part of the project (a user's clone has no ../shared): then every case is skipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from spiffe_helper.config.loader import parse_file
from spiffe_helper.config.render import config_to_dict
from spiffe_helper.config.validate import validate
from spiffe_helper.errors import ConfigError, ConfigParseError, ConfigValidationError
from tests.conftest import SHARED

CORPUS = SHARED / "conformance" / "helperconf"
SKIP_REASON = f"Go conformance corpus not found at {CORPUS} (it lives next to the project, not in a clone)"
GO_POSITION = re.compile(r"At (\d+):(\d+): (.*)", re.DOTALL)

# Expectations of the Go unit tests whose inputs are in go-test-inputs/ (config_test.go at HEAD).
GO_TESTS: dict[str, dict[str, Any]] = {
    "TestDetectsUnknownConfig_1.hcl": {"validate_error": "unknown top level key(s): bar,foo"},
    "TestDetectsUnknownConfig_2.hcl": {"validate_error": "unknown key(s) in jwt_svids[0]: bar,foo"},
    "TestDetectsUnknownConfig_3.hcl": {"validate_error": "unknown key(s) in jwt_svids[1]: bar,foo"},
    "TestParseConfig_testdata_helper.conf": {
        "final_subset": {
            "agent_address": "/tmp/spire-agent/public/api.sock",
            "cmd": "hot-restarter.py",
            "cmd_args": "start_envoy.sh",
            "cert_dir": "certs",
            "renew_signal": "SIGHUP",
            "svid_file_name": "svid.pem",
            "svid_key_file_name": "svid_key.pem",
            "svid_bundle_file_name": "svid_bundle.pem",
            "jwt_bundle_file_name": "jwt_bundle.json",
            "jwt_svids": [
                {
                    "jwt_audience": "your-audience",
                    "jwt_extra_audiences": ["your-extra-audience-1", "your-extra-audience-2"],
                    "jwt_svid_file_name": "jwt_svid.token",
                }
            ],
            "add_intermediates_to_bundle": True,
            "omit_expired": False,
            "cert_file_mode": 444,
            "key_file_mode": 444,
            "jwt_bundle_file_mode": 444,
            "jwt_svid_file_mode": 444,
        }
    },
}

# Cases where we deliberately differ from Go (kept as strict xfails, with the reason). None so far.
DIFFERS_FROM_GO: dict[str, str] = {}


def _cases() -> list[Any]:
    if not CORPUS.is_dir():
        return [pytest.param(None, None, id="corpus-missing", marks=pytest.mark.skip(reason=SKIP_REASON))]
    cases: list[tuple[Path, dict[str, Any]]] = []
    for expected in sorted((CORPUS / "expected").glob("*.json")):
        data = json.loads(expected.read_text())
        cases.append((CORPUS / data["file"], data))
    for data in json.loads((CORPUS / "synthetic-probes" / "results-hcl-vault7.json").read_text()):
        cases.append((CORPUS / "synthetic-probes" / data["file"], data))
    for name, data in GO_TESTS.items():
        cases.append((CORPUS / "go-test-inputs" / name, data))
    params = []
    for path, data in cases:
        marks = []
        if path.name in DIFFERS_FROM_GO:
            marks.append(pytest.mark.xfail(strict=True, reason=DIFFERS_FROM_GO[path.name]))
        params.append(pytest.param(path, data, id=path.name, marks=marks))
    return params


def _lists_not_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: [] if v is None and k in ("jwt_svids", "jwt_extra_audiences") else _lists_not_null(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_lists_not_null(v) for v in value]
    return value


def _project(expected: Any, got: Any) -> Any:
    """``got`` restricted to the keys of ``expected`` (our extra keys are not Go's business)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return {k: _project(expected[k], got.get(k, "<missing>")) for k in expected}
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [_project(e, g) for e, g in zip(expected, got, strict=True)]
    return got


def _outcome(path: Path) -> tuple[dict[str, Any] | ConfigError, list[str]]:
    warnings: list[str] = []
    try:
        config = validate(parse_file(str(path)), environ={}, warn=warnings.append)
    except ConfigError as e:
        return e, warnings
    return config_to_dict(config), warnings


@pytest.mark.parametrize(("path", "go"), _cases())
def test_matches_go(path: Path, go: dict[str, Any]) -> None:
    got, warnings = _outcome(path)
    if go.get("parse_error"):
        assert isinstance(got, ConfigParseError), f"Go: parse error {go['parse_error']!r}; we: {got!r}"
        assert got.line is not None and got.line >= 1, "a parse error must name a line"
        m = GO_POSITION.fullmatch(go["parse_error"])
        if m:
            assert (got.line, got.column, got.message) == (int(m.group(1)), int(m.group(2)), m.group(3))
        else:
            assert got.message == go["parse_error"]
    elif go.get("validate_error"):
        assert isinstance(got, ConfigValidationError), f"Go: {go['validate_error']!r}; we: {got!r}"
        assert got.message == go["validate_error"]
    else:
        assert isinstance(got, dict), f"Go accepted this file; we: {got}"
        expected = _lists_not_null(go.get("final_after_validation") or go.get("final_subset"))
        assert _project(expected, got) == expected
        go_warnings = go.get("warnings") or []
        assert [w for w in warnings if w in go_warnings] == go_warnings
