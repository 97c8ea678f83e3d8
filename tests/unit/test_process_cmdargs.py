"""cmd_args splitting: the Go helper's encoding/csv rules (reference 9.1), errors with Go's texts."""

from __future__ import annotations

import pytest

from spiffe_helper.process.cmdargs import CmdArgsError, split_cmd_args

GO_TABLE = [
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
    ("", []),
    ("\n\nafter blank lines", ["after", "blank", "lines"]),
    ('"" x', ["", "x"]),
    ('"a b"', ["a b"]),
    ("trailing-cr\r", ["trailing-cr"]),
    ("é ü", ["é", "ü"]),
]


@pytest.mark.parametrize(("raw", "argv"), GO_TABLE)
def test_go_csv_table(raw: str, argv: list[str]) -> None:
    assert split_cmd_args(raw) == argv


GO_ERRORS = [
    ('--name=foo"bar', 'parse error on line 1, column 11: bare " in non-quoted-field'),
    ('-c "echo \\"hello\\""', 'parse error on line 1, column 11: extraneous or missing " in quoted-field'),
    ("\n", "EOF"),
    ("\r\n\n", "EOF"),
    ('"abc', 'parse error on line 1, column 5: extraneous or missing " in quoted-field'),
    ('"a"b', 'parse error on line 1, column 3: extraneous or missing " in quoted-field'),
    ('"x\ny', 'record on line 1; parse error on line 2, column 2: extraneous or missing " in quoted-field'),
]


@pytest.mark.parametrize(("raw", "message"), GO_ERRORS)
def test_go_csv_errors(raw: str, message: str) -> None:
    with pytest.raises(CmdArgsError) as err:
        split_cmd_args(raw)
    assert str(err.value) == message


def test_list_form_is_passed_through() -> None:
    argv = ["-c", 'echo "hi" && x', "", "a  b"]
    assert split_cmd_args(argv) == argv
    assert split_cmd_args(("x",)) == ["x"]
