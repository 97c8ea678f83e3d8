"""HCL1 parser with hashicorp/hcl v1's grammar, error texts and error precedence.

The control flow (including its one-token look-aheads) mirrors the Go parser because it decides which
scanner errors are seen: Go reports the scanner's last error in preference to the parser's own. Duplicate
keys are allowed (``hcl.Decode`` uses ``ParseDontErrorOnDuplicateKeys``). Notable accepted forms: commas
between object items, trailing commas, ``a = `` at the very end of a file (silently dropped).
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
from spiffe_helper.config.hcl_lexer import Scanner


class HclSyntaxError(Exception):
    """A parse error at a position; ``str()`` is Go's ``At line:col: message``."""

    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(f"At {pos}: {message}")
        self.pos = pos
        self.message = message


class _EofToken(Exception):
    """Go's errEofToken: the input ended where an item could start."""


MAX_DEPTH = 100
_LITERALS = (Tok.NUMBER, Tok.FLOAT, Tok.BOOL, Tok.STRING, Tok.HEREDOC)


class Parser:
    """Parses HCL1 source text into an :class:`ObjectList`."""

    def __init__(self, src: str) -> None:
        # Go normalises CRLF before scanning; a lone CR stays (and is whitespace).
        self.sc = Scanner(src.replace("\r\n", "\n"))
        self.tok = Token(Tok.ILLEGAL, Pos(), "")
        self.buffered = False
        self.depth = 0

    def parse(self) -> ObjectList:
        """The file's items; raises :class:`HclSyntaxError` (the scanner's last error wins)."""
        try:
            node = self._object_list(in_object=False)
        except HclSyntaxError as e:
            if self.sc.error is not None:
                raise HclSyntaxError(*self.sc.error) from None
            raise e from None
        if self.sc.error is not None:
            raise HclSyntaxError(*self.sc.error)
        return node

    # -- token buffer ----------------------------------------------------------------------------------
    def _scan(self) -> Token:
        if self.buffered:
            self.buffered = False
            return self.tok
        self.tok = tok = self.sc.scan_significant()
        return tok

    def _unscan(self) -> None:
        self.buffered = True

    # -- grammar ---------------------------------------------------------------------------------------
    def _object_list(self, in_object: bool) -> ObjectList:
        node = ObjectList()
        while True:
            if in_object:
                tok = self._scan()
                self._unscan()
                if tok.type is Tok.RBRACE:
                    break
            try:
                item = self._object_item()
            except _EofToken:
                break
            node.items.append(item)
            # Items may be separated by commas (lists of maps); a comma is simply consumed.
            if self._scan().type is not Tok.COMMA:
                self._unscan()
        return node

    def _object_item(self) -> ObjectItem:
        keys, err = self._object_key()
        if keys and isinstance(err, _EofToken):
            err = None
        if keys and err is not None and self.tok.type is Tok.RBRACE:
            err = None
            self.tok = Token(Tok.EOF, self.tok.pos, self.tok.text)
        if err is not None:
            raise err
        val: Node
        if self.tok.type is Tok.ASSIGN:
            val = self._object()
        elif self.tok.type is Tok.LBRACE:
            val = self._object_type()
        else:
            names = " ".join(k.token.text for k in keys)
            raise HclSyntaxError(self.tok.pos, f"key '{names}' expected start of object ('{{') or assignment ('=')")
        # Go looks one token ahead here (for line comments); it matters for which scanner errors are seen.
        self._scan()
        self._unscan()
        return ObjectItem(keys, val)

    def _object_key(self) -> tuple[list[ObjectKey], Exception | None]:
        keys: list[ObjectKey] = []
        while True:
            tok = self._scan()
            t = tok.type
            if t is Tok.EOF:
                return keys, _EofToken()
            if t is Tok.ASSIGN:
                if len(keys) > 1:
                    return [], HclSyntaxError(tok.pos, f"nested object expected: LBRACE got: {t.value}")
                if not keys:
                    return [], HclSyntaxError(tok.pos, "no object keys found!")
                return keys, None
            if t is Tok.LBRACE:
                if not keys:
                    return keys, HclSyntaxError(tok.pos, f"expected: IDENT | STRING got: {t.value}")
                return keys, None
            if t is Tok.IDENT or t is Tok.STRING:
                keys.append(ObjectKey(tok))
                continue
            if t is Tok.ILLEGAL:
                return keys, HclSyntaxError(tok.pos, "illegal character")
            return keys, HclSyntaxError(tok.pos, f"expected: IDENT | STRING | ASSIGN | LBRACE got: {t.value}")

    def _object(self) -> Node:
        tok = self._scan()
        if tok.type in _LITERALS:
            return LiteralType(tok)
        if tok.type is Tok.LBRACE:
            return self._object_type()
        if tok.type is Tok.LBRACK:
            return self._list_type()
        if tok.type is Tok.EOF:
            raise _EofToken()
        raise HclSyntaxError(tok.pos, f"Unknown token: {tok.describe()}")

    def _nest(self) -> None:
        # Go has no limit; Python's stack has one. No helper.conf value nests more than three levels.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise HclSyntaxError(self.tok.pos, f"nesting deeper than {MAX_DEPTH} levels")

    def _object_type(self) -> ObjectType:
        lbrace = self.tok.pos
        self._nest()
        body = self._object_list(in_object=True)
        self.depth -= 1
        tok = self._scan()
        if tok.type is not Tok.RBRACE:
            raise HclSyntaxError(tok.pos, f"object expected closing RBRACE got: {tok.type.value}")
        return ObjectType(lbrace, body)

    def _list_type(self) -> ListType:
        node = ListType(self.tok.pos)
        self._nest()
        need_comma = False
        while True:
            tok = self._scan()
            t = tok.type
            if need_comma and t is not Tok.COMMA and t is not Tok.RBRACK:
                raise HclSyntaxError(tok.pos, f"error parsing list, expected comma or list end, got: {t.value}")
            if t in _LITERALS:
                node.items.append(LiteralType(tok))
                need_comma = True
            elif t is Tok.COMMA:
                self._scan()
                self._unscan()
                need_comma = False
            elif t is Tok.LBRACE:
                try:
                    node.items.append(self._object_type())
                except HclSyntaxError as e:
                    raise HclSyntaxError(tok.pos, f"error while trying to parse object within list: {e}") from None
                need_comma = True
            elif t is Tok.LBRACK:
                try:
                    node.items.append(self._list_type())
                except HclSyntaxError as e:
                    raise HclSyntaxError(tok.pos, f"error while trying to parse list within list: {e}") from None
            elif t is Tok.RBRACK:
                self.depth -= 1
                return node
            else:
                raise HclSyntaxError(tok.pos, f"unexpected token while parsing list: {t.value}")


def parse_hcl(src: str) -> ObjectList:
    """Parse HCL1 text; raises :class:`HclSyntaxError`."""
    return Parser(src).parse()
