from __future__ import annotations

import pytest

from modelyard.entities.search import BoolOp, Comparison, OrderKey, parse_filter, parse_order_by
from modelyard.errors import FilterSyntaxError


def test_example_from_the_docs() -> None:
    node = parse_filter("metrics.auc > 0.9 and params.model = 'lightgbm'")
    assert node == BoolOp(
        "and",
        (Comparison("metrics", "auc", ">", 0.9), Comparison("params", "model", "=", "lightgbm")),
    )


def test_or_binds_looser_than_and_and_parentheses_group() -> None:
    node = parse_filter("tags.a = 'x' or tags.b = 'y' and metrics.m >= 1")
    assert isinstance(node, BoolOp) and node.op == "or"
    assert node.operands[1] == BoolOp(
        "and", (Comparison("tags", "b", "=", "y"), Comparison("metrics", "m", ">=", 1))
    )
    grouped = parse_filter("(tags.a = 'x' or tags.b = 'y') and metrics.m >= 1")
    assert isinstance(grouped, BoolOp) and grouped.op == "and"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.model in ('a', 'b')", Comparison("params", "model", "in", ("a", "b"))),
        ("params.model not in ('a')", Comparison("params", "model", "not in", ("a",))),
        ("tags.note is null", Comparison("tags", "note", "is null", None)),
        ("tags.note IS NOT NULL", Comparison("tags", "note", "is not null", None)),
        ("params.name like 'lgb%'", Comparison("params", "name", "like", "lgb%")),
        ("metrics.`val loss` < 1e-3", Comparison("metrics", "val loss", "<", 0.001)),
        ('metrics."a b" != -2', Comparison("metrics", "a b", "!=", -2)),
        ("attributes.status = 'FINISHED'", Comparison("attributes", "status", "=", "FINISHED")),
        ("attr.run_name = 'x'", Comparison("attributes", "name", "=", "x")),
        ("params.q = 'it''s'", Comparison("params", "q", "=", "it's")),
        ("metrics.m == 3", Comparison("metrics", "m", "=", 3)),
    ],
)
def test_forms(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.auc >", "ended"),
        ("metrix.auc > 1", "Unknown field prefix 'metrix'"),
        ("metrics.auc > 'high'", "numeric"),
        ("params.lr > 0.1", "not valid for params.lr"),
        ("params.model = lightgbm", "Expected a number or a 'quoted string'"),
        ("attributes.colour = 'x'", "Unknown attribute 'colour'"),
        ("metrics.auc > 0.9 and", "found 'the end'"),
        ("(metrics.auc > 0.9", "Expected )"),
        ("metrics.auc > 0.9 params.x = 'a'", "Unexpected"),
        ("metrics.auc ~ 3", "Cannot parse"),
    ],
)
def test_errors_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert fragment in info.value.message


def test_blank_filter_means_everything() -> None:
    assert parse_filter(None) is None
    assert parse_filter("   ") is None


def test_order_by() -> None:
    assert parse_order_by("metrics.auc desc, attributes.start_time") == [
        OrderKey("metrics", "auc", True),
        OrderKey("attributes", "start_time", False),
    ]
    assert parse_order_by(["params.a ASC", "tags.b"]) == [
        OrderKey("params", "a", False),
        OrderKey("tags", "b", False),
    ]
    with pytest.raises(FilterSyntaxError, match="Cannot order by 'auc'"):
        parse_order_by("auc desc")
    assert parse_order_by("metrics.`val loss` desc") == [OrderKey("metrics", "val loss", True)]
    assert parse_order_by("metrics.`val loss`") == [OrderKey("metrics", "val loss", False)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.auc sideways", "'sideways'"),
        ("metrics.auc desc extra", "'desc extra'"),
        ("metrics.auc des", "did you mean 'desc'"),
        ("params.model asc desc", "'asc desc'"),
    ],
)
def test_a_bad_order_direction_is_an_error(text: str, fragment: str) -> None:
    """Not silently an order by a metric named 'auc sideways'."""
    with pytest.raises(FilterSyntaxError, match="asc or desc") as info:
        parse_order_by(text)
    assert fragment in info.value.message
