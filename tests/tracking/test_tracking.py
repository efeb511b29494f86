"""Tracking through the client, the run context manager and the module-level functions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard.entities import Metric, RunStatus
from modelyard.errors import ConflictError, InvalidArgumentError, NotFoundError
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient, fingerprint


@pytest.fixture
def client(workspace: Workspace) -> TrackingClient:
    return TrackingClient(workspace)


def test_status_finished_failed(client: TrackingClient) -> None:
    with client.start_run("e", "ok") as run:
        run.log_metric("m", 1.0)
    assert client.get_run(run.run_id).status is RunStatus.FINISHED
    assert client.get_run(run.run_id).end_time is not None
    with pytest.raises(ZeroDivisionError), client.start_run("e", "boom") as failing:
        1 / 0  # noqa: B018
    stored = client.get_run(failing.run_id)
    assert stored.status is RunStatus.FAILED
    assert "ZeroDivisionError" in stored.tags["modelyard.error"]


def test_ctrl_c_marks_the_run_killed(tmp_path: Path) -> None:
    """A real SIGINT to a real process running a tracked loop."""
    home = tmp_path / "home"
    script = textwrap.dedent(f"""
        import time, modelyard
        from modelyard.config import Settings
        from modelyard.storage import Workspace
        from modelyard.tracking import TrackingClient
        client = TrackingClient(Workspace(Settings.resolve(home={str(home)!r})))
        with client.start_run("e", "long") as run:
            print(run.run_id, flush=True)
            for step in range(10_000):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                time.sleep(0.01)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    from modelyard.config import Settings

    run = TrackingClient(Workspace(Settings.resolve(home=str(home)))).get_run(run_id)
    assert run.status is RunStatus.KILLED
    assert "KeyboardInterrupt" in run.tags["modelyard.error"]
    assert run.metrics["loss"] < 1.0  # what it logged before the interrupt is kept


SIGTERM_SCRIPT = """
import signal, sys, time, modelyard
from modelyard.config import Settings
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient
client = TrackingClient(Workspace(Settings.resolve(home={home!r})))
{setup}
with modelyard.start_run("e", "long", client=client) as run:
    with modelyard.start_run("e", "inner", nested=True) as inner:
        print(run.run_id, inner.run_id, flush=True)
        for step in range(10_000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            time.sleep(0.01)
"""


def _terminate(home: Path, setup: str = "") -> tuple[int, list[str], str]:
    script = SIGTERM_SCRIPT.format(home=str(home), setup=setup)
    src = str(Path(modelyard.__file__).parents[1])  # this checkout's modelyard, not another
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    run_ids = proc.stdout.readline().split()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    return code, run_ids, proc.stdout.read() + proc.stderr.read()


def test_sigterm_marks_the_runs_killed_and_still_terminates(tmp_path: Path) -> None:
    """A real SIGTERM to a real process: both runs end KILLED, and the process still dies of
    SIGTERM (exit status 143 in a shell), with no traceback."""
    home = tmp_path / "home"
    code, run_ids, output = _terminate(home)
    assert code == -signal.SIGTERM and "Traceback" not in output
    client = TrackingClient(Workspace(modelyard.config.Settings.resolve(home=str(home))))
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert run.status is RunStatus.KILLED
        assert "RunTerminated" in run.tags["modelyard.error"]


def test_sigterm_handler_of_the_program_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    setup = "signal.signal(signal.SIGTERM, lambda *_: (print('mine', flush=True), sys.exit(3)))"
    code, run_ids, output = _terminate(home, setup)
    assert code == 3 and "mine" in output  # the program's handler ran, not the run's
    client = TrackingClient(Workspace(modelyard.config.Settings.resolve(home=str(home))))
    assert client.get_run(run_ids[0]).status is RunStatus.FAILED  # SystemExit(3) as before


def test_the_run_restores_the_default_sigterm_action(client: TrackingClient) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # whatever an earlier test left
    with client.start_run("e") as run, client.start_run("e", parent_run_id=run.run_id):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def mine(*_: object) -> None: ...

    try:  # a handler the block installs itself stays after the run
        with client.start_run("e"):
            signal.signal(signal.SIGTERM, mine)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_params_metrics_tags(client: TrackingClient) -> None:
    with client.start_run("e") as run:
        run.log_params({"lr": 0.05, "depth": 6})
        run.log_param("model", "lgbm")
        run.set_tags({"team": "risk"})
        run.log_metrics({"auc": 0.9, "loss": 0.3}, step=1)
        assert (
            run.log_metrics([("auc", 0.92, 2), Metric("auc", 0.95, 3), ("loss", 0.2, 2, 123)]) == 3
        )
        with pytest.raises(InvalidArgumentError, match="Cannot log"):
            run.log_metrics([("auc",)])
    stored = client.get_run(run.run_id)
    assert stored.params == {"lr": "0.05", "depth": "6", "model": "lgbm"}
    assert stored.metrics == {"auc": 0.95, "loss": 0.2}
    assert stored.tags["team"] == "risk"
    assert stored.tags["modelyard.source"]
    assert [m.value for m in client.get_metric_history(run.run_id, "auc")] == [0.9, 0.92, 0.95]


