"""Load a pipeline spec from a YAML file or a mapping and report every problem at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelyard.entities.specs import Problems, load_yaml, problems_from
from modelyard.errors import NotFoundError, SpecError
from modelyard.pipeline import feature_data
from modelyard.pipeline.checks import check_spec
from modelyard.pipeline.spec import PipelineSpec
from modelyard.storage import Workspace

__all__ = ["LoadedSpec", "check_references", "load_spec"]

SpecSource = str | os.PathLike[str] | Mapping[str, Any] | PipelineSpec


@dataclass(frozen=True)
class LoadedSpec:
    """A valid spec, where it came from, and the directory relative paths are resolved in."""

    spec: PipelineSpec
    base_dir: Path
    path: Path | None = None
    text: str | None = None

    def resolve(self, location: str) -> str:
        """A data path from the spec: URIs as they are, relative paths against ``base_dir``."""
        if "://" in location:
            return location
        path = Path(location).expanduser()
        return str(path if path.is_absolute() else (self.base_dir / path).resolve())


def load_spec(
    source: SpecSource,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    workspace: Workspace | None = None,
) -> LoadedSpec:
    """Parse and check a spec: a YAML file path, a mapping, or a PipelineSpec.

    Every problem (typos, wrong types, unknown estimator parameters, unknown metrics, bad
    import paths, sections that disagree) is collected into one SpecError with its path and,
    for a file, its line. With a ``workspace``, what the spec names in it is checked too (the
    feature services, views and features of ``data.features``).
    """
    if isinstance(source, PipelineSpec):
        return _checked(source, None, None, base_dir, raw=None, workspace=workspace)
    if isinstance(source, Mapping):
        return _checked(None, dict(source), None, base_dir, raw=None, workspace=workspace)
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(
            f"Pipeline spec {str(path)!r} does not exist.", field="spec", value=str(path)
        )
    text = path.read_text()
    data = load_yaml(text, str(path))
    if not isinstance(data, dict):
        raise SpecError(
            f"{path} must hold a mapping (name:, data:, train: ...), got "
            f"{type(data).__name__}. See docs/pipelines.md.",
            field="spec",
        )
    return _checked(
        None, data, text, base_dir or path.resolve().parent, raw=path, workspace=workspace
    )


def check_references(loaded: LoadedSpec, workspace: Workspace) -> None:
    """Check what a loaded spec names in ``workspace`` (feature services, views, features);
    every problem is reported with its path in one SpecError."""
    problems = Problems(what=str(loaded.path or "the pipeline spec"), text=loaded.text)
    feature_data.check_references(loaded.spec, loaded.base_dir, workspace, problems)
    problems.raise_if_any()


def _checked(
    spec: PipelineSpec | None,
    data: dict[str, Any] | None,
    text: str | None,
    base_dir: str | os.PathLike[str] | None,
    raw: Path | None,
    workspace: Workspace | None,
) -> LoadedSpec:
    problems = Problems(what=str(raw) if raw else "the pipeline spec", text=text)
    base = Path(base_dir or Path.cwd()).resolve()
    if spec is None:
        try:
            spec = PipelineSpec.model_validate(data)
        except ValidationError as exc:
            problems.extend(problems_from(exc, PipelineSpec))
            _check_sections(
                _without_bad_values(data or {}, exc), set(data or {}), problems, base, workspace
            )
            problems.raise_if_any()
            raise  # pragma: no cover - raise_if_any raised
    check_spec(spec, problems)
    if workspace is not None:
        feature_data.check_references(spec, base, workspace, problems)
    problems.raise_if_any()
    return LoadedSpec(spec, base, raw, text)


# Keys whose bad value must not be replaced by a default: other checks depend on them (an
# estimator's parameters are checked against train.model), and a default would mislead them.
_KEEP_BAD = frozenset({"model", "task", "target", "timestamp", "method", "metric"})


def _without_bad_values(data: dict[str, Any], exc: ValidationError) -> dict[str, Any]:
    """A copy of ``data`` without the keys pydantic rejected (typos, wrong types), so the
    checks of the rest of their section still run on defaults."""
    import copy

    cleaned = copy.deepcopy(data)
    for err in exc.errors():
        if err["type"] == "missing" or (err["loc"] and err["loc"][-1] in _KEEP_BAD):
            continue
        node: Any = cleaned
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("kind:"))]
        for part in loc[:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict):
            node.pop(loc[-1], None)
    return cleaned


def _check_sections(
    data: dict[str, Any],
    written: set[str],
    problems: Problems,
    base_dir: Path,
    workspace: Workspace | None,
) -> None:
    """The spec did not parse as a whole: still run the cross-field checks on a copy whose
    broken sections are replaced by defaults, so the user sees every problem in one pass.
    ``written``: the top-level keys of the spec as written (``data`` may hold fewer: a section
    whose whole value was wrong is left out of it)."""
    repaired: dict[str, Any] = {"name": "x", "data": {"source": "x", "target": "x"}}
    kept: set[str] = set()
    accepted = {f.alias or n for n, f in PipelineSpec.model_fields.items()}
    for key, value in data.items():
        if key not in accepted:
            continue
        trial = {**repaired, key: value}
        try:
            PipelineSpec.model_validate(trial)
        except ValidationError:
            continue
        repaired, kept = trial, kept | {key}
    try:
        spec = PipelineSpec.model_validate(repaired)
    except ValidationError:  # pragma: no cover - every kept section validated
        return
    extra = Problems()
    check_spec(spec, extra)
    if workspace is not None and "data" in kept:
        feature_data.check_references(spec, base_dir, workspace, extra)
    replaced = (set(data) | written) - kept
    for loc, message in extra.items:
        # skip what only follows from a section that was replaced by its default
        if not loc or loc[0] not in kept:
            continue
        if any(f"{section}." in message for section in replaced):
            continue
        problems.add(loc, message)
