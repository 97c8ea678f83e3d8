"""HCL1 scanner with hashicorp/hcl v1's token rules, error texts and error positions.

Behaviour follows the Go scanner exactly because users' files depend on it: numbers (``0644`` is one NUMBER
token, ``0689`` is "illegal octal number", ``08`` scans fine and only fails in ParseInt), strings (one line,
``${...}`` may hold quotes), heredocs (the anchor line must end with a newline), ``#``, ``//`` and ``/* */``
comments. The scanner is lazy (the parser pulls tokens) and remembers only its last error, like Go's.

Positions: Go reports the position of the last character read; reading past the end advances the column
once per read. Both are reproduced from the character index (``_pos``), so error positions match Go's.
"""

from __future__ import annotations

import bisect
import re

from spiffe_helper.config.hcl_ast import Pos, Tok, Token

EOF = ""  # what _next() returns at the end (Go's rune 0)
_WS = re.compile(r"[ \t\n\r]*")
_IDENT_REST = re.compile(r"[A-Za-z0-9_.\-]*")
# Characters _next() treats specially: invalid UTF-8 (surrogateescape), NUL and U+E123.
_STRING_PLAIN = re.compile(r'[^"\\\n${}\x00\ue123\udc80-\udcff]*')
_LINE_REST = re.compile(r"[^\n\x00\ue123\udc80-\udcff]*")
_SPACE_CLASS = " \t\n\v\f\r"


