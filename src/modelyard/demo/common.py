"""What the demo's steps share: the console, the step banner, the fraud project's files, the
timeline of its generated payments, and a model server in a subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

# markup off: the demo prints names, errors and alert lines like "[warning] drift" as they are
console = Console(highlight=False, markup=False)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "fraud"
EXAMPLE_SPEC = EXAMPLES / "pipeline_features.yaml"
EXAMPLE_FEATURES = EXAMPLES / "features.py"

# The generated payments: 30 days to train on, then live traffic — 4 quiet days, then a week in
# which amounts grow, new merchant categories appear and fraud changes its pattern.
START = "2026-01-01"
DAYS = 40
TRAIN_UNTIL = "2026-01-31"
DRIFT_FROM = "2026-02-04"
ROWS = 40_000


def step(title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Print a banner before the step and its duration after it."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            console.rule(Text(title, style="bold"))
            start = time.perf_counter()
            result = func(*args, **kwargs)
            console.print(f"{title}: {time.perf_counter() - start:.1f} s", style="dim")
            return result

        return run

    return wrap


@dataclass(frozen=True)
class FraudProject:
    """The demo's copy of examples/fraud: definitions, specs and data, side by side (the
    feature views read ``data/transactions.parquet`` next to ``features.py``)."""

    root: Path

    @property
    def data(self) -> Path:
        """The payments ingested so far: the feature views' source and the labelled rows."""
        return self.root / "data" / "transactions.parquet"

    @property
    def stream(self) -> Path:
        """Every generated payment, the live days included (what will happen)."""
        return self.root / "data" / "all-payments.parquet"

    @property
    def training_rows(self) -> Path:
        """The labelled payments a retrain learns from: the ingested ones except those the
        model server scored (their labels arrive as feedback; the monitor compares champion
        and challenger on them, so no model may train on them)."""
        return self.root / "data" / "training-rows.parquet"

    @property
    def served(self) -> Path:
        """The ids of the payments sent to the model server."""
        return self.root / "data" / "served.parquet"

    @property
    def features(self) -> Path:
        return self.root / "features.py"

    @property
    def pipeline(self) -> Path:
        return self.root / "pipeline.yaml"

    @property
    def retrain_pipeline(self) -> Path:
        return self.root / "pipeline_retrain.yaml"

    @property
    def monitor(self) -> Path:
        return self.root / "monitor.yaml"

    @property
    def alerts(self) -> Path:
        """Where the demo monitor's command sink appends each alert event (JSON lines)."""
        return self.root / "alerts.jsonl"


# -- a model server in its own process ---------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_model_server(home: str, uri: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """``modelyard serve URI`` on a free 127.0.0.1 port; returns the process and its base URL
    once ``/health`` answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", "--home", home, "serve", uri,
         "--port", str(port), "--no-access-log", "--log-level", "warning", *extra],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not healthy(base):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("the model server did not start; see the messages above")
        time.sleep(0.2)
    return server, base


def healthy(base: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the server drains, flushes its prediction log and exits."""
    import signal

    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
