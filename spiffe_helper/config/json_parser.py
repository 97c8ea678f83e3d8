"""HCL1's JSON mode: a file whose first non-space character is ``{`` is parsed by hashicorp/hcl's JSON parser.

That parser is lenient in odd ways (trailing commas, ``true`` inside lists skipped, nothing after the
top-level object checked) and "flattens" objects: a list whose elements are all objects becomes one item
per element, and an object whose values are all objects becomes items with several keys. The decoder then
splits ``"jwt_svids": [{"a": .., "b": ..}]`` into one entry per key, which is why JSON ``jwt_svids`` never
works with the Go helper. All of this is reproduced; unlike Go, positions are kept for error messages.
"""

from __future__ import annotations

from spiffe_helper.config.hcl_ast import (
    ListType,
    LiteralType,
    Node,
    ObjectItem,
    ObjectKey,
    ObjectList,
    ObjectType,
    Pos,
    Tok,
    Token,
)
from spiffe_helper.config.hcl_lexer import EOF, ScannerBase, _digit_val, _is_decimal, _is_digit, _is_letter
from spiffe_helper.config.hcl_parser import MAX_DEPTH, HclSyntaxError

_SINGLE = {
    "[": Tok.LBRACK,
    "]": Tok.RBRACK,
    "{": Tok.LBRACE,
    "}": Tok.RBRACE,
    ",": Tok.COMMA,
    ":": Tok.COLON,
}


class JsonScanner(ScannerBase):
    """hashicorp/hcl's JSON scanner (its own number, identifier and string rules)."""

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
        return ch

    def _unread(self) -> None:
        if self.i > 0 and self.last < self.n:
            self.i -= 1
            self.last = self.i - 1

    def scan(self) -> Token:
        """The next token."""
        ch = self._next()
        while ch in (" ", "\t", "\n", "\r"):
            ch = self._next()
        start = self.last
        pos = self._recent_pos()
        tok = Tok.ILLEGAL
        if _is_letter(ch):
            begin = self.last
            ch = self._next()
            while _is_letter(ch) or _is_digit(ch) or ch == "-":
                ch = self._next()
            if ch != EOF:
                self._unread()
            word = self.src[begin : self.i]
            if word in ("true", "false"):
                tok = Tok.BOOL
            elif word == "null":
                tok = Tok.NULL
            else:
                self._err("illegal char")
        elif _is_decimal(ch):
            tok = self._scan_number(ch)
        elif ch == EOF:
            tok = Tok.EOF
        elif ch == '"':
            tok = Tok.STRING
            self._scan_string()
        elif ch == ".":
            tok = Tok.PERIOD
            if _is_decimal(self._peek()):
                tok = Tok.FLOAT
                ch = self._scan_mantissa(self._peek())
                self._scan_exponent(ch)
        elif ch in _SINGLE:
            tok = _SINGLE[ch]
        elif ch == "-":
            if _is_decimal(self._peek()):
                tok = self._scan_number(self._next())
            else:
                self._err("illegal char")
        else:
            self._err("illegal char: " + ch)
        return Token(tok, pos, self.src[min(start, self.n) : self.i])

    def _scan_number(self, ch: str) -> Tok:
        zero = ch == "0"
        before = self.i
        self._scan_mantissa(ch)
        ch = self._next()
        if ch in ("e", "E"):
            self._scan_exponent(ch)
            return Tok.FLOAT
        if ch == ".":
            ch = self._scan_mantissa(self._peek())
            if ch in ("e", "E"):
                self._scan_exponent(self._next())
            return Tok.FLOAT
        if ch != EOF:
            self._unread()
        if zero and self.i != before:
            self._err("numbers cannot start with 0")
        return Tok.NUMBER

    def _scan_mantissa(self, ch: str) -> str:
        scanned = False
        while _is_decimal(ch):
            ch = self._next()
            scanned = True
        if scanned and ch != EOF:
            self._unread()
        return ch

    def _scan_exponent(self, ch: str) -> str:
        if ch in ("e", "E"):
            ch = self._next()
            if ch in ("-", "+"):
                ch = self._next()
            ch = self._scan_mantissa(ch)
        return ch

    def _scan_string(self) -> None:
        while True:
            ch = self._next()
            if ch in ("\n", EOF):
                self._err("literal not terminated")
                return
            if ch == '"':
                return
            if ch == "\\":
                self._scan_escape()

    def _scan_digits(self, ch: str, base: int, n: int) -> None:
        while n > 0 and _digit_val(ch) < base:
            ch = self._next()
            n -= 1
        if n > 0:
            self._err("illegal char escape")
        self._unread()


class _Eof(Exception):
    pass


