"""Health checks behind ``modelyard doctor``: is each configured store reachable, and if not,
what to do about it. A capability that adds a store adds a check with :func:`register_check`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from modelyard.errors import ModelyardError
from modelyard.storage import Workspace

__all__ = ["CheckResult", "register_check", "run_checks"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    target: str
    detail: str
    fix: str = ""
    seconds: float = 0.0


Check = Callable[[Workspace], tuple[str, str]]
"""Returns (target, detail) or raises; a ModelyardError's message becomes the fix."""

_CHECKS: dict[str, tuple[Check, str]] = {}


def register_check(name: str, check: Check, fix: str) -> None:
    _CHECKS[name] = (check, fix)


def _environment(_ws: Workspace) -> tuple[str, str]:
    from modelyard.config import misspelled_variables
    from modelyard.errors import ConfigError

    typos = misspelled_variables()
    if typos:
        raise ConfigError(
            "; ".join(f"{bad} is not a setting (did you mean {good}?)" for bad, good in typos)
        )
    return "MODELYARD_* variables", "every one names a setting"


register_check(
    "environment",
    _environment,
    "Rename the variable to the setting's name (modelyard doctor lists them all); a misspelled "
    "one is ignored, so its default is used instead.",
)


def _metadata(ws: Workspace) -> tuple[str, str]:
    from modelyard.storage.metadata import SCHEMA_HEAD, redact

    store = ws.metadata
    revision = store.db.current_revision()
    return redact(store.uri), f"{store.dialect}, schema {revision} (head {SCHEMA_HEAD})"


def _artifacts(ws: Workspace) -> tuple[str, str]:
    ws.artifacts.check()
    return ws.artifacts.root, "writable" if ws.artifacts.is_local else "bucket reachable"


register_check(
    "metadata store",
    _metadata,
    "Set MODELYARD_METADATA_URI to sqlite:///path/modelyard.db or a reachable "
    "postgresql://user@host/db (start PostgreSQL if it is down).",
)
register_check(
    "artifact store",
    _artifacts,
    "Set MODELYARD_ARTIFACT_URI to a writable file:// directory or an s3://bucket/prefix "
    "(for S3 check AWS credentials and MODELYARD_S3_ENDPOINT_URL).",
)


def _offline(ws: Workspace) -> tuple[str, str]:
    return ws.settings.offline_uri, ws.offline.check()


def _online(ws: Workspace) -> tuple[str, str]:
    from modelyard.storage.metadata import redact

    return redact(ws.settings.online_uri), ws.online.check()


register_check(
    "offline feature store",
    _offline,
    "Set MODELYARD_OFFLINE_URI to duckdb:///a/writable/dir or s3://bucket/prefix (for S3 check "
    "AWS credentials and MODELYARD_S3_ENDPOINT_URL).",
)
register_check(
    "online feature store",
    _online,
    "Set MODELYARD_ONLINE_URI to sqlite:///path/online.db or a reachable "
    "redis://host:6379/0?namespace=NAME (start Redis if it is down).",
)


def _logs(ws: Workspace) -> tuple[str, str]:
    return ws.logs.uri, ws.logs.check()


register_check(
    "prediction logs",
    _logs,
    "Set MODELYARD_LOGS_URI to a writable file:// directory or an s3://bucket/prefix (for S3 "
    "check AWS credentials and MODELYARD_S3_ENDPOINT_URL).",
)


def _compute(ws: Workspace) -> tuple[str, str]:
    from modelyard.compute import get_backend

    backend = get_backend(ws.settings.compute)
    return ws.settings.compute, f"{backend.name} backend, {backend.parallelism} task(s) at once"


register_check(
    "compute backend",
    _compute,
    "Set MODELYARD_COMPUTE to local (one worker per CPU) or local:N.",
)


def run_checks(ws: Workspace) -> list[CheckResult]:
    results = []
    for name, (check, fix) in _CHECKS.items():
        start = time.perf_counter()
        try:
            target, detail = check(ws)
            results.append(CheckResult(name, True, target, detail, "", time.perf_counter() - start))
        except ModelyardError as exc:
            results.append(
                CheckResult(name, False, "", exc.message, fix, time.perf_counter() - start)
            )
        except Exception as exc:  # doctor reports every failure instead of crashing
            results.append(
                CheckResult(
                    name,
                    False,
                    "",
                    f"{type(exc).__name__}: {exc}",
                    fix,
                    time.perf_counter() - start,
                )
            )
    return results
