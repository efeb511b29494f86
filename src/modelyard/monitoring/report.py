"""One self-contained HTML drift report: inline CSS and SVG, no script, no network.

    html = render_report(title="fraud v3, last 24 h", drift=report, profile=profile,
                         current=window, metrics_over_time=rows, alerts=alert_dicts)
    Path("report.html").write_text(html)

Sections: a summary, the drift table (drifted first), prediction drift, per-feature reference
vs current distributions (the profile's sketch and the window binned on the same edges),
metrics over time (``{ts, metric, value, version, variant}`` rows, one chart per metric), and
the alert history. Every user-supplied string (feature names, categories, alert fields) is
HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from modelyard.entities import now_ms
from modelyard.entities.drift import (
    CATEGORICAL,
    DATETIME,
    OK,
    DriftReport,
    FeatureDrift,
    FeatureProfile,
    Profile,
)
from modelyard.monitoring import columns as cols
from modelyard.monitoring import svg

__all__ = ["render_report"]

HIST_BINS = 20
TOP_CATEGORIES = 15
TIME_KEYS = ("ts", "time", "timestamp", "created_at", "fired_at", "resolved_at", "at")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
h3{font-size:15px;margin:0 0 6px}
.muted{color:#6b7280}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:20px}
.bad{color:#c0392b}.good{color:#1e8449}.warn{color:#b9770e}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e3e6eb}
th,td{padding:5px 8px;border-bottom:1px solid #eef0f3;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td:first-child{border-left:3px solid #c0392b}
.feature{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:12px;margin:12px 0}
.chart{width:100%;max-width:640px;height:auto;display:block}
.chart .grid{stroke:#eceff3}.chart .tick{font-size:10px;fill:#6b7280}
.msg{font-size:12px;color:#4b5563}
"""


def render_report(
    *,
    title: str,
    drift: DriftReport | None,
    profile: Profile | None,
    current: Any = None,
    metrics_over_time: Iterable[Mapping[str, Any]] | None = None,
    alerts: Iterable[Mapping[str, Any] | Any] | None = None,
    generated_at: int | None = None,
) -> str:
    """The whole report as one HTML document (a string)."""
    frame = cols.as_frame(current, "current") if current is not None else None
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f"<div class='muted'>generated {escape(_time(generated_at or now_ms()))} UTC by "
        "modelyard</div>",
        _summary(drift, profile),
    ]
    features = _feature_order(drift, profile)
    if drift is not None:
        parts.append(_drift_table(drift, features))
        if drift.prediction_drift is not None:
            parts.append("<h2>Prediction drift</h2>" + _drift_rows([drift.prediction_drift], {}))
    if profile is not None:
        parts.append(_distributions(profile, frame, features, drift))
    parts.append(_metrics(list(metrics_over_time or [])))
    parts.append(_alerts(list(alerts or [])))
    parts.append("</main></body></html>")
    return "".join(parts)


# -- summary and table -----------------------------------------------------------------------
def _summary(drift: DriftReport | None, profile: Profile | None) -> str:
    cards = []
    if drift is not None:
        if drift.status != OK:
            verdict = "<b class='warn'>not enough data</b>"
        elif drift.dataset_drift:
            verdict = "<b class='bad'>drift detected</b>"
        else:
            verdict = "<b class='good'>no dataset drift</b>"
        cards += [
            f"<div class='card'>dataset{verdict}</div>",
            _card(
                "drifted features",
                f"{len(drift.drifted_features)} / {drift.n_tested}",
                f"share {drift.drift_share:.0%}, threshold {drift.drift_share_threshold:.0%}",
            ),
            _card("rows in window", f"{drift.n_current:,}", ""),
            _card(
                "tests",
                escape(", ".join(f"{k}: {'+'.join(v)}" for k, v in drift.methods.items())),
                f"alpha {drift.alpha:g}, correction {escape(drift.correction)}",
            ),
        ]
        if drift.prediction_drift is not None:
            pd_ = drift.prediction_drift
            state = "drifted" if pd_.drifted else pd_.status.replace("_", " ")
            cls = "bad" if pd_.drifted else "good" if pd_.status == OK else "warn"
            cards.append(f"<div class='card'>predictions<b class='{cls}'>{escape(state)}</b></div>")
    if profile is not None:
        cards.append(
            _card("reference rows", f"{profile.n_rows:,}", f"{len(profile.features)} features")
        )
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _card(label: str, value: str, note: str) -> str:
    return f"<div class='card'>{escape(label)}<b>{value}</b><span class='muted'>{note}</span></div>"


def _feature_order(drift: DriftReport | None, profile: Profile | None) -> list[str]:
    """Drifted first (most significant first), then the rest, then untested profile features."""
    order: list[str] = []
    if drift is not None:
        order = [f.feature for f in sorted(drift.features, key=_rank)]
    if profile is not None:
        order += [name for name in profile.features if name not in order]
    return order


def _rank(f: FeatureDrift) -> tuple[int, float, float]:
    group = 0 if f.drifted else 1 if f.status == OK else 2
    p = f.p_value_adjusted if f.p_value_adjusted is not None else f.p_value
    return group, p if p is not None else 1.0, -(f.statistic or 0.0)


