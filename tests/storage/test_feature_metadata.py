"""The feature metadata sub-store on every metadata backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from modelyard.errors import InvalidArgumentError, NotFoundError
from modelyard.storage.metadata import open_metadata_store


def test_definitions_versions_and_audit(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    meta = store.features
    spec = {"name": "v", "features": [{"name": "x", "dtype": "int64"}]}
    [(first, status)] = meta.apply_definitions([("feature_view", "v", spec)], actor="ann")
    assert (first.version, status) == (1, "created")
    [(same, status)] = meta.apply_definitions([("feature_view", "v", dict(spec))], actor="ann")
    assert (same.version, status) == (1, "unchanged")
    changed = {**spec, "ttl": "1d"}
    [(second, status)] = meta.apply_definitions([("feature_view", "v", changed)], actor="bob")
    assert (second.version, status, second.created_by) == (2, "updated", "bob")
    assert meta.get_definition("feature_view", "v").spec["ttl"] == "1d"
    assert "ttl" not in meta.get_definition("feature_view", "v", 1).spec
    assert [r.name for r in meta.list_definitions("feature_view")] == ["v"]
    assert meta.latest_versions() == {("feature_view", "v"): 2}
    actions = [e.action for e in store.audit.list_events(object_type="feature_view")]
    assert actions == ["feature_view.update", "feature_view.create"]
    with pytest.raises(NotFoundError, match="did you mean 'v'"):
        meta.get_definition("feature_view", "vv")
    with pytest.raises(InvalidArgumentError, match="did you mean 'feature_view'"):
        meta.get_definition("feature_veiw", "v")

    meta.record_materialization("v", 2, 0, 1000, 5, actor="ann")
    meta.record_materialization("v", 2, 1000, 2000, 3, actor="ann")
    assert meta.last_materialized("v") == 2000
    assert [m.rows for m in meta.list_materializations("v")] == [3, 5]
    assert meta.last_materialized("other") is None
    # the watermark of a version is its own: version 3 has not been materialized
    assert meta.last_materialized("v", 2) == 2000
    assert meta.last_materialized("v", 3) is None
    meta.record_materialization("v", 3, 0, 1500, 4, actor="ann")
    assert (meta.last_materialized("v", 3), meta.last_materialized("v", 2)) == (1500, 2000)
    store.close()


def test_concurrent_applies_get_distinct_versions(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(5):
                spec = {"name": "v", "n": f"{i}-{j}"}
                store.features.apply_definitions([("feature_view", "v", spec)], actor=str(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = [r.version for r in store.features.list_versions("feature_view", "v")]
    assert versions == list(range(1, 21))
    store.close()
