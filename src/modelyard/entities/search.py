"""The run search grammar: a filter and an order-by, parsed into a small AST (no I/O).

Filter grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ( "or" and_expr )*
    and_expr   := term ( "and" term )*
    term       := "(" or_expr ")" | comparison
    comparison := field op value | field "in" "(" value ("," value)* ")"
                | field "not" "in" "(" ... ")" | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags" | "attributes") "." name
    name       := identifier | `back quoted` | "double quoted"
    op         := = | == | != | <> | < | <= | > | >= | like | ilike
    value      := number | 'single quoted string'

Examples::

    metrics.auc > 0.9 and params.model = 'lightgbm'
    (tags.team = 'fraud' or tags.team = 'risk') and attributes.status = 'FINISHED'
    params.model in ('lightgbm', 'xgboost') and metrics.`val loss` < 0.2

Metrics compare numerically against their latest value. Params and tags are strings: they take
``=``, ``!=``, ``like``, ``ilike``, ``in``, ``not in`` and ``is [not] null``. Attributes are the run's
own columns (:data:`ATTRIBUTES`); times are milliseconds since the epoch.

Order by: a comma-separated list of ``field [asc|desc]``, e.g. ``metrics.auc desc,
attributes.start_time``. Missing values sort last. The default is ``attributes.start_time desc``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from modelyard.errors import FilterSyntaxError, suggest

__all__ = [
    "ATTRIBUTES",
    "BoolOp",
    "Comparison",
    "FilterNode",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
]

Kind = Literal["metrics", "params", "tags", "attributes"]
KINDS: dict[str, Kind] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
ATTRIBUTES: dict[str, str] = {
    # name -> type ("str" or "int")
    "run_id": "str",
    "name": "str",
    "run_name": "str",
    "status": "str",
    "user": "str",
    "start_time": "int",
    "end_time": "int",
    "experiment_id": "str",
    "parent_run_id": "str",
    "code_version": "str",
    "source": "str",
    "artifact_uri": "str",
}
STRING_OPS = frozenset({"=", "!=", "like", "ilike", "in", "not in", "is null", "is not null"})
NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null"})
Value = float | int | str | tuple[float | int | str, ...] | None


@dataclass(frozen=True, slots=True)
class Comparison:
    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: Literal["and", "or"]
    operands: tuple[FilterNode, ...]


FilterNode = Comparison | BoolOp


@dataclass(frozen=True, slots=True)
class OrderKey:
    kind: Kind
    key: str
    descending: bool = False


_FIELD = r"""[A-Za-z_]+\.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_\-./:]+)"""
_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
      | (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<field>{_FIELD})
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_]+)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterSyntaxError(
                f"Cannot parse the filter at position {pos}: {text[pos : pos + 20]!r}. "
                "Write comparisons like metrics.auc > 0.9 and params.model = 'lightgbm' "
                "(strings in single quotes).",
                filter=text,
                position=pos,
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def _parse_field(raw: str, text: str) -> tuple[Kind, str]:
    prefix, _, name = raw.partition(".")
    kind = KINDS.get(prefix.lower())
    if kind is None:
        raise FilterSyntaxError(
            f"Unknown field prefix {prefix!r} in {raw!r}{suggest(prefix.lower(), list(KINDS))}. "
            "Use metrics., params., tags. or attributes.",
            filter=text,
            field=raw,
        )
    if name[:1] in '`"':
        name = name[1:-1]
    if kind == "attributes" and name not in ATTRIBUTES:
        raise FilterSyntaxError(
            f"Unknown attribute {name!r}{suggest(name, list(ATTRIBUTES))}. "
            f"Valid attributes: {', '.join(ATTRIBUTES)}.",
            filter=text,
            field=raw,
        )
    if kind == "attributes" and name == "run_name":
        name = "name"
    return kind, name


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def error(self, message: str) -> FilterSyntaxError:
        where = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return FilterSyntaxError(
            f"{message} at position {where} of filter {self.text!r}.",
            filter=self.text,
            position=where,
        )

    def peek_word(self) -> str | None:
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "word":
            return self.tokens[self.i][1].lower()
        return None

    def take(self, kind: str, value: str | None = None) -> str:
        if self.i >= len(self.tokens):
            raise self.error(f"Expected {value or kind} but the filter ended")
        tok_kind, tok_value, _ = self.tokens[self.i]
        if tok_kind != kind or (value is not None and tok_value.lower() != value):
            raise self.error(f"Expected {value or kind}, found {tok_value!r}")
        self.i += 1
        return tok_value

    def parse(self) -> FilterNode:
        node = self.or_expr()
        if self.i != len(self.tokens):
            raise self.error(f"Unexpected {self.tokens[self.i][1]!r}")
        return node

    def or_expr(self) -> FilterNode:
        operands = [self.and_expr()]
        while self.peek_word() == "or":
            self.i += 1
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_expr(self) -> FilterNode:
        operands = [self.term()]
        while self.peek_word() == "and":
            self.i += 1
            operands.append(self.term())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def term(self) -> FilterNode:
        if self.i < len(self.tokens) and self.tokens[self.i][1] == "(":
            self.i += 1
            node = self.or_expr()
            self.take("punct", ")")
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        if self.i >= len(self.tokens) or self.tokens[self.i][0] != "field":
            found = self.tokens[self.i][1] if self.i < len(self.tokens) else "the end"
            raise self.error(f"Expected a field like metrics.auc or params.model, found {found!r}")
        kind, key = _parse_field(self.take("field"), self.text)
        op, value = self.operator_and_value()
        return _checked(Comparison(kind, key, op, value), self.text)

    def operator_and_value(self) -> tuple[str, Value]:
        word = self.peek_word()
        if word in ("like", "ilike"):
            self.i += 1
            return word, self.scalar()
        if word == "in":
            self.i += 1
            return "in", self.value_list()
        if word == "not":
            self.i += 1
            self.take("word", "in")
            return "not in", self.value_list()
        if word == "is":
            self.i += 1
            if self.peek_word() == "not":
                self.i += 1
                self.take("word", "null")
                return "is not null", None
            self.take("word", "null")
            return "is null", None
        op = self.take("op")
        op = {"==": "=", "<>": "!="}.get(op, op)
        return op, self.scalar()

    def scalar(self) -> float | int | str:
        if self.i >= len(self.tokens):
            raise self.error("Expected a value but the filter ended")
        kind, raw, _ = self.tokens[self.i]
        self.i += 1
        if kind == "number":
            number = float(raw)
            return (
                int(number)
                if number.is_integer() and "." not in raw and "e" not in raw.lower()
                else number
            )
        if kind == "string":
            return raw[1:-1].replace("''", "'").replace("\\'", "'")
        self.i -= 1
        raise self.error(f"Expected a number or a 'quoted string', found {raw!r}")

    def value_list(self) -> tuple[float | int | str, ...]:
        self.take("punct", "(")
        values = [self.scalar()]
        while self.i < len(self.tokens) and self.tokens[self.i][1] == ",":
            self.i += 1
            values.append(self.scalar())
        self.take("punct", ")")
        return tuple(values)


def _checked(cmp: Comparison, text: str) -> Comparison:
    numeric = cmp.kind == "metrics" or (
        cmp.kind == "attributes" and ATTRIBUTES.get(cmp.key) == "int"
    )
    allowed = NUMERIC_OPS if numeric else STRING_OPS
    if cmp.op not in allowed:
        raise FilterSyntaxError(
            f"Operator {cmp.op!r} is not valid for {cmp.kind}.{cmp.key} "
            f"({'numeric' if numeric else 'string'}); use one of {', '.join(sorted(allowed))}.",
            filter=text,
        )
    values = cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)
    for value in values:
        if value is None:
            continue
        if numeric and isinstance(value, str):
            raise FilterSyntaxError(
                f"{cmp.kind}.{cmp.key} is numeric; compare it with a number, not {value!r}.",
                filter=text,
            )
        if not numeric and not isinstance(value, str):
            raise FilterSyntaxError(
                f"{cmp.kind}.{cmp.key} is a string; quote the value: '{value}'.",
                filter=text,
            )
    return cmp


def parse_filter(text: str | None) -> FilterNode | None:
    """Parse a filter expression; None or blank means "every run"."""
    if text is None or not text.strip():
        return None
    return _Parser(text).parse()


def parse_order_by(items: str | Sequence[str] | None) -> list[OrderKey]:
    """Parse ``"metrics.auc desc, attributes.start_time"`` (or a list of such items)."""
    if items is None:
        return []
    parts = items.split(",") if isinstance(items, str) else [p for i in items for p in i.split(",")]
    keys: list[OrderKey] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        field = re.match(_FIELD, part)
        if "." not in part or field is None:
            raise FilterSyntaxError(
                f"Cannot order by {part.split()[0]!r}: write metrics.NAME, params.NAME, tags.NAME or "
                f"attributes.NAME, optionally followed by asc or desc.",
                order_by=part,
            )
        rest = part[field.end() :].split()
        if len(rest) > 1 or (rest and rest[0].lower() not in ("asc", "desc")):
            got = " ".join(rest)
            hint = suggest(got.lower(), ("asc", "desc")) if len(rest) == 1 else ""
            raise FilterSyntaxError(
                f"Cannot order by {part!r}: after {field.group()!r} write asc or desc, not "
                f"{got!r}{hint}. Quote a name with spaces in "
                "back quotes: metrics.`val loss` desc.",
                order_by=part,
            )
        kind, key = _parse_field(field.group(), part)
        keys.append(OrderKey(kind, key, bool(rest) and rest[0].lower() == "desc"))
    return keys
