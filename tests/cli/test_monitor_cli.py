"""``modelyard monitor`` as a user runs it (real processes): apply, list, show, feedback, run,
alerts, report, serve; errors exit non-zero with one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.config import Settings
from modelyard.storage import Workspace
from tests.cli.helpers import cli
from tests.monitoring.helpers import register_classifier, score_and_log, training_data

MONITOR = """\
name: fraud-prod
model: models:/fraud@production
window: {last: 1000}
schedule: {every: 1h}
checks:
  drift: {numeric: [ks, psi]}
  performance: {min_labels: 20}
sinks: [{type: log}]
"""


def invoke(home: Path, *args: str) -> Any:
    """In-process (fast) for output; ``cli`` runs a real process where exit codes matter."""
    from click.testing import CliRunner

    from modelyard.cli.main import cli as group

    return CliRunner().invoke(group, ["--home", str(home), *args], catch_exceptions=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace with a production model, 100 logged predictions (x1 drifted) and a monitor."""
    home = tmp_path / "home"
    ws = Workspace(Settings.resolve(home=str(home)))
    register_classifier(ws, tmp_path)
    X, _ = training_data(100, seed=4)
    X["x1"] += 2.0
    ids, predicted, _ = score_and_log(ws, X)
    wrong = np.where(np.arange(100) % 2 == 0, 1 - predicted, predicted)
    labels = pd.DataFrame({"prediction_id": [*ids, "ghost"], "label": [*wrong.tolist(), 1]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    ws.close()
    (tmp_path / "monitor.yaml").write_text(MONITOR)
    return home


def test_apply_feedback_run_alerts_report(home: Path, tmp_path: Path) -> None:
    applied = invoke(home, "monitor", "apply", str(tmp_path / "monitor.yaml"), "--json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout) == [{"name": "fraud-prod", "version": 1, "status": "created"}]

    fed = invoke(home, "monitor", "feedback", str(tmp_path / "labels.csv"), "--model", "fraud")
    assert fed.exit_code == 0, fed.output
    assert "accepted" in fed.stdout and "unknown ids: ghost" in fed.stdout

    ran = cli(home, "monitor", "run", "--fail-on-alert")
    assert ran.returncode == 1, ran.stderr  # due (never ran), and alerting
    assert "fraud-prod" in ran.stdout and "alerting" in ran.stdout
    assert "accuracy < 0.85" in ran.stdout and "min_p_value < 0.05" in ran.stdout
    not_due = invoke(home, "monitor", "run")
    assert not_due.exit_code == 0 and "No monitor is due" in not_due.stdout

    alerts = json.loads(invoke(home, "monitor", "alerts", "--open", "--json").stdout)
    assert {a["rule"] for a in alerts} >= {"accuracy < 0.85", "min_p_value < 0.05", "max_psi > 0.2"}
    listed = json.loads(invoke(home, "monitor", "list", "--json").stdout)
    assert listed[0]["status"] == "alerting" and listed[0]["open_alerts"] == len(alerts)
    shown = invoke(home, "monitor", "show", "fraud-prod")
    assert shown.exit_code == 0 and "Rules in force" in shown.stdout
    assert "Open alerts" in shown.stdout

    out = tmp_path / "report.html"
    report = invoke(home, "monitor", "report", "fraud-prod", "--output", str(out))
    assert report.exit_code == 0, report.output
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "x1" in html and "accuracy" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html

    forced = json.loads(invoke(home, "monitor", "run", "fraud-prod", "--json").stdout)
    assert {a["change"] for a in forced[0]["alerts"]} == {"ongoing"}


def test_errors_are_one_line(home: Path, tmp_path: Path) -> None:
    missing = cli(home, "monitor", "show", "nope")
    assert missing.returncode == 3 and missing.stderr.strip().startswith("error: No monitor named")
    assert len(missing.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: m\nmodel: fraud\nwindow: {last: 0}\n")
    refused = cli(home, "monitor", "apply", str(bad))
    assert refused.returncode == 2 and "window.last (line 3)" in refused.stderr
    as_json = cli(home, "monitor", "retrain", "nope", "--json")
    assert as_json.returncode == 3 and json.loads(as_json.stderr)["error"] == "NotFoundError"
    no_model = cli(home, "monitor", "feedback", str(tmp_path / "labels.csv"), "--model", "nope")
    assert no_model.returncode == 3, no_model.stdout
    assert no_model.stderr.strip().startswith("error: No model named 'nope' has logged")
    assert len(no_model.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_due_checks_until_interrupted(
    home: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    assert invoke(home, "monitor", "apply", str(tmp_path / "monitor.yaml")).exit_code == 0
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelyard.cli.main",
            "--home",
            str(home),
            "monitor",
            "serve",
            "--interval",
            "0.2",
            "--no-retrain",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(json.loads(line))
        if lines[-1]["event"] == "monitor.check":
            break
    proc.send_signal(stop_signal)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    events = [x["event"] for x in lines] + [json.loads(x)["event"] for x in rest.splitlines()]
    assert events[0] == "monitor.serve.start" and events[-1] == "monitor.serve.stop"
    check = next(x for x in lines if x["event"] == "monitor.check")
    assert check["monitor"] == "fraud-prod" and check["status"] == "alerting"
    assert events.count("monitor.check") == 1  # every: 1h -> not due again
