"""Reading datasets: every format, directories, S3, and the ways a file can be bad."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard.config import Settings
from modelyard.data import read_dataset
from modelyard.datasets import make_transactions
from modelyard.errors import DataValidationError, InvalidArgumentError, NotFoundError
from modelyard.storage import Workspace


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_transactions(300, n_customers=50, days=3, seed=5)


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "json":
        path.write_text(frame.to_json(orient="records", date_format="iso"))
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    elif fmt == "avro":
        import fastavro

        schema = {
            "type": "record",
            "name": "tx",
            "fields": [
                {"name": "transaction_id", "type": "string"},
                {"name": "amount", "type": "double"},
                {"name": "merchant_category", "type": ["null", "string"]},
                {"name": "is_fraud", "type": "long"},
            ],
        }
        records = frame[["transaction_id", "amount", "merchant_category", "is_fraud"]].to_dict(
            "records"
        )
        with open(path, "wb") as fh:
            fastavro.writer(fh, schema, records)
    return path


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json", "jsonl", "avro"])
def test_every_format_reads_back_the_same_rows(
    fmt: str, frame: pd.DataFrame, tmp_path: Path, workspace: Workspace
) -> None:
    path = _write(frame, tmp_path / f"tx.{fmt}", fmt)
    data = read_dataset(str(path), workspace)
    assert data.format == fmt
    assert len(data.frame) == len(frame)
    assert data.frame["amount"].tolist() == pytest.approx(frame["amount"].tolist())
    assert data.frame["transaction_id"].tolist() == frame["transaction_id"].tolist()
    assert pd.api.types.is_string_dtype(data.frame["merchant_category"].dtype)
    assert data.input.num_rows == len(frame)
    assert len(data.digest) == 64


def test_the_fingerprint_follows_the_content(
    frame: pd.DataFrame, tmp_path: Path, workspace: Workspace
) -> None:
    a = _write(frame, tmp_path / "a.parquet", "parquet")
    b = _write(frame, tmp_path / "b.parquet", "parquet")
    assert read_dataset(str(a), workspace).digest == read_dataset(str(b), workspace).digest
    changed = frame.copy()
    changed.loc[0, "amount"] += 1
    c = _write(changed, tmp_path / "c.parquet", "parquet")
    assert read_dataset(str(c), workspace).digest != read_dataset(str(a), workspace).digest


def test_a_directory_is_every_file_of_the_format(
    frame: pd.DataFrame, tmp_path: Path, workspace: Workspace
) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    frame.iloc[:100].to_parquet(parts / "0.parquet")
    frame.iloc[100:].to_parquet(parts / "1.parquet")
    (parts / "README.txt").write_text("not data")
    data = read_dataset(str(parts), workspace)
    assert len(data.frame) == len(frame) and len(data.files) == 2


@pytest.mark.s3
def test_reads_from_s3(frame: pd.DataFrame, tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    ws = Workspace(Settings.resolve(home=str(tmp_path / "home"), s3_endpoint_url=endpoint))
    local = _write(frame, tmp_path / "tx.parquet", "parquet")
    store = ws.artifact_store_for(f"s3://{bucket}")
    store.put_file(local, "raw/tx.parquet")
    store.put_file(_write(frame.head(10), tmp_path / "more.parquet", "parquet"), "dir/a.parquet")
    store.put_file(local, "dir/b.parquet")
    one = read_dataset(f"s3://{bucket}/raw/tx.parquet", ws)
    assert len(one.frame) == len(frame)
    assert one.digest == read_dataset(str(local), ws).digest
    assert len(read_dataset(f"s3://{bucket}/dir", ws).frame) == len(frame) + 10
    with pytest.raises(NotFoundError, match="does not exist"):
        read_dataset(f"s3://{bucket}/nope.parquet", ws)


def test_a_missing_file_names_the_source(tmp_path: Path, workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="does not exist") as err:
        read_dataset(str(tmp_path / "missing.parquet"), workspace)
    assert err.value.details["field"] == "data.source"


def test_an_unknown_scheme_names_the_source(workspace: Workspace) -> None:
    from modelyard.errors import UnknownSchemeError

    with pytest.raises(UnknownSchemeError, match=r"data.source 'gs://b/x.parquet'.*s3") as err:
        read_dataset("gs://b/x.parquet", workspace)
    assert err.value.details["field"] == "data.source"


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path, workspace: Workspace) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match=r"Cannot read .*broken.parquet.* as parquet"):
        read_dataset(str(bad), workspace)
    jsonfile = tmp_path / "x.json"
    jsonfile.write_text('[{"a": 1}, {"a": ')
    with pytest.raises(DataValidationError, match="Cannot read"):
        read_dataset(str(jsonfile), workspace)


def test_an_empty_dataset_is_refused(tmp_path: Path, workspace: Workspace) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("amount,is_fraud\n")
    with pytest.raises(DataValidationError, match="is empty"):
        read_dataset(str(empty), workspace)


def test_an_unknown_extension_lists_the_formats(tmp_path: Path, workspace: Workspace) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match=r"\.parquet.*data\.format"):
        read_dataset(str(path), workspace)
    csv = tmp_path / "data.txt"
    csv.write_text("a;b\n1;2\n")
    data = read_dataset(str(csv), workspace, format="csv", options={"delimiter": ";"})
    assert data.frame.columns.tolist() == ["a", "b"]
