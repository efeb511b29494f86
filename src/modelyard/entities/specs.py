"""Declarative specs (YAML files, request bodies): strict pydantic models and their errors.

Every spec model forbids unknown keys. A failed parse becomes ONE :class:`SpecError` listing
every problem with its dotted path (``train.tune.space.num_leaves``) and, for YAML text, its
line, so a user fixes them all in one pass:

    spec.yaml has 2 problems:
      train.modle (line 12): unknown key; did you mean 'model'?
      split.test_fraction (line 8): must be less than 1 (got 1.5)
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from modelyard.errors import SpecError

__all__ = [
    "Problems",
    "SpecModel",
    "format_path",
    "load_yaml",
    "parse_yaml",
    "problems_from",
    "yaml_lines",
]

M = TypeVar("M", bound=BaseModel)
Path = tuple[str | int, ...]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, values are validated strictly."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def format_path(loc: Iterable[str | int]) -> str:
    """``("train", "params", "max_depth")`` -> ``train.params.max_depth``; ints become ``[i]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


@dataclass
class Problems:
    """Problems found in a spec, each with its path; ``raise_if_any`` turns them into a SpecError."""

    what: str = "spec"
    text: str | None = None
    items: list[tuple[Path, str]] = field(default_factory=list)

    def add(self, loc: Sequence[str | int], message: str) -> None:
        self.items.append((tuple(loc), message))

    def extend(self, other: Iterable[tuple[Path, str]]) -> None:
        self.items.extend(other)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        lines = yaml_lines(self.text) if self.text else {}
        found = []
        for loc, message in self.items:
            line = _line_for(lines, loc)
            where = f"{format_path(loc)} (line {line})" if line else format_path(loc)
            found.append((line or 0, f"{where}: {message}"))
        return [text for _, text in sorted(found, key=lambda item: item[0])]

    def raise_if_any(self) -> None:
        if not self.items:
            return
        lines = self.lines()
        noun = "problem" if len(lines) == 1 else "problems"
        raise SpecError(
            f"{self.what} has {len(lines)} {noun}:\n  " + "\n  ".join(lines),
            problems=lines,
            field=format_path(self.items[0][0]),
        )


def problems_from(
    exc: ValidationError, model: type[BaseModel] | None = None, *, prefix: Sequence[str | int] = ()
) -> list[tuple[Path, str]]:
    """Turn pydantic's errors into (path, message) pairs with messages people can act on.
    With ``model``, an unknown key gets a "did you mean" from the keys valid at its place."""
    out: list[tuple[Path, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not _is_tag(p))
        message = _message(err)
        if err.get("type") == "extra_forbidden" and model is not None and loc:
            message += _did_you_mean(str(loc[-1]), _fields_at(model, loc[:-1]))
        out.append(((*prefix, *loc), message))
    return out


_TAG_PREFIX = "kind:"


def _is_tag(part: Any) -> bool:
    """Discriminated unions put the chosen member's tag in the path; spec tags start 'kind:'."""
    return isinstance(part, str) and part.startswith(_TAG_PREFIX)


def _message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    value = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "too_short" and isinstance(value, (list, dict, str)):
        least = (err.get("ctx") or {}).get("min_length", 1)
        return f"needs at least {least} item(s) (got {value!r})"
    if kind == "value_error" and isinstance(value, dict):
        return msg  # a model's own check: its message says what is wrong with the mapping
    if isinstance(value, (str, int, float, bool)) or value is None:
        return f"{msg} (got {value!r})"
    shown = repr(value) if isinstance(value, (list, tuple, dict)) else ""
    if shown and len(shown) <= 60:
        return f"{msg} (got {shown})"
    return f"{msg} (got a {type(value).__name__})"


def _did_you_mean(key: str, fields: Iterable[str]) -> str:
    names = sorted(set(fields))
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid keys: {', '.join(names)}" if names else ""


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> set[str]:
    """The keys the models at ``loc`` accept (several when a union is ambiguous)."""
    candidates: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in candidates:
            for inner in _unwrap(tp):
                if isinstance(part, int):
                    nxt.extend(_items_of(inner))
                elif isinstance(inner, type) and issubclass(inner, BaseModel):
                    info = inner.model_fields.get(part) or next(
                        (f for f in inner.model_fields.values() if f.alias == part), None
                    )
                    if info is not None:
                        nxt.append(info.annotation)
                else:
                    nxt.extend(_values_of(inner))
        candidates = nxt
    names: set[str] = set()
    for tp in candidates:
        for inner in _unwrap(tp):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names.update(f.alias or n for n, f in inner.model_fields.items())
    return names


def _unwrap(tp: Any) -> list[Any]:
    """Optional / Union / Annotated -> the member types."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(tp) for t in _unwrap(a)]
    return [tp]


def _items_of(tp: Any) -> list[Any]:
    return list(typing.get_args(tp)[:1]) if typing.get_origin(tp) in (list, tuple) else []


def _values_of(tp: Any) -> list[Any]:
    args = typing.get_args(tp)
    return [args[1]] if typing.get_origin(tp) is dict and len(args) == 2 else []


# -- YAML ------------------------------------------------------------------------------------
@functools.cache
def _unique_key_loader() -> type:
    """A safe YAML loader (libyaml's parser when installed) that refuses a key written twice in
    one mapping: plain YAML keeps the last value silently, so ``name: s`` then ``name: t`` would
    validate. Merge keys (``<<: *base``) may still override what they bring in."""
    import yaml
    from yaml.constructor import ConstructorError

    base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class UniqueKeyLoader(base):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key!r} (first written at line {first + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (a ``yaml.MarkedYAMLError`` at the second
    one). Every spec file (pipelines, deployments, monitors, feature definitions) is read by it."""
    import yaml

    # a SafeLoader subclass: no arbitrary objects
    return yaml.load(text, Loader=_unique_key_loader())


def load_yaml(text: str, what: str) -> Any:
    """Parse YAML; a syntax error or a duplicate key is a SpecError naming the line and column."""
    import yaml

    try:
        return parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(
            f"{what} is not valid YAML{where}: {exc.problem or exc}.",
            problems=[f"(root){where}: {exc.problem}"],
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} is not valid YAML: {exc}.") from exc


def yaml_lines(text: str) -> dict[Path, int]:
    """Map every key / item path in a YAML document to its 1-based line number."""
    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    out: dict[Path, int] = {}

    def walk(node: Any, path: Path) -> None:
        out[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                out[child] = key.start_mark.line + 1
                walk(value, child)
                out[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return out


def _line_for(lines: Mapping[Path, int], loc: Path) -> int | None:
    """The line of ``loc``, or of its nearest ancestor present in the document."""
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None
