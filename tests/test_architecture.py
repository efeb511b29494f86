"""The layers of docs/architecture.md, checked: imports run one way only, down.

    foundation (errors, config, entities) < storage < capabilities < adapters (cli, server)

A capability reaches another capability, or a store, only through a package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "modelyard"
FOUNDATION = ("modelyard.errors", "modelyard.config", "modelyard.entities")
ADAPTERS = ("modelyard.cli", "modelyard.server")
RANK = {"foundation": 0, "storage": 1, "capability": 2, "adapter": 3}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str:
    if module.startswith(FOUNDATION):
        return "foundation"
    if module.startswith("modelyard.storage"):
        return "storage"
    if module.startswith(ADAPTERS):
        return "adapter"
    return "capability"


def top_package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def is_package(module: str) -> bool:
    return (SRC / module.replace(".", "/") / "__init__.py").is_file()


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("modelyard")]
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modelyard")
        ):
            found.append((node.lineno, node.module))
    return found


MODULES = sorted(p for p in PKG.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    me = module_name(path)
    if me in ("modelyard", "modelyard.__main__"):
        return  # the lazy top-level facade maps names to modules without importing them
    problems = []
    for line, target in imports(path):
        if target == "modelyard":
            if layer(me) != "adapter":
                problems.append(f"line {line}: imports the top-level facade 'modelyard'")
            continue
        mine, theirs = layer(me), layer(target)
        if RANK[theirs] > RANK[mine]:
            problems.append(f"line {line}: {mine} module imports {theirs} module {target}")
        elif theirs == "adapter" and top_package(target) != top_package(me) and mine == "adapter":
            if not (me.startswith("modelyard.cli") and target.startswith("modelyard.server")):
                problems.append(f"line {line}: adapter imports another adapter {target}")
        elif mine == "capability" and theirs in ("capability", "storage"):
            same = top_package(target) == top_package(me)
            top_level_module = target.count(".") == 1  # modelyard.datasets: its own public API
            if not same and not is_package(target) and not top_level_module:
                problems.append(
                    f"line {line}: reaches into {target}; import from its package's __init__"
                )
    assert not problems, f"{me}:\n" + "\n".join(problems)


def test_nothing_imports_the_adapters() -> None:
    offenders = [
        f"{module_name(p)} imports {t}"
        for p in MODULES
        for _, t in imports(p)
        if t.startswith(ADAPTERS) and not module_name(p).startswith(ADAPTERS)
    ]
    assert not offenders


def test_only_config_reads_the_environment() -> None:
    offenders = []
    for path in MODULES:
        text = path.read_text()
        if module_name(path) != "modelyard.config" and (
            "os.environ" in text or "os.getenv" in text
        ):
            offenders.append(str(path.relative_to(SRC)))
    assert not offenders, f"read settings through modelyard.config instead: {offenders}"
