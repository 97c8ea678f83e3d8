"""Decoding rules of the Go helper (hcl.Decode into its Config struct), reference section 3.3.

Every expected value below is what the Go helper produces for the same text.
"""

from __future__ import annotations

import pytest

from spiffe_helper.errors import ConfigParseError, ConfigValidationError
from tests.unit.config_helpers import X509, error_of, load


@pytest.mark.parametrize(
    ("literal", "mode"),
    [
        ("0644", 0o644),  # octal, strconv.ParseInt base 0
        ("444", 444),  # decimal 444 == 0o674 (the Go helper's own testdata)
        ('"0600"', 0o600),  # strings are parsed as ints too
        ('"600"', 600),
        ("0x1a4", 0o644),
        ("0x1A4", 0o644),
        ('"0o644"', 0o644),  # base prefix allowed inside a string
        ('"0_644"', 0o644),  # underscores allowed by base-0 parsing
        ('"0b110100100"', 0o644),
        ("0", 0o644),  # 0 means the default
        ("00", 0o644),
    ],
)
def test_file_mode_literals(literal: str, mode: int) -> None:
    assert load(X509 + f"cert_file_mode = {literal}\n").cert_file_mode == mode


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("08", 'strconv.ParseInt: parsing "08": invalid syntax'),
        ('"rw-r--r--"', 'strconv.ParseInt: parsing "rw-r--r--": invalid syntax'),
        ("99999999999999999999", 'strconv.ParseInt: parsing "99999999999999999999": value out of range'),
        ('" 644"', 'strconv.ParseInt: parsing " 644": invalid syntax'),
        ('""', 'strconv.ParseInt: parsing "": invalid syntax'),
        ('"0_"', 'strconv.ParseInt: parsing "0_": invalid syntax'),
        ("1.5", "root.cert_file_mode: unknown type *ast.LiteralType"),
        ("644.0", "root.cert_file_mode: unknown type *ast.LiteralType"),
        ("true", "root.cert_file_mode: unknown type *ast.LiteralType"),
        ("[1]", "root.cert_file_mode: unknown type *ast.ListType"),
    ],
)
def test_bad_file_modes_fail_like_go_and_name_the_line(literal: str, message: str) -> None:
    err = error_of(X509 + f"cert_file_mode = {literal}\n")
    assert isinstance(err, ConfigParseError)
    assert err.message == message
    assert (err.line, err.column) == (4, 18)


def test_negative_mode_decodes_then_fails_validation() -> None:
    err = error_of(X509 + "cert_file_mode = -1\n")
    assert isinstance(err, ConfigValidationError)
    assert err.message == "cert file mode must be positive"


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ('"false"', "root.daemon_mode: unknown type *ast.LiteralType"),
        ("0", "root.daemon_mode: unknown type *ast.LiteralType"),
        ("1", "root.daemon_mode: unknown type *ast.LiteralType"),
    ],
)
def test_booleans_are_strict(literal: str, message: str) -> None:
    err = error_of(X509 + f"daemon_mode = {literal}\n")
    assert isinstance(err, ConfigParseError)
    assert (err.line, err.column, err.message) == (4, 15, message)


def test_first_error_in_go_struct_order_is_reported() -> None:
    # add_intermediates_to_bundle comes before daemon_mode in Go's struct, whatever the file order.
    err = error_of(X509 + 'daemon_mode = "false"\nadd_intermediates_to_bundle = "true"\n')
    assert err.message == "root.add_intermediates_to_bundle: unknown type *ast.LiteralType"
    assert err.line == 5


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("true", "root.agent_address: unknown type for string *ast.LiteralType"),
        ('["/x"]', "root.agent_address: unknown type for string *ast.ListType"),
        ("1.5", "root.agent_address: unknown type for string *ast.LiteralType"),
    ],
)
def test_string_fields_reject_other_types(literal: str, message: str) -> None:
    assert error_of(X509 + f"agent_address = {literal}\n").message == message


def test_number_accepted_for_string_field() -> None:
    assert load(X509 + "svid_file_name = 123\n").svid_file_name == "123"


def test_keys_are_case_insensitive() -> None:
    cfg = load(
        'Agent_Address = "/x.sock"\nSVID_FILE_NAME = "a"\nsvid_key_file_name = "b"\nsvid_bundle_file_name = "c"\n'
    )
    assert (cfg.agent_address, cfg.svid_file_name) == ("/x.sock", "a")


def test_quoted_known_key_is_used() -> None:
    assert load(X509 + '"agent_address" = "/x.sock"\n').agent_address == "/x.sock"


def test_last_assignment_wins_for_scalars() -> None:
    cfg = load(X509 + 'agent_address = "/first"\nagent_address = "/second"\ndaemon_mode = false\ndaemon_mode = true\n')
    assert (cfg.agent_address, cfg.daemon_mode) == ("/second", True)


def test_health_checks_block_and_object_forms() -> None:
    block = load(X509 + "health_checks {\n  listener_enabled = true\n  bind_port = 8082\n}\n").health_checks
    obj = load(X509 + 'health_checks = {\n  listener_enabled = true\n  bind_port = "8083"\n}\n').health_checks
    assert (block.listener_enabled, block.bind_port) == (True, 8082)
    assert (obj.listener_enabled, obj.bind_port) == (True, 8083)


def test_two_health_checks_blocks_are_merged() -> None:
    hc = load(
        X509 + "health_checks {\n  listener_enabled = true\n}\nhealth_checks {\n  bind_port = 9000\n}\n"
    ).health_checks
    assert (hc.listener_enabled, hc.bind_port, hc.liveness_path) == (True, 9000, "/live")


