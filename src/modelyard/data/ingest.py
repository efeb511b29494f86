"""Read a dataset (parquet, csv, json / jsonl, avro) from a local path or any fsspec URI.

Files are read with pyarrow (avro with fastavro) through the workspace's file access, so
``s3://`` uses the configured endpoint and credentials. A directory (or a prefix on S3) is read
as every file of the format under it, in name order. Nothing is downloaded besides the data.

The result carries the data's fingerprint (a sha256 of its content and schema), which a run
records as its input.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from modelyard.entities import DatasetInput
from modelyard.errors import (
    DataValidationError,
    DependencyMissingError,
    InvalidArgumentError,
    ModelyardError,
    NotFoundError,
    StoreUnavailableError,
    UnknownSchemeError,
)
from modelyard.storage import Workspace
from modelyard.tracking import fingerprint

__all__ = ["FORMATS", "Dataset", "detect_format", "read_dataset"]

Format = Literal["parquet", "csv", "json", "jsonl", "avro"]
FORMATS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq", ".parq"),
    "csv": (".csv", ".tsv", ".csv.gz"),
    "json": (".json",),
    "jsonl": (".jsonl", ".ndjson"),
    "avro": (".avro",),
}


@dataclass(frozen=True)
class Dataset:
    """A dataset read into memory, with where it came from and its fingerprint."""

    frame: pd.DataFrame
    source: str
    format: str
    files: tuple[str, ...]
    input: DatasetInput

    @property
    def digest(self) -> str:
        return self.input.digest


def detect_format(source: str) -> str:
    """The format a file name implies; an unknown extension is an error listing the known ones."""
    name = source.lower().rstrip("/")
    for fmt, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            return fmt
    known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
    raise InvalidArgumentError(
        f"Cannot tell the format of {source!r} from its name (known extensions: {known}). "
        "Set the format explicitly (data.format: parquet | csv | json | jsonl | avro).",
        field="data.format",
        value=source,
    )


def read_dataset(
    source: str,
    workspace: Workspace,
    *,
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    name: str | None = None,
    context: str = "training",
) -> Dataset:
    """Read ``source`` (a file or a directory of files) into a DataFrame.

    ``options`` go to the reader (csv: ``delimiter``, ``quote_char``...). String columns come
    back as pandas strings; an empty result is a :class:`DataValidationError`.
    """
    uri = _uri(source)
    try:
        store = workspace.artifact_store_for(uri)
    except UnknownSchemeError as exc:
        raise UnknownSchemeError(
            f"data.source {source!r}: {exc.message}", field="data.source", value=source
        ) from exc
    files = _files(store, source, format)
    fmt = format or detect_format(files[0] if files != [""] else uri)
    if fmt not in FORMATS:
        raise InvalidArgumentError(
            f"Unknown data format {fmt!r}; use one of {', '.join(FORMATS)}.",
            field="data.format",
            value=fmt,
        )
    frames = [_read_one(store, rel, fmt, dict(options or {}), source) for rel in files]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataValidationError(
            f"The dataset {source!r} is empty ({len(frame)} rows, {frame.shape[1]} columns); "
            "check the path and that the file was written completely.",
            field="data.source",
            value=source,
        )
    label = name or Path(uri.rstrip("/")).name or "data"
    return Dataset(
        frame,
        source,
        fmt,
        tuple(store.uri(f) for f in files),
        fingerprint(frame, source=source, name=label, context=context),
    )


def _uri(source: str) -> str:
    if "://" in source:
        return source
    return "file://" + str(Path(source).expanduser().resolve())


def _files(store: Any, source: str, fmt: str | None) -> list[str]:
    """Paths (relative to ``store``'s root) of the files to read: ``[""]`` for a single file."""
    local = store.local_path("")
    if (local is not None and not local.exists()) or (local is None and not store.exists("")):
        raise NotFoundError(
            f"Data source {source!r} does not exist{f' ({local})' if local else ''}. Check the "
            "path (a relative path in a spec is resolved against the spec file's directory).",
            field="data.source",
            value=source,
        )
    is_dir = local.is_dir() if local is not None else _remote_is_dir(store, source)
    if not is_dir:
        return [""]
    suffixes = FORMATS[fmt] if fmt else tuple(s for v in FORMATS.values() for s in v)
    found = [f for f in store.list("") if f.lower().endswith(suffixes)]
    if not found:
        raise DataValidationError(
            f"The directory {source!r} holds no data files ({', '.join(suffixes)}).",
            field="data.source",
            value=source,
        )
    if fmt is None and len({detect_format(f) for f in found}) > 1:
        raise InvalidArgumentError(
            f"The directory {source!r} mixes formats; set data.format to pick one.",
            field="data.format",
            value=source,
        )
    return found


def _remote_is_dir(store: Any, source: str) -> bool:
    try:
        return bool(store.fs.isdir(store.uri("").partition("://")[2]))
    except Exception as exc:
        raise StoreUnavailableError(
            f"Cannot read {source!r}: {exc}. Check the credentials and MODELYARD_S3_ENDPOINT_URL.",
            field="data.source",
        ) from exc


def _read_one(store: Any, rel: str, fmt: str, options: dict[str, Any], source: str) -> pd.DataFrame:
    where = store.uri(rel)
    try:
        local = store.local_path(rel)
        if local is not None:
            return _parse(str(local), fmt, options)
        with store.open(rel) as fh:
            return _parse(io.BytesIO(fh.read()), fmt, options)
    except ModelyardError:
        raise
    except Exception as exc:
        raise DataValidationError(
            f"Cannot read {where!r} as {fmt}: {type(exc).__name__}: {exc}. Check that the file "
            "is complete and in that format (set data.format if the extension is misleading).",
            field="data.source",
            value=source,
        ) from exc


def _parse(file: str | io.BytesIO, fmt: str, options: dict[str, Any]) -> pd.DataFrame:
    """One file (a local path, or the bytes of a remote one) into a frame."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return _to_pandas(pq.read_table(file, **options))
    if fmt == "csv":
        import pyarrow.csv as pcsv

        parse = pcsv.ParseOptions(**options) if options else None
        return _to_pandas(pcsv.read_csv(file, parse_options=parse))
    if fmt == "avro":
        return _read_avro(file)
    if fmt == "json" and _starts_with_bracket(file):
        with open(file, "rb") if isinstance(file, str) else file as fh:
            records = json.load(fh)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError("a JSON file must hold an array of objects (or one object per line)")
        return _strings(pd.DataFrame.from_records(records))
    import pyarrow.json as pjson

    return _to_pandas(pjson.read_json(file))


def _starts_with_bracket(file: str | io.BytesIO) -> bool:
    if isinstance(file, str):
        with open(file, "rb") as fh:
            head = fh.read(4096)
    else:
        head = file.getvalue()[:4096]
    return head.lstrip()[:1] == b"["


def _read_avro(file: str | io.BytesIO) -> pd.DataFrame:
    try:
        import fastavro
    except ImportError as exc:
        raise DependencyMissingError.for_extra("fastavro", "pipeline") from exc
    with open(file, "rb") if isinstance(file, str) else file as fh:
        return _strings(pd.DataFrame.from_records(list(fastavro.reader(fh))))


def _to_pandas(table: Any) -> pd.DataFrame:
    return _strings(table.to_pandas())


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as pandas strings, whatever the reader produced (object, str, large_string)."""
    for col in frame.columns:
        dtype = frame[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_object_dtype(dtype):
            if pd.api.types.infer_dtype(frame[col], skipna=True) == "string":
                frame[col] = frame[col].astype("string")
        elif pd.api.types.is_string_dtype(dtype):
            frame[col] = frame[col].astype("string")
    return frame
