"""HCL1 syntax as the Go helper's decoder (hashicorp/hcl v1.0.1-vault-7) reads it: comments, strings, escapes,
heredocs, numbers, and the exact error texts and positions Go reports. Expected values are Go facts
(reference sections 3.1-3.3 and the synthetic probes), written here so a clone without ../shared tests them.
"""

from __future__ import annotations

import pytest

from spiffe_helper.config.errors import HintedParseError
from spiffe_helper.errors import ConfigParseError
from tests.unit.config_helpers import X509, error_of, load


def parse_error(text: str) -> tuple[int | None, int | None, str]:
    err = error_of(text)
    assert isinstance(err, ConfigParseError), err
    return err.line, err.column, err.message


def test_all_comment_styles_are_skipped() -> None:
    text = "// slash comment\n/* block\n   comment */\n# hash comment\n" + X509
    assert load(text).svid_file_name == "a"


def test_comment_at_end_of_line_and_of_file_without_newline() -> None:
    assert load(X509 + 'hint = "h" # trailing\n// last').hint == "h"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (r'"C:\\spire\\api\t\u00e9\x41"', "C:\\spire\\api\t\u00e9A"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"a\nb"', "a\nb"),
        (r'"\101"', "A"),
        (r'"\U0001F600"', "\U0001f600"),
        ('"$HOME/x"', "$HOME/x"),  # no interpolation
        ('"${HOME}"', "${HOME}"),
        ('"${foo("bar")}"', '${foo("bar")}'),  # quotes allowed inside ${ }
        ('"{{ .Values.x }}"', "{{ .Values.x }}"),
        ("123", "123"),  # NUMBER accepted for a string
        ("0644", "0644"),  # ... keeping its text
        ('""', ""),
    ],
)
def test_string_values(value: str, expected: str) -> None:
    assert load(X509 + f"hint = {value}\n").hint == expected


def test_heredoc_keeps_trailing_newline() -> None:
    text = X509 + 'cmd_args = <<EOF\n-c "echo hi"\nEOF\n'
    assert load(text).cmd_args == '-c "echo hi"\n'


def test_indented_heredoc_is_unindented() -> None:
    text = X509 + "cmd_args = <<-EOT\n    a\n    b\n    EOT\n"
    assert load(text).cmd_args == "a\nb\n"


def test_heredoc_anchor_needs_a_newline_after_it() -> None:
    # Go only recognises the closing anchor when a newline follows it.
    line, _, message = parse_error(X509 + "cmd_args = <<EOF\nx\nEOF")
    assert message == "heredoc not terminated"
    assert line == 6


def test_crlf_line_endings_are_accepted() -> None:
    assert load('agent_address = "/x"\r\n' + X509.replace("\n", "\r\n")).agent_address == "/x"


def test_no_spaces_and_commas_between_items() -> None:
    cfg = load('svid_file_name="a", svid_key_file_name="b"\nsvid_bundle_file_name="c",\n')
    assert cfg.x509_enabled


def test_trailing_commas_in_lists_and_objects() -> None:
    cfg = load('jwt_svids = [\n  {jwt_audience = "a", jwt_svid_file_name = "f",},\n]\n')
    assert [(j.jwt_audience, j.jwt_svid_file_name) for j in cfg.jwt_svids] == [("a", "f")]


def test_assignment_without_value_at_end_of_file_is_dropped() -> None:
    # Go's parser treats EOF after "=" as the end of the file, silently.
    assert load(X509 + "cmd =").cmd == ""


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        # reference 3.1 / probes p26-p28, p30, p34, p36, p37, p60, p10; corpus 051, 057, 076, 078
        ("agent_address = /tmp/x.sock\n", 1, 17, "expected '/' for comment"),
        ("agent_address = '/tmp/x.sock'\n", 1, 17, "illegal char"),
        ('agent_address: "/tmp/x.sock"\n', 1, 14, "illegal char"),
        ('\ufeffagent_address = "/x"\n', 1, 1, "illegal char"),
        ('agent_address = "/tmp/a\nb"\n', 2, 3, "literal not terminated"),
        ("cert_file_mode = 0689\n", 1, 22, "illegal octal number"),
        ("daemon_mode = TRUE\n", 1, 15, "Unknown token: 1:15 IDENT TRUE"),
        ("cert_file_mode = +644\n", 1, 18, "Unknown token: 1:18 ADD +"),
        ("cert_file_mode = 0o600\n", 2, 1, "key 'o600' expected start of object ('{') or assignment ('=')"),
        ('[section]\nkey = "v"\n', 1, 1, "expected: IDENT | STRING | ASSIGN | LBRACE got: LBRACK"),
        ('a = "x\\_y"\n', 1, 8, "illegal char escape"),
        ("a = 0x\n", 1, 7, "illegal hexadecimal number"),
        ("/* never closed", 1, 16, "comment not terminated"),
        ('a = "abc', 1, 9, "literal not terminated"),
        # Each read past the end moves Go's column one further: EOF is read twice here.
        ("foo", 1, 5, "key 'foo' expected start of object ('{') or assignment ('=')"),
        ("a b = 1\n", 1, 5, "nested object expected: LBRACE got: ASSIGN"),
        ("= 1\n", 1, 1, "no object keys found!"),
        ("a = 1\n{}\n", 2, 1, "expected: IDENT | STRING got: LBRACE"),
        ("a = [1 2]\n", 1, 8, "error parsing list, expected comma or list end, got: NUMBER"),
        ("a = [=]\n", 1, 6, "unexpected token while parsing list: ASSIGN"),
        ("a {\n", 2, 2, "object expected closing RBRACE got: EOF"),
        ("a = x\n", 1, 5, "Unknown token: 1:5 IDENT x"),
    ],
)
def test_syntax_errors_have_go_text_and_position(text: str, line: int, column: int, message: str) -> None:
    assert parse_error(text) == (line, column, message)


def test_scanner_error_wins_and_the_last_one_is_reported() -> None:
    # corpus 076: Markdown-escaped underscores; Go reports the *last* bad escape it scanned (line 3).
    text = 'svid_file_name = "svid\\_a.pem"\nx = 1\nsvid_key_file_name = "key\\_b.pem"\n'
    assert parse_error(text) == (3, 27, "illegal char escape")


def test_error_inside_object_in_list_names_both_positions() -> None:
    line, column, message = parse_error("jwt_svids = [{a = }]\n")
    assert (line, column) == (1, 14)
    assert message == "error while trying to parse object within list: At 1:19: Unknown token: 1:19 RBRACE }"


def test_parse_error_renders_file_line_column_and_hint() -> None:
    err = error_of('agent_address: "/x"\n', file="conf/helper.conf")
    assert isinstance(err, HintedParseError)
    assert str(err).startswith("conf/helper.conf:1:14: illegal char (")


def test_invalid_utf8_is_a_scanner_error() -> None:
    text = b'hint = "\xff"\n'.decode("utf-8", "surrogateescape")
    assert parse_error(X509 + text)[2] == "illegal UTF-8 encoding"


def test_escape_go_accepts_in_scanner_but_cannot_unquote_is_an_error_not_a_crash() -> None:
    # "\400" passes Go's scanner but its unquote panics; we report it.
    err = error_of(X509 + 'hint = "\\400"\n')
    assert isinstance(err, ConfigParseError)
    assert err.line == 4


def test_deep_nesting_is_an_error_with_a_position() -> None:
    err = error_of("a = " + "[" * 500 + "]" * 500 + "\n")
    assert isinstance(err, ConfigParseError)
    assert err.line == 1
