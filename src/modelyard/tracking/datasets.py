"""Dataset fingerprints: a sha256 of the content and schema of the data a run used."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from modelyard.entities import DatasetInput
from modelyard.errors import InvalidArgumentError, NotFoundError

__all__ = ["fingerprint"]


def fingerprint(
    data: Any,
    *,
    source: str | None = None,
    name: str | None = None,
    context: str = "training",
) -> DatasetInput:
    """Fingerprint a DataFrame, a numpy array, or a file / directory path.

    A frame is hashed row by row with pandas' vectorised ``hash_pandas_object`` plus its column
    names and dtypes, so the same data always gives the same digest and any change to a value,
    a column or a type gives another. A local file is hashed by content; a remote file (s3://)
    by its size and ETag.
    """
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return _frame(data, source or "dataframe", name, context)
    if isinstance(data, np.ndarray):
        digest = hashlib.sha256(f"{data.dtype}{data.shape}".encode())
        digest.update(np.ascontiguousarray(data).tobytes())
        return DatasetInput(
            name or "array",
            digest.hexdigest(),
            source or "ndarray",
            int(data.shape[0]) if data.ndim else 1,
            {"dtype": str(data.dtype), "shape": str(data.shape)},
            context,
        )
    if isinstance(data, (str, os.PathLike)):
        return _path(str(data), source, name, context)
    raise InvalidArgumentError(
        f"Cannot fingerprint a {type(data).__name__}; pass a pandas DataFrame, a numpy array or "
        "a path / URI.",
        field="data",
    )


def _frame(frame: Any, source: str, name: str | None, context: str) -> DatasetInput:
    import pandas as pd

    schema = {str(c): str(t) for c, t in frame.dtypes.items()}
    digest = hashlib.sha256(repr(sorted(schema.items())).encode())
    digest.update(repr(list(schema)).encode())
    if len(frame):
        hashed = pd.util.hash_pandas_object(frame, index=False)
        digest.update(hashed.to_numpy().tobytes())
    return DatasetInput(
        name or Path(source).name or "dataframe",
        digest.hexdigest(),
        source,
        len(frame),
        schema,
        context,
    )


def _path(uri: str, source: str | None, name: str | None, context: str) -> DatasetInput:
    if "://" in uri and not uri.startswith("file://"):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        infos = [fs.info(p) for p in sorted(fs.find(path))] if fs.isdir(path) else [fs.info(path)]
        digest = hashlib.sha256()
        for info in infos:
            digest.update(
                f"{info['name']}|{info.get('size')}|{info.get('ETag', info.get('mtime'))}".encode()
            )
        return DatasetInput(
            name or Path(path).name, digest.hexdigest(), source or uri, None, {}, context
        )
    local = Path(uri.removeprefix("file://"))
    if not local.exists():
        raise NotFoundError(f"Cannot fingerprint {uri!r}: no such file or directory.", path=uri)
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(
            file.relative_to(local.parent if local.is_file() else local).as_posix().encode()
        )
        with open(file, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return DatasetInput(
        name or local.name, digest.hexdigest(), source or str(local.resolve()), None, {}, context
    )
