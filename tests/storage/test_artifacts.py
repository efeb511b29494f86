"""The artifact store conformance suite, on local files and on S3 (a local moto_server)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.errors import InvalidArgumentError, NotFoundError, UnknownSchemeError
from modelyard.storage.artifacts import ArtifactStore, open_artifact_store


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "file":
        yield open_artifact_store(f"file://{tmp_path / 'artifacts'}")
    else:
        endpoint, bucket = request.getfixturevalue("s3_bucket")
        yield open_artifact_store(f"s3://{bucket}/prefix", s3_endpoint_url=endpoint)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    return root


def test_put_file_records_hash_and_size(store: ArtifactStore, tree: Path) -> None:
    info = store.put_file(tree / "a.txt", "run1/a.txt")
    assert info.path == "run1/a.txt"
    assert info.size == 5
    assert info.sha256 == hashlib.sha256(b"alpha").hexdigest()
    assert store.read_bytes("run1/a.txt") == b"alpha"
    assert store.exists("run1/a.txt")
    assert not store.exists("run1/missing")


def test_put_dir_download_and_list(store: ArtifactStore, tree: Path, tmp_path: Path) -> None:
    files = store.put_dir(tree, "run1/model")
    assert [(f.path, f.size) for f in files] == [("a.txt", 5), ("sub/b.bin", 25600)]
    assert store.list("run1/model") == ["a.txt", "sub/b.bin"]
    local = store.download("run1/model", tmp_path / "dl")
    assert (local / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    single = store.download("run1/model/a.txt", tmp_path / "one")
    assert single.read_text() == "alpha"


def test_full_uris_and_bytes(store: ArtifactStore) -> None:
    info = store.put_bytes(b"{}", "reports/r.json")
    assert store.read_bytes(store.uri("reports/r.json")) == b"{}"
    assert info.sha256 == hashlib.sha256(b"{}").hexdigest()
    store.delete("reports")
    assert store.list("reports") == []


def test_errors(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        store.download("nothing/here", tmp_path / "x")
    with pytest.raises(InvalidArgumentError, match=r"\.\."):
        store.uri("../escape")
    with pytest.raises(NotFoundError):
        store.put_dir(tmp_path / "not-a-dir", "x")
    store.check()


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(UnknownSchemeError, match="Known schemes: file, memory, s3"):
        open_artifact_store("gs://bucket/x")


def test_unreachable_s3_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("s3fs")
    from modelyard.errors import StoreUnavailableError

    store = open_artifact_store(
        "s3://nobucket/x",
        s3_endpoint_url="http://127.0.0.1:9",
        config_kwargs={"connect_timeout": 1, "retries": {"max_attempts": 1}},
    )
    with pytest.raises(StoreUnavailableError, match="MODELYARD_S3_ENDPOINT_URL"):
        store.check()
