"""``cmd_args`` splitting, exactly as the Go helper does it.

The Go helper reads ``cmd_args`` with ``encoding/csv`` and ``Comma = ' '`` and keeps the first record. That
is not shell quoting: double quotes group (and ``""`` escapes a quote), single quotes are literal, two spaces
give an empty argument, and only the first line counts. Existing configs depend on those rules, so this
module reproduces Go's reader (1-based byte columns, Go's error texts) on the subset of options the helper
uses. A list of strings (our extension) is passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

_QUOTE = ord('"')
_SEP = ord(" ")
_NL = ord("\n")

ERR_BARE_QUOTE = 'bare " in non-quoted-field'
ERR_QUOTE = 'extraneous or missing " in quoted-field'


class CmdArgsError(ValueError):
    """``cmd_args`` cannot be split; ``str()`` is Go's csv error text (for example ``EOF``)."""


def _parse_error(start_line: int, line: int, column: int, err: str) -> CmdArgsError:
    if start_line != line:
        return CmdArgsError(f"record on line {start_line}; parse error on line {line}, column {column}: {err}")
    return CmdArgsError(f"parse error on line {line}, column {column}: {err}")


class _Lines:
    """Go's ``readLine``: one line at a time with its ``\\n``, CRLF folded, a trailing CR dropped at EOF."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self.num_line = 0

    def read(self) -> bytes | None:
        """The next line, or ``None`` at end of input (Go's ``io.EOF`` with nothing read)."""
        self.num_line += 1
        if self._pos >= len(self._data):
            return None
        end = self._data.find(b"\n", self._pos)
        if end < 0:
            line = self._data[self._pos :]
            self._pos = len(self._data)
            if line.endswith(b"\r"):
                line = line[:-1]
        else:
            line = self._data[self._pos : end + 1]
            self._pos = end + 1
        if line.endswith(b"\r\n"):
            line = line[:-2] + b"\n"
        return line


def _len_nl(b: bytes) -> int:
    return 1 if b.endswith(b"\n") else 0


def _first_record(data: bytes) -> list[bytes]:
    """The first CSV record of ``data`` with ``' '`` as the separator (Go's ``Reader.Read``)."""
    lines = _Lines(data)
    line: bytes | None = None
    while True:
        line = lines.read()
        if line is None:
            raise CmdArgsError("EOF")
        if len(line) == _len_nl(line):
            continue  # Go skips empty lines before a record
        break
    rec_line = lines.num_line
    fields: list[bytes] = []
    pos_line, pos_col = lines.num_line, 1
    while True:
        if not line or line[0] != _QUOTE:
            # Unquoted field: up to the next separator or the end of the line; a quote inside is an error.
            i = line.find(b" ")
            field = line[:i] if i >= 0 else line[: len(line) - _len_nl(line)]
            j = field.find(b'"')
            if j >= 0:
                raise _parse_error(rec_line, lines.num_line, pos_col + j, ERR_BARE_QUOTE)
            fields.append(field)
            if i < 0:
                return fields
            line = line[i + 1 :]
            pos_col += i + 1
            continue
        # Quoted field: runs until a lone quote followed by a separator or the end of the line, and may
        # span lines.
        buf = bytearray()
        line = line[1:]
        pos_col += 1
        while True:
            i = line.find(b'"')
            if i >= 0:
                buf += line[:i]
                line = line[i + 1 :]
                pos_col += i + 1
                nxt = line[0] if line else None
                if nxt == _QUOTE:
                    buf.append(_QUOTE)
                    line = line[1:]
                    pos_col += 1
                elif nxt == _SEP:
                    line = line[1:]
                    pos_col += 1
                    fields.append(bytes(buf))
                    break
                elif _len_nl(line) == len(line):
                    fields.append(bytes(buf))
                    return fields
                else:
                    raise _parse_error(rec_line, lines.num_line, pos_col - 1, ERR_QUOTE)
            elif line:
                buf += line
                pos_col += len(line)
                nxt_line = lines.read()
                line = nxt_line if nxt_line is not None else b""
                if line:
                    pos_line += 1
                    pos_col = 1
            else:
                raise _parse_error(rec_line, pos_line, pos_col, ERR_QUOTE)


def split_cmd_args(args: str | Sequence[str]) -> list[str]:
    """The child's arguments from ``cmd_args``.

    A string is split with the Go helper's CSV rules (an empty string gives no arguments); a sequence of
    strings is the argument list itself. Raises :class:`CmdArgsError` with Go's message on bad quoting.
    """
    if not isinstance(args, str):
        return list(args)
    if args == "":
        return []
    return [f.decode("utf-8", "surrogateescape") for f in _first_record(args.encode("utf-8", "surrogateescape"))]
