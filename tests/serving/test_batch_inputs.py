"""``modelyard predict`` on awkward input files: a bad line or row is a one-line error naming the
file, the line / row, the column and the value (exit 2, no traceback, no output left behind);
CSV columns the signature declares are read with its types; chunks whose column types differ
are widened into one output schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from modelyard.cli.main import main
from modelyard.config import Settings
from modelyard.registry import RegistryClient
from modelyard.serving import batch
from modelyard.storage import Workspace
from tests.serving.helpers import COLUMNS, register, training_data


@pytest.fixture
def home(tmp_path: Path, model_dirs: dict[str, Path]) -> Path:
    home = tmp_path / "home"
    register(
        Workspace(Settings.resolve(home=str(home))), model_dirs["logreg"], "fraud", "production"
    )
    return home


def _predict(home: Path, source: Path, target: Path, *args: str) -> int:
    argv = ["--home", str(home), "predict", "models:/fraud@production"]
    try:
        main([*argv, "--input", str(source), "--output", str(target), *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _failed(
    home: Path, source: Path, target: Path, capfd: pytest.CaptureFixture[str], *args: str
) -> str:
    code = _predict(home, source, target, *args)
    err = capfd.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "error:" in err
    assert not target.exists()
    assert not list(target.parent.glob(f".{target.name}*"))  # no partial file left behind
    return " ".join(err.split())  # rich wraps long lines


def _records(n: int, seed: int = 0) -> list[dict[str, float]]:
    X, _ = training_data(n=n, seed=seed)
    return [{k: float(v) for k, v in r.items()} for r in X.to_dict(orient="records")]


def test_a_malformed_json_line_names_its_line(
    home: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(r) for r in _records(5)]
    lines[3] = lines[3][:-10] + "nul"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    err = _failed(home, source, tmp_path / "out.parquet", capfd)
    assert f"{source}, line 4: not valid JSON" in err
    source.write_text(json.dumps(_records(1)[0]) + "\n[1, 2]\n")
    err = _failed(home, source, tmp_path / "out.parquet", capfd)
    assert "line 2: a list, not an object" in err


def test_an_empty_csv_is_a_clear_error(
    home: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("")
    err = _failed(home, source, tmp_path / "out.csv", capfd)
    assert f"Input file '{source}' is empty" in err


def test_csv_columns_take_the_signatures_types(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(batch, "_CSV_BLOCK_BYTES", 1 << 14)  # types guessed from ~100 rows
    X, _ = training_data(n=2_000, seed=4)
    X["f0"] = np.arange(len(X)).astype(float)
    X.loc[len(X) - 1, "f0"] = 0.5  # whole numbers until the last row
    source, target = tmp_path / "in.csv", tmp_path / "out.parquet"
    X.to_csv(source, index=False, float_format="%.12g")
    assert _predict(home, source, target) == 0
    got = pd.read_parquet(target)
    assert len(got) == 2_000 and got.f0.iloc[-1] == 0.5 and got.f0.dtype == np.float64
    model = RegistryClient(Workspace(Settings.resolve(home=str(home)))).load_model(
        "models:/fraud@production"
    )
    expected = model.predict_proba(pd.read_csv(source)[COLUMNS])[:, 1]
    np.testing.assert_allclose(got.proba_1, expected, rtol=1e-9)

    # a column the model does not declare is still guessed: a clear error naming the row
    X.insert(0, "row_id", np.arange(len(X)).astype(object))
    X.loc[1_500, "row_id"] = "0.5"
    X.to_csv(source, index=False, float_format="%.12g")
    err = _failed(home, source, tmp_path / "out.csv", capfd)
    assert f"{source}, row 1,501 (not counting the header), column 'row_id': '0.5' is not " in err
    assert "a valid int64" in err


def test_chunks_of_different_types_widen_the_output(
    home: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    records = _records(35)
    for i, r in enumerate(records):
        r["weight"] = i if i < 10 else i + 0.5  # int in the first chunk, float later
        r["note"] = None if i < 20 else f"n{i}"  # null, then strings
        if i >= 30:
            r["late"] = i  # a column first seen in the last chunk
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    for suffix in ("parquet", "csv"):
        target = tmp_path / f"out.{suffix}"
        code = _predict(home, source, target, "--chunk-size", "10")
        if suffix == "csv":  # the header is written: a column seen later cannot join it
            assert code == 2
            err = " ".join(capfd.readouterr().err.split())
            assert "column 'late', in the rows from 31 on, first appears after the CSV" in err
            assert not target.exists() and not list(tmp_path.glob(".out.csv*"))
            continue
        assert code == 0, capfd.readouterr().err
        table = pq.read_table(target)
        assert str(table.schema.field("weight").type) == "double"
        assert str(table.schema.field("note").type) in ("string", "large_string")
        got = table.to_pandas()
        assert got.weight.tolist() == [r["weight"] for r in records]
        assert table.column("note").to_pylist()[19:21] == [None, "n20"]
        assert got.late.isna().sum() == 30 and got.late.iloc[-1] == 34
        assert not list(tmp_path.glob(".out.parquet*"))

    # a number, then a string: no common type, an error naming the column
    records[25]["weight"] = "heavy"
    for r in records:
        r.pop("late", None)
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    err = _failed(home, source, tmp_path / "mixed.parquet", capfd, "--chunk-size", "10")
    assert "column 'weight', in the rows from 21 on, holds values of mixed types" in err
    records[25]["weight"] = 25.5
    for r in records[20:]:
        r["weight"] = "heavy"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    err = _failed(home, source, tmp_path / "changed.parquet", capfd, "--chunk-size", "10")
    assert "column 'weight', in the rows from 21 on, holds double in the rows before" in err
    assert "and large_string from here on, which do not widen to one type" in err


def test_a_chunk_the_model_refuses_names_its_rows(
    home: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    records = _records(30)
    records[25]["f3"] = "abc"  # type: ignore[assignment]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    err = _failed(home, source, tmp_path / "out.parquet", capfd, "--chunk-size", "10")
    assert "Column 'f3' must be float" in err and f"(input rows from 21 of {source})" in err
