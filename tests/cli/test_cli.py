"""The CLI as a user drives it: real processes for exit codes, CliRunner for output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import modelyard
from modelyard.cli.main import cli
from modelyard.config import Settings
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    src = str(Path(modelyard.__file__).parents[1])  # this checkout's modelyard, not another
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])},
    )


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    from sklearn.linear_model import LogisticRegression

    home = tmp_path / "home"
    ws = Workspace(Settings.resolve(home=str(home)))
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    y = (X.a > 0).astype(int)
    tracking = TrackingClient(ws)
    for c in (0.5, 2.0):
        with tracking.start_run("fraud", f"c{c}") as run:
            run.log_params({"C": c, "model": "logreg"})
            run.log_metric("auc", 0.8 + c / 10)
            logged = run.log_model(LogisticRegression(C=c).fit(X, y), "model", sample=X)
    registry = RegistryClient(ws)
    registry.register_model(logged.uri, "fraud")
    registry.promote("fraud", 1, "production", reason="launch")
    ws.close()
    return home


def invoke(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    return result


def test_help_is_fast_and_lists_commands() -> None:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    for command in ("doctor", "experiments", "runs", "models", "audit"):
        assert command in out.stdout
    # a generous bound that only a heavy eager import (pandas, sklearn, sqlalchemy) would break
    assert elapsed < 3.0
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, modelyard.cli.main; print(sorted(m for m in "
            "('pandas', 'sklearn', 'sqlalchemy', 'numpy', 'rich') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert imported == "[]"


def _commands(command: Any, path: tuple[str, ...] = ()) -> Any:
    import click

    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_every_command_takes_json() -> None:
    """README: every command takes --json for scripts (servers, which print no result, aside)."""
    import importlib

    import click

    from modelyard.cli.main import GROUPS

    servers = {("features", "serve"), ("features", "stream"), ("monitor", "serve"), ("serve",)}
    missing = []
    for name, (ref, _) in GROUPS.items():
        module, _, attr = ref.partition(":")
        group = getattr(importlib.import_module(module), attr)
        for path, command in _commands(group, (name,)):
            has_json = any(
                isinstance(p, click.Option) and "--json" in p.opts for p in command.params
            )
            if not has_json and path not in servers:
                missing.append(" ".join(path))
    assert not missing, f"commands without --json: {missing}"


def test_runs_and_experiments(populated: Path) -> None:
    out = invoke(populated, "experiments", "list", "--json")
    assert [e["name"] for e in json.loads(out.output)] == ["fraud"]
    out = invoke(populated, "runs", "list", "-f", "metrics.auc > 0.9", "--json")
    runs = json.loads(out.output)["runs"]
    assert [r["name"] for r in runs] == ["c2.0"]
    table = invoke(populated, "runs", "list", "-o", "metrics.auc desc").output
    assert table.index("c2.0") < table.index("c0.5")
    shown = json.loads(invoke(populated, "runs", "show", runs[0]["run_id"], "--json").output)
    assert shown["params"] == {"C": "2.0", "model": "logreg"}
    assert {a["path"] for a in shown["artifacts"]} == {"model/MODEL.yaml", "model/model.skops"}
    assert "Params" in invoke(populated, "runs", "show", runs[0]["run_id"]).output


def test_models_commands(populated: Path) -> None:
    listed = json.loads(invoke(populated, "models", "list", "--json").output)
    assert listed[0]["aliases"] == {"production": 1}
    assert "fraud" in invoke(populated, "models", "show", "fraud").output
    versions = json.loads(invoke(populated, "models", "versions", "fraud", "--json").output)
    assert [v["stage"] for v in versions] == ["production"]
    run_id = json.loads(invoke(populated, "runs", "list", "--json").output)["runs"][1]["run_id"]
    out = invoke(populated, "models", "register", f"runs:/{run_id}/model", "fraud")
    assert "version 2" in out.output
    out = invoke(populated, "models", "promote", "fraud", "2", "production", "-r", "better")
    assert "version 1: production → archived" in out.output
    assert "version 2: none → production" in out.output
    history = json.loads(invoke(populated, "models", "history", "fraud", "--json").output)
    assert [(h["version"], h["to_stage"], h["reason"]) for h in history] == [
        (1, "production", "launch"),
        (1, "archived", "better"),
        (2, "production", "better"),
    ]
    periods = json.loads(
        invoke(populated, "models", "history", "fraud", "--periods", "--json").output
    )
    assert [p["version"] for p in periods] == [1, 2]
    alias = invoke(populated, "models", "alias", "fraud", "champion", "2", "--json")
    assert json.loads(alias.output) == {"name": "fraud", "alias": "champion", "version": 2}
    assert json.loads(invoke(populated, "models", "show", "fraud", "--json").output)["aliases"] == {
        "champion": 2,
        "production": 2,
    }
    audit = json.loads(invoke(populated, "audit", "--json").output)
    assert audit[0]["action"] == "alias.set"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("models", "show", "frud"), 3, "did you mean 'fraud'"),
        (("models", "promote", "fraud", "9", "production"), 3, "has no version 9"),
        (("models", "history", "frud"), 3, "did you mean 'fraud'"),
        (("models", "history", "frud", "--periods"), 3, "did you mean 'fraud'"),
        (("models", "alias", "fraud", "production", "1"), 2, "reserved"),
        (("runs", "list", "-f", "metrics.auc >> 1"), 2, "found '>' at position 13"),
        (("runs", "show", "0" * 32), 3, "No run with id"),
        (("--metadata-uri", "mongodb://x", "runs", "list"), 2, "Known schemes"),
        (
            ("--metadata-uri", "postgresql://nobody@127.0.0.1:9/x", "runs", "list"),
            5,
            "Cannot reach the metadata database",
        ),
        (
            ("--metadata-uri", "postgresql://postgres@127.0.0.1:5432/no_such_db_x", "runs", "list"),
            5,
            "createdb no_such_db_x",
        ),
        (
            (
                "--metadata-uri",
                "sqlite:////proc/none/x.db",
                "models",
                "promote",
                "fraud",
                "1",
                "staging",
            ),
            5,
            "writable location",
        ),
        (("--metadata-uri", "sqlite:////proc/none/x.db", "runs", "list"), 3, "No metadata store"),
    ],
)
def test_errors_exit_non_zero_without_traceback(
    populated: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run_cli(*args, home=populated)
    assert result.returncode == code, result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_error_as_json(populated: Path) -> None:
    result = run_cli("models", "show", "nope", "--json", home=populated)
    assert result.returncode == 3
    assert json.loads(result.stderr)["error"] == "NotFoundError"


def test_doctor(populated: Path) -> None:
    ok = run_cli("doctor", "--json", home=populated)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["settings"]["home"] == {"value": str(populated), "source": "argument"}
    assert all(c["ok"] for c in report["checks"])
    bad = run_cli(
        "--metadata-uri", "postgresql://nobody@127.0.0.1:9/none", "doctor", home=populated
    )
    assert bad.returncode == 5
    text = " ".join(bad.stdout.split())
    assert "Cannot reach the metadata database" in text and "fix:" in text


@pytest.mark.parametrize(
    "command",
    [("runs", "list"), ("experiments", "list"), ("models", "list"), ("features", "list"),
     ("monitor", "list"), ("pipeline", "runs"), ("audit",)],
)  # fmt: skip
def test_reading_a_missing_sqlite_store_names_it_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    from modelyard.cli.main import main

    db = tmp_path / "nonexistent" / "dir" / "x.db"
    with pytest.raises(SystemExit) as exited:
        main(["--metadata-uri", f"sqlite:///{db}", *command])
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert "No metadata store at" in err and "x.db" in err and "mistyped" in err
    assert not (tmp_path / "nonexistent").exists()


def test_the_first_write_creates_the_sqlite_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelyard.cli.main import main

    uri = f"sqlite:///{tmp_path / 'new' / 'x.db'}"
    with TrackingClient(Workspace(Settings.resolve(metadata_uri=uri))).start_run("e", "first"):
        pass
    main(["--metadata-uri", uri, "runs", "list", "--json"])
    assert [r["name"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["first"]
