"""``modelyard pipeline``: validate and run pipeline specs, list their runs."""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.output import (
    console,
    esc,
    fmt_time,
    json_option,
    pass_workspace,
    print_json,
    print_table,
    reads_workspace,
)


@click.group()
def pipeline() -> None:
    """Declarative training pipelines (docs/pipelines.md)."""


@pipeline.command("validate")
@click.argument("spec", type=click.Path(dir_okay=False))
@json_option
@pass_workspace
def pipeline_validate(ws: Any, spec: str, as_json: bool) -> None:
    """Check SPEC without running it: every problem is listed with its path and line (feature
    services and views it names are looked up in the workspace's registry)."""
    from modelyard.pipeline import load_spec

    loaded = load_spec(spec, workspace=ws)
    steps = _planned_steps(loaded.spec)
    if as_json:
        print_json({"valid": True, "name": loaded.spec.name, "steps": steps})
        return
    click.echo(f"{spec}: valid. Pipeline {loaded.spec.name!r}: {' -> '.join(steps)}")


def _planned_steps(spec: Any) -> list[str]:
    from modelyard.pipeline import STEPS

    skipped = {
        "validate": spec.validation is None,
        "tune": spec.train.tune is None,
        "register": spec.registration is None,
    }
    return [s for s in STEPS if not skipped.get(s, False)]


@pipeline.command("run")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--no-cache", is_flag=True, help="Recompute every step (the cache is refreshed).")
@json_option
@pass_workspace
def pipeline_run(ws: Any, spec: str, no_cache: bool, as_json: bool) -> None:
    """Run SPEC: ingest, validate, split, transform, tune, train, evaluate, register."""
    from modelyard.pipeline import load_spec, run

    loaded = load_spec(spec)
    reporter = _live_reporter(quiet=as_json)
    try:
        result = run(loaded, workspace=ws, use_cache=not no_cache, reporter=reporter)
    finally:
        reporter.stop()
    if as_json:
        print_json(result.to_dict())
        return
    _print_result(result)


def _print_result(result: Any) -> None:
    out = console()
    if result.metrics:
        rows = [(name, value, *_cv(result.cv.get(name))) for name, value in result.metrics.items()]
        print_table("Metrics (held-out rows)", ("metric", "test", "cv mean", "cv std"), rows)
    if result.best_params:
        print_table("Best parameters", ("param", "value"), sorted(result.best_params.items()))
    gate = result.gate
    if gate is not None and gate.get("checks"):
        verdict = "[green]passed[/]" if gate["passed"] else "[red]failed[/]"
        details = "; ".join(esc(c["detail"]) for c in gate["checks"])
        out.print(f"gate {verdict}: {details}", markup=True)
    register = result.steps.get("register")
    if register is not None and register.status != "skipped":
        out.print(f"register: {register.summary}")
    if result.model_version is not None:
        v = result.model_version
        ref = f"models:/{v.name}@{v.stage}" if v.stage else f"models:/{v.name}/{v.version}"
        out.print(f"load it with: modelyard.load_model({ref!r})")
    for plot in result.plots:
        click.echo(f"plot: {plot}")
    cached = result.cached_steps
    click.echo(
        f"run {result.run_id} (experiment {result.experiment}) in {result.seconds:.1f} s"
        + (f"; cached: {', '.join(cached)}" if cached else "")
    )


def _cv(stats: Any) -> tuple[Any, Any]:
    return (stats["mean"], stats["std"]) if stats else (None, None)


