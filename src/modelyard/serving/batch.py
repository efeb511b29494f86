"""Batch inference: score a Parquet / CSV / JSON-lines file in chunks, in one or more processes.

    predict_file("models:/fraud@production", "in.parquet", "out.parquet", workers=4)

The input is read chunk by chunk (``chunk_size`` rows; pyarrow's streaming readers), so a file
larger than memory is fine. Each chunk is put into the model's signature layout and scored in
one call; the output holds the input's columns plus ``prediction`` and, for a classifier,
``proba_<class>`` per class, in the input's order. With ``workers > 1`` the chunks are scored by
a pool of local processes (each loads the verified model once) while this process reads and
writes; at most ``2 x workers`` chunks are in flight, so memory stays bounded. The output is
written to a temporary file and renamed at the end: a failed run leaves no half-written output.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.errors import InvalidArgumentError, NotFoundError, suggest
from modelyard.flavors import LoadedModel, load_model
from modelyard.registry import ModelRef, RegistryClient, parse_model_uri
from modelyard.storage import Workspace, default_workspace

__all__ = ["FORMATS", "BatchResult", "predict_file"]

FORMATS = ("parquet", "csv", "jsonl")
_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
Progress = Callable[[int, int | None], None]
"""called with (rows done, total rows or None when the format does not say)"""


@dataclass(frozen=True)
class BatchResult:
    model: str
    version: int | None
    rows: int
    output: str
    seconds: float
    workers: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def predict_file(
    model_uri: str,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    workspace: Workspace | None = None,
    chunk_size: int = 10_000,
    workers: int = 1,
    input_format: str | None = None,
    output_format: str | None = None,
    proba: bool = True,
    progress: Progress | None = None,
) -> BatchResult:
    """Score every row of ``input_path`` with ``model_uri``; write ``output_path``."""
    start = time.perf_counter()
    if chunk_size < 1 or workers < 1:
        raise InvalidArgumentError(
            f"chunk_size and workers must be at least 1 (got {chunk_size}, {workers}).",
            field="chunk_size" if chunk_size < 1 else "workers",
        )
    source, target = Path(input_path), Path(output_path)
    if not source.is_file():
        raise NotFoundError(f"Input file {str(source)!r} does not exist.", path=str(source))
    in_fmt = _format(source, input_format, "input_format")
    out_fmt = _format(target, output_format, "output_format")
    registry = RegistryClient(workspace or default_workspace())
    local, expected = registry.download(model_uri)
    ref = parse_model_uri(model_uri)
    version = registry.resolve(model_uri).version if isinstance(ref, ModelRef) else None
    model = load_model(local, expected_files=expected)  # verified here, once, before any work
    chunks, total = _reader(source, in_fmt, chunk_size)
    tmp = target.with_name(f".{target.name}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    try:
        with _Writer(tmp, out_fmt) as writer:
            scored = (
                _score_local(model, chunks, proba)
                if workers == 1
                else _score_pool(str(local), expected, chunks, proba, workers)
            )
            for frame in scored:
                writer.write(frame)
                rows += len(frame)
                if progress is not None:
                    progress(rows, total)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    name = ref.name if isinstance(ref, ModelRef) else model_uri
    return BatchResult(name, version, rows, str(target), time.perf_counter() - start, workers)


def _format(path: Path, given: str | None, field: str) -> str:
    fmt = given or _SUFFIXES.get(path.suffix.lower())
    if fmt not in FORMATS:
        shown = given or path.suffix or "(no suffix)"
        raise InvalidArgumentError(
            f"Unknown file format {shown!r} for {path}{suggest(str(shown).lstrip('.'), FORMATS)}; "
            f"use one of {', '.join(FORMATS)} (by suffix: .parquet, .csv, .jsonl) or pass "
            f"{field.replace('_', '-')}.",
            field=field,
            value=shown,
        )
    return str(fmt)


# -- reading ---------------------------------------------------------------------------------
def _reader(path: Path, fmt: str, chunk_size: int) -> tuple[Iterator[pd.DataFrame], int | None]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        batches = file.iter_batches(batch_size=chunk_size)
        return (b.to_pandas() for b in batches), file.metadata.num_rows
    if fmt == "csv":
        return _rechunk(_csv_batches(path), chunk_size), None
    return pd.read_json(path, lines=True, chunksize=chunk_size), None


def _csv_batches(path: Path) -> Iterator[pd.DataFrame]:
    import pyarrow.csv as pcsv

    with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=8 << 20)) as reader:
        for batch in reader:
            yield batch.to_pandas()


def _rechunk(frames: Iterator[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    pending: list[pd.DataFrame] = []
    held = 0
    for frame in frames:
        pending.append(frame)
        held += len(frame)
        while held >= size:
            joined = pd.concat(pending, ignore_index=True)
            yield joined.iloc[:size]
            rest = joined.iloc[size:]
            pending, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield pd.concat(pending, ignore_index=True)


# -- scoring -----------------------------------------------------------------------------------
def score_frame(model: LoadedModel, frame: pd.DataFrame, proba: bool) -> pd.DataFrame:
    """``frame`` plus ``prediction`` (and ``proba_<class>`` columns)."""
    prepared = model.prepare(frame)
    predictions, probabilities = model.predict_prepared(prepared, proba=proba)
    out = frame.reset_index(drop=True).copy()
    out["prediction"] = predictions
    if probabilities is not None:
        classes = model.classes or list(range(probabilities.shape[1]))
        for j, cls in enumerate(classes):
            out[f"proba_{cls}"] = probabilities[:, j]
    return out


def _score_local(
    model: LoadedModel, chunks: Iterator[pd.DataFrame], proba: bool
) -> Iterator[pd.DataFrame]:
    for frame in chunks:
        yield score_frame(model, frame, proba)


_WORKER_MODEL: LoadedModel | None = None


def _init_worker(path: str, expected: dict[str, str] | None) -> None:
    global _WORKER_MODEL
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # N processes, one thread each
    _WORKER_MODEL = load_model(path, expected_files=expected)


def _score_in_worker(frame: pd.DataFrame, proba: bool) -> pd.DataFrame:
    assert _WORKER_MODEL is not None
    return score_frame(_WORKER_MODEL, frame, proba)


def _score_pool(
    path: str,
    expected: dict[str, str] | None,
    chunks: Iterator[pd.DataFrame],
    proba: bool,
    workers: int,
) -> Iterator[pd.DataFrame]:
    """Chunks scored by ``workers`` processes (spawned: a fork would copy this process's
    OpenMP thread pools and open connections), answers in input order."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(path, expected)
    ) as pool:
        window: deque[Future[pd.DataFrame]] = deque()
        for frame in chunks:
            window.append(pool.submit(_score_in_worker, frame, proba))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


# -- writing -----------------------------------------------------------------------------------
class _Writer:
    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._writer: Any = None
        self._schema: Any = None
        self._file: Any = None

    def __enter__(self) -> _Writer:
        if self.fmt == "jsonl":
            self._file = open(self.path, "w", encoding="utf-8")
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "jsonl":
            text = frame.to_json(orient="records", lines=True, date_format="iso")
            self._file.write(text if text.endswith("\n") else text + "\n")
            return
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema.remove_metadata()
            self._writer = self._open(self._schema)
        table = table.replace_schema_metadata(None)
        if table.schema != self._schema:  # e.g. a column all null in this chunk
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def _open(self, schema: Any) -> Any:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self.path, schema, compression="zstd")
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(self.path, schema)

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        if self._writer is None and self._file is None and not any(exc):
            self.path.write_bytes(b"")  # no rows at all: an empty output
