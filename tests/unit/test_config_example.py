"""conf/helper.conf.example: every key is there, it validates, and its commented PR #410 blocks are valid."""

from __future__ import annotations

import re
from pathlib import Path

from spiffe_helper.config.schema import ROOT
from tests.unit.config_helpers import load

EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "helper.conf.example"


def test_example_mentions_every_key() -> None:
    text = EXAMPLE.read_text()
    for field in ROOT.fields:
        assert re.search(rf"^#?\s*{field.name}\b", text, re.MULTILINE), field.name
        if field.struct is not None:
            for sub in field.struct.fields:
                assert re.search(rf"^#?\s*{sub.name}\s*=", text, re.MULTILINE), f"{field.name}.{sub.name}"


def test_example_validates_with_documented_values() -> None:
    cfg = load(EXAMPLE.read_text(), file=str(EXAMPLE))
    assert (cfg.cert_file_mode, cfg.key_file_mode, cfg.oneshot_timeout) == (0o644, 0o600, 60.0)
    assert cfg.x509_enabled and cfg.jwt_bundle_enabled and cfg.jwt_svids_enabled


def test_example_lifecycle_blocks_uncommented_are_valid() -> None:
    lines = EXAMPLE.read_text().splitlines()
    out, inside = [], False
    for line in lines:
        if re.match(r"^# (start|reload) \{", line):
            inside = True
        if inside:
            line = line[2:]
            if line == "}":
                inside = False
        out.append(line)
    cfg = load("\n".join(out) + "\n")
    assert cfg.start is not None and cfg.start.args == ("-c", "/etc/envoy/envoy.yaml")
    assert cfg.reload is not None and cfg.reload.signal == "SIGHUP"
