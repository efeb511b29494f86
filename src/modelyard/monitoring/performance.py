"""Model quality on labelled predictions, and service health (latency, errors) from the log, for
the whole window and per model version and A/B variant.

The whole-window figures (what alert rules read) are over the answered rows only; the shadow
model's labelled rows, when given, are one more group per version (variant ``shadow``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.entities.predictions import STATUS_ERROR, STATUS_REJECTED
from modelyard.monitoring.metrics import is_classification, score_metrics

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MetricRow", "PerformanceResult", "ServiceResult", "performance", "service_health"]

MetricRow = dict[str, Any]
"""{metric, value, version, variant, n}; version / variant None: the whole window"""


@dataclass
class PerformanceResult:
    status: str
    """ok | not_enough_data"""
    n_labelled: int
    metrics: dict[str, float | None] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)
    """[{version, variant, n_labelled, metrics}]"""
    notes: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def rows(self) -> list[MetricRow]:
        groups = ((g["version"], g["variant"], g["n_labelled"], g["metrics"]) for g in self.groups)
        return _metric_rows(self.metrics, self.n_labelled, groups)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metric_rows(
    metrics: Mapping[str, float | None],
    n: int,
    groups: Iterable[tuple[Any, Any, int, Mapping[str, float | None]]],
) -> list[MetricRow]:
    """One row per metric: the whole window's, then each (version, variant, n, values) group's."""
    return [
        {"metric": k, "value": v, "version": version, "variant": variant, "n": count}
        for version, variant, count, values in [(None, None, n, metrics), *groups]
        for k, v in values.items()
    ]


def _arrays(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y_true = table.column("label").to_numpy(zero_copy_only=False)
    y_pred = table.column("prediction").to_numpy(zero_copy_only=False)
    score = None
    if "proba" in table.column_names:
        proba = table.column("proba").to_numpy(zero_copy_only=False).astype(float)
        score = proba if np.isfinite(proba).any() else None
    return y_true, y_pred, score


def performance(
    labelled: pa.Table,
    metrics: Sequence[str],
    *,
    min_labels: int,
    shadow: pa.Table | None = None,
) -> PerformanceResult:
    """``metrics`` over labelled answered predictions (see
    :func:`modelyard.monitoring.window.labelled`); "not enough data" below ``min_labels`` rows.
    ``shadow``: the shadow model's labelled rows, scored as groups of their own only."""
    labelled = _scored(labelled)
    n = labelled.num_rows
    if n < min_labels:
        return PerformanceResult(
            "not_enough_data",
            n,
            dict.fromkeys(metrics),
            message=f"{n} labelled prediction{'s' if n != 1 else ''} in the window; "
            f"{min_labels} needed (send labels with POST /v1/feedback or "
            "`modelyard monitor feedback FILE`)",
        )
    y_true, y_pred, score = _arrays(labelled)
    classification = is_classification(y_pred, score)
    overall = score_metrics(metrics, y_true, y_pred, score, classification=classification)
    result = PerformanceResult("ok", n, overall.values, notes=overall.notes)
    groups = _groups(labelled)
    if shadow is not None and shadow.num_rows:
        groups = sorted(
            groups + _groups(_scored(shadow)), key=lambda g: (str(g[0][0]), str(g[0][1]))
        )
    for (version, variant), part in groups:
        yt, yp, sc = _arrays(part)
        scores = score_metrics(metrics, yt, yp, sc, classification=classification)
        result.groups.append(
            {
                "version": version,
                "variant": variant,
                "n_labelled": part.num_rows,
                "metrics": scores.values,
            }
        )
    return result


def _scored(table: pa.Table) -> pa.Table:
    """The rows with a prediction (failed and rejected requests have none)."""
    import pyarrow.compute as pc

    return table.filter(pc.is_valid(table.column("prediction"))) if table.num_rows else table


def _groups(table: pa.Table) -> list[tuple[tuple[Any, Any], pa.Table]]:
    """(version, variant) -> rows; one filter per group (groups are few: versions x arms)."""
    import pyarrow.compute as pc

    keys = table.select(["version", "variant"]).group_by(["version", "variant"]).aggregate([])
    out = []
    for version, variant in zip(
        keys.column("version").to_pylist(), keys.column("variant").to_pylist()
    ):
        mask = pc.and_kleene(
            _equal(table.column("version"), version), _equal(table.column("variant"), variant)
        )
        out.append(((version, variant), table.filter(mask)))
    return sorted(out, key=lambda item: (str(item[0][0]), str(item[0][1])))


def _equal(column: Any, value: Any) -> Any:
    import pyarrow.compute as pc

    return pc.is_null(column) if value is None else pc.fill_null(pc.equal(column, value), False)


# -- service health --------------------------------------------------------------------------
@dataclass
class ServiceResult:
    status: str
    n: int
    metrics: dict[str, float | None] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""

    def rows(self) -> list[MetricRow]:
        groups = (
            (g["version"], g["variant"], g["n"], {k: g[k] for k in self.metrics})
            for g in self.groups
        )
        return _metric_rows(self.metrics, self.n, groups)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# served: every request but those refused as the client's mistake (status 'rejected')
_SERVICE_SQL = """
SELECT {keys} count(*) AS n,
       count(*) FILTER (WHERE {served}) AS served,
       quantile_cont(latency_ms, 0.5) FILTER (WHERE {served}) AS latency_p50_ms,
       quantile_cont(latency_ms, 0.95) FILTER (WHERE {served}) AS latency_p95_ms,
       quantile_cont(latency_ms, 0.99) FILTER (WHERE {served}) AS latency_p99_ms,
       avg(CASE WHEN status = '{error}' THEN 1.0 ELSE 0.0 END) FILTER (WHERE {served})
           AS error_rate,
       avg(CASE WHEN status = '{rejected}' THEN 1.0 ELSE 0.0 END) AS rejected_rate
FROM w {group}
"""
_SERVED = f"status IS DISTINCT FROM '{STATUS_REJECTED}'"


def service_health(window: pa.Table | None, *, min_rows: int = 1) -> ServiceResult:
    """Service health of the window's answered requests, overall and per version / variant, in
    one DuckDB pass each: latency percentiles and ``error_rate`` (the share of failures: the
    server or the model, HTTP 5xx) over the requests the server served, and ``rejected_rate``
    (the share refused as the client's mistake, HTTP 4xx) over all of them."""
    import duckdb

    from modelyard.monitoring.window import arrow_table

    names = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate", "rejected_rate")
    n = 0 if window is None else window.num_rows
    if window is None or n < min_rows:
        return ServiceResult(
            "not_enough_data",
            n,
            dict.fromkeys(names),
            message=f"{n} predictions in the window; {min_rows} needed",
        )
    con = duckdb.connect()
    try:
        con.register("w", window.select(["version", "variant", "latency_ms", "status"]))
        sql = _SERVICE_SQL.replace("{served}", _SERVED)
        flags = {"error": STATUS_ERROR, "rejected": STATUS_REJECTED}
        total = arrow_table(con.sql(sql.format(keys="", group="", **flags))).to_pylist()[0]
        grouped = arrow_table(
            con.sql(
                sql.format(
                    keys="version, variant,",
                    group="GROUP BY version, variant ORDER BY version, variant",
                    **flags,
                )
            )
        ).to_pylist()
    finally:
        con.close()
    metrics = {k: _finite(total[k]) for k in names}
    groups = [{**g, **{k: _finite(g[k]) for k in names}} for g in grouped]
    return ServiceResult("ok", n, metrics, groups)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None
