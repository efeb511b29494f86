"""``modelyard features`` driven as a user would: apply, list, show, materialize, get, parity."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from modelyard.cli.main import main

YAML = """
entities:
  - {name: customer, join_keys: [customer_id]}
feature_views:
  - name: spend
    entities: [customer]
    source: spend.parquet
    timestamp_field: ts
    ttl: 1d
    features: {amount: float64, visits: int64}
feature_services:
  - {name: svc, features: [spend]}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "ts": pd.to_datetime(["2026-01-01 00:00", "2026-01-02 00:00", "2026-01-01 06:00"]),
            "amount": [1.5, 2.5, 3.5],
            "visits": [1, 2, 3],
        }
    ).to_parquet(tmp_path / "spend.parquet")
    (tmp_path / "features.yaml").write_text(YAML)
    return tmp_path


def test_features_workflow(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "features", "apply", str(repo / "features.yaml"), "--json")
    assert code == 0 and {a["status"] for a in json.loads(out)} == {"created"}
    code, out, _ = run(capsys, "features", "list", "--json")
    assert [r["name"] for r in json.loads(out)] == ["customer", "svc", "spend"]
    code, out, _ = run(capsys, "features", "show", "spend")
    assert code == 0 and "ttl: 1d" in out
    code, out, _ = run(
        capsys, "features", "materialize", "--start", "2026-01-01", "--end", "2026-01-03", "--json"
    )
    assert json.loads(out)[0]["rows"] == 2
    code, out, _ = run(
        capsys, "features", "get", "--service", "svc", "-e", "customer_id=a",
        "-e", "customer_id=zz", "--at", "2026-01-02T12:00:00", "--json",
    )  # fmt: skip
    results = json.loads(out)["results"]
    assert results[0]["values"] == [2.5, 2] and results[1]["statuses"] == ["not_found"] * 2
    # online, a holds its value of 2026-01-02: as of the day before, that is the future
    code, out, _ = run(
        capsys, "features", "get", "--service", "svc", "-e", "customer_id=a",
        "--at", "2026-01-01T12:00:00", "--json",
    )  # fmt: skip
    assert json.loads(out)["results"][0] == {
        "values": [None, None], "statuses": ["not_found"] * 2, "event_timestamps": [None, None]
    }  # fmt: skip
    code, out, _ = run(capsys, "features", "check-parity", "--service", "svc", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = run(capsys, "features", "materialize-incremental", "--end", "2026-01-04")
    assert code == 0 and "spend" in out
    code, out, _ = run(capsys, "features", "show", "spend", "--json")
    assert len(json.loads(out)["materializations"]) == 2
    # a changed definition is a new version: it starts from the beginning, and says so
    (repo / "features.yaml").write_text(YAML.replace("ttl: 1d", "ttl: 2d"))
    run(capsys, "features", "apply", str(repo / "features.yaml"))
    code, out, _ = run(capsys, "features", "materialize-incremental", "--end", "2026-01-04")
    assert code == 0 and "New versions start from the beginning" in out and "spend v2" in out
    code, out, _ = run(capsys, "features", "check-parity", "--service", "svc", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_cli_errors(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "features", "apply", str(repo / "nope.yaml"))
    assert code == 3 and "does not exist" in err
    (repo / "bad.yaml").write_text(YAML.replace("ttl: 1d", "ttl: one day"))
    code, _, err = run(capsys, "features", "apply", str(repo / "bad.yaml"))
    assert code == 2 and "feature_views[0].ttl" in err
    # field and reference problems in one report (names like feature_service[svc] intact)
    bad = YAML.replace("ttl: 1d", "ttl: soon").replace("features: [spend]", "features: [spent]")
    (repo / "bad.yaml").write_text(bad)
    code, _, err = run(capsys, "features", "apply", str(repo / "bad.yaml"))
    assert code == 2 and "2 problem(s)" in err and "feature_views[0].ttl" in err
    assert "feature_service[svc].features: unknown feature view 'spent'" in err
    run(capsys, "features", "apply", str(repo / "features.yaml"))
    code, _, err = run(capsys, "features", "get", "--feature", "spend:amont", "-e", "customer_id=a")
    assert code == 3 and "did you mean 'spend:amount'" in err
    code, _, err = run(capsys, "features", "get", "--service", "svc", "-e", "customer_id")
    assert code == 2
    # parity fails (exit 1) when the online store lags the offline data
    run(capsys, "features", "materialize", "--start", "2026-01-01", "--end", "2026-01-01T01:00")
    code, out, _ = run(
        capsys, "features", "check-parity", "--service", "svc", "--at", "2026-01-02T12:00"
    )
    assert code == 1 and "mismatches" in out.lower()
    code, _, err = run(
        capsys, "features", "materialize", "--start", "2026-03-01", "--end", "2026-01-01"
    )
    assert code == 2 and "(2026-03-01T00:00:00Z > 2026-01-01T00:00:00Z)" in err
