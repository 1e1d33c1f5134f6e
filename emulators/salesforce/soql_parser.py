"""SOQL text → syntax tree: the lexer and recursive-descent parser behind :mod:`emulators.salesforce.soql`.

The parser knows the grammar only; names are checked against the schema by the compiler. Every
problem raises :class:`SoqlError` with Salesforce's error code and a message that points at the
offending token the way Salesforce does (the query line, a caret, ``ERROR at Row:r:Column:c``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

MAX_QUERY_LENGTH = 100_000
MAX_NESTING = 50
MAX_NUMBER_DIGITS = 40

CLAUSE_KEYWORDS = frozenset({"WHERE", "WITH", "GROUP", "ORDER", "LIMIT", "OFFSET", "FOR", "USING", "UPDATE", "ALL",
                             "HAVING"})
RESERVED = frozenset({"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "NULL", "TRUE", "FALSE", "LIKE", "IN",
                      "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "USING", "TYPEOF", "INCLUDES", "EXCLUDES"})
UNSUPPORTED_CLAUSES = {
    "WITH": "WITH clauses", "GROUP": "GROUP BY", "HAVING": "HAVING", "FOR": "FOR VIEW/UPDATE/REFERENCE",
    "USING": "USING SCOPE", "UPDATE": "UPDATE TRACKING/VIEWSTAT", "ALL": "ALL ROWS",
}
COMPARISON_OPERATORS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
DATE_N_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<baddatetime>\d{4}-\d{2}-\d{2}T[0-9:.+\-Z]*)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),.:])
    """,
    re.VERBOSE,
)
_STRING_ESCAPES = {"n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\b", "B": "\b",
                   "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\"}


class SoqlError(Exception):
    """A query Salesforce would reject: ``error_code`` (``MALFORMED_QUERY``, ``INVALID_FIELD``...) and ``message``."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, source text, decoded value and offset in the query."""

    kind: str
    text: str
    pos: int
    value: object = None
    like: str | None = None

    @property
    def upper(self) -> str:
        """The token text in upper case (keywords are case-insensitive)."""
        return self.text.upper()


@dataclass(frozen=True)
class FieldPath:
    """A field reference: relationship names then the field name (``Account.Owner.Username``)."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        """The path as written."""
        return ".".join(self.parts)


@dataclass(frozen=True)
class FieldsFunction:
    """``FIELDS(ALL)``, ``FIELDS(STANDARD)`` or ``FIELDS(CUSTOM)`` in the select list."""

    kind: str
    pos: int


@dataclass(frozen=True)
class Literal:
    """A filter value: ``kind`` is string, number, date, datetime, boolean, null or date_literal."""

    kind: str
    value: object
    pos: int
    like: str | None = None
    n: int = 0


@dataclass(frozen=True)
class Comparison:
    """``field op value``; ``value`` is a tuple of literals for IN and NOT IN."""

    field: FieldPath
    op: str
    value: Literal | tuple[Literal, ...]
    pos: int


@dataclass(frozen=True)
class Logical:
    """``AND``/``OR`` of two or more conditions."""

    op: str
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    """``NOT condition``."""

    item: Condition


Condition = Comparison | Logical | Negation


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` term."""

    field: FieldPath
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    """A parsed ``SELECT``."""

    fields: list[FieldPath | FieldsFunction]
    is_count: bool
    object_name: str
    object_pos: int
    alias: str | None = None
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def error_at(soql: str, pos: int, error_code: str, text: str) -> SoqlError:
    """A :class:`SoqlError` whose message points at offset ``pos`` of ``soql`` as Salesforce does."""
    pos = max(0, min(pos, len(soql)))
    row = soql.count("\n", 0, pos) + 1
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    column = pos - line_start + 1
    return SoqlError(error_code, f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{text}")


def tokenize(soql: str) -> list[Token]:
    """Split ``soql`` into tokens, ending with an ``eof`` token.

    Raises:
        SoqlError: ``MALFORMED_QUERY`` for a character, string or literal SOQL does not accept.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN.match(soql, pos)
        if match is None:
            raise error_at(soql, pos, "MALFORMED_QUERY", f"line 1:{pos} no viable alternative at character "
                                                         f"'{soql[pos]}'")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "string":
            token, pos = _string(soql, pos)
            tokens.append(token)
            continue
        if kind == "baddatetime":
            raise error_at(soql, pos, "MALFORMED_QUERY", f"line 1:{pos} no viable alternative at character "
                                                         f"'{text}': datetime literals need seconds and a zone "
                                                         "(Z or +hh:mm)")
        if kind == "number" and len(text) > MAX_NUMBER_DIGITS:
            raise error_at(soql, pos, "MALFORMED_QUERY", f"number too long: {text[:20]}...")
        if kind != "space":
            tokens.append(Token(kind, text, pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(soql)))
    return tokens


def _string(soql: str, start: int) -> tuple[Token, int]:
    """Decode the string literal opening at ``start``; also build its LIKE pattern (escape character ``\\``)."""
    value: list[str] = []
    like: list[str] = []
    pos = start + 1
    while pos < len(soql):
        char = soql[pos]
        if char == "'":
            token = Token("string", soql[start : pos + 1], start, "".join(value), "".join(like))
            return token, pos + 1
        if char == "\\":
            if pos + 1 >= len(soql):
                break
            escaped = soql[pos + 1]
            if escaped in "%_":
                value.append("\\" + escaped)
                like.append("\\" + escaped)
            elif escaped in _STRING_ESCAPES:
                decoded = _STRING_ESCAPES[escaped]
                value.append(decoded)
                like.append("\\\\" if decoded == "\\" else decoded)
            else:
                raise error_at(soql, pos, "MALFORMED_QUERY",
                               f"Invalid string literal '{soql[start:pos + 2]}'. Illegal escape sequence "
                               f"'\\{escaped}'")
            pos += 2
            continue
        value.append(char)
        like.append(char)
        pos += 1
    raise error_at(soql, start, "MALFORMED_QUERY", f"line 1:{start} mismatched character '<EOF>' expecting '''")


class Parser:
    """Recursive-descent parser over the tokens of one query."""

    def __init__(self, soql: str) -> None:
        if len(soql) > MAX_QUERY_LENGTH:
            raise SoqlError("MALFORMED_QUERY", f"Query is too long: SOQL statements cannot be longer than "
                                               f"{MAX_QUERY_LENGTH:,} characters.")
        self.soql = soql
        self.tokens = tokenize(soql)
        self.index = 0
        self.depth = 0

    # -- helpers ---------------------------------------------------------------------------

    @property
    def token(self) -> Token:
        """The current token."""
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        """The token ``ahead`` positions after the current one (``eof`` past the end)."""
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        """Consume and return the current token."""
        token = self.token
        if token.kind != "eof":
            self.index += 1
        return token

    def is_keyword(self, *words: str) -> bool:
        """True when the current token is one of the keywords ``words``."""
        return self.token.kind == "ident" and self.token.upper in words

    def expect_keyword(self, word: str) -> Token:
        """Consume keyword ``word`` or fail with ``unexpected token``."""
        if not self.is_keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, text: str) -> Token:
        """Consume punctuation ``text`` or fail with ``unexpected token``."""
        if self.token.kind != "punct" or self.token.text != text:
            raise self.unexpected()
        return self.advance()

    def unexpected(self, token: Token | None = None) -> SoqlError:
        """The ``unexpected token`` error for ``token`` (default: the current one)."""
        token = token or self.token
        shown = token.text if token.kind == "eof" else f"'{token.text}'"
        return error_at(self.soql, token.pos, "MALFORMED_QUERY", f"unexpected token: {shown}")

    def unsupported(self, token: Token, what: str) -> SoqlError:
        """The error for valid SOQL this emulator does not implement."""
        return error_at(self.soql, token.pos, "MALFORMED_QUERY",
                        f"{what} is not supported by the Salesforce emulator (at '{token.text}')")

    # -- grammar ---------------------------------------------------------------------------

    def parse(self) -> Query:
        """Parse the whole query.

        Raises:
            SoqlError: ``MALFORMED_QUERY`` naming the unexpected or unsupported token.
        """
        self.expect_keyword("SELECT")
        fields, is_count = self.select_list()
        self.expect_keyword("FROM")
        if self.token.kind != "ident":
            raise self.unexpected()
        name_token = self.advance()
        if self.token.kind == "punct" and self.token.text == ",":
            raise self.unsupported(self.token, "Querying more than one object")
        query = Query(fields=fields, is_count=is_count, object_name=name_token.text, object_pos=name_token.pos)
        if self.token.kind == "ident" and self.token.upper not in CLAUSE_KEYWORDS:
            query.alias = self.advance().text
        if self.is_keyword("WHERE"):
            self.advance()
            query.where = self.condition()
        self.reject_unsupported_clause()
        if self.is_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order_by = self.order_list()
        self.reject_unsupported_clause()
        if self.is_keyword("LIMIT"):
            self.advance()
            query.limit = self.count_value()
        if self.is_keyword("OFFSET"):
            offset_token = self.advance()
            query.offset = self.count_value()
            if query.offset > 2000:
                raise error_at(self.soql, offset_token.pos, "NUMBER_OUTSIDE_VALID_RANGE",
                               "Maximum SOQL offset allowed is 2000")
        self.reject_unsupported_clause()
        if self.token.kind != "eof":
            raise self.unexpected()
        return query

    def reject_unsupported_clause(self) -> None:
        """Fail clearly on a clause this emulator does not implement (GROUP BY, WITH, FOR UPDATE...)."""
        if self.token.kind == "ident" and self.token.upper in UNSUPPORTED_CLAUSES:
            raise self.unsupported(self.token, UNSUPPORTED_CLAUSES[self.token.upper])

    def select_list(self) -> tuple[list[FieldPath | FieldsFunction], bool]:
        """``COUNT()`` or a comma-separated list of field paths."""
        if self.is_keyword("COUNT") and self.peek().text == "(":
            count_token = self.advance()
            self.advance()
            if self.token.text != ")":
                raise self.unsupported(count_token, "COUNT(fieldName) and other aggregate functions")
            self.advance()
            if self.token.text == ",":
                raise self.unexpected()
            return [], True
        fields: list[FieldPath | FieldsFunction] = [self.select_item()]
        while self.token.kind == "punct" and self.token.text == ",":
            self.advance()
            fields.append(self.select_item())
        return fields, False

    def select_item(self) -> FieldPath | FieldsFunction:
        """One field of the select list or ``FIELDS(...)``; subqueries, TYPEOF and other functions are refused."""
        token = self.token
        if token.kind == "ident" and token.upper == "FIELDS" and self.peek().text == "(":
            self.advance()
            self.advance()
            if not self.is_keyword("ALL", "STANDARD", "CUSTOM"):
                raise self.unexpected()
            kind = self.advance().upper
            self.expect_punct(")")
            return FieldsFunction(kind, token.pos)
        if token.kind == "punct" and token.text == "(":
            raise self.unsupported(token, "A relationship subquery")
        if token.kind == "ident" and token.upper == "TYPEOF":
            raise self.unsupported(token, "TYPEOF")
        if token.kind == "ident" and self.peek().text == "(" and self.peek().kind == "punct":
            raise self.unsupported(token, f"The function {token.text}()")
        return self.field_path()

    def field_path(self) -> FieldPath:
        """``name(.name)*``."""
        first = self.token
        if first.kind != "ident" or first.upper in RESERVED:
            raise self.unexpected()
        parts = [self.advance().text]
        while self.token.kind == "punct" and self.token.text == ".":
            self.advance()
            if self.token.kind != "ident":
                raise self.unexpected()
            parts.append(self.advance().text)
        return FieldPath(tuple(parts), first.pos)

    def condition(self) -> Condition:
        """Conditions joined by AND or by OR; mixing them, or a NOT after them, needs parentheses, as in SOQL."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise error_at(self.soql, self.token.pos, "MALFORMED_QUERY",
                           f"conditions nested more than {MAX_NESTING} levels deep")
        items = [self.unary()]
        op = None
        while self.is_keyword("AND", "OR"):
            if op is not None and self.token.upper != op:
                raise self.unexpected()
            op = self.advance().upper
            if self.is_keyword("NOT"):
                raise self.unexpected()
            items.append(self.unary())
        self.depth -= 1
        return items[0] if op is None else Logical(op, tuple(items))

    def unary(self) -> Condition:
        """``NOT unary``, ``( condition )`` or a comparison."""
        negations = 0
        while self.is_keyword("NOT"):
            self.advance()
            negations += 1
            if negations > MAX_NESTING:
                raise error_at(self.soql, self.token.pos, "MALFORMED_QUERY", f"more than {MAX_NESTING} NOTs in a row")
        if negations:
            inner = self.unary()
            for _ in range(negations):
                inner = Negation(inner)
            return inner
        if self.token.kind == "punct" and self.token.text == "(":
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        """``field op value`` with op one of = != <> < <= > >= LIKE IN NOT IN."""
        token = self.token
        if token.kind == "ident" and self.peek().kind == "punct" and self.peek().text == "(":
            raise self.unsupported(token, f"The function {token.text}() in WHERE")
        path = self.field_path()
        op_token = self.token
        if op_token.kind == "op":
            self.advance()
            op = "!=" if op_token.text == "<>" else op_token.text
            return Comparison(path, op, self.value(), op_token.pos)
        if self.is_keyword("LIKE"):
            self.advance()
            return Comparison(path, "LIKE", self.value(), op_token.pos)
        if self.is_keyword("IN"):
            self.advance()
            return Comparison(path, "IN", self.value_list(), op_token.pos)
        if self.is_keyword("NOT") and self.peek().kind == "ident" and self.peek().upper == "IN":
            self.advance()
            self.advance()
            return Comparison(path, "NOT IN", self.value_list(), op_token.pos)
        if self.is_keyword("INCLUDES", "EXCLUDES"):
            raise self.unsupported(op_token, op_token.upper)
        raise self.unexpected()

    def value_list(self) -> tuple[Literal, ...]:
        """``( value, value... )`` of IN and NOT IN."""
        self.expect_punct("(")
        if self.is_keyword("SELECT"):
            raise self.unsupported(self.token, "A semi-join subquery")
        values = [self.value()]
        while self.token.kind == "punct" and self.token.text == ",":
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Literal:
        """One literal: string, number, date, datetime, true/false, null or a relative date literal."""
        token = self.advance()
        if token.kind == "string":
            return Literal("string", token.value, token.pos, like=token.like)
        if token.kind == "number":
            return Literal("number", _number(token.text), token.pos)
        if token.kind == "date":
            try:
                return Literal("date", date.fromisoformat(token.text), token.pos)
            except ValueError:
                raise error_at(self.soql, token.pos, "MALFORMED_QUERY", f"invalid date: {token.text}") from None
        if token.kind == "datetime":
            return self.datetime_literal(token)
        if token.kind == "punct" and token.text == ":":
            raise error_at(self.soql, token.pos, "MALFORMED_QUERY", "Bind variables only allowed in Apex code")
        if token.kind != "ident":
            raise self.unexpected(token)
        word = token.upper
        if word in {"TRUE", "FALSE"}:
            return Literal("boolean", word == "TRUE", token.pos)
        if word == "NULL":
            return Literal("null", None, token.pos)
        if word in DATE_LITERALS:
            return Literal("date_literal", word, token.pos)
        if word in DATE_N_LITERALS:
            self.expect_punct(":")
            amount = self.advance()
            if amount.kind != "number" or not amount.text.isdigit():
                raise self.unexpected(amount)
            return Literal("date_literal", word, token.pos, n=int(amount.text))
        if re.fullmatch(r"(LAST|NEXT|THIS)_\w+|N_\w+", word):
            raise self.unsupported(token, f"The date literal {token.text}")
        raise self.unexpected(token)

    def datetime_literal(self, token: Token) -> Literal:
        """A datetime literal as an aware UTC datetime."""
        from emulators.salesforce.storage_format import parse_datetime

        try:
            return Literal("datetime", parse_datetime(token.text), token.pos)
        except ValueError:
            raise error_at(self.soql, token.pos, "MALFORMED_QUERY", f"invalid datetime: {token.text}") from None

    def order_list(self) -> list[OrderItem]:
        """``field [ASC|DESC] [NULLS FIRST|LAST]``, comma-separated."""
        items = []
        while True:
            if self.token.kind == "ident" and self.peek().text == "(" and self.peek().kind == "punct":
                raise self.unsupported(self.token, f"The function {self.token.text}() in ORDER BY")
            path = self.field_path()
            descending = False
            if self.is_keyword("ASC", "DESC"):
                descending = self.advance().upper == "DESC"
            nulls_last = descending
            if self.is_keyword("NULLS"):
                self.advance()
                if not self.is_keyword("FIRST", "LAST"):
                    raise self.unexpected()
                nulls_last = self.advance().upper == "LAST"
            items.append(OrderItem(path, descending, nulls_last))
            if not (self.token.kind == "punct" and self.token.text == ","):
                return items
            self.advance()

    def count_value(self) -> int:
        """The non-negative integer after LIMIT or OFFSET."""
        token = self.advance()
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected(token)
        value = int(token.text)
        if value > 2**31 - 1:
            raise error_at(self.soql, token.pos, "NUMBER_OUTSIDE_VALID_RANGE",
                           f"The number {token.text} is outside the valid range")
        return value


def _number(text: str) -> int | float:
    """An integer literal that fits SQLite's 64 bits stays exact; anything else is a float."""
    if re.fullmatch(r"[+-]?\d+", text):
        value = int(text)
        if -(2**63) <= value < 2**63:
            return value
    return float(text)


def parse(soql: str) -> Query:
    """Parse ``soql`` into a :class:`Query`.

    Raises:
        SoqlError: ``MALFORMED_QUERY`` (or ``NUMBER_OUTSIDE_VALID_RANGE`` for OFFSET beyond 2,000).
    """
    return Parser(soql).parse()