class JsonParser:
    """hashicorp/hcl's JSON parser; produces the same tree as the HCL parser (then flattened)."""

    def __init__(self, src: str) -> None:
        self.sc = JsonScanner(src)
        self.tok = Token(Tok.ILLEGAL, Pos(), "")
        self.buffered = False
        self.depth = 0

    def parse(self) -> ObjectList:
        """The flattened top-level object; raises :class:`HclSyntaxError`."""
        err: HclSyntaxError | None = None
        obj: ObjectType | None = None
        try:
            tok = self._scan()
            if tok.type is Tok.LBRACE:
                obj = self._object_type()
            elif tok.type is Tok.EOF:
                err = HclSyntaxError(tok.pos, "EOF token found")
            else:
                err = HclSyntaxError(tok.pos, f"Expected object, got unknown token: {tok.describe()}")
        except HclSyntaxError as e:
            err = e
        if self.sc.error is not None:
            raise HclSyntaxError(*self.sc.error)
        if err is not None or obj is None:
            raise err or HclSyntaxError(Pos(1, 1), "EOF token found")
        flatten(obj.list)
        return obj.list

    def _scan(self) -> Token:
        if self.buffered:
            self.buffered = False
            return self.tok
        self.tok = self.sc.scan()
        return self.tok

    def _literal(self, tok: Token) -> LiteralType:
        if tok.type is Tok.NULL:
            return LiteralType(Token(Tok.STRING, tok.pos, "", json=True))
        return LiteralType(Token(tok.type, tok.pos, tok.text, json=tok.type is Tok.STRING))

    def _object_type(self) -> ObjectType:
        lbrace = self.tok.pos
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise HclSyntaxError(lbrace, f"nesting deeper than {MAX_DEPTH} levels")
        body = ObjectList()
        try:
            while True:
                try:
                    item = self._object_item()
                except _Eof:
                    break
                body.items.append(item)
                if self._scan().type is not Tok.COMMA:
                    break
        except HclSyntaxError:
            # An error right at a closing brace ends the object (this is how `{}` and `{"a": 1,}` parse).
            if self.tok.type is not Tok.RBRACE:
                raise
        self.depth -= 1
        return ObjectType(lbrace, body)

    def _object_item(self) -> ObjectItem:
        keys: list[ObjectKey] = []
        while True:
            tok = self._scan()
            if tok.type is Tok.EOF:
                raise _Eof()
            if tok.type is Tok.STRING:
                keys.append(ObjectKey(Token(Tok.STRING, tok.pos, tok.text, json=True)))
            elif tok.type is Tok.COLON:
                if not keys:
                    raise HclSyntaxError(tok.pos, "expected: STRING got: COLON")
                break
            elif tok.type is Tok.ILLEGAL:
                raise HclSyntaxError(tok.pos, "illegal")
            else:
                raise HclSyntaxError(tok.pos, f"expected: STRING got: {tok.type.value}")
        return ObjectItem(keys, self._object_value())

    def _object_value(self) -> Node:
        tok = self._scan()
        if tok.type in (Tok.NUMBER, Tok.FLOAT, Tok.BOOL, Tok.NULL, Tok.STRING):
            return self._literal(tok)
        if tok.type is Tok.LBRACE:
            return self._object_type()
        if tok.type is Tok.LBRACK:
            return self._list_type()
        if tok.type is Tok.EOF:
            raise _Eof()
        raise HclSyntaxError(tok.pos, f"Expected object value, got unknown token: {tok.describe()}")

    def _list_type(self) -> ListType:
        node = ListType(self.tok.pos)
        while True:
            tok = self._scan()
            t = tok.type
            if t in (Tok.NUMBER, Tok.FLOAT, Tok.STRING):
                node.items.append(self._literal(tok))
            elif t is Tok.LBRACE:
                node.items.append(self._object_type())
            elif t in (Tok.COMMA, Tok.BOOL, Tok.LBRACK):
                continue  # Go skips booleans and nested "[" inside JSON lists
            elif t is Tok.RBRACK:
                return node
            else:
                raise HclSyntaxError(tok.pos, f"unexpected token while parsing list: {t.value}")


def _flatten_list(items: list[ObjectItem]) -> list[ObjectItem]:
    out: list[ObjectItem] = []
    frontier = list(items)
    while frontier:
        item = frontier.pop()
        val = item.val
        if isinstance(val, ObjectType):
            subs = val.list.items
            if subs and all(isinstance(s.val, ObjectType) for s in subs):
                frontier.extend(ObjectItem(item.keys + s.keys, s.val) for s in subs)
                continue
        elif isinstance(val, ListType) and val.items and all(isinstance(e, ObjectType) for e in val.items):
            frontier.extend(ObjectItem(item.keys, e) for e in val.items)
            continue
        out.append(item)
    out.reverse()
    return out


def flatten(node: Node) -> None:
    """HCL's JSON flattening, applied to every object list of the tree (pre-order, as ``ast.Walk``)."""
    if isinstance(node, ObjectList):
        node.items = _flatten_list(node.items)
        for item in node.items:
            flatten(item.val)
    elif isinstance(node, ObjectType):
        flatten(node.list)
    elif isinstance(node, ListType):
        for element in node.items:
            flatten(element)


def parse_json(src: str) -> ObjectList:
    """Parse an HCL-JSON document; raises :class:`HclSyntaxError`."""
    return JsonParser(src).parse()
