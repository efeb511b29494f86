"""Small inline-SVG charts for the drift report: grouped bars and time lines.

Hand-written on purpose: the report must be one self-contained file that opens offline, and
these two chart kinds are ~150 lines, where a plotting library would add a dependency (and
base64 PNGs that cannot be searched, zoomed or hovered). Every string is escaped; every chart
carries ``<title>`` tooltips with the exact values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from html import escape

__all__ = ["COLORS", "bars", "lines"]

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d", "#bab0ac")
WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 640, 220, 48, 12, 12, 48


def _num(value: float) -> str:
    return f"{value:.1f}"


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _nice(top: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= top (round axis ticks)."""
    if top <= 0 or not math.isfinite(top):
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return float(next(power * m for m in (1, 2, 2.5, 5, 10) if power * m >= top * (1 - 1e-12)))


def _frame(body: list[str], label: str, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(label)}">' + "".join(body) + "</svg>"
    )


def _y_axis(top: float, plot_h: float, fmt: str = "share") -> list[str]:
    out = []
    for i in range(5):
        frac = i / 4
        y = PAD_T + plot_h * (1 - frac)
        value = top * frac
        digits = 0 if top >= 0.1 else 1 if top >= 0.01 else 2
        text = f"{value:.{digits}%}" if fmt == "share" else _label(value)
        out.append(
            f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{_num(y)}" y2="{_num(y)}" class="grid"/>'
            f'<text x="{PAD_L - 4}" y="{_num(y + 3)}" class="tick" text-anchor="end">'
            f"{escape(text)}</text>"
        )
    return out


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    overlap: bool = False,
) -> str:
    """Bars of shares (0..1) per label, one color per series: side by side, or overlapping and
    translucent (``overlap``, for histograms)."""
    n = max(len(labels), 1)
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    top = _nice(max([v for _, values in series for v in values] + [1e-9]))
    slot = plot_w / n
    body = _y_axis(top, plot_h)
    k = max(len(series), 1)
    for s, (name, values) in enumerate(series):
        width = slot * (0.9 if overlap else 0.8 / k)
        for i, value in enumerate(values):
            x = PAD_L + slot * i + (slot * 0.05 if overlap else slot * 0.1 + width * s)
            h = plot_h * value / top
            tip = f"{name} · {labels[i]}: {value:.2%}"
            body.append(
                f'<rect x="{_num(x)}" y="{_num(PAD_T + plot_h - h)}" width="{_num(width)}" '
                f'height="{_num(h)}" fill="{COLORS[s % len(COLORS)]}" '
                f'fill-opacity="{0.55 if overlap else 0.9}"><title>{escape(tip)}</title></rect>'
            )
    every = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = PAD_L + slot * (i + 0.5)
            short = label if len(label) <= 14 else label[:13] + "…"
            body.append(
                f'<text x="{_num(x)}" y="{HEIGHT - PAD_B + 14}" class="tick" '
                f'text-anchor="middle">{escape(short)}</text>'
            )
    body.append(_legend([name for name, _ in series], HEIGHT - 12))
    return _frame(body, title)


def _legend(names: Sequence[str], y: float) -> str:
    parts = []
    x = PAD_L
    for i, name in enumerate(names):
        parts.append(
            f'<rect x="{x}" y="{_num(y - 9)}" width="10" height="10" '
            f'fill="{COLORS[i % len(COLORS)]}"/>'
            f'<text x="{x + 14}" y="{_num(y)}" class="tick">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return "".join(parts)


def lines(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
) -> str:
    """One line per (label, x epoch ms, y) series, x as UTC time."""
    points = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys)]
    if not points:
        return _frame([], title)
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    y0 = min(y0, 0.0)
    y1 = y0 + _nice(y1 - y0) if y1 > y0 else y0 + 1.0
    span_x, span_y = (x1 - x0) or 1.0, y1 - y0

    def xy(x: float, y: float) -> tuple[float, float]:
        return PAD_L + plot_w * (x - x0) / span_x, PAD_T + plot_h * (1 - (y - y0) / span_y)

    body = []
    for i in range(5):
        y = PAD_T + plot_h * i / 4
        body.append(
            f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{_num(y)}" y2="{_num(y)}" class="grid"/>'
            f'<text x="{PAD_L - 4}" y="{_num(y + 3)}" class="tick" text-anchor="end">'
            f"{escape(_label(y1 - span_y * i / 4))}</text>"
        )
    for s, (name, xs, ys) in enumerate(series):
        color = COLORS[s % len(COLORS)]
        coords = [xy(x, y) for x, y in zip(xs, ys)]
        path = " ".join(f"{_num(a)},{_num(b)}" for a, b in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"/>')
        for (a, b), x, y in zip(coords, xs, ys):
            tip = f"{name} · {_time(x)}: {_label(y)}"
            body.append(
                f'<circle cx="{_num(a)}" cy="{_num(b)}" r="2.6" fill="{color}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    for x, anchor in ((x0, "start"), (x1, "end")):
        body.append(
            f'<text x="{_num(xy(x, y0)[0])}" y="{HEIGHT - PAD_B + 14}" class="tick" '
            f'text-anchor="{anchor}">{escape(_time(x))}</text>'
        )
    body.append(_legend([name for name, _, _ in series], HEIGHT - 12))
    return _frame(body, title)


def _time(ms: float) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
