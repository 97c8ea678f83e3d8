"""Go value syntax used by the decoder and flags: strconv.ParseInt/ParseBool/Quote, time.ParseDuration,
HCL and Go unquoting, Go's path.Join, and encoding/csv argument splitting (reference section 9.1)."""

from __future__ import annotations

import pytest

from spiffe_helper.config.gostrconv import (
    GoSyntaxError,
    go_quote,
    go_unquote,
    hcl_unquote,
    parse_bool,
    parse_duration,
    parse_int,
)
from spiffe_helper.config.model import go_path_clean, go_path_join
from spiffe_helper.process.cmdargs import CmdArgsError, split_cmd_args


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0644", 420),
        ("644", 644),
        ("0x1a4", 420),
        ("0X1A4", 420),
        ("0o644", 420),
        ("0b11", 3),
        ("0_644", 420),
        ("1_000", 1000),
        ("-1", -1),
        ("+7", 7),
        ("0", 0),
        ("-0x10", -16),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_parse_int_base0(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("08", "invalid syntax"),
        ("0x", "invalid syntax"),
        ("1.5", "invalid syntax"),
        ("", "invalid syntax"),
        (" 1", "invalid syntax"),
        ("1_", "invalid syntax"),
        ("_1", "invalid syntax"),
        ("1__0", "invalid syntax"),
        ("9223372036854775808", "value out of range"),
        ("-9223372036854775809", "value out of range"),
        ("99999999999999999999x", "value out of range"),  # Go stops at the overflow
    ],
)
def test_parse_int_errors(text: str, reason: str) -> None:
    with pytest.raises(GoSyntaxError) as info:
        parse_int(text)
    assert str(info.value) == f"strconv.ParseInt: parsing {go_quote(text)}: {reason}"


def test_parse_int_underscore_after_base_prefix_is_allowed() -> None:
    assert parse_int("0x_1a4") == 420


@pytest.mark.parametrize(("text", "value"), [("1", True), ("t", True), ("TRUE", True), ("True", True), ("F", False)])
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_parse_bool_rejects_yes() -> None:
    with pytest.raises(GoSyntaxError):
        parse_bool("yes")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("2m", 120.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("300ms", 0.3), ("0", 0.0), ("-1s", -1.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("90", 'time: missing unit in duration "90"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("", 'time: invalid duration ""'),
        ("s", 'time: invalid duration "s"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(GoSyntaxError) as info:
        parse_duration(text)
    assert str(info.value) == message


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\t\x01é') == '"a\\"b\\\\c\\n\\t\\x01é"'


def test_unquote_flavours() -> None:
    assert hcl_unquote('"${a("b")}\\n"') == '${a("b")}\n'
    assert go_unquote('"\\u00e9\\x41"') == "éA"
    with pytest.raises(GoSyntaxError):
        go_unquote('"\\ud800"')  # Go rejects a surrogate escape
    assert hcl_unquote('"\\ud800"') == "\ufffd"  # HCL writes the replacement character


@pytest.mark.parametrize(
    ("elems", "joined"),
    [
        (("", "svid.pem"), "svid.pem"),
        (("certs", "svid.pem"), "certs/svid.pem"),
        (("certs", "/etc/x"), "certs/etc/x"),  # Go does not honour an absolute name under cert_dir
        (("", "/opt/svid.pem"), "/opt/svid.pem"),
        (("/certs/", "../x"), "/x"),
        (("certs", "a/./b//c"), "certs/a/b/c"),
        (("", ""), ""),
    ],
)
def test_go_path_join(elems: tuple[str, str], joined: str) -> None:
    assert go_path_join(*elems) == joined


def test_go_path_clean_edge_cases() -> None:
    assert (go_path_clean(""), go_path_clean("//a"), go_path_clean("../../a"), go_path_clean("/..")) == (
        ".",
        "/a",
        "../../a",
        "/",
    )


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ('-flag1 "value 1"', ["-flag1", "value 1"]),
        ('-c "echo ""hi"""', ["-c", 'echo "hi"']),
        ("-c 'echo hello world'", ["-c", "'echo", "hello", "world'"]),
        ("a  b", ["a", "", "b"]),
        (" a", ["", "a"]),
        ("a ", ["a", ""]),
        ("a\tb", ["a\tb"]),
        ("line1 x\nline2 y", ["line1", "x"]),
        ("line1 x\r\nline2 y", ["line1", "x"]),
        ('"multi\nline" z', ["multi\nline", "z"]),
        ("$HOME ${x} %X%", ["$HOME", "${x}", "%X%"]),
        ("\n\nlater", ["later"]),
    ],
)
def test_split_args_like_go_csv(text: str, argv: list[str]) -> None:
    assert split_cmd_args(text) == argv


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('--name=foo"bar', 'parse error on line 1, column 11: bare " in non-quoted-field'),
        ("\n", "EOF"),
    ],
)
def test_split_args_errors(text: str, message: str) -> None:
    with pytest.raises(CmdArgsError) as info:
        split_cmd_args(text)
    assert str(info.value) == message


def test_split_args_hcl_escaped_quotes_fail() -> None:
    with pytest.raises(CmdArgsError, match='extraneous or missing " in quoted-field'):
        split_cmd_args('-c "echo \\"hello\\""')