def _is_letter(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "_" or (ch >= "\x80" and ch.isalpha())


def _is_digit(ch: str) -> bool:
    return ("0" <= ch <= "9") or (ch >= "\x80" and ch.isdecimal())


def _is_decimal(ch: str) -> bool:
    return "0" <= ch <= "9" and ch != ""


def _digit_val(ch: str) -> int:
    if "0" <= ch <= "9" and ch != "":
        return ord(ch) - 48
    if "a" <= ch <= "f":
        return ord(ch) - 87
    if "A" <= ch <= "F":
        return ord(ch) - 55
    return 16


class PositionIndex:
    """Maps a character index to Go's (line, column); the index ``len(src)`` is the end of input."""

    def __init__(self, src: str) -> None:
        self._starts = [0]
        pos = src.find("\n")
        while pos != -1:
            self._starts.append(pos + 1)
            pos = src.find("\n", pos + 1)

    def pos(self, index: int, extra_columns: int = 0) -> Pos:
        """Position of the character at ``index``."""
        if index < 0:
            return Pos(1, 1)
        line = bisect.bisect_right(self._starts, index)
        return Pos(line, index - self._starts[line - 1] + 1 + extra_columns)


class ScannerBase:
    """What the HCL and JSON scanners share: the read position, Go's error positions and the escape rules.

    ``_next``, ``_unread`` and ``_scan_digits`` differ between the two Go scanners (NUL and U+E123 handling,
    end of input inside an escape), so each subclass has its own.
    """

    def __init__(self, src: str) -> None:
        self.src = src
        self.n = len(src)
        self.i = 0  # index of the next character to read
        self.last = -1  # index of the last character read (n for end of input)
        self.eof_reads = 0
        self.index = PositionIndex(src)
        self.error: tuple[Pos, str] | None = None

    def _next(self) -> str:
        raise NotImplementedError

    def _scan_digits(self, ch: str, base: int, n: int) -> None:
        raise NotImplementedError

    def _peek(self) -> str:
        return self.src[self.i] if self.i < self.n else EOF

    def _recent_pos(self) -> Pos:
        if self.last >= self.n:
            return self.index.pos(self.n, self.eof_reads - 1)
        return self.index.pos(self.last)

    def _err(self, msg: str) -> None:
        self.error = (self._recent_pos(), msg)

    def _scan_escape(self) -> None:
        ch = self._next()
        if ch != EOF and ch in 'abfnrtv\\"':
            return
        if ch != EOF and "0" <= ch <= "7":
            self._scan_digits(ch, 8, 3)
        elif ch == "x":
            self._scan_digits(self._next(), 16, 2)
        elif ch == "u":
            self._scan_digits(self._next(), 16, 4)
        elif ch == "U":
            self._scan_digits(self._next(), 16, 8)
        else:
            self._err("illegal char escape")


class Scanner(ScannerBase):
    """Produces HCL1 tokens on demand; ``error`` holds the last scanner error (position, message)."""

    # -- character level -------------------------------------------------------------------------------
    def _next(self) -> str:
        if self.i >= self.n:
            self.eof_reads += 1
            self.last = self.n
            return EOF
        ch = self.src[self.i]
        self.last = self.i
        self.i += 1
        if "\udc80" <= ch <= "\udcff":
            self._err("illegal UTF-8 encoding")
        elif ch == "\x00":
            self._err("unexpected null character (0x00)")
            return EOF
        elif ch == "\ue123":
            self._err("unicode code point U+E123 reserved for internal use")
            return "\ufffd"
        return ch

    def _unread(self) -> None:
        self.i -= 1
        self.last = self.i - 1

    def _skip(self, pattern: re.Pattern[str]) -> None:
        """Fast path: consume a run of characters that need no special handling."""
        end = pattern.match(self.src, self.i).end()  # type: ignore[union-attr]
        if end > self.i:
            self.i = end
            self.last = end - 1

    # -- tokens ----------------------------------------------------------------------------------------
    def scan_significant(self) -> Token:
        """The next non-comment token; comments are scanned (errors included) without building tokens."""
        src = self.src
        while True:
            self.i = _WS.match(src, self.i).end()  # type: ignore[union-attr]
            if self.i < self.n and src[self.i] in "#/":
                self._scan_comment(self._next())
                continue
            return self.scan()

    def scan(self) -> Token:
        """The next token (COMMENT tokens included; the parser skips them)."""
        end = _WS.match(self.src, self.i).end()  # type: ignore[union-attr]
        self.i = end
        ch = self._next()
        start = self.last
        pos = self._recent_pos()
        if _is_letter(ch):
            tok = Tok.IDENT
            self._scan_identifier()
            text = self.src[start : self.i]
            if text in ("true", "false"):
                tok = Tok.BOOL
            return Token(tok, pos, text)
        if _is_decimal(ch):
            tok = self._scan_number(ch)
        elif ch == EOF:
            tok = Tok.EOF
        elif ch == '"':
            tok = Tok.STRING
            self._scan_string()
        elif ch in ("#", "/"):
            tok = Tok.COMMENT
            self._scan_comment(ch)
        elif ch == ".":
            tok = Tok.PERIOD
            if _is_decimal(self._peek()):
                tok = Tok.FLOAT
                ch = self._scan_mantissa(self._peek())
                self._scan_exponent(ch)
        elif ch == "<":
            tok = Tok.HEREDOC
            self._scan_heredoc()
        elif ch in _SINGLE:
            tok = _SINGLE[ch]
        elif ch == "-":
            tok = self._scan_number(self._next()) if _is_decimal(self._peek()) else Tok.SUB
        else:
            self._err("illegal char")
            tok = Tok.ILLEGAL
        return Token(tok, pos, self.src[min(start, self.n) : self.i])

    def _scan_identifier(self) -> None:
        self._skip(_IDENT_REST)
        ch = self._next()
        while _is_letter(ch) or _is_digit(ch) or ch in ("-", "."):
            ch = self._next()
        if ch != EOF:
            self._unread()

    def _scan_number(self, ch: str) -> Tok:
        if ch == "0":
            ch = self._next()
            if ch in ("x", "X"):
                ch = self._next()
                found = False
                while _digit_val(ch) < 16:
                    ch = self._next()
                    found = True
                if not found:
                    self._err("illegal hexadecimal number")
                if ch != EOF:
                    self._unread()
                return Tok.NUMBER
            illegal_octal = False
            while _is_decimal(ch):
                ch = self._next()
                if ch in ("8", "9"):
                    illegal_octal = True
            if ch in ("e", "E"):
                self._scan_exponent(ch)
                return Tok.FLOAT
            if ch == ".":
                ch = self._scan_fraction(ch)
                if ch in ("e", "E"):
                    self._scan_exponent(self._next())
                return Tok.FLOAT
            if illegal_octal:
                self._err("illegal octal number")
            if ch != EOF:
                self._unread()
            return Tok.NUMBER
        self._scan_mantissa(ch)
        ch = self._next()
        if ch in ("e", "E"):
            self._scan_exponent(ch)
            return Tok.FLOAT
        if ch == ".":
            ch = self._scan_fraction(ch)
            if ch in ("e", "E"):
                self._scan_exponent(self._next())
            return Tok.FLOAT
        if ch != EOF:
            self._unread()
        return Tok.NUMBER

    def _scan_mantissa(self, ch: str) -> str:
        scanned = False
        while _is_decimal(ch):
            ch = self._next()
            scanned = True
        if scanned and ch != EOF:
            self._unread()
        return ch

    def _scan_fraction(self, ch: str) -> str:
        if ch == ".":
            ch = self._scan_mantissa(self._peek())
        return ch

    def _scan_exponent(self, ch: str) -> str:
        if ch in ("e", "E"):
            ch = self._next()
            if ch in ("-", "+"):
                ch = self._next()
            ch = self._scan_mantissa(ch)
        return ch

    def _scan_string(self) -> None:
        braces = 0
        while True:
            if braces == 0:
                self._skip(_STRING_PLAIN)
            ch = self._next()
            if (ch == "\n" and braces == 0) or ch == EOF:
                self._err("literal not terminated")
                return
            if ch == '"' and braces == 0:
                return
            if braces == 0 and ch == "$" and self._peek() == "{":
                braces += 1
                self._next()
            elif braces > 0 and ch == "{":
                braces += 1
            if braces > 0 and ch == "}":
                braces -= 1
            if ch == "\\":
                self._scan_escape()

    def _scan_digits(self, ch: str, base: int, n: int) -> None:
        start = n
        while n > 0 and _digit_val(ch) < base:
            ch = self._next()
            if ch == EOF:
                break
            n -= 1
        if n > 0:
            self._err("illegal char escape")
        if n != start and ch != EOF:
            self._unread()

    def _scan_comment(self, ch: str) -> None:
        if ch == "#" or (ch == "/" and self._peek() != "*"):
            if ch == "/" and self._peek() != "/":
                self._err("expected '/' for comment")
                return
            self._skip(_LINE_REST)
            ch = self._next()
            while ch not in ("\n", EOF):
                ch = self._next()
            if ch != EOF:
                self._unread()
            return
        if ch == "/":
            self._next()
            ch = self._next()
        while True:
            if ch == EOF:
                self._err("comment not terminated")
                return
            ch0 = ch
            ch = self._next()
            if ch0 == "*" and ch == "/":
                return

    def _scan_heredoc(self) -> None:
        if self._next() != "<":
            self._err("heredoc expected second '<', didn't see it")
            return
        offs = self.i
        ch = self._next()
        if ch == "-":
            ch = self._next()
        while _is_letter(ch) or _is_digit(ch):
            ch = self._next()
        if ch == EOF:
            self._err("heredoc not terminated")
            return
        if ch == "\r" and self._peek() == "\n":
            ch = self._next()
        if ch != "\n":
            self._err("invalid characters in heredoc anchor")
            return
        ident = self.src[offs : self.i - 1]
        if ident in ("", "-"):
            self._err("zero-length heredoc anchor")
            return
        anchor = ident[1:] if ident[0] == "-" else ident
        terminator = re.compile(f"^[{_SPACE_CLASS}]*{re.escape(anchor)}\r*\\Z")
        line_start = self.i
        while True:
            ch = self._next()
            if ch == "\n":
                line = self.src[line_start : self.i - 1]
                if len(line) >= len(ident) and terminator.match(line):
                    return
                line_start = self.i
            if ch == EOF:
                self._err("heredoc not terminated")
                return


_SINGLE = {
    "[": Tok.LBRACK,
    "]": Tok.RBRACK,
    "{": Tok.LBRACE,
    "}": Tok.RBRACE,
    ",": Tok.COMMA,
    "=": Tok.ASSIGN,
    "+": Tok.ADD,
}
