"""Split an argument string like the Go helper does for ``cmd_args``: Go's ``encoding/csv`` with ``Comma=' '``.

Not shell words: double quotes group (``""`` is a literal quote), single quotes are literal, every space
separates (two spaces give an empty argument), only the first non-empty line is used.
"""

from __future__ import annotations


class ArgsSyntaxError(ValueError):
    """The string is not valid for Go's csv reader; ``str()`` is Go's error text."""


def _error(line: int, column: int, what: str) -> ArgsSyntaxError:
    return ArgsSyntaxError(f"parse error on line {line}, column {column}: {what}")


def split_args(text: str) -> list[str]:
    """The argv Go's ``csv.Reader{Comma: ' '}.Read()`` returns for ``text``."""
    lines = text.replace("\r\n", "\n").split("\n")
    # Go's reader skips empty lines; with none left it returns io.EOF.
    index = next((i for i, ln in enumerate(lines) if ln != ""), None)
    if index is None:
        raise ArgsSyntaxError("EOF")
    line_no = index + 1
    line = lines[index]
    fields: list[str] = []
    pos = 0
    while True:
        if not line.startswith('"', pos):
            end = line.find(" ", pos)
            field = line[pos:] if end < 0 else line[pos:end]
            quote = field.find('"')
            if quote >= 0:
                raise _error(line_no, len(line[: pos + quote].encode()) + 1, 'bare " in non-quoted-field')
            fields.append(field)
            if end < 0:
                return fields
            pos = end + 1
            continue
        # quoted field, possibly spanning lines
        pos += 1
        buf: list[str] = []
        while True:
            close = line.find('"', pos)
            if close >= 0:
                buf.append(line[pos:close])
                pos = close + 1
                nxt = line[pos : pos + 1]
                if nxt == '"':
                    buf.append('"')
                    pos += 1
                    continue
                if nxt == " ":
                    pos += 1
                    fields.append("".join(buf))
                    break
                if nxt == "":
                    fields.append("".join(buf))
                    return fields
                raise _error(line_no, len(line[:pos].encode()) + 1, 'extraneous or missing " in quoted-field')
            buf.append(line[pos:])
            index += 1
            if index >= len(lines):
                raise _error(line_no, len(line.encode()) + 1, 'extraneous or missing " in quoted-field')
            buf.append("\n")
            line = lines[index]
            line_no = index + 1
            pos = 0
