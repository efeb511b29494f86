"""Entry point. Command groups are imported only when invoked, so ``--help`` starts fast.

A later capability adds its group with one line in :data:`GROUPS`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from modelyard import __version__

GROUPS: dict[str, tuple[str, str]] = {
    # name: ("module:attribute", one-line help shown by --help without importing the module)
    "doctor": (
        "modelyard.cli.doctor:doctor",
        "Show the resolved configuration and check every store.",
    ),
    "experiments": ("modelyard.cli.tracking:experiments", "List experiments."),
    "runs": ("modelyard.cli.tracking:runs", "List, search and show runs."),
    "models": ("modelyard.cli.models:models", "Registered models: versions, promotion, history."),
    "audit": ("modelyard.cli.models:audit", "Show the audit trail."),
    "features": (
        "modelyard.cli.features:features",
        "Feature store: definitions, training sets, materialization, online reads, streams.",
    ),
    "pipeline": (
        "modelyard.cli.pipeline:pipeline",
        "Validate and run declarative training pipelines; list their runs.",
    ),
    "datasets": ("modelyard.cli.datasets:datasets", "Generate demo datasets."),
    "monitor": (
        "modelyard.cli.monitoring:monitor",
        "Monitors: drift, performance, alerts, retraining; feedback and HTML reports.",
    ),
    "serve": (
        "modelyard.cli.serving:serve",
        "Serve models over HTTP: A/B, shadow, micro-batching, cache, rate limits.",
    ),
    "predict": (
        "modelyard.cli.serving:predict",
        "Batch inference: score a parquet / csv / jsonl file in chunks.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*GROUPS, *super().list_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in GROUPS:
            module, _, attr = GROUPS[cmd_name][0].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, GROUPS[name][1]) for name in sorted(GROUPS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelyard")
@click.option("--home", envvar=None, help="Root of the default stores (MODELYARD_HOME).")
@click.option("--metadata-uri", help="Metadata store URI (MODELYARD_METADATA_URI).")
@click.option("--artifact-uri", help="Artifact store URI (MODELYARD_ARTIFACT_URI).")
@click.pass_context
def cli(
    ctx: click.Context, home: str | None, metadata_uri: str | None, artifact_uri: str | None
) -> None:
    """modelyard: track, register, serve and monitor models — one package, one lineage graph."""
    ctx.obj = {"home": home, "metadata_uri": metadata_uri, "artifact_uri": artifact_uri}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that open runs end KILLED and scratch space is removed."""


def _terminate(_signum: int, _frame: Any) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; a ModelyardError becomes a one-line message and its exit code."""
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        # servers install their own while they run; the program's own comes back afterwards
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None) -> Any:
    from modelyard.errors import ModelyardError

    try:
        return cli.main(args=argv, prog_name="modelyard", standalone_mode=False)
    except ModelyardError as exc:
        from modelyard.cli.output import print_error

        print_error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:  # click turns KeyboardInterrupt into Abort
        if isinstance(exc.__context__, Terminated):
            click.echo("Terminated.", err=True)
            sys.exit(143)
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except Terminated:
        click.echo("Terminated.", err=True)
        sys.exit(143)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
