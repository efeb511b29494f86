"""Model server benchmark: one-row requests over HTTP on 127.0.0.1, against the raw predict floor.

    python benchmarks/serving.py                 # about 2 minutes
    python benchmarks/serving.py --duration 5    # shorter runs

A HistGradientBoostingClassifier (20 features, 100 trees) is registered and served by
``modelyard serve`` in its own process, with its defaults (micro-batching, prediction log, access
log to a file). The load generator is ``wrk`` (``apt-get install wrk``; a C program, one thread,
keep-alive connections, a fixed one-row JSON body), in another process: it is not the bottleneck.

Figures:
- the floor: the estimator's own ``predict_proba`` on a one-row DataFrame, in process (with the
  library's default threads and with one thread, as the server scores), p50;
- concurrency 1, 8, 64: requests/s, p50, p99 (wrk's latency distribution);
- overload: twice the measured saturating rate, offered at a steady pace (wrk's ``delay()``
  between a connection's requests, so the offered rate does not fall when the server slows):
  how much is served, how much is refused (503 once the event loop lags), the p99 of all;
- rate limit: a per-client limit of half the saturating rate, offered the saturating load by
  one client: what is served (the limit), what is answered 429, the p99 of all.

Each figure is printed beside its target (shared/TARGETS.md). The machine has 2 cores: the
server and wrk share them, so run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""


def setup(home: Path) -> dict[str, Any]:
    """Train, register and promote the model; the body of one request; the raw floor."""
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    from modelyard.config import Settings
    from modelyard.flavors import save_model
    from modelyard.registry import RegistryClient
    from modelyard.storage import Workspace

    X, y = make_classification(n_samples=5000, n_features=20, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # a busy 2-core machine makes OpenMP threads spin
        model = HistGradientBoostingClassifier(random_state=0).fit(frame, y)
        save_model(model, home / "model", sample=frame.head(50))
    ws = Workspace(Settings.resolve(home=str(home)))
    registry = RegistryClient(ws)
    version = registry.register_model(str(home / "model"), "bench")
    registry.promote("bench", version.version, "production")
    ws.close()
    one = frame.iloc[[7]]
    return {
        "body": json.dumps({"instances": [one.iloc[0].to_dict()]}),
        "raw_default": _p50(lambda: model.predict_proba(one)),
        "raw_one_thread": _one_thread(lambda: model.predict_proba(one)),
        "trees": int(model.n_iter_),
    }


def _p50(fn: Any, n: int = 2000) -> float:
    for _ in range(200):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples)


def _one_thread(fn: Any) -> float:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _p50(fn)


# -- the server and the load generator ---------------------------------------------------------
def start_server(home: Path, port: int, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "modelyard.cli.main", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "MODELYARD_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - the access log; closed with the process
    )
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{round(seconds)}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, float] = {"raw": 0.0}
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if match:
            value = float(match[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match[2]]
            figures[f"p{pct}"] = value
    figures["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    figures["requests"] = float(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["refused"] = float(refused[1]) if refused else 0.0
    figures["served_rps"] = figures["rps"] * (1 - figures["refused"] / figures["requests"])
    return figures


def metric_sum(port: int, name: str) -> float:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    from rich.console import Console
    from rich.table import Table

    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        prepared = setup(home)
        floor = min(prepared["raw_default"], prepared["raw_one_thread"])
        rows.append(
            (
                f"raw predict_proba, 1 row ({prepared['trees']} trees), in process",
                f"p50 {prepared['raw_default']:.3f} ms (default threads), "
                f"{prepared['raw_one_thread']:.3f} ms (1 thread)",
                "",
                "the floor (peers: 0.4-0.7 ms)",
            )
        )
        script = Path(tmp) / "post.lua"
        script.write_text(LUA.format(body=prepared["body"]))
        url = f"http://127.0.0.1:{args.port}/v1/models/bench/predict"
        server = start_server(
            home, args.port, ["models:/bench@production"], Path(tmp) / "access.log"
        )
        try:
            wrk(url, script, 8, 3)  # warm up
            results = {}
            for conns in (1, 8, 64):
                print(f"concurrency {conns} ...", file=sys.stderr)
                results[conns] = r = wrk(url, script, conns, args.duration)
                target = ""
                if conns == 1:
                    ok = r["p50"] - floor <= 1.0
                    target = (
                        f"p50 within 1 ms of raw: {r['p50'] - floor:+.3f} ms "
                        f"{'OK' if ok else 'MISSED'} (BentoML 1.6-2.4 ms, mlflow 7-11 ms)"
                    )
                elif conns == 64:
                    ok = r["rps"] >= 3000 and r["p99"] < 50
                    target = (
                        f">= 3,000 req/s and p99 < 50 ms: {'OK' if ok else 'MISSED'} "
                        "(BentoML 210-410 req/s, mlflow 76-110)"
                    )
                rows.append(
                    (
                        f"HTTP one-row requests, concurrency {conns}",
                        f"{r['rps']:,.0f} req/s",
                        f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms",
                        target,
                    )
                )
            batches = metric_sum(args.port, "modelyard_batch_size_count")
            batch_rows = metric_sum(args.port, "modelyard_batch_size_sum")
            rows.append(
                (
                    "mean rows per model call (all runs)",
                    f"{batch_rows / max(batches, 1):.1f}",
                    "",
                    "micro-batching at work",
                )
            )
        finally:
            stop_server(server)
        saturated = results[64]["rps"]
        overload(home, args, script, saturated, rows, Path(tmp))
        rate_limited(home, args, script, saturated, rows, Path(tmp))

    table = Table(title="modelyard serving", title_justify="left", header_style="bold")
    for col in ("case", "throughput", "latency", "target / peers"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


PACED = """
local pause = {pause}
function delay()
  return pause * (0.5 + math.random())
