"""``modelyard pipeline`` and ``modelyard datasets`` as a user runs them (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from modelyard.config import Settings
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from tests.cli.helpers import cli
from tests.pipeline.helpers import spec


def write_spec(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_generate_validate_run_and_list(tmp_path: Path) -> None:
    home = tmp_path / "home"
    gen = cli(
        home,
        "datasets",
        "generate",
        str(tmp_path / "data" / "tx.parquet"),
        "--rows",
        "3000",
        "--days",
        "10",
    )
    assert gen.returncode == 0, gen.stderr
    assert "Wrote 3,000 transactions" in gen.stdout
    as_json = cli(
        home, "datasets", "generate", str(tmp_path / "small.csv"), "--rows", "50", "--json"
    )
    assert json.loads(as_json.stdout) == {
        "path": str(tmp_path / "small.csv"),
        "format": "csv",
        "rows": 50,
        "days": 30,
    }
    raw = spec()
    raw["train"]["tune"] = {"n_trials": 2, "parallelism": 1, "space": {"num_leaves": [4, 15]}}
    path = write_spec(tmp_path / "pipeline.yaml", raw)

    valid = cli(home, "pipeline", "validate", str(path))
    assert valid.returncode == 0, valid.stderr
    assert "valid" in valid.stdout and "ingest -> validate -> split" in valid.stdout

    first = cli(home, "pipeline", "run", str(path))
    assert first.returncode == 0, first.stderr
    assert "registered fraud-detector v1 and promoted to production" in first.stdout
    assert "models:/fraud-detector@production" in first.stdout
    assert "roc_curve.png" in first.stdout
    for step in (
        "ingest",
        "validate",
        "split",
        "transform",
        "tune",
        "train",
        "evaluate",
        "register",
    ):
        assert step in first.stderr  # the live per-step display

    second = cli(home, "pipeline", "run", str(path), "--json")
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["steps"]["train"]["status"] == "cached"
    assert result["model_version"] == {
        "name": "fraud-detector",
        "version": 1,
        "stage": "production",
    }

    forced = cli(home, "pipeline", "run", str(path), "--no-cache", "--json")
    assert json.loads(forced.stdout)["steps"]["train"]["status"] == "ran"

    runs = cli(home, "pipeline", "runs", "--json")
    listed = json.loads(runs.stdout)
    assert len(listed) == 3 and all(r["tags"]["modelyard.pipeline"] == "fraud" for r in listed)
    table = cli(home, "pipeline", "runs")
    assert "fraud-detector/1" in table.stdout

    ws = Workspace(Settings.resolve(home=str(home)))
    assert RegistryClient(ws).resolve("models:/fraud-detector@production").version == 1


def test_a_bad_spec_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    raw = spec()
    raw["train"]["modle"] = "x"
    raw["evaluate"]["metrics"] = ["roc_auk"]
    path = write_spec(tmp_path / "bad.yaml", raw)
    for command in ("validate", "run"):
        out = cli(tmp_path / "home", "pipeline", command, str(path))
        assert out.returncode == 2
        assert "has 2 problems" in out.stderr
        assert "train.modle (line" in out.stderr and "evaluate.metrics[0] (line" in out.stderr


def test_bad_data_exits_with_the_data_error_code(tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / "data").mkdir()
    pd.DataFrame({"amount": [1.0, 2.0], "x": ["a", "b"]}).to_parquet(
        tmp_path / "data" / "tx.parquet"
    )
    path = write_spec(tmp_path / "pipeline.yaml", spec(validation=None))
    out = cli(tmp_path / "home", "pipeline", "run", str(path))
    assert out.returncode == 9
    assert "data.target 'is_fraud' is not a column" in out.stderr


def test_validate_looks_up_feature_services(tmp_path: Path) -> None:
    from tests.pipeline.helpers import feature_spec, write_feature_project

    home = tmp_path / "home"
    definitions = write_feature_project(tmp_path, rows=500)
    assert cli(home, "features", "apply", str(definitions)).returncode == 0
    good = write_spec(tmp_path / "good.yaml", feature_spec())
    valid = cli(home, "pipeline", "validate", str(good))
    assert valid.returncode == 0, valid.stderr

    bad = write_spec(tmp_path / "bad.yaml", feature_spec(features="fraud_feature"))
    invalid = cli(home, "pipeline", "validate", str(bad))
    assert invalid.returncode == 2
    assert "data.features (line 3): No feature service named 'fraud_feature'" in invalid.stderr
    assert "did you mean 'fraud_features'?" in invalid.stderr


def test_sigterm_ends_the_run_killed(tmp_path: Path) -> None:
    """A pipeline stopped by SIGTERM (a scheduler's kill) ends KILLED, like Ctrl-C, exit 143."""
    import signal
    import time

    from modelyard.entities import RunStatus
    from modelyard.pipeline import list_runs
    from tests.pipeline.helpers import write_data

    home = tmp_path / "home"
    write_data(tmp_path)
    raw = spec()
    raw["train"]["tune"] = {
        "n_trials": 400,
        "metric": "roc_auc",
        "space": {"learning_rate": [0.01, 0.3, "log"]},
    }
    spec_file = write_spec(tmp_path / "spec.yaml", raw)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelyard.cli.main",
            "--home",
            str(home),
            "pipeline",
            "run",
            str(spec_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    ws = Workspace(Settings.resolve(home=str(home)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if home.exists() and any(r.status is RunStatus.RUNNING for r in list_runs(ws)):
            break
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    (run,) = list_runs(ws)
    assert run.status is RunStatus.KILLED


def test_a_schema_type_failure_names_the_rule_and_the_values(tmp_path: Path) -> None:
    import pandas as pd

    from tests.pipeline.helpers import write_data

    path = write_data(tmp_path, rows=300)
    frame = pd.read_parquet(path)
    frame["amount"] = frame["amount"].astype(str)
    frame.loc[7, "amount"] = "abc"
    frame.to_parquet(path)
    out = cli(tmp_path / "home", "pipeline", "run", str(write_spec(tmp_path / "p.yaml", spec())))
    assert out.returncode == 9, out.stderr
    assert (
        "error: Data validation failed (1 check(s)): validation.schema.amount.type: column "
        "'amount' should be float but is text, and 1 value(s) do not parse as float; e.g. 'abc'"
    ) in out.stderr


def test_output_that_is_not_a_terminal_gets_plain_step_lines(tmp_path: Path) -> None:
    import re

    from click.testing import CliRunner

    from modelyard.cli.main import cli as main_cli
    from tests.pipeline.helpers import write_data

    write_data(tmp_path, rows=600)
    raw = spec(validation=None)
    raw["train"]["params"]["n_estimators"] = 5
    raw["train"]["tune"] = {"n_trials": 2, "parallelism": 1, "space": {"num_leaves": [4, 15]}}
    path = write_spec(tmp_path / "p.yaml", raw)
    result = CliRunner().invoke(
        main_cli, ["--home", str(tmp_path / "home"), "pipeline", "run", str(path)]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert not re.search("[\u2800-\u28ff]", out), out  # no spinner
    lines = out.splitlines()
    steps = lines[: lines.index(next(x for x in lines if x.startswith("Metrics")))]
    assert not any("\u2501" in x or "waiting" in x for x in steps), steps  # no bar, no table
    assert lines[0].startswith("run ") and "(experiment fraud)" in lines[0]
    assert lines[1:3] == ["ingest    started", lines[2]] and re.match(
        r"ingest    done in \d+\.\d s: 600 rows", lines[2]
    )
    assert "validate  skipped: no validation section" in lines
    assert "tune      2/2 best roc_auc" in out
    assert re.search(r"^train     done in \d+\.\d s: LGBMClassifier on \d+ rows$", out, re.M)
    assert re.search(r"^register  done in \d+\.\d s: registered fraud-detector v1", out, re.M)
