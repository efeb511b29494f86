"""An artifact store on any fsspec filesystem (local files, S3, memory).

Paths are either relative to the store's root (``runs/abc/model/MODEL.yaml``) or full URIs of
the same scheme. Files are hashed with sha256 as they are written; :meth:`ArtifactStore.download`
returns a local directory (a cache for remote stores).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from modelyard.entities import ArtifactFile
from modelyard.errors import (
    DependencyMissingError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
)

__all__ = ["ArtifactStore", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(sha256 hex digest, size in bytes) of a local file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore:
    """Write, read and list artifacts under ``root``. Keyword-only options go to fsspec."""

    def __init__(self, root: str, *, s3_endpoint_url: str = "", **storage_options: Any) -> None:
        if "://" not in root:
            root = "file://" + str(Path(root).resolve())
        self.root = root.rstrip("/")
        self.scheme = root.partition("://")[0].lower()
        self.storage_options = dict(storage_options)
        if self.scheme == "s3" and s3_endpoint_url:
            self.storage_options.setdefault("endpoint_url", s3_endpoint_url)
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            try:
                self._fs = fsspec.filesystem(self.scheme, **self.storage_options)
            except ImportError as exc:
                raise DependencyMissingError.for_extra("s3fs", "s3") from exc
        return self._fs

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    # -- addressing -------------------------------------------------------------------------
    def uri(self, path: str = "") -> str:
        """The full URI of ``path`` (relative to the root, or already a URI)."""
        if "://" in path:
            return path.rstrip("/")
        path = path.strip("/")
        if ".." in Path(path).parts:
            raise InvalidArgumentError(f"Artifact path {path!r} may not contain '..'.", path=path)
        return f"{self.root}/{path}" if path else self.root

    def _fs_path(self, path: str) -> str:
        uri = self.uri(path)
        scheme, _, rest = uri.partition("://")
        if scheme.lower() != self.scheme:
            raise InvalidArgumentError(
                f"{uri!r} is not on this artifact store ({self.root}); use a store for {scheme}://.",
                uri=uri,
            )
        return rest if self.scheme != "file" else "/" + rest.lstrip("/")

    # -- writing ----------------------------------------------------------------------------
    def put_file(self, local: str | os.PathLike[str], dest: str) -> ArtifactFile:
        """Copy a local file to ``dest``; returns its path (as given), size and sha256."""
        digest, size = sha256_file(local)
        target = self._fs_path(dest)
        with self._errors(dest):
            parent = target.rsplit("/", 1)[0]
            if self.is_local:
                os.makedirs(parent, exist_ok=True)
                shutil.copyfile(local, target)
            else:
                self.fs.put_file(str(local), target)
        return ArtifactFile(dest.strip("/"), size, digest)

    def put_dir(self, local_dir: str | os.PathLike[str], dest: str) -> list[ArtifactFile]:
        """Copy every file under ``local_dir`` to ``dest``; paths in the result are relative to dest."""
        base = Path(local_dir)
        if not base.is_dir():
            raise NotFoundError(f"{str(base)!r} is not a directory.", path=str(base))
        out = []
        for file in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = file.relative_to(base).as_posix()
            info = self.put_file(file, f"{dest.rstrip('/')}/{rel}")
            out.append(ArtifactFile(rel, info.size, info.sha256))
        return out

    def put_bytes(self, data: bytes, dest: str) -> ArtifactFile:
        target = self._fs_path(dest)
        with self._errors(dest):
            if self.is_local:
                os.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            with self.fs.open(target, "wb") as fh:
                fh.write(data)
        return ArtifactFile(dest.strip("/"), len(data), hashlib.sha256(data).hexdigest())

    # -- reading ----------------------------------------------------------------------------
    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        with self._errors(path):
            return self.fs.open(self._fs_path(path), mode)  # type: ignore[no-any-return]

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as fh:
            return fh.read()

    def exists(self, path: str) -> bool:
        with self._errors(path):
            return bool(self.fs.exists(self._fs_path(path)))

    def list(self, prefix: str = "") -> list[str]:
        """Every file under ``prefix``, as paths relative to ``prefix``."""
        base = self._fs_path(prefix).rstrip("/")
        with self._errors(prefix):
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        strip = base.lstrip("/") + "/"
        return sorted(f.lstrip("/").removeprefix(strip) for f in found)

    def download(self, path: str, local_dir: str | os.PathLike[str]) -> Path:
        """Copy a file or directory to ``local_dir``; returns the local path of what was copied."""
        source = self._fs_path(path)
        dest = Path(local_dir)
        dest.mkdir(parents=True, exist_ok=True)
        with self._errors(path):
            if not self.fs.exists(source):
                raise NotFoundError(f"No artifact at {self.uri(path)!r}.", uri=self.uri(path))
            if self.fs.isdir(source):
                for rel in self.list(path):
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self.fs.get_file(f"{source.rstrip('/')}/{rel}", str(target))
                return dest
            target = dest / source.rsplit("/", 1)[-1]
            self.fs.get_file(source, str(target))
            return target

    def local_path(self, path: str) -> Path | None:
        """The path on this machine for a ``file://`` store (no copy needed), else None."""
        return Path(self._fs_path(path)) if self.is_local else None

    def delete(self, path: str) -> None:
        target = self._fs_path(path)
        with self._errors(path):
            if self.fs.exists(target):
                self.fs.rm(target, recursive=True)

    def check(self) -> None:
        """Raise StoreUnavailableError unless the root can be listed or created (for doctor)."""
        with self._errors(""):
            root = self._fs_path("")
            if self.is_local:
                os.makedirs(root, exist_ok=True)
                if not os.access(root, os.W_OK):
                    raise PermissionError(f"{root} is not writable")
            else:
                bucket = root.split("/", 1)[0]
                self.fs.ls(bucket, refresh=True)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    # -- errors ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """Translate filesystem / S3 failures into NotFoundError or StoreUnavailableError."""
        try:
            yield
        except (NotFoundError, InvalidArgumentError):
            raise
        except FileNotFoundError as exc:
            uri = self.uri(path)
            raise NotFoundError(f"No artifact at {uri!r}.", uri=uri) from exc
        except Exception as exc:
            network = isinstance(exc, (PermissionError, OSError, ConnectionError, TimeoutError))
            if not network and not type(exc).__module__.startswith(
                ("botocore", "aiobotocore", "s3fs")
            ):
                raise
            uri = self.uri(path)
            fix = (
                "check the bucket exists, the credentials (AWS_* variables) and "
                "MODELYARD_S3_ENDPOINT_URL"
                if self.scheme == "s3"
                else "check the directory exists and is writable"
            )
            raise StoreUnavailableError(
                f"Artifact store {self.root} failed on {uri!r}: {exc}. Fix: {fix}.", uri=uri
            ) from exc
