"""Dev agent inputs: durations, --identity syntax, registration files, settings validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spiffe_helper.devagent.durations import format_duration, parse_duration
from spiffe_helper.devagent.registrations import (
    RegistrationError,
    SocketRegistration,
    SvidSpec,
    load_registration_file,
    parse_identity_option,
    registrations_from_mapping,
)
from spiffe_helper.devagent.settings import AgentSettings
from spiffe_helper.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20s", 20.0), ("30", 30.0), ("2.5", 2.5), ("1m30s", 90.0), ("1h", 3600.0), ("500ms", 0.5), (" 5m ", 300.0)],
)
def test_parse_duration_accepts_go_strings_and_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "-5", "0s", "5x", "s", "1h-", "nan", "inf"])
def test_parse_duration_rejects_bad_values(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_format_duration_is_short() -> None:
    assert [format_duration(s) for s in (0.5, 20, 90, 3600, 5400)] == ["500ms", "20s", "1m30s", "1h", "1h30m"]


def test_identity_option_with_hints_keeps_order() -> None:
    reg = parse_identity_option("web=spiffe://td/a#hintA, spiffe://td/b#hintB,spiffe://td/c")
    assert reg.name == "web"
    assert [(str(s.spiffe_id), s.hint) for s in reg.svids] == [
        ("spiffe://td/a", "hintA"),
        ("spiffe://td/b", "hintB"),
        ("spiffe://td/c", ""),
    ]


def test_identity_option_empty_list_means_no_identity() -> None:
    assert parse_identity_option("nobody=").svids == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("noequals", "expected NAME=SPIFFE_ID"),
        ("web=http://td/a", "scheme"),
        ("web=spiffe://td", "has no path"),
        ("web=spiffe://TD/a", "trust domain"),
        ("../x=spiffe://td/a", "invalid socket name"),
        ("web=spiffe://td/a#h,spiffe://td/b#h", "hints must be unique"),
        ("web=spiffe://td/a,spiffe://td/a", "listed twice"),
    ],
)
def test_identity_option_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(RegistrationError, match=message) as info:
        parse_identity_option(text)
    assert "\n" not in str(info.value)


def test_hint_length_is_capped() -> None:
    with pytest.raises(RegistrationError, match="1024"):
        SvidSpec.parse("spiffe://td/a#" + "h" * 1025)


def test_mapping_form_accepts_strings_and_specs() -> None:
    regs = registrations_from_mapping({"a": "spiffe://td/a#x", "b": [SvidSpec.parse("spiffe://td/b")], "c": []})
    assert [(r.name, len(r.svids)) for r in regs] == [("a", 1), ("b", 1), ("c", 0)]
    assert regs[0].svids[0].hint == "x"


def test_registration_file_toml(tmp_path: Path) -> None:
    path = tmp_path / "reg.toml"
    path.write_text(
        '[sockets.web]\nsvids = [{spiffe_id = "spiffe://td/a", hint = "a"}, "spiffe://td/b#b"]\n'
        "[sockets.nobody]\nsvids = []\n"
    )
    regs = load_registration_file(path)
    assert regs == [
        SocketRegistration("web", (SvidSpec.parse("spiffe://td/a#a"), SvidSpec.parse("spiffe://td/b#b"))),
        SocketRegistration("nobody", ()),
    ]


def test_registration_file_json_means_the_same(tmp_path: Path) -> None:
    path = tmp_path / "reg.json"
    doc = {"sockets": {"web": {"svids": [{"spiffe_id": "spiffe://td/a", "hint": "a"}, "spiffe://td/b#b"]}}}
    path.write_text(json.dumps(doc))
    assert [str(s) for s in load_registration_file(path)[0].svids] == ["spiffe://td/a#a", "spiffe://td/b#b"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("r.json", '{"sockets": {"w": {"svids": [{"spiffe_id": "spiffe://td"}]}}}', "r.json: sockets.w.svids[0]:"),
        ("r.json", '{"sockets": {"w": {"svids": [{"spiffe_id": "spiffe://td/a", "hnt": "x"}]}}}', "unknown key"),
        ("r.json", '{"sockets": {"w": {"svids": "spiffe://td/a"}}}', "sockets.w: expected a table"),
        ("r.json", '{"sockets": []}', "sockets: expected a table of socket names"),
        ("r.json", '{"sockets":\n  {,}}', "r.json:2:4: invalid JSON"),
        ("r.toml", "[sockets.w\n", "invalid TOML"),
        ("r.yaml", "sockets: {}", "must end in .json or .toml"),
        ("r.json", '{"sockets": {"w": {"svids": [3]}}}', "expected a SPIFFE ID string"),
    ],
)
def test_registration_file_errors_name_file_and_key(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_registration_file(path)
    assert expected in str(info.value)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_missing_registration_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read registration file"):
        load_registration_file(tmp_path / "absent.json")


def test_settings_derive_trust_domain_and_reject_foreign_ids() -> None:
    regs = [parse_identity_option("a=spiffe://td.example/a"), parse_identity_option("n=")]
    settings = AgentSettings.build(socket_dir="/tmp/x", registrations=regs, federate_with=["spiffe://fed.example"])
    assert settings.trust_domain.name == "td.example"
    assert [td.name for td in settings.federate_with] == ["fed.example"]
    with pytest.raises(RegistrationError, match="not in the agent's trust domain"):
        AgentSettings.build(socket_dir="/tmp/x", registrations=[*regs, parse_identity_option("b=spiffe://other/b")])
    with pytest.raises(RegistrationError, match="own trust domain"):
        AgentSettings.build(socket_dir="/tmp/x", registrations=regs, federate_with=["td.example"])
    with pytest.raises(RegistrationError, match="registered twice"):
        AgentSettings.build(socket_dir="/tmp/x", registrations=[*regs, parse_identity_option("n=")])
    with pytest.raises(RegistrationError, match="no sockets registered"):
        AgentSettings.build(socket_dir="/tmp/x", registrations=[])


def test_settings_default_trust_domain_without_ids() -> None:
    settings = AgentSettings.build(socket_dir="/tmp/x", registrations=[parse_identity_option("n=")])
    assert settings.trust_domain.name == "example.org"
