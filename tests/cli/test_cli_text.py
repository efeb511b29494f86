"""What users and data write reaches the terminal as written: never read as rich markup."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.cli.test_features_cli import YAML, run


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns without a terminal
    pd.DataFrame(
        {
            "customer_id": ["a"],
            "ts": pd.to_datetime(["2026-01-01"]),
            "amount": [1.5],
            "visits": [1],
        }
    ).to_parquet(tmp_path / "spend.parquet")
    (tmp_path / "features.yaml").write_text(YAML)
    return tmp_path


def test_error_message_keeps_its_brackets(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "bad.yaml").write_text(YAML.replace("entities: [customer]", "entities: [nobody]"))
    code, _, err = run(capsys, "features", "apply", str(repo / "bad.yaml"))
    assert code != 0
    assert "feature_view[spend].entities: unknown entity 'nobody'" in err


def test_closing_tag_in_a_source_path_is_an_error_not_a_crash(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "odd.yaml").write_text(YAML.replace("spend.parquet", "/tmp/[/data]/x.parquet"))
    code, _, err = run(capsys, "features", "apply", str(repo / "odd.yaml"))
    assert code == 2
    assert "'/tmp/[/data]/x.parquet'" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["[/x]", "[low, high]", "[bold]"])
def test_table_cells_print_as_written(
    repo: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    run(capsys, "features", "apply", str(repo / "features.yaml"))
    code, out, _ = run(capsys, "features", "get", "--service", "svc", "-e", f"customer_id={value}")
    assert code == 0
    assert value in out and "not_found" in out