def test_unknown_key_in_health_checks_is_ignored_with_a_warning() -> None:
    warnings: list[str] = []
    hc = load(X509 + "health_checks {\n  listener_enabled = true\n  foo = 1\n}\n", warnings=warnings).health_checks
    assert hc.listener_enabled
    assert any("'foo'" in w and "health_checks" in w and ":6:" in w for w in warnings)


def test_labelled_health_checks_block_is_ignored_with_a_warning() -> None:
    warnings: list[str] = []
    hc = load(X509 + 'health_checks "x" {\n  listener_enabled = true\n}\n', warnings=warnings).health_checks
    assert not hc.listener_enabled
    assert any("labelled health_checks" in w for w in warnings)


def test_health_checks_string_for_bool_fails() -> None:
    err = error_of(X509 + 'health_checks {\n  listener_enabled = "yes"\n}\n')
    assert (err.line, err.column, err.message) == (
        5,
        22,
        "root.health_checks.listener_enabled: unknown type *ast.LiteralType",
    )


def test_jwt_svids_list_forms() -> None:
    single = (
        'jwt_svids = [{jwt_audience="a1", jwt_svid_file_name="f1"}, {jwt_audience="a2", jwt_svid_file_name="f2"}]\n'
    )
    multi = (
        'jwt_svids = [\n  {\n    jwt_audience = "a1"\n    jwt_svid_file_name = "f1"\n  },\n'
        '  {\n    jwt_audience = "a2"\n    jwt_svid_file_name = "f2"\n  }\n]\n'
    )
    for text in (single, multi):
        assert [j.jwt_svid_file_name for j in load(text).jwt_svids] == ["f1", "f2"]


def test_jwt_svids_assignments_concatenate() -> None:
    text = (
        'jwt_svids = [{jwt_audience="a1", jwt_svid_file_name="f1"}]\n'
        'jwt_svids = [{jwt_audience="a2", jwt_svid_file_name="f2"}]\n'
    )
    assert [j.jwt_audience for j in load(text).jwt_svids] == ["a1", "a2"]


def test_jwt_entry_keys_case_insensitive_and_last_wins() -> None:
    cfg = load('jwt_svids = [{JWT_Audience="a1", jwt_audience="a2", Jwt_Svid_File_Name="f"}]\n')
    assert (cfg.jwt_svids[0].jwt_audience, cfg.jwt_svids[0].jwt_svid_file_name) == ("a2", "f")


def test_extra_audiences_accept_numbers() -> None:
    cfg = load('jwt_svids = [{jwt_audience = "a", jwt_svid_file_name = "f", jwt_extra_audiences = ["x", 1]}]\n')
    assert cfg.jwt_svids[0].jwt_extra_audiences == ("x", "1")


def test_extra_audiences_as_string_fails_like_go() -> None:
    err = error_of('jwt_svids = [{jwt_audience = "a", jwt_svid_file_name = "f", jwt_extra_audiences = "x"}]\n')
    assert (err.line, err.column, err.message) == (1, 83, "unknown slice type: *ast.LiteralType")


@pytest.mark.parametrize(
    "text",
    [
        'jwt_svids {\n  jwt_audience = "a1"\n  jwt_svid_file_name = "f1"\n}\n',  # block form
        'jwt_svids = {jwt_audience = "a", jwt_svid_file_name = "f"}\n',  # bare object
    ],
)
def test_jwt_svids_block_or_object_is_split_and_rejected_with_a_hint(text: str) -> None:
    # Go splits the block into one entry per attribute, so validation fails; we keep the failure (and Go's
    # message) and say how to write it.
    err = error_of(text)
    assert isinstance(err, ConfigValidationError)
    assert err.message == "'jwt_file_name' is required in 'jwt_svids'"
    assert "jwt_svids = [{" in str(err) and "line 1" in str(err)


def test_labelled_jwt_svids_block_decodes_as_one_entry() -> None:
    # A Go quirk the other way: a label makes the block a "prefix match", decoded as a whole struct.
    cfg = load('jwt_svids "x" {\n  jwt_audience = "a"\n  jwt_svid_file_name = "f"\n}\n')
    assert [(j.jwt_audience, j.jwt_svid_file_name) for j in cfg.jwt_svids] == [("a", "f")]


def test_empty_jwt_svids_list_is_allowed() -> None:
    cfg = load('jwt_svids = []\njwt_bundle_file_name = "b.json"\n')
    assert cfg.jwt_svids == () and cfg.jwt_bundle_enabled and not cfg.jwt_svids_enabled


def test_cmd_args_string_kept_as_is_and_list_accepted() -> None:
    assert load(X509 + 'cmd = "x"\ncmd_args = "-a  b"\n').cmd_args == "-a  b"
    assert load(X509 + 'cmd = "x"\ncmd_args = ["-c", "a b", 3]\n').cmd_args == ("-c", "a b", "3")


def test_dotted_key_is_an_unknown_key_not_a_block() -> None:
    err = error_of(X509 + "health_checks.listener_enabled = true\n")
    assert err.message == "unknown top level key(s): health_checks.listener_enabled"
    assert err.line == 4


def test_quoted_unknown_key_is_ignored_with_a_warning() -> None:
    warnings: list[str] = []
    load(X509 + '"foo" = "bar"\n', warnings=warnings)
    assert any("'foo'" in w for w in warnings)


def test_empty_file_decodes_to_zero_config() -> None:
    err = error_of("")
    assert err.message.startswith("at least one of the sets")


def test_unknown_label_ident_after_known_block_is_an_unknown_key() -> None:
    # Go collects every unquoted key of the first item, labels included.
    err = error_of("health_checks foo {\n}\n" + X509)
    assert err.message == "unknown top level key(s): foo"
