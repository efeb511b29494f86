"""Formatting shared by every command: rich tables for people, JSON for scripts.

Text that comes from users or data (names, paths, values, error messages) is never read as rich
markup: ``[low, high]`` or ``feature_view[v]`` would lose their brackets and ``[/x]`` would raise
``MarkupError``. :func:`console` therefore has markup off; the few lines that style our own fixed
words pass ``markup=True`` and wrap every value in :func:`esc`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)  # type: ignore[return-value]


def workspace_from(ctx: click.Context) -> Any:
    """The workspace the global options (--home, --metadata-uri, ...) describe."""
    from modelyard.config import Settings
    from modelyard.storage import Workspace

    opts = {k: v for k, v in (ctx.find_root().obj or {}).items() if v is not None}
    return Workspace(Settings.resolve(**opts))


def pass_workspace(func: F) -> F:
    @wraps(func)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        return func(workspace_from(ctx), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def reads_workspace(func: F) -> F:
    """:func:`pass_workspace` for commands that only read: a SQLite metadata file that does not
    exist is an error naming it, not a new empty database (the first write still creates it)."""

    @wraps(func)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        ws = workspace_from(ctx)
        _require_metadata_file(ws.settings.metadata_uri)
        return func(ws, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _require_metadata_file(uri: str) -> None:
    from modelyard.errors import NotFoundError
    from modelyard.storage.metadata.database import sqlite_file

    path = sqlite_file(uri)
    if path is not None and not path.exists():
        raise NotFoundError(
            f"No metadata store at {path}: nothing has been recorded there yet, or "
            "MODELYARD_METADATA_URI / MODELYARD_HOME (--metadata-uri / --home) is mistyped. "
            "The first run, registration or `features apply` creates it (so does `modelyard "
            "doctor`, which also shows where each setting comes from).",
            uri=uri,
        )


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, sort_keys=False))


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def console(stderr: bool = False) -> Any:
    """A console that prints strings as they are; styled lines pass ``markup=True``."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, markup=False)


def esc(value: Any) -> str:
    """``value`` as text safe to put inside rich markup."""
    from rich.markup import escape

    return escape(str(value))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=None if title is None else Text(title),
        title_justify="left",
        header_style="bold",
    )
    for col in columns:
        table.add_column(Text(col), overflow="fold")
    for row in rows:
        table.add_row(*(Text(fmt_value(v)) for v in row))
    console().print(table)


def print_kv(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    print_table(title, ("field", "value"), pairs)


def print_error(exc: Any) -> None:
    if "--json" in sys.argv:
        click.echo(json.dumps(exc.to_dict(), default=str), err=True)
        return
    # soft_wrap: no line breaks inside paths and URIs (the terminal wraps long lines itself)
    console(stderr=True).print(
        f"[bold red]error:[/] {esc(exc.message)}", markup=True, soft_wrap=True
    )


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar; yields ``advance(n)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