def _drift_table(drift: DriftReport, features: list[str]) -> str:
    anchors = {name: f"feature-{i}" for i, name in enumerate(features)}
    rows = sorted(drift.features, key=_rank)
    return "<h2>Drift by feature</h2>" + _drift_rows(rows, anchors)


def _drift_rows(rows: Sequence[FeatureDrift], anchors: Mapping[str, str]) -> str:
    head = (
        "<tr><th>feature</th><th>kind</th><th>status</th><th>method</th><th>statistic</th>"
        "<th>p-value</th><th>adjusted</th><th>threshold</th><th>missing ref / cur</th>"
        "<th>detail</th></tr>"
    )
    body = []
    for f in rows:
        name = escape(f.feature)
        if f.feature in anchors:
            name = f"<a href='#{anchors[f.feature]}'>{name}</a>"
        status = "drifted" if f.drifted else f.status.replace("_", " ")
        cls = "bad" if f.drifted else "good" if f.status == OK else "warn"
        body.append(
            f"<tr class='{'drifted' if f.drifted else ''}'><td>{name}</td>"
            f"<td>{escape(f.kind)}</td><td class='{cls}'>{escape(status)}</td>"
            f"<td>{escape(f.method)}</td><td class='num'>{_fmt(f.statistic)}</td>"
            f"<td class='num'>{_fmt(f.p_value)}</td><td class='num'>{_fmt(f.p_value_adjusted)}</td>"
            f"<td class='num'>{_fmt(f.threshold)}</td>"
            f"<td class='num'>{_pct(f.missing_reference)} / {_pct(f.missing_current)}</td>"
            f"<td class='msg'>{escape(f.message)}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return escape(f"{value:.4g}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


# -- distributions ---------------------------------------------------------------------------
def _distributions(
    profile: Profile, frame: Any, features: list[str], drift: DriftReport | None
) -> str:
    verdicts = {f.feature: f for f in drift.features} if drift is not None else {}
    names = set(cols.column_names(frame)) if frame is not None else set()
    blocks = []
    for i, name in enumerate(features):
        reference = profile.features.get(name)
        if reference is None:
            continue
        column = cols.find_column(frame, name, names) if frame is not None else None
        blocks.append(_feature_block(f"feature-{i}", reference, column, verdicts.get(name)))
    if profile.predictions is not None:
        column = None
        if frame is not None and profile.predictions.name in names:
            column = cols.get(frame, profile.predictions.name)
        verdict = drift.prediction_drift if drift is not None else None
        blocks.append(_feature_block("predictions", profile.predictions, column, verdict))
    return "<h2>Distributions: reference vs current</h2>" + "".join(blocks)


def _feature_block(
    anchor: str, reference: FeatureProfile, column: Any, verdict: FeatureDrift | None
) -> str:
    title = f"{reference.name} ({reference.kind})"
    if verdict is not None:
        title += " · drifted" if verdict.drifted else f" · {verdict.status.replace('_', ' ')}"
    if reference.kind == CATEGORICAL:
        labels, series, stats = _categorical_chart(reference, column)
    else:
        labels, series, stats = _numeric_chart(reference, column)
    chart = (
        svg.bars(labels, series, title=title, overlap=reference.kind != CATEGORICAL)
        if labels
        else "<p class='muted'>no values to draw</p>"
    )
    note = f"<div class='msg'>{escape(verdict.message)}</div>" if verdict is not None else ""
    return (
        f"<section class='feature' id='{anchor}'><h3>{escape(title)}</h3>{chart}"
        f"<div class='msg'>{stats}</div>{note}</section>"
    )


def _numeric_chart(
    reference: FeatureProfile, column: Any
) -> tuple[list[str], list[tuple[str, list[float]]], str]:
    lo, hi = reference.summary.get("p01"), reference.summary.get("p99")
    if lo is None or hi is None or reference.count == 0:
        return [], [], "reference: no values"
    if not hi > lo:
        lo, hi = (reference.summary.get("min") or lo), (reference.summary.get("max") or hi)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    padded = np.concatenate([[0], reference.sketch_cum])
    at_or_below = padded[np.searchsorted(reference.sketch_values, edges, side="right")]
    ref_counts = np.diff(np.concatenate([[0], at_or_below, [reference.count]]))
    short = _day if reference.kind == DATETIME else _short
    labels = [f"≤ {short(edges[0])}"]
    labels += [short((a + b) / 2) for a, b in itertools.pairwise(edges)]
    labels.append(f"> {short(edges[-1])}")
    series = [("reference", list(ref_counts / max(reference.count, 1)))]
    text = "reference: " + _numeric_stats(
        reference.count, reference.missing_rate, reference.summary
    )
    if column is not None:
        values = np.sort(cols.numeric_values(column))
        n = int(np.searchsorted(values, np.nan, side="left"))
        counts = np.diff(np.concatenate([[0], np.searchsorted(values[:n], edges, "right"), [n]]))
        series.append(("current", list(counts / max(n, 1))))
        missing = (len(values) - n) / len(values) if len(values) else 0.0
        text += "<br>current: " + _numeric_stats(n, missing, _quick_summary(values[:n]))
    keep = [i for i in range(len(labels)) if any(s[1][i] > 0 for s in series)]
    keep = list(range(min(keep), max(keep) + 1)) if keep else []
    return [labels[i] for i in keep], [(s, [v[i] for i in keep]) for s, v in series], text


def _quick_summary(ordered: np.ndarray) -> dict[str, float | None]:
    if len(ordered) == 0:
        return {}
    with np.errstate(all="ignore"):
        return {
            "mean": float(np.mean(ordered)),
            "std": float(np.std(ordered)),
            "min": float(ordered[0]),
            "max": float(ordered[-1]),
            "p50": float(np.quantile(ordered, 0.5)),
        }


def _numeric_stats(n: int, missing: float, summary: Mapping[str, float | None]) -> str:
    parts = [f"n={n:,}", f"missing {missing:.1%}"]
    for key in ("mean", "std", "min", "p50", "max"):
        value = summary.get(key)
        if value is not None:
            parts.append(f"{key} {_short(value)}")
    return escape(", ".join(parts))


def _day(seconds: float) -> str:
    return _time(seconds * 1000)[:10]


def _short(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e6 else f"{value:.2e}"


def _categorical_chart(
    reference: FeatureProfile, column: Any
) -> tuple[list[str], list[tuple[str, list[float]]], str]:
    shown = list(reference.categories[:TOP_CATEGORIES])
    ref_freq = reference.frequencies()
    current: dict[str, int] = {}
    cur_total = 0
    text = escape(
        f"reference: n={reference.count:,}, missing {reference.missing_rate:.1%}, "
        f"{len(reference.categories) + (1 if reference.other_count else 0)} categories"
    )
    if column is not None:
        current, missing = cols.category_counts(column)
        cur_total = max(sum(current.values()), 1)
        unseen = sorted((k for k in current if k not in ref_freq), key=lambda k: -current[k])
        rate = missing / (missing + cur_total) if missing + cur_total else 0.0
        text += "<br>" + escape(
            f"current: n={sum(current.values()):,}, missing {rate:.1%}, "
            f"{len(unseen)} categor{'y' if len(unseen) == 1 else 'ies'} never seen in training"
        )
        shown += unseen[:5]
    labels = [k if k in ref_freq else f"{k} (new)" for k in shown]
    ref_values = [ref_freq.get(k, 0.0) for k in shown]
    other_ref = 1.0 - sum(ref_values) if reference.count else 0.0
    series = [("reference", [*ref_values, max(other_ref, 0.0)])]
    if column is not None:
        cur_values = [current.get(k, 0) / cur_total for k in shown]
        series.append(("current", [*cur_values, max(1.0 - sum(cur_values), 0.0)]))
    labels.append("other")
    if all(s[1][-1] < 1e-12 for s in series):
        labels, series = labels[:-1], [(n, v[:-1]) for n, v in series]
    return labels, series, text


# -- metrics and alerts ----------------------------------------------------------------------
def _metrics(rows: list[Mapping[str, Any]]) -> str:
    if not rows:
        return "<h2>Metrics over time</h2><p class='muted'>no metrics recorded</p>"
    grouped: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for row in rows:
        ts, value = _ms(row.get("ts")), _float(row.get("value"))
        if ts is None or value is None:
            continue
        series = " ".join(
            str(p)
            for p in (
                f"v{row['version']}" if row.get("version") is not None else None,
                row.get("variant"),
            )
            if p
        )
        metric = str(row.get("metric", "value"))
        grouped.setdefault(metric, {}).setdefault(series or metric, []).append((ts, value))
    charts = []
    for metric, by_series in grouped.items():
        lines = [
            (label, [p[0] for p in sorted(points)], [p[1] for p in sorted(points)])
            for label, points in by_series.items()
        ]
        charts.append(
            f"<section class='feature'><h3>{escape(metric)}</h3>"
            f"{svg.lines(lines, title=metric)}</section>"
        )
    return "<h2>Metrics over time</h2>" + "".join(charts)


def _alerts(alerts: list[Any]) -> str:
    if not alerts:
        return "<h2>Alert history</h2><p class='muted'>no alerts</p>"
    rows = [a.to_dict() if hasattr(a, "to_dict") else dict(a) for a in alerts]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{escape(str(k))}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(k, row.get(k))}</td>" for k in keys) + "</tr>" for row in rows
    )
    return f"<h2>Alert history</h2><table><tr>{head}</tr>{body}</table>"


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if str(key).lower() in TIME_KEYS:
        ms = _ms(value)
        if ms is not None:
            return escape(_time(ms))
    return escape(str(value))


def _ms(value: Any) -> float | None:
    """Epoch milliseconds from epoch ms / s (numbers below 1e11 are seconds), a datetime or an
    ISO-8601 string (naive means UTC)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return number * 1000 if abs(number) < 1e11 else number
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.timestamp() * 1000
    try:
        import pandas as pd

        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT:
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return float(stamp.timestamp() * 1000)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _time(ms: float) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
