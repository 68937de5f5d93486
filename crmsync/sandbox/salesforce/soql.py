"""A SOQL subset, parsed into a small tree (``query`` binds it to an object and runs it).

Supported: ``SELECT f1, f2 | COUNT() FROM obj [WHERE ...] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]`` with =, !=, <>, <, <=, >, >=, [NOT] IN, LIKE, NOT, AND, OR, parentheses,
quoted strings (backslash escapes), numbers, true/false/null, date and datetime literals.
As in SOQL, AND and OR cannot be mixed at one level without parentheses, text comparisons ignore
case, and ``!=`` matches nulls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crmsync.sandbox.salesforce.schema import parse_datetime

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<number>-?\d+(?:\.\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),])""",
    re.X | re.S,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "like",
    "order",
    "by",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "limit",
    "offset",
    "true",
    "false",
    "null",
}


class SoqlError(Exception):
    """A query Salesforce would refuse: errorCode and message as the REST API reports them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Literal:
    kind: str  # string, number, datetime, date, bool, null
    value: Any


@dataclass
class Query:
    """A parsed (not yet bound) query."""

    obj: str
    fields: list[str] | None  # None for SELECT COUNT()
    where: Any = None  # ("and"|"or", [nodes]) | ("not", node) | ("cmp", f, op, lit) | ("in", f, neg, lits)
    order: list[tuple[str, bool, bool | None]] = field(default_factory=list)  # field, desc, nulls first
    limit: int | None = None
    offset: int | None = None


# --- parsing -------------------------------------------------------------------------------
def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos : pos + 20]}'")
        pos = match.end()
        if match.lastgroup != "ws":
            out.append((match.lastgroup or "", match.group()))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks, self.i = _tokens(text), 0

    def peek(self, word: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        return word is None or self.toks[self.i][1].lower() == word

    def take(self, word: str | None = None) -> tuple[str, str]:
        if not self.peek(word):
            found = self.toks[self.i][1] if self.i < len(self.toks) else "<EOF>"
            expected = f" (expecting '{word.upper()}')" if word else ""
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{found}'{expected}")
        self.i += 1
        return self.toks[self.i - 1]

    def ident(self) -> str:
        kind, text = self.take()
        if kind != "ident" or text.lower() in _KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
        return text

    def query(self) -> Query:
        self.take("select")
        fields: list[str] | None
        if self.peek("count"):
            self.take()
            self.take("(")
            self.take(")")
            fields = None
        else:
            fields = [self.ident()]
            while self.peek(","):
                self.take()
                fields.append(self.ident())
        self.take("from")
        q = Query(self.ident(), fields)
        if self.peek("where"):
            self.take()
            q.where = self.expr()
        if self.peek("order"):
            self.take()
            self.take("by")
            q.order.append(self.order_item())
            while self.peek(","):
                self.take()
                q.order.append(self.order_item())
        for clause in ("limit", "offset"):
            if self.peek(clause):
                self.take()
                kind, text = self.take()
                if kind != "number" or not text.isdigit():
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
                setattr(q, clause, int(text))
        if self.i < len(self.toks):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.toks[self.i][1]}'")
        return q

    def order_item(self) -> tuple[str, bool, bool | None]:
        name, desc, nulls_first = self.ident(), False, None
        if self.peek("asc") or self.peek("desc"):
            desc = self.take()[1].lower() == "desc"
        if self.peek("nulls"):
            self.take()
            nulls_first = self.take()[1].lower() == "first"
        return name, desc, nulls_first

    def expr(self) -> Any:
        nodes = [self.condition()]
        joiner = None
        while self.peek("and") or self.peek("or"):
            word = self.take()[1].lower()
            if joiner and word != joiner:  # SOQL demands parentheses when AND and OR meet
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{word.upper()}'")
            joiner = word
            nodes.append(self.condition())
        return (joiner, nodes) if joiner else nodes[0]

    def condition(self) -> Any:
        if self.peek("not"):
            self.take()
            return ("not", self.condition())
        if self.peek("("):
            self.take()
            node = self.expr()
            self.take(")")
            return node
        name = self.ident()
        if self.peek("not") or self.peek("in"):
            negate = bool(self.peek("not") and self.take())
            self.take("in")
            self.take("(")
            values = [self.literal()]
            while self.peek(","):
                self.take()
                values.append(self.literal())
            self.take(")")
            return ("in", name, negate, values)
        if self.peek("like"):
            self.take()
            return ("like", name, self.literal())
        kind, op = self.take()
        if kind != "op":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op}'")
        return ("cmp", name, op, self.literal())

    def literal(self) -> Literal:
        kind, text = self.take()
        if kind == "string":
            return Literal("string", _unescape(text[1:-1]))
        if kind == "number":
            return Literal("number", float(text) if "." in text else int(text))
        if kind == "datetime":
            return Literal("datetime", parse_datetime(text))
        if kind == "date":
            return Literal("date", date.fromisoformat(text))
        if kind == "ident" and text.lower() in ("true", "false"):
            return Literal("bool", text.lower() == "true")
        if kind == "ident" and text.lower() == "null":
            return Literal("null", None)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1 : i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in ("%", "_"):  # only meaningful in LIKE; kept escaped for the pattern
                out.append("\\" + nxt)
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 4
            else:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{body}'. Illegal character "
                    f"sequence '\\{nxt}' in string literal.",
                )
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse(text: str) -> Query:
    """Parse SOQL text, raising SoqlError(MALFORMED_QUERY) like Salesforce does."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(text).query()
