"""Go's value syntax, as the Go helper's decoder applies it: ``strconv.ParseInt(s, 0, 0)``, ``ParseBool``,
``Quote``, ``time.ParseDuration`` and the two string unquoting flavours (HCL's and Go's).

Each function raises :class:`GoSyntaxError` with the Go error text, so callers can attach a position.
"""

from __future__ import annotations

import re

_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


class GoSyntaxError(ValueError):
    """A value Go's strconv/time would reject; ``str()`` is the Go error text."""


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``: a double-quoted string with Go escapes (used in Go-compatible messages)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that was not valid UTF-8 (surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _num_error(func: str, s: str, what: str) -> GoSyntaxError:
    return GoSyntaxError(f"strconv.{func}: parsing {go_quote(s)}: {what}")


def _underscore_ok(s: str) -> bool:
    # Go's rule: underscores only between digits (a base prefix counts as a digit).
    saw = "^"
    i = 0
    if s[:1] in ("-", "+"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and "a" <= c.lower() <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint_base0(s: str, s0: str) -> tuple[int, bool]:
    """Go's ``ParseUint(s, 0, 64)``; returns (value, out_of_range). Raises on syntax errors."""
    if s == "":
        raise _num_error("ParseInt", s0, "invalid syntax")
    body = s
    base = 10
    if s[0] == "0":
        if len(s) >= 3 and s[1].lower() == "b":
            base, body = 2, s[2:]
        elif len(s) >= 3 and s[1].lower() == "o":
            base, body = 8, s[2:]
        elif len(s) >= 3 and s[1].lower() == "x":
            base, body = 16, s[2:]
        else:
            base, body = 8, s[1:]
    n = 0
    underscores = False
    for c in body:
        if c == "_":
            underscores = True
            continue
        if "0" <= c <= "9":
            d = ord(c) - 48
        elif "a" <= c.lower() <= "z" and c.isascii():
            d = ord(c.lower()) - 87
        else:
            raise _num_error("ParseInt", s0, "invalid syntax")
        if d >= base:
            raise _num_error("ParseInt", s0, "invalid syntax")
        n = n * base + d
        if n > _UINT64_MAX:
            # Go stops at the first overflow, before looking at the rest of the digits.
            return n, True
    if underscores and not _underscore_ok(s):
        raise _num_error("ParseInt", s0, "invalid syntax")
    return n, False


def parse_int(s: str) -> int:
    """Go's ``strconv.ParseInt(s, 0, 0)`` on a 64-bit platform: ``0644`` octal, ``0x1a4`` hex, ``0o``, ``0b``,
    underscores between digits, an optional sign; ``08`` and ``1.5`` are syntax errors."""
    s0 = s
    if s == "":
        raise _num_error("ParseInt", s0, "invalid syntax")
    neg = False
    if s[0] == "+":
        s = s[1:]
    elif s[0] == "-":
        neg = True
        s = s[1:]
    value, overflow = _parse_uint_base0(s, s0)
    if overflow or (not neg and value > _INT64_MAX) or (neg and value > _INT64_MAX + 1):
        raise _num_error("ParseInt", s0, "value out of range")
    return -value if neg else value


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(s: str) -> bool:
    """Go's ``strconv.ParseBool`` (used by the ``-daemon-mode=BOOL`` flag)."""
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise GoSyntaxError(f"strconv.ParseBool: parsing {go_quote(s)}: invalid syntax")


_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_duration(s: str) -> float:
    """Go's ``time.ParseDuration`` in seconds: ``"90s"``, ``"1m30s"``, ``"1.5h"``, ``"300ms"``, ``"0"``."""
    orig = s
    invalid = GoSyntaxError(f"time: invalid duration {go_quote(orig)}")
    sign = 1.0
    if s[:1] in ("-", "+"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if s == "":
        raise invalid
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or m.end() == pos:
            raise invalid
        number, unit = m.group(1), m.group(2)
        if number in ("", "."):
            raise invalid
        if unit == "":
            raise GoSyntaxError(f"time: missing unit in duration {go_quote(orig)}")
        if unit not in _UNITS:
            raise GoSyntaxError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(orig)}")
        total += float(number) * _UNITS[unit]
        pos = m.end()
    return sign * total


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote_char(s: str, i: int, buf: bytearray, go_strict: bool) -> int:
    """Decode one (possibly escaped) character of a double-quoted literal at ``s[i]``; return the next index."""
    c = s[i]
    if c == '"':
        raise GoSyntaxError("invalid syntax")
    if c != "\\":
        buf += c.encode("utf-8", "surrogateescape")
        return i + 1
    if i + 1 >= len(s):
        raise GoSyntaxError("invalid syntax")
    e = s[i + 1]
    i += 2
    if e in _SIMPLE_ESCAPES:
        buf.append(_SIMPLE_ESCAPES[e])
        return i
    if e == '"':
        buf.append(34)
        return i
    if e in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[e]
        digits = s[i : i + n]
        if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise GoSyntaxError("invalid syntax")
        v = int(digits, 16)
        i += n
        if e == "x":
            buf.append(v)  # a single byte, possibly not UTF-8 (as Go)
            return i
        if v > 0x10FFFF or (go_strict and 0xD800 <= v <= 0xDFFF):
            raise GoSyntaxError("invalid syntax")
        if 0xD800 <= v <= 0xDFFF:
            v = 0xFFFD  # HCL's encoder writes the replacement character for surrogates
        buf += chr(v).encode("utf-8")
        return i
    if "0" <= e <= "7":
        digits = s[i : i + 2]
        if len(digits) < 2 or any(not ("0" <= d <= "7") for d in digits):
            raise GoSyntaxError("invalid syntax")
        v = int(e + digits, 8)
        if v > 255:
            raise GoSyntaxError("invalid syntax")
        buf.append(v)
        return i + 2
    raise GoSyntaxError("invalid syntax")


def hcl_unquote(text: str) -> str:
    """HCL1's ``strconv.Unquote`` of a ``"..."`` token: Go escapes, and ``${...}`` copied verbatim."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise GoSyntaxError("invalid syntax")
    s = text[1:-1]
    if "\\" not in s and '"' not in s and "$" not in s:
        if "\n" in s and "{" not in s:
            raise GoSyntaxError("invalid syntax")
        return s
    if "$" not in s and "{" not in s and "\n" in s:
        raise GoSyntaxError("invalid syntax")
    buf = bytearray()
    i = 0
    n = len(s)
    while i < n:
        if s[i] == "$" and i + 1 < n and s[i + 1] == "{":
            depth = 1
            j = i + 2
            while j < n and depth > 0:
                if s[j] == "{":
                    depth += 1
                elif s[j] == "}":
                    depth -= 1
                j += 1
            if depth != 0:
                raise GoSyntaxError("invalid syntax")
            buf += s[i:j].encode("utf-8", "surrogateescape")
            i = j
            continue
        if s[i] == "\n":
            raise GoSyntaxError("invalid syntax")
        i = _unquote_char(s, i, buf, go_strict=False)
    return buf.decode("utf-8", "surrogateescape")


def go_unquote(text: str) -> str:
    """Go's ``strconv.Unquote`` of a double-quoted literal (HCL uses it for JSON strings)."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise GoSyntaxError("invalid syntax")
    s = text[1:-1]
    if "\n" in s:
        raise GoSyntaxError("invalid syntax")
    if "\\" not in s and '"' not in s:
        return s
    buf = bytearray()
    i = 0
    while i < len(s):
        i = _unquote_char(s, i, buf, go_strict=True)
    return buf.decode("utf-8", "surrogateescape")
