"""The HTML report: one self-contained document, every feature drawn, user strings escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from modelyard.monitoring import build_profile, detect_drift, render_report

EVIL = "<script>alert('x')</script>"


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href", "xlink:href", "action") and value:
                self.refs.append(value)
            if key == "id" and value:
                self.ids.append(value)


@pytest.fixture
def setup() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, 1000),
            EVIL: rng.normal(size=1000),
            "channel": rng.choice(["web", "pos", '"><img src=x>'], 1000),
            "const": np.ones(1000),
        }
    )
    cur = pd.DataFrame(
        {
            "input.amount": rng.lognormal(3.5, 1, 600),
            f"input.{EVIL}": rng.normal(size=600),
            "input.channel": rng.choice(["web", "new & <odd>"], 600),
            "input.const": np.ones(600),
            "proba": rng.beta(2, 5, 600),
        }
    )
    return ref, cur


def test_one_offline_document_with_every_feature(setup: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = setup
    profile = build_profile(ref, predictions=np.linspace(0, 1, 1000), prediction_column="proba")
    drift = detect_drift(profile, cur)
    metrics = [
        {
            "ts": 1_767_225_600_000 + h * 3_600_000,
            "metric": "roc_auc",
            "value": 0.9 - h / 100,
            "version": 3,
        }
        for h in range(12)
    ] + [{"ts": "2026-01-01T05:00:00Z", "metric": "drift_share", "value": 0.25, "variant": "b"}]
    alerts = [{"ts": 1_767_225_600_000, "monitor": EVIL, "severity": "critical"}]
    html = render_report(
        title=f"fraud {EVIL}",
        drift=drift,
        profile=profile,
        current=cur,
        metrics_over_time=metrics,
        alerts=alerts,
    )
    assert html.startswith("<!DOCTYPE html>") and html.count("<html") == 1
    parser = Collect()
    parser.feed(html)
    assert "script" not in parser.tags and "img" not in parser.tags and "link" not in parser.tags
    assert all(ref.startswith("#") for ref in parser.refs)  # only in-page anchors
    assert "http" not in html and "//" not in re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    assert EVIL not in html and "&lt;script&gt;" in html
    for name in ("amount", "channel", "const", "proba"):
        assert f">{name} (" in html  # a distribution section per feature and the predictions
    assert html.count("<svg") == len(ref.columns) + 1 + 2  # features, predictions, 2 metrics
    assert "new &amp; &lt;odd&gt; (new)" in html  # an unseen category, escaped
    assert "drift detected" in html and "roc_auc" in html and "critical" in html
    # the drift table lists drifted features first and links to their charts
    table = html[html.index("Drift by feature") : html.index("Prediction drift")]
    flags = ["class='drifted'" in row for row in table.split("<tr")[2:]]
    assert flags == sorted(flags, reverse=True) and flags[:2] == [True, True]
    assert all(f"#{i}" in parser.refs for i in parser.ids if i.startswith("feature-"))


def test_profile_only_and_nothing_at_all(setup: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, _ = setup
    html = render_report(title="reference only", drift=None, profile=build_profile(ref))
    assert html.count("<svg") == len(ref.columns) and "no alerts" in html
    empty = render_report(title="empty", drift=None, profile=None)
    assert "no metrics recorded" in empty and "<svg" not in empty


def test_an_empty_window(setup: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = setup
    profile = build_profile(ref)
    drift = detect_drift(profile, cur.iloc[:0])
    html = render_report(title="quiet hour", drift=drift, profile=profile, current=cur.iloc[:0])
    assert "not enough data" in html and "drift detected" not in html