def test_artifacts_are_recorded_with_hashes(client: TrackingClient, tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "x.txt").write_text("x")
    (tmp_path / "one.txt").write_text("hello")
    with client.start_run("e") as run:
        one = run.log_artifact(tmp_path / "one.txt", "notes")
        run.log_artifacts(tmp_path / "d", "data")
        run.log_dict({"a": 1}, "config.yaml")
        run.log_text("t", "readme.txt")
        with pytest.raises(NotFoundError):
            run.log_artifact(tmp_path / "missing.txt")
    assert one.path == "notes/one.txt" and one.size == 5
    paths = [a.path for a in client.list_artifacts(run.run_id)]
    assert paths == ["config.yaml", "data/sub/x.txt", "notes/one.txt", "readme.txt"]
    local = client.download_artifacts(run.run_id, "data", tmp_path / "back")
    assert (local / "sub" / "x.txt").read_text() == "x"


def test_log_figure(client: TrackingClient) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with client.start_run("e") as run:
        info = run.log_figure(fig, "plots/roc.png")
    assert info.path == "plots/roc.png" and info.size > 1000


def test_dataset_fingerprints(client: TrackingClient, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    same = fingerprint(frame.copy())
    assert fingerprint(frame).digest == same.digest
    assert fingerprint(frame.assign(a=[1, 2, 4])).digest != same.digest
    assert fingerprint(frame.astype({"a": "float64"})).digest != same.digest
    assert fingerprint(frame.rename(columns={"b": "c"})).digest != same.digest
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    on_disk = fingerprint(path)
    assert on_disk.source == str(path)
    path.write_text(path.read_text() + "4,w\n")
    assert fingerprint(path).digest != on_disk.digest
    assert fingerprint(np.arange(5)).num_rows == 5
    with pytest.raises(NotFoundError):
        fingerprint(tmp_path / "nope.parquet")
    with pytest.raises(InvalidArgumentError):
        fingerprint(42)
    with client.start_run("e") as run:
        ds = run.log_input(frame, source="s3://bucket/train.parquet", name="train")
    stored = client.get_run(run.run_id).inputs
    assert [(i.digest, i.source, i.num_rows, i.name) for i in stored] == [
        (ds.digest, "s3://bucket/train.parquet", 3, "train")
    ]


def test_code_version_is_the_git_commit(workspace: Workspace, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for cmd in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    with TrackingClient(workspace).start_run("e", code_dir=str(repo)) as run:
        pass
    stored = TrackingClient(workspace).get_run(run.run_id)
    assert stored.code_version == head
    assert stored.tags["modelyard.git.commit"] == head
    assert stored.tags["modelyard.git.dirty"] == "false"


def test_child_runs(client: TrackingClient) -> None:
    with client.start_run("tune") as parent:
        for i in range(2):
            with parent.child(f"trial-{i}") as trial:
                trial.log_metric("score", i)
    children = client.search_runs("tune", f"attributes.parent_run_id = '{parent.run_id}'")
    assert sorted(r.name for r in children) == ["trial-0", "trial-1"]


def test_fluent_api_and_nesting() -> None:
    with modelyard.start_run("fluent", "outer") as outer:
        modelyard.log_param("p", 1)
        modelyard.log_metric("m", 2.0)
        with pytest.raises(ConflictError, match="already active"):
            modelyard.start_run("fluent")
        with modelyard.start_run("fluent", "inner", nested=True) as inner:
            modelyard.set_tag("level", "inner")
            assert modelyard.active_run() is inner
        assert modelyard.active_run() is outer
    assert modelyard.active_run() is None
    with pytest.raises(ConflictError, match="No active run"):
        modelyard.log_metric("m", 1.0)
    client = TrackingClient()
    assert client.get_run(inner.run_id).parent_run_id == outer.run_id
    assert client.get_run(inner.run_id).tags["level"] == "inner"
    assert client.get_run(outer.run_id).params == {"p": "1"}


def test_experiment_lookup_errors(client: TrackingClient) -> None:
    client.create_experiment("fraud-detection")
    with pytest.raises(NotFoundError, match="did you mean 'fraud-detection'"):
        client.get_experiment("fraud-detectio")
    assert client.get_or_create_experiment("fraud-detection").name == "fraud-detection"
