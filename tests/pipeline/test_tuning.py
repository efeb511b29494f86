"""Tuning prunes LightGBM trials that fall behind (issue 3, item 6), and only when asked to."""

from __future__ import annotations

from pathlib import Path

from modelyard.entities import RunStatus
from modelyard.pipeline import run
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient
from tests.pipeline.helpers import spec, write_data


def tuned(workspace: Workspace, base: Path, pruning: bool) -> tuple[dict[str, int], list[str]]:
    raw = spec(validation=None, register=None)
    raw["train"]["params"] = {"n_estimators": 60, "num_leaves": 15}
    raw["train"]["tune"] = {
        "n_trials": 10,
        "parallelism": 1,  # one worker: the sampler's sequence, and so the test, is deterministic
        "pruning": pruning,
        # from hopeless (almost no learning in 60 rounds) to reasonable: the median pruner
        # has trials to stop
        "space": {"learning_rate": [0.0005, 0.3, "log"]},
    }
    result = run(raw, workspace=workspace, base_dir=str(base), use_cache=False)
    trials = TrackingClient(workspace).search_runs(
        None, f"attributes.parent_run_id = '{result.run_id}'", max_results=100
    )
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status.value] = counts.get(t.status.value, 0) + 1
    return counts, [result.steps["tune"].summary]


def test_lightgbm_trials_that_fall_behind_are_pruned(workspace: Workspace, tmp_path: Path) -> None:
    write_data(tmp_path, rows=3000)
    counts, summary = tuned(workspace, tmp_path, pruning=True)
    assert sum(counts.values()) == 10
    # a pruned trial is a KILLED child run; the rest finished
    assert counts.get(RunStatus.KILLED.value, 0) >= 1, (counts, summary)
    assert counts.get(RunStatus.FINISHED.value, 0) >= 3
    assert "0 pruned" not in summary[0]

    counts, summary = tuned(workspace, tmp_path, pruning=False)
    assert counts == {RunStatus.FINISHED.value: 10}, (counts, summary)
    assert "(0 pruned" in summary[0]