end
"""


def overload(
    home: Path,
    args: argparse.Namespace,
    script: Path,
    saturated: float,
    rows: list[tuple[str, str, str, str]],
    tmp: Path,
) -> None:
    """Twice the saturating rate, offered by 256 connections that each wait between requests
    (wrk's delay(), so the offered rate does not follow the server's pace as a closed loop
    would, as long as answers are quicker than the pause), against the default server: what is
    served, what is refused (503: a full model queue, or an event loop lagging more than
    50 ms), and the latency of every answer. There is no numeric target: the p99 must stay
    bounded and the process keep serving near its capacity."""
    connections = 256
    offered = 2 * saturated
    pause_ms = max(1.0, connections / offered * 1000 - 2.0)
    paced = tmp / "paced.lua"
    paced.write_text(script.read_text() + PACED.format(pause=round(pause_ms, 2)))
    url = f"http://127.0.0.1:{args.port}/v1/models/bench/predict"
    server = start_server(home, args.port, ["models:/bench@production"], tmp / "access2.log")
    try:
        wrk(url, script, 8, 2)
        print("overload ...", file=sys.stderr)
        r = wrk(url, paced, connections, args.duration)
        busy = metric_sum(args.port, "modelyard_errors_total")
    finally:
        stop_server(server)
    share = r["refused"] / r["requests"]
    rows.append(
        (
            f"overload: {offered:,.0f} req/s offered (2x saturation), {connections} connections",
            f"{r['rps']:,.0f} answers/s: {r['served_rps']:,.0f} served "
            f"({r['served_rps'] / saturated:.0%} of saturation), {share:.0%} refused "
            f"(503: {busy:,.0f})",
            f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms",
            "p99 bounded, excess refused at once (no numeric target)",
        )
    )


def rate_limited(
    home: Path,
    args: argparse.Namespace,
    script: Path,
    saturated: float,
    rows: list[tuple[str, str, str, str]],
    tmp: Path,
) -> None:
    """A per-client limit of half the saturating rate, offered the saturating load (64
    connections, one client): twice what the client may send. The excess must be answered 429
    at once (before the body is parsed), the allowed half served."""
    limit = max(10, int(saturated / 2))
    config = tmp / "limited.yaml"
    config.write_text(
        "deployments:\n"
        "  bench:\n"
        "    model: models:/bench@production\n"
        "    preload: true\n"
        f"    rate_limit: {{requests_per_s: {limit}, burst: {max(1, limit // 20)}}}\n"
    )
    url = f"http://127.0.0.1:{args.port}/v1/models/bench/predict"
    server = start_server(home, args.port, ["--config", str(config)], tmp / "access3.log")
    try:
        wrk(url, script, 8, 2)
        print("rate limited ...", file=sys.stderr)
        r = wrk(url, script, 64, args.duration)
    finally:
        stop_server(server)
    rows.append(
        (
            f"rate limit {limit:,} req/s per client, offered the saturating load (2x the limit)",
            f"{r['rps']:,.0f} answers/s: {r['served_rps']:,.0f} served, "
            f"{r['refused'] / r['requests']:.0%} answered 429",
            f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms",
            f"served = the limit ({r['served_rps'] / limit:.0%} of it), excess 429 at once",
        )
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
