"""JSON files (HCL1's JSON mode, with the Go helper's mangling of jwt_svids) and TOML files (ours)."""

from __future__ import annotations

import pytest

from spiffe_helper.config.loader import detect_format
from spiffe_helper.errors import ConfigParseError, ConfigValidationError
from tests.unit.config_helpers import error_of, load

JSON_X509 = '"svid_file_name": "a", "svid_key_file_name": "b", "svid_bundle_file_name": "c"'


@pytest.mark.parametrize(
    ("path", "text", "fmt"),
    [
        ("helper.conf", '{"a": 1}', "json"),
        ("helper.conf", '\n  \t{"a": 1}', "json"),
        ("helper.conf", 'a = "{"', "hcl"),
        ("helper.conf", "\ufeff{}", "hcl"),  # a BOM is not a space: HCL mode, then "illegal char"
        ("helper.toml", "{", "toml"),
        ("HELPER.TOML", "", "toml"),
    ],
)
def test_format_detection(path: str, text: str, fmt: str) -> None:
    assert detect_format(path, text) == fmt


def test_json_scalars_and_unknown_keys() -> None:
    err = error_of('{"agent_address": "/x", ' + JSON_X509 + ', "cert_file_mode": 420, "daemon_mode": false, "foo": 1}')
    assert err.message == "unknown top level key(s): foo"
    cfg = load('{"agent_address": "/x", ' + JSON_X509 + ', "cert_file_mode": 420, "daemon_mode": false}')
    assert (cfg.agent_address, cfg.cert_file_mode, cfg.daemon_mode) == ("/x", 420, False)


def test_json_health_checks_object() -> None:
    hc = load("{" + JSON_X509 + ', "health_checks": {"listener_enabled": true, "bind_port": 9000}}').health_checks
    assert (hc.listener_enabled, hc.bind_port, hc.liveness_path) == (True, 9000, "/live")


def test_json_jwt_svids_are_split_like_go_and_rejected_with_a_hint() -> None:
    err = error_of('{"jwt_svids": [{"jwt_audience": "aud", "jwt_svid_file_name": "t"}]}')
    assert isinstance(err, ConfigValidationError)
    assert err.message == "'jwt_file_name' is required in 'jwt_svids'"
    assert "JSON" in str(err)


def test_json_jwt_object_with_a_list_value_is_a_decode_error() -> None:
    # Go: "At -: root.jwt_svids[2]: not an object type for struct (*ast.ListType)"; we add the position.
    err = error_of('{"jwt_svids": [{"jwt_audience": "a", "jwt_svid_file_name": "x", "jwt_extra_audiences": ["b"]}]}')
    assert isinstance(err, ConfigParseError)
    assert err.message == "root.jwt_svids[2]: not an object type for struct (*ast.ListType)"
    assert err.line == 1


def test_json_quirks_trailing_comma_null_and_skipped_booleans() -> None:
    cfg = load('{"hint": null, ' + JSON_X509 + ', "jwt_bundle_file_name": "j",}')
    assert (cfg.hint, cfg.jwt_bundle_file_name) == ("", "j")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": tru}', "illegal char"),
        ('{"a": 01}', "numbers cannot start with 0"),
        ('{"a" 1}', "expected: STRING got: NUMBER"),
        ('{"a": ]}', "Expected object value, got unknown token: 1:7 RBRACK ]"),
    ],
)
def test_json_syntax_errors(text: str, message: str) -> None:
    err = error_of(text)
    assert isinstance(err, ConfigParseError)
    assert err.message == message
    assert err.line == 1


def test_json_error_right_before_a_closing_brace_is_swallowed_like_go() -> None:
    # Go's objectType ignores an error when the current token is "}": the broken item just disappears.
    assert load("{" + JSON_X509 + ', "a": }').svid_file_name == "a"


def test_json_string_escapes_use_go_rules() -> None:
    assert load('{"hint": "a\\tb\\u00e9", ' + JSON_X509 + "}").hint == "a\tb\u00e9"


TOML = """
agent_address = "/run/agent.sock"
cert_dir = "certs"
svid_file_name = "svid.pem"
svid_key_file_name = "key.pem"
svid_bundle_file_name = "bundle.pem"
cert_file_mode = 0o640
key_file_mode = "0600"
daemon_mode = false
cmd_args = ["-c", "x"]

[health_checks]
listener_enabled = true
bind_port = 9000

[[jwt_svids]]
jwt_audience = "a"
jwt_svid_file_name = "a.token"
jwt_extra_audiences = ["b"]

[[jwt_svids]]
jwt_audience = "c"
jwt_svid_file_name = "c.token"
"""


def test_toml_uses_the_same_keys_and_rules() -> None:
    cfg = load(TOML, file="helper.toml")
    assert (cfg.agent_address, cfg.cert_file_mode, cfg.key_file_mode, cfg.daemon_mode) == (
        "/run/agent.sock",
        0o640,
        0o600,
        False,
    )
    assert cfg.cmd_args == ("-c", "x")
    assert (cfg.health_checks.listener_enabled, cfg.health_checks.bind_port) == (True, 9000)
    assert [(j.jwt_audience, j.jwt_extra_audiences) for j in cfg.jwt_svids] == [("a", ("b",)), ("c", ())]


def test_toml_unknown_key_names_its_line() -> None:
    err = error_of('svid_file_name = "a"\nsvidFileName = "b"\n', file="helper.toml")
    assert (err.message, err.line) == ("unknown top level key(s): svidFileName", 2)


def test_toml_type_error_names_its_line() -> None:
    err = error_of('svid_file_name = "a"\n\n[health_checks]\nlistener_enabled = "yes"\n', file="helper.toml")
    assert isinstance(err, ConfigParseError)
    assert err.message == "root.health_checks.listener_enabled: unknown type *ast.LiteralType"
    assert err.line == 4


def test_toml_syntax_error_has_a_position() -> None:
    err = error_of('svid_file_name = "a"\nbroken = \n', file="helper.toml")
    assert isinstance(err, ConfigParseError)
    assert err.line == 2


def test_toml_dates_are_rejected() -> None:
    err = error_of("hint = 1979-05-27\n", file="helper.toml")
    assert isinstance(err, ConfigParseError) and err.line == 1
