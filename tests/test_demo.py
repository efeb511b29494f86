"""`make demo` runs end to end on embedded defaults (here in a temporary home)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.config import Settings
from modelyard.entities import LineageNode
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace


@pytest.mark.slow
@pytest.mark.timeout(900)  # the whole tour, in a subprocess bounded the same way
def test_demo_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "modelyard.demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "250"},  # one line per message
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "Summary" in out
    assert (home / "modelyard.db").is_file()

    # features defined, materialized, trained on point in time, read online, in parity
    assert re.search(r"feature service\s+fraud_features\s+v1\s+created", out)
    assert re.search(r"customer_spend\s+[\d,]+ entities online", out)
    assert "11 features from feature service 'fraud_features'" in out
    assert "registered fraud-detector v1 and promoted to staging" in out
    assert "lineage: feature views customer_spend/1, merchant_risk/1 -> run" in out
    assert "cached: validate, split, transform, tune, train, evaluate" in out
    assert "it needs feature service 'fraud_features' by ['customer_id', 'merchant_id']" in out
    assert "11 features for 6 payments read online" in out and "(statuses: present)" in out
    scores = [float(p) for p in re.findall(r"p\(fraud\) ([\d.]+)", out)]
    assert len(scores) == 6 and all(0 <= p <= 1 for p in scores)
    parity = re.search(r"(\d+) values compared: (\d+) mismatches", out)
    assert parity is not None and int(parity[1]) > 0 and parity[2] == "0"

    ws = Workspace(Settings.resolve(home=str(home)))
    assert RegistryClient(ws).resolve("models:/fraud-detector@production").version == 2
    version = RegistryClient(ws).resolve("models:/fraud-detector/1")
    assert version.tags["modelyard.features.service"] == "fraud_features"
    upstream = ws.metadata.audit.get_lineage(
        LineageNode("model_version", f"fraud-detector/{version.version}")
    )
    assert {e.source.id for e in upstream if e.source.kind == "feature_view"} == {
        "customer_spend/1",
        "merchant_risk/1",
    }
    ws.close()

    # the production loop: quiet traffic, drift, alert, retrain, promotion, the server swaps
    quiet = _between(out, "12. Live traffic", "13. Drift arrives")
    assert "live payments: 1200 answered (v1: 1200)" in quiet
    assert "1200 true labels stored (0 unknown ids, 0 refused)" in quiet
    assert re.search(r"monitor fraud-production: ok on 1200 predictions", quiet)
    drifted = _between(out, "13. Drift arrives", "14. The server follows")
    assert re.search(r"drifted features: .*amount", drifted)
    assert "alert opened: [warning] min_p_value < 0.05" in drifted
    retrain = re.search(r"roc_auc champion v1 ([\d.]+) vs challenger ([\d.]+) -> promoted", drifted)
    assert retrain is not None and float(retrain[2]) > float(retrain[1]) + 0.005
    after = _between(out, "14. The server follows", "15. Lineage")
    assert "models:/fraud-detector@production is v2 now" in after
    answered = re.search(r"live payments: 1200 answered \((.*?)\)", after)
    assert answered is not None and "v2: " in answered[1]
    assert "--triggered--> retrain 1" in out and "--promoted--> promotion" in out
    assert "--registered--> model_version fraud-detector/2" in out
    report = home / "demo" / "fraud" / "fraud-production-report.html"
    assert report.is_file() and "<svg" in report.read_text()
    alerts = (home / "demo" / "fraud" / "alerts.jsonl").read_text().splitlines()
    assert alerts and all(json.loads(line)["monitor"] == "fraud-production" for line in alerts)


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def test_a_second_demo_starts_over_but_never_clears_a_foreign_home(tmp_path: Path) -> None:
    from modelyard.demo import MARKER, _fresh_home

    home = tmp_path / "demo-home"
    _fresh_home(home)  # new
    (home / "modelyard.db").write_text("a previous demo's store")
    _fresh_home(home)  # its own: cleared, marked again
    assert sorted(p.name for p in home.iterdir()) == [MARKER]

    foreign = tmp_path / "work"
    foreign.mkdir()
    (foreign / "modelyard.db").write_text("someone's runs")
    with pytest.raises(SystemExit, match="did not make"):
        _fresh_home(foreign)
    assert (foreign / "modelyard.db").read_text() == "someone's runs"
