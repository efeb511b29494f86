"""The step cache: keys, atomic entries, --no-cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.pipeline.cache import StepCache, step_key
from modelyard.pipeline.spec import SplitSpec


def test_keys_follow_section_upstream_and_seed() -> None:
    base = step_key("split", SplitSpec(method="temporal"), upstream=["a"], seed=0)
    assert base == step_key("split", {"method": "temporal", "test_fraction": 0.2}, upstream=["a"])
    assert base != step_key("split", SplitSpec(method="random"), upstream=["a"])
    assert base != step_key("split", SplitSpec(method="temporal"), upstream=["b"])
    assert base != step_key("split", SplitSpec(method="temporal"), upstream=["a"], seed=1)
    assert base != step_key("train", SplitSpec(method="temporal"), upstream=["a"])


def test_entries_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)
    assert cache.get("s", "k" * 64) is None
    with pytest.raises(RuntimeError):
        cache.put("s", "k" * 64, lambda d: (d / "half").write_text("x") and _boom())
    assert cache.get("s", "k" * 64) is None
    assert not list((tmp_path / "s").iterdir())  # no temporary directory left behind
    _, entry = cache.put(
        "s", "k" * 64, lambda d: (d / "out").write_text("ok"), meta={"run_id": "r1"}
    )
    assert cache.get("s", "k" * 64) == entry and (entry / "out").read_text() == "ok"
    assert cache.info(entry)["run_id"] == "r1"


def test_a_disabled_cache_reads_nothing_but_still_writes(tmp_path: Path) -> None:
    StepCache(tmp_path).put("s", "a" * 64, lambda d: (d / "v").write_text("1"))
    off = StepCache(tmp_path, enabled=False)
    assert off.get("s", "a" * 64) is None
    off.put("s", "b" * 64, lambda d: (d / "v").write_text("2"))
    assert StepCache(tmp_path).get("s", "b" * 64) is not None


def _boom() -> None:
    raise RuntimeError("crash while writing")
