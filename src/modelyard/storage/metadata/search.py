"""Compile the search AST (:mod:`modelyard.entities.search`) into SQL over the ``runs`` table.

Each comparison on a metric, param or tag becomes ``runs.run_id IN (SELECT run_id FROM ...
WHERE key = :k AND value <op> :v)``, which both SQLite and PostgreSQL answer from the
``(key, value)`` / ``(key, run_id)`` indexes without touching unrelated rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from modelyard.entities.search import Comparison, FilterNode, OrderKey
from modelyard.storage.metadata import schema as t

_KIND_TABLES = {"metrics": t.latest_metrics, "params": t.params, "tags": t.run_tags}


def _apply(column: Any, op: str, value: Any) -> Any:
    match op:
        case "=":
            return column == value
        case "!=":
            return column != value
        case "<":
            return column < value
        case "<=":
            return column <= value
        case ">":
            return column > value
        case ">=":
            return column >= value
        case "like":
            return column.like(value)
        case "ilike":
            return column.ilike(value)
        case "in":
            return column.in_(list(value))
        case "not in":
            return column.not_in(list(value))
    raise AssertionError(op)  # the parser only produces the operators above


def _comparison(cmp: Comparison) -> Any:
    if cmp.kind == "attributes":
        column = t.runs.c[cmp.key]
        value = cmp.value
        if cmp.key == "status":
            value = (
                tuple(str(v).upper() for v in value)
                if isinstance(value, tuple)
                else str(value).upper()
            )
        if cmp.key == "experiment_id" and value is not None:
            value = tuple(int(v) for v in value) if isinstance(value, tuple) else int(value)
        if cmp.op == "is null":
            return column.is_(None)
        if cmp.op == "is not null":
            return column.is_not(None)
        return _apply(column, cmp.op, value)
    table = _KIND_TABLES[cmp.kind]
    has_key = sa.select(table.c.run_id).where(table.c.key == cmp.key)
    if cmp.op == "is null":
        return t.runs.c.run_id.not_in(has_key)
    if cmp.op == "is not null":
        return t.runs.c.run_id.in_(has_key)
    return t.runs.c.run_id.in_(has_key.where(_apply(table.c.value, cmp.op, cmp.value)))


def compile_filter(node: FilterNode | None) -> Any:
    if node is None:
        return None
    if isinstance(node, Comparison):
        return _comparison(node)
    parts = [compile_filter(n) for n in node.operands]
    return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)


def compile_order_by(query: sa.Select[Any], keys: list[OrderKey]) -> sa.Select[Any]:
    """Add ORDER BY clauses (missing values last), then start_time desc and run_id as tie-breakers."""
    clauses: list[Any] = []
    for i, key in enumerate(keys):
        if key.kind == "attributes":
            column: Any = t.runs.c[key.key]
        else:
            table = _KIND_TABLES[key.kind].alias(f"order_{i}")
            query = query.outerjoin(
                table, sa.and_(table.c.run_id == t.runs.c.run_id, table.c.key == key.key)
            )
            column = table.c.value
        clauses.append(column.is_(None))  # False (0) sorts first: missing values last
        clauses.append(column.desc() if key.descending else column.asc())
    clauses += [t.runs.c.start_time.desc(), t.runs.c.run_id]
    return query.order_by(*clauses)


__all__ = ["compile_filter", "compile_order_by"]
