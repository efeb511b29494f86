"""Batch inference: score a Parquet / CSV / JSON-lines file in chunks, in one or more processes.

    predict_file("models:/fraud@production", "in.parquet", "out.parquet", workers=4)

The input is read chunk by chunk (``chunk_size`` rows; pyarrow's streaming readers), so a file
larger than memory is fine. Each chunk is put into the model's signature layout and scored in
one call; the output holds the input's columns plus ``prediction`` and, for a classifier,
``proba_<class>`` per class, in the input's order. With ``workers > 1`` the chunks are scored by
a pool of local processes (each loads the verified model once) while this process reads and
writes; at most ``2 x workers`` chunks are in flight, so memory stays bounded. The output is
written to a temporary file and renamed at the end: a failed run leaves no half-written output.

Bad input is an :class:`InvalidArgumentError` naming the file, the line (JSON lines) or row
(CSV), the column and the value. A CSV column the model's signature declares is read with the
declared type (pyarrow would otherwise guess it from the first block and fail on a later row).
Chunks need not agree on their column types: a later chunk's wider type (int -> float, a column
all null so far, a column first seen later) widens the output's column, and a Parquet output
written so far is rewritten once with the wider type; types that do not widen (a number, then a
string) are an error naming the column.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.errors import InvalidArgumentError, ModelyardError, NotFoundError, suggest
from modelyard.flavors import LoadedModel, Signature, load_model
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
    chunks, total = _reader(source, in_fmt, chunk_size, model.signature)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _Writer(tmp, out_fmt, shown=target) as writer:
            scored = (
                _score_local(model, chunks, proba)
                if workers == 1
                else _score_pool(str(local), expected, chunks, proba, workers)
            )
            try:
                for frame in scored:
                    writer.write(frame)
                    if progress is not None:
                        progress(writer.rows, total)
            except ModelyardError as exc:
                if "path" in exc.details:  # a reader's or writer's error: it says where
                    raise
                raise type(exc)(  # the model refused a chunk: say which rows
                    f"{exc.message} (input rows from {writer.rows + 1:,} of {source})",
                    **{**exc.details, "path": str(source), "row": writer.rows + 1},
                ) from None
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    name = ref.name if isinstance(ref, ModelRef) else model_uri
    return BatchResult(
        name, version, writer.rows, str(target), time.perf_counter() - start, workers
    )


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
_CSV_BLOCK_BYTES = 8 << 20
"""pyarrow's CSV block: the rows a column's type is guessed from when no signature declares it"""
_ARROW_TYPES = {"float": "float64", "integer": "int64", "boolean": "bool", "string": "string"}


def _reader(
    path: Path, fmt: str, chunk_size: int, signature: Signature | None
) -> tuple[Iterator[pd.DataFrame], int | None]:
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(path, "a Parquet file", exc) from None
        batches = file.iter_batches(batch_size=chunk_size)
        return (b.to_pandas() for b in batches), file.metadata.num_rows
    if fmt == "csv":
        return _rechunk(_csv_batches(path, _csv_types(signature)), chunk_size), None
    return _jsonl_chunks(path, chunk_size, signature), None


def _unreadable(path: Path, what: str, exc: BaseException) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Input file {str(path)!r} is not {what} that can be read: {exc}",
        field="input",
        path=str(path),
    )


def _csv_types(signature: Signature | None) -> dict[str, Any]:
    """The arrow type of each input column the signature declares (datetimes are left to
    pyarrow; a category column only when its categories are strings, as CSV cells are)."""
    import pyarrow as pa

    out = {}
    for col in signature.inputs if signature else ():
        kind = col.type
        if kind == "category":
            strings = col.categories and all(isinstance(c, str) for c in col.categories)
            kind = "string" if strings else ""
        if kind in _ARROW_TYPES:
            out[col.name] = pa.type_for_alias(_ARROW_TYPES[kind])
    return out


def _csv_batches(path: Path, types: dict[str, Any]) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if path.stat().st_size == 0:
        raise InvalidArgumentError(
            f"Input file {str(path)!r} is empty; a CSV file starts with a header row naming "
            "the columns.",
            field="input",
            path=str(path),
        )
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
            convert_options=pcsv.ConvertOptions(column_types=types),
        )
    except pa.ArrowException as exc:
        raise _unreadable(path, "a CSV file", exc) from None
    done = 0
    with reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowException as exc:
                raise _csv_error(path, reader.schema.names, done, exc, types) from None
            done += batch.num_rows
            yield batch.to_pandas()


_CONVERSION = re.compile(
    r"CSV column #(\d+): CSV conversion error to (\S+): invalid value '(.*)'$", re.S
)


def _csv_error(
    path: Path, names: list[str], done: int, exc: BaseException, types: dict[str, Any]
) -> InvalidArgumentError:
    """A clear error for a CSV block pyarrow refused: file, row, column and value."""
    found = _CONVERSION.search(str(exc))
    if found is None:
        return InvalidArgumentError(
            f"{path}: cannot read the CSV rows after row {done:,}: {exc}",
            field="input",
            path=str(path),
            row=done + 1,
        )
    column, arrow_type, value = names[int(found[1])], found[2], found[3]
    row = _find_row(path, column, done, value)
    where = f"row {row:,}" if row else f"a row after row {done:,}"
    why = (
        f"the model's signature declares {column!r} {arrow_type}"
        if column in types
        else f"{column!r} was read as {arrow_type} from the rows before it (the model does not "
        "declare this column); make its values one type or convert the file to Parquet"
    )
    return InvalidArgumentError(
        f"{path}, {where} (not counting the header), column {column!r}: {value!r} is not a "
        f"valid {arrow_type}; {why}.",
        field=column,
        value=value,
        path=str(path),
        row=row or done + 1,
    )


def _find_row(path: Path, column: str, done: int, value: str) -> int | None:
    """The 1-based data row after ``done`` whose ``column`` holds ``value`` (read as text)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    options = pcsv.ConvertOptions(column_types={column: pa.string()}, include_columns=[column])
    seen = 0
    with pcsv.open_csv(path, convert_options=options) as reader:
        for batch in reader:
            cells = batch.column(0).to_pylist()
            start = max(0, done - seen)
            for i in range(start, len(cells)):
                if cells[i] == value:
                    return seen + i + 1
            seen += len(cells)
    return None