def _live_reporter(quiet: bool) -> Any:
    """One line per step, live: a spinner while it runs, trials as a bar, then its summary.
    Where stderr is not a terminal (a log file, CI, a pipe), plain lines instead."""
    err = console(stderr=True)
    if not quiet and not err.is_terminal:
        return _plain_reporter(err)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Column

    from modelyard.pipeline import Reporter, StepOutcome

    marks = {
        "ran": "[green]done[/]",
        "cached": "[cyan]cached[/]",
        "skipped": "[dim]skipped[/]",
        "failed": "[red]failed[/]",
    }

    class LiveReporter(Reporter):
        def __init__(self) -> None:
            self.tasks: dict[str, Any] = {}
            self.progress = Progress(
                SpinnerColumn(finished_text=" "),
                TextColumn("{task.fields[step]}", table_column=Column(min_width=9, no_wrap=True)),
                BarColumn(bar_width=12),
                MofNCompleteColumn(table_column=Column(min_width=5)),
                TimeElapsedColumn(),
                TextColumn(
                    "{task.description}",
                    table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
                ),
                console=console(stderr=True),
                disable=quiet,
            )

        def stop(self) -> None:
            self.progress.stop()

        def run_started(self, run_id: str, experiment: str, steps: tuple[str, ...]) -> None:
            self.progress.start()
            if not quiet:
                self.progress.console.print(f"run {run_id} (experiment {experiment})")
            for step in steps:
                self.tasks[step] = self.progress.add_task(
                    "[dim]waiting[/]", step=step, total=1, start=False
                )

        def step_started(self, step: str) -> None:
            task = self.tasks[step]
            self.progress.start_task(task)
            self.progress.update(task, description="running", total=None)

        def step_progress(self, step: str, done: int, total: int | None, detail: str = "") -> None:
            self.progress.update(
                self.tasks[step], completed=done, total=total, description=esc(detail)
            )

        def step_finished(self, step: str, outcome: StepOutcome) -> None:
            task = self.tasks[step]
            total = self.progress.tasks[task].total or 1
            mark = marks.get(outcome.status, esc(outcome.status))
            self.progress.update(
                task, completed=total, total=total, description=f"{mark} {esc(outcome.summary)}"
            )
            self.progress.stop_task(task)

    return LiveReporter()


def _plain_reporter(out: Any) -> Any:
    """A line when each step starts and one when it ends (status, seconds, summary); tuning
    progress every tenth of the trials. No spinner or cursor movement: fit for logs."""
    from modelyard.pipeline import Reporter, StepOutcome

    class PlainReporter(Reporter):
        def __init__(self) -> None:
            self.shown: dict[str, int] = {}

        def stop(self) -> None:
            pass

        def _line(self, text: str) -> None:
            out.print(text, markup=False, highlight=False, soft_wrap=True)

        def run_started(self, run_id: str, experiment: str, steps: tuple[str, ...]) -> None:
            self._line(f"run {run_id} (experiment {experiment})")

        def step_started(self, step: str) -> None:
            self._line(f"{step:<9} started")

        def step_progress(self, step: str, done: int, total: int | None, detail: str = "") -> None:
            tenth = (10 * done // total) if total else done
            if done and self.shown.get(step) != tenth:
                self.shown[step] = tenth
                of = f"/{total}" if total else ""
                self._line(f"{step:<9} {done}{of} {detail}".rstrip())

        def step_finished(self, step: str, outcome: StepOutcome) -> None:
            status = "done" if outcome.status == "ran" else outcome.status
            took = "" if outcome.status == "skipped" else f" in {outcome.seconds:.1f} s"
            summary = f": {outcome.summary}" if outcome.summary else ""
            self._line(f"{step:<9} {status}{took}{summary}")

    return PlainReporter()


@pipeline.command("runs")
@click.option("-n", "--name", help="Only runs of this pipeline.")
@click.option("--max-results", default=20, show_default=True, type=int)
@json_option
@reads_workspace
def pipeline_runs(ws: Any, name: str | None, max_results: int, as_json: bool) -> None:
    """List pipeline runs, newest first: status, cached steps, metrics, registered version."""
    from modelyard.pipeline import list_runs

    items = list_runs(ws, name=name, max_results=max_results)
    if as_json:
        print_json([r.to_dict() for r in items])
        return
    found = {k for r in items for k in r.metrics if k.startswith("test.")}
    preferred: list[str] = [k for k in ("test.roc_auc", "test.rmse") if k in found]
    keys = (preferred or sorted(found))[:1]
    print_table(
        "Pipeline runs",
        ("run", "pipeline", "status", "started", "cached", "registered", *keys),
        [
            (
                r.run_id[:12],
                r.tags.get("modelyard.pipeline"),
                r.status,
                fmt_time(r.start_time),
                _cached(r.tags.get("modelyard.pipeline.steps", "")),
                r.tags.get("modelyard.pipeline.model_version", ""),
                *(r.metrics.get(k) for k in keys),
            )
            for r in items
        ],
    )


def _cached(steps: str) -> str:
    parts = [p.split(":") for p in steps.split(",") if ":" in p]
    return f"{sum(s == 'cached' for _, s in parts)}/{len(parts)}" if parts else ""
