"""``modelyard doctor``."""

from __future__ import annotations

import sys
from typing import Any

import click

from modelyard.cli.output import (
    console,
    esc,
    json_option,
    pass_workspace,
    print_json,
    print_table,
)


@click.command()
@json_option
@pass_workspace
def doctor(ws: Any, as_json: bool) -> None:
    """Show the resolved configuration and check that every store is reachable."""
    from modelyard.diagnostics import run_checks

    settings = ws.settings
    results = run_checks(ws)
    if as_json:
        print_json(
            {
                "settings": {
                    k: {"value": v, "source": settings.sources.get(k)}
                    for k, v in settings.as_dict().items()
                },
                "checks": [
                    {
                        "name": r.name,
                        "ok": r.ok,
                        "target": r.target,
                        "detail": r.detail,
                        "fix": r.fix,
                        "seconds": round(r.seconds, 4),
                    }
                    for r in results
                ],
            }
        )
    else:
        from modelyard.storage.metadata import redact

        print_table(
            "Configuration",
            ("setting", "value", "from"),
            [(k, redact(str(v)), settings.sources.get(k)) for k, v in settings.as_dict().items()],
        )
        out = console()
        for r in results:
            if r.ok:
                out.print(
                    f"[green]✔[/] {esc(r.name)}: {esc(r.target)} "
                    f"({esc(r.detail)}, {r.seconds * 1000:.0f} ms)",
                    markup=True,
                )
            else:
                out.print(f"[red]✘[/] {esc(r.name)}: {esc(r.detail)}", markup=True)
                out.print(f"   [yellow]fix:[/] {esc(r.fix)}", markup=True)
    if not all(r.ok for r in results):
        sys.exit(5)
