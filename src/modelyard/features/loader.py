"""Read feature definitions from Python files, YAML files or a directory of them.

A Python file is run (it is the user's own code, like any feature repository) and every
module-level ``Entity`` / ``FeatureView`` / ``FeatureService`` (or list of them) is collected. A
YAML file holds ``entities:``, ``feature_views:`` and ``feature_services:`` lists. Every problem
is reported with its path (``feature_views[1].ttl: ...``) before anything is stored. Relative
source paths are resolved against the directory of the file that declares them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelyard.errors import NotFoundError, SpecError, suggest
from modelyard.features.definitions import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    Source,
)

__all__ = ["load_definitions", "parse_definitions", "resolve_paths"]

_SECTIONS: dict[str, type[Entity] | type[FeatureView] | type[FeatureService]] = {
    "entities": Entity,
    "feature_views": FeatureView,
    "feature_services": FeatureService,
}
_SUFFIXES = (".py", ".yaml", ".yml")


def load_definitions(path: str | os.PathLike[str]) -> list[Definition]:
    """Definitions from a ``.py`` / ``.yaml`` file or a directory of them (not recursive)."""
    target = Path(path)
    if not target.exists():
        raise NotFoundError(
            f"Definition file {str(target)!r} does not exist; pass a .py or .yaml file, or a "
            "directory of them.",
            path=str(target),
        )
    files = (
        sorted(p for p in target.iterdir() if p.suffix in _SUFFIXES and p.name[0] not in "._")
        if target.is_dir()
        else [target]
    )
    out: list[Definition] = []
    for file in files:
        if file.suffix == ".py":
            found = _from_python(file)
        elif file.suffix in (".yaml", ".yml"):
            found = _from_yaml(file)
        else:
            raise SpecError(
                f"Cannot read definitions from {file.name!r}: use a .py or .yaml file.",
                path=str(file),
            )
        out += [resolve_paths(d, file.parent) for d in found]
    return out


def _from_python(file: Path) -> list[Definition]:
    import runpy

    try:
        namespace = runpy.run_path(str(file), run_name=f"modelyard_definitions_{file.stem}")
    except ValidationError as exc:
        raise SpecError(
            f"{file}: invalid definition: {_problems(exc)[0]}",
            path=str(file),
            problems=_problems(exc),
        ) from None
    found: list[Definition] = []
    for value in namespace.values():
        items = value if isinstance(value, (list, tuple)) else [value]
        found += [
            v
            for v in items
            if isinstance(v, (Entity, FeatureView, FeatureService)) and v not in found
        ]
    return found


def _from_yaml(file: Path) -> list[Definition]:
    import yaml

    from modelyard.entities.specs import parse_yaml

    try:
        data = parse_yaml(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"Cannot parse {file}: {exc}", path=str(file)) from exc
    return parse_definitions(data, where=str(file))


def parse_definitions(data: Any, where: str = "definitions") -> list[Definition]:
    """Validate a mapping of ``entities`` / ``feature_views`` / ``feature_services`` lists,
    collecting every problem."""
    if not isinstance(data, dict):
        raise SpecError(f"{where} must hold a mapping with {', '.join(_SECTIONS)}.")
    problems: list[str] = []
    for key in data:
        if key not in _SECTIONS:
            problems.append(
                f"{key}: unknown section{suggest(str(key), list(_SECTIONS))}; "
                f"use {', '.join(_SECTIONS)}"
            )
    found: list[Definition] = []
    for section, model in _SECTIONS.items():
        items = data.get(section) or []
        if not isinstance(items, list):
            problems.append(f"{section}: must be a list")
            continue
        for i, item in enumerate(items):
            try:
                found.append(model.model_validate(item))
            except ValidationError as exc:
                problems += [f"{section}[{i}].{p}" for p in _problems(exc)]
    if problems:
        raise SpecError(
            f"{where}: {len(problems)} problem(s):\n  " + "\n  ".join(problems),
            problems=problems,
        )
    return found


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return out


def resolve_paths(definition: Definition, base: Path) -> Definition:
    """A view whose source is a relative local path, with the path made absolute."""
    if not isinstance(definition, FeatureView) or definition.source is None:
        return definition
    path = definition.source.path
    if path is None or "://" in path or os.path.isabs(path):
        return definition
    source = Source(path=str((base / path).resolve()), format=definition.source.format)
    return definition.model_copy(update={"source": source})
