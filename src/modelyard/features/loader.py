"""Read feature definitions from Python files, YAML files or a directory of them.

A Python file is run (it is the user's own code, like any feature repository) and every
module-level ``Entity`` / ``FeatureView`` / ``FeatureService`` (or list of them) is collected. A
YAML file holds ``entities:``, ``feature_views:`` and ``feature_services:`` lists. Every problem
is reported with its file and path (``features.yaml: feature_views[1].ttl: ...``) before
anything is stored; ``collect_definitions`` returns them with the definitions that are valid, so
that ``apply`` reports them together with the problems across definitions and sources. A Python
file stops at its first invalid definition (it is code). Relative source paths are resolved
against the directory of the file that declares them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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

__all__ = [
    "Collected",
    "collect_definitions",
    "load_definitions",
    "parse_definitions",
    "resolve_paths",
]

_SECTIONS: dict[str, type[Entity] | type[FeatureView] | type[FeatureService]] = {
    "entities": Entity,
    "feature_views": FeatureView,
    "feature_services": FeatureService,
}
_SUFFIXES = (".py", ".yaml", ".yml")


@dataclass
class Collected:
    """The valid definitions of a file or directory, and the problems of the others."""

    definitions: list[Definition] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    invalid: set[str] | None = field(default_factory=set)
    """names of the definitions that are not valid; None when unknown (a Python file failed)"""

    def is_invalid(self, name: str) -> bool:
        """Whether ``name`` may be a definition that failed (so a reference to it is no news)."""
        return self.invalid is None or name in self.invalid


def load_definitions(path: str | os.PathLike[str]) -> list[Definition]:
    """Definitions from a ``.py`` / ``.yaml`` file or a directory of them (not recursive); every
    problem of every file in one SpecError."""
    collected = collect_definitions(path)
    if collected.problems:
        problems = collected.problems
        raise SpecError(
            f"{len(problems)} problem(s) in the definitions:\n  " + "\n  ".join(problems),
            problems=problems,
        )
    return collected.definitions


def collect_definitions(path: str | os.PathLike[str]) -> Collected:
    """The valid definitions in a ``.py`` / ``.yaml`` file or directory, with the problems of
    every file (each prefixed with its file)."""
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
    out = Collected()
    for file in files:
        if file.suffix == ".py":
            found = _from_python(file, out)
        elif file.suffix in (".yaml", ".yml"):
            found = _from_yaml(file, out)
        else:
            raise SpecError(
                f"Cannot read definitions from {file.name!r}: use a .py or .yaml file.",
                path=str(file),
            )
        out.definitions += [resolve_paths(d, file.parent) for d in found]
    return out


def _from_python(file: Path, out: Collected) -> list[Definition]:
    import runpy

    try:
        namespace = runpy.run_path(str(file), run_name=f"modelyard_definitions_{file.stem}")
    except ValidationError as exc:  # the file stops here: what else it defines is unknown
        out.problems += [f"{file}: invalid definition: {p}" for p in _problems(exc)]
        out.invalid = None
        return []
    found: list[Definition] = []
    for value in namespace.values():
        items = value if isinstance(value, (list, tuple)) else [value]
        found += [
            v
            for v in items
            if isinstance(v, (Entity, FeatureView, FeatureService)) and v not in found
        ]
    return found


def _from_yaml(file: Path, out: Collected) -> list[Definition]:
    import yaml

    from modelyard.entities.specs import parse_yaml

    try:
        data = parse_yaml(file.read_text()) or {}
    except yaml.YAMLError as exc:
        out.problems.append(f"{file}: cannot parse: {exc}")
        out.invalid = None
        return []
    if not isinstance(data, dict):
        out.problems.append(f"{file}: must hold a mapping with {', '.join(_SECTIONS)}")
        out.invalid = None
        return []
    found, problems, invalid = _parse(data)
    out.problems += [f"{file}: {p}" for p in problems]
    out.invalid = None if out.invalid is None or invalid is None else out.invalid | invalid
    return found


def parse_definitions(data: Any, where: str = "definitions") -> list[Definition]:
    """Validate a mapping of ``entities`` / ``feature_views`` / ``feature_services`` lists,
    collecting every problem."""
    if not isinstance(data, dict):
        raise SpecError(f"{where} must hold a mapping with {', '.join(_SECTIONS)}.")
    found, problems, _ = _parse(data)
    if problems:
        raise SpecError(
            f"{where}: {len(problems)} problem(s):\n  " + "\n  ".join(problems),
            problems=problems,
        )
    return found


def _parse(data: dict[Any, Any]) -> tuple[list[Definition], list[str], set[str] | None]:
    """(valid definitions, problems with their paths, names of the invalid ones: None when some
    are unknown, as in a misspelt section)."""
    problems: list[str] = []
    invalid: set[str] | None = set()
    for key in data:
        if key not in _SECTIONS:
            invalid = None
            problems.append(
                f"{key}: unknown section{suggest(str(key), list(_SECTIONS))}; "
                f"use {', '.join(_SECTIONS)}"
            )
    found: list[Definition] = []
    for section, model in _SECTIONS.items():
        items = data.get(section) or []
        if not isinstance(items, list):
            problems.append(f"{section}: must be a list")
            invalid = None
            continue
        for i, item in enumerate(items):
            try:
                found.append(model.model_validate(item))
            except ValidationError as exc:
                problems += [f"{section}[{i}].{p}" for p in _problems(exc)]
                name = item.get("name") if isinstance(item, dict) else None
                if invalid is not None and isinstance(name, str):
                    invalid.add(name)
                else:
                    invalid = None
    return found, problems, invalid


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