def _jsonl_chunks(
    path: Path, chunk_size: int, signature: Signature | None
) -> Iterator[pd.DataFrame]:
    """JSON lines, one object per line, ``chunk_size`` rows at a time (orjson per line, so a
    bad line is reported with its number; pandas' reader says neither which line nor why)."""
    import orjson

    floats = [c.name for c in signature.inputs if c.type == "float"] if signature else []
    records: list[dict[str, Any]] = []
    with open(path, "rb") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise _bad_line(path, number, line, f"not valid JSON ({exc})") from None
            if type(record) is not dict:
                raise _bad_line(path, number, line, f"a {type(record).__name__}, not an object")
            records.append(record)
            if len(records) == chunk_size:
                yield _frame(records, floats)
                records = []
    if records:
        yield _frame(records, floats)


def _bad_line(path: Path, number: int, line: bytes, why: str) -> InvalidArgumentError:
    shown = line.decode("utf-8", "replace").strip()
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return InvalidArgumentError(
        f"{path}, line {number}: {why}; each line of a JSON-lines file is one JSON object "
        f"(column -> value). The line: {shown}",
        field="input",
        value=shown,
        path=str(path),
        line=number,
    )


def _frame(records: list[dict[str, Any]], floats: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    for name in floats:  # whole numbers in a float input: float, like the chunks that hold 0.5
        if name in frame.columns and pd.api.types.is_integer_dtype(frame[name].dtype):
            frame[name] = frame[name].astype("float64")
    return frame


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
    """Writes scored chunks to ``path``. The first chunk sets the columns and their types; a
    later chunk that differs is unified with them (see the module docstring)."""

    def __init__(self, path: Path, fmt: str, *, shown: Path) -> None:
        self.path = path
        self.fmt = fmt
        self.shown = shown
        """the output's name in messages (``path`` is a temporary name beside it)"""
        self.rows = 0
        self._writer: Any = None
        self._schema: Any = None
        self._file: Any = None

    def __enter__(self) -> _Writer:
        if self.fmt != "parquet":
            self._file = open(self.path, "wb")
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "jsonl":
            text = frame.to_json(orient="records", lines=True, date_format="iso")
            self._file.write((text if text.endswith("\n") else text + "\n").encode("utf-8"))
            self.rows += len(frame)
            return
        table = self._arrow(frame)
        if self._schema is None:
            self._schema = table.schema
            if self.fmt == "parquet":
                self._writer = self._open_parquet(self._schema)
        elif table.schema != self._schema:
            if self.fmt == "csv":  # CSV cells are text: only the header's columns must match
                table = self._csv_columns(table)
            else:
                wider = self._unify(table.schema)
                if wider != self._schema:
                    self._widen(wider)
                table = self._conform(table, self._schema)
        if self.fmt == "parquet":
            self._writer.write_table(table)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, self._file, pcsv.WriteOptions(include_header=self.rows == 0))
        self.rows += table.num_rows

    def _arrow(self, frame: pd.DataFrame) -> Any:
        import pyarrow as pa

        try:
            return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
        except pa.ArrowException as exc:
            for name in frame.columns:  # which column: the one that does not convert alone
                try:
                    pa.array(frame[name], from_pandas=True)
                except pa.ArrowException:
                    raise self._error(name, f"holds values of mixed types ({exc})") from None
            raise self._error(str(frame.columns[0]), str(exc)) from None

    def _csv_columns(self, table: Any) -> Any:
        """``table``'s columns in the header's order (one it lacks: empty cells)."""
        import pyarrow as pa

        names = self._schema.names
        extra = [n for n in table.column_names if n not in names]
        if extra:
            raise self._error(
                extra[0], "first appears after the CSV header was written; write Parquet or "
                "JSON lines (--output-format), or give every row this column",
            )  # fmt: skip
        columns = [
            table.column(n) if n in table.column_names else pa.nulls(table.num_rows) for n in names
        ]
        return pa.Table.from_arrays(columns, names=names)

    def _unify(self, schema: Any) -> Any:
        import pyarrow as pa

        try:
            return pa.unify_schemas([self._schema, schema], promote_options="permissive")
        except pa.ArrowException:
            for field in schema:
                if field.name in self._schema.names:
                    old = self._schema.field(field.name).type
                    try:
                        pa.unify_schemas(
                            [pa.schema([(field.name, old)]), pa.schema([field])],
                            promote_options="permissive",
                        )
                    except pa.ArrowException:
                        raise self._error(
                            field.name, f"holds {old} in the rows before and {field.type} from "
                            "here on, which do not widen to one type; make its values one type",
                        ) from None  # fmt: skip
            raise

    def _conform(self, table: Any, schema: Any) -> Any:
        """``table`` with ``schema``'s columns and types (a column it lacks: nulls)."""
        import pyarrow as pa

        columns = []
        for field in schema:
            if field.name not in table.column_names:
                columns.append(pa.nulls(table.num_rows, field.type))
                continue
            column = table.column(field.name)
            if column.type != field.type:
                try:
                    column = column.cast(field.type)  # safe: refuses to lose a value
                except pa.ArrowException as exc:
                    raise self._error(
                        field.name, f"cannot be written as {field.type}: {exc}"
                    ) from None
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=schema)

    def _widen(self, schema: Any) -> None:
        """Rewrite the Parquet file written so far with ``schema`` (each column widens a few
        times at most, so this happens rarely)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._writer.close()
        self._schema = schema
        narrow = self.path.with_name(self.path.name + ".narrow")
        self.path.replace(narrow)
        try:
            self._writer = self._open_parquet(schema)
            for batch in pq.ParquetFile(narrow).iter_batches():
                self._writer.write_table(self._conform(pa.Table.from_batches([batch]), schema))
        finally:
            narrow.unlink(missing_ok=True)

    def _open_parquet(self, schema: Any) -> Any:
        import pyarrow.parquet as pq

        return pq.ParquetWriter(self.path, schema, compression="zstd")

    def _error(self, column: str, why: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"Cannot write {str(self.shown)!r}: column {column!r}, in the rows from "
            f"{self.rows + 1:,} on, {why}.",
            field=column,
            path=str(self.shown),
            row=self.rows + 1,
        )

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        if self._writer is None and self._file is None and not any(exc):
            self.path.write_bytes(b"")  # no rows at all: an empty output
