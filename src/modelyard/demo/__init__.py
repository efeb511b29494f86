"""``make demo``: the whole loop on embedded defaults (SQLite, DuckDB, local files).

Run with ``python -m modelyard.demo`` from the repository root. Everything lands under
``MODELYARD_HOME`` (default ``./.modelyard``), so the CLI shows it afterwards: ``modelyard runs
list``, ``modelyard models history fraud-detector``, ``modelyard monitor alerts``, ...

1-3    track a scikit-learn model, register the best run, promote it, load it by alias
4-10   the fraud project of ``examples/fraud``: generate payments, define and materialize
       features, train a pipeline on point-in-time features, re-run it from the cache, score
       with features read online, check offline/online parity
11-15  the production loop: promote and serve the fraud model, watch it with a monitor, live
       payments and their true labels, drift arrives, the monitor alerts, retrains, compares
       and promotes, the server swaps to the new version; lineage and an HTML report
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from rich.text import Text

from modelyard.demo.basics import load_and_predict, register_and_promote, track_sklearn
from modelyard.demo.common import console
from modelyard.demo.fraud import (
    apply_features,
    check_feature_parity,
    generate_transactions,
    materialize_features,
    rerun_fraud_pipeline,
    run_fraud_pipeline,
    score_with_online_features,
)
from modelyard.demo.loop import (
    drifted_period,
    lineage_and_reports,
    model_server,
    new_champion_answers,
    promote_and_serve,
    quiet_period,
)

__all__ = ["main"]

LOOK_AROUND = (
    "modelyard runs list",
    "modelyard models history fraud-detector",
    "modelyard pipeline runs",
    "modelyard features list",
    "modelyard features check-parity --service fraud_features",
    "modelyard monitor list",
    "modelyard monitor alerts",
    "modelyard monitor show fraud-production",
    "modelyard serve models:/fraud-detector@production --port 8080",
    "modelyard audit",
)


MARKER = ".modelyard-demo"
"""a file in a home the demo made: the next run may start it over"""


def _fresh_home(home: Path) -> None:
    """The demo tells a story from an empty home: a home it made before is cleared; any other
    non-empty home is left alone (it may hold someone's runs and models)."""
    if home.is_dir() and any(home.iterdir()):
        if not (home / MARKER).is_file():
            raise SystemExit(
                f"{home} already holds a modelyard workspace that the demo did not make; "
                "run the demo in another home: python -m modelyard.demo --home /tmp/demo"
            )
        console.print(f"starting over: removing the previous demo's stores in {home}")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by python -m modelyard.demo; the next run clears it\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m modelyard.demo", description=__doc__)
    parser.add_argument("--home", help="MODELYARD_HOME for the demo (default: ./.modelyard)")
    args = parser.parse_args(argv)

    from modelyard.config import Settings
    from modelyard.storage import Workspace

    settings = Settings.resolve(home=args.home)
    _fresh_home(Path(settings.home))
    ws = Workspace(settings)
    start = time.perf_counter()
    console.print(Text.assemble(("modelyard demo", "bold"), f" — home: {ws.settings.home}"))
    tracked = track_sklearn(ws)
    register_and_promote(ws, tracked)
    load_and_predict(ws, tracked)

    project = generate_transactions(ws)
    apply_features(ws, project)
    materialize_features(ws, project)
    run_fraud_pipeline(ws, project)
    rerun_fraud_pipeline(ws, project)
    score_with_online_features(ws, project)
    check_feature_parity(ws)

    promote_and_serve(ws, project)
    with model_server(ws) as base:
        quiet_period(ws, project, base)
        record = drifted_period(ws, project, base)
        new_champion_answers(ws, project, base, record)
    lineage_and_reports(ws, project, record)

    console.rule(Text("Summary", style="bold"))
    console.print(f"done in {time.perf_counter() - start:.1f} s. Look around with:")
    for command in LOOK_AROUND:
        console.print(f"  .venv/bin/{command}")
