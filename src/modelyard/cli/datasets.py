"""``modelyard datasets``: generate the demo data."""

from __future__ import annotations

import click

from modelyard.cli.output import json_option, print_json


@click.group()
def datasets() -> None:
    """Demo datasets (synthetic card transactions)."""


@datasets.command("generate")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--rows", default=100_000, show_default=True, type=int)
@click.option("--days", default=30, show_default=True, type=int)
@click.option("--customers", default=2_000, show_default=True, type=int)
@click.option("--merchants", default=400, show_default=True, type=int)
@click.option("--start", default="2026-01-01", show_default=True, help="First day (YYYY-MM-DD).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--fraud-rate", default=0.015, show_default=True, type=float)
@click.option("--drift-from", help="Inject drift from this date on (YYYY-MM-DD).")
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), help="Default: from the extension."
)
@json_option
def datasets_generate(
    path: str,
    rows: int,
    days: int,
    customers: int,
    merchants: int,
    start: str,
    seed: int,
    fraud_rate: float,
    drift_from: str | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Write synthetic card transactions (with an is_fraud label) to PATH."""
    from modelyard.datasets import write_transactions

    target = write_transactions(
        path,
        fmt,  # type: ignore[arg-type]
        n_rows=rows,
        days=days,
        n_customers=customers,
        n_merchants=merchants,
        start=start,
        seed=seed,
        fraud_rate=fraud_rate,
        drift_from=drift_from,
    )
    if as_json:
        fmt_used = fmt or ("csv" if str(target).endswith(".csv") else "parquet")
        print_json({"path": str(target), "format": fmt_used, "rows": rows, "days": days})
        return
    click.echo(f"Wrote {rows:,} transactions over {days} days to {target}")
