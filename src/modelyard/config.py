"""Every setting, resolved in one place and one order.

    explicit argument  >  MODELYARD_<NAME> environment variable  >  modelyard.yaml  >  default

Defaults live under ``MODELYARD_HOME`` (default ``./.modelyard``), so a laptop needs no
configuration at all. No other module reads ``os.environ``: ask :func:`get_settings`.

>>> s = Settings.resolve(home="/tmp/x")
>>> s.metadata_uri
'sqlite:////tmp/x/modelyard.db'
"""

from __future__ import annotations

import dataclasses
import getpass
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelyard.errors import ConfigError, suggest

__all__ = [
    "CONFIG_FILE",
    "ENV_PREFIX",
    "Settings",
    "get_settings",
    "misspelled_variables",
    "reset_settings",
]

ENV_PREFIX = "MODELYARD_"
CONFIG_FILE = "modelyard.yaml"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


# name -> (default factory given the resolved home, help text). Order matters for `doctor`.
_FIELDS: dict[str, tuple[Callable[[Path], str], str]] = {
    "home": (lambda _h: str(Path(".modelyard").resolve()), "root of every default store"),
    "metadata_uri": (
        lambda h: f"sqlite:///{h / 'modelyard.db'}",
        "experiments, runs, registry, features, monitors, audit (sqlite:// or postgresql://)",
    ),
    "artifact_uri": (
        lambda h: f"file://{h / 'artifacts'}",
        "models, datasets, reports (file:// or s3://bucket/prefix)",
    ),
    "offline_uri": (
        lambda h: f"duckdb:///{h / 'offline'}",
        "offline feature data (duckdb:///dir, Parquet files queried by DuckDB)",
    ),
    "online_uri": (
        lambda h: f"sqlite:///{h / 'online.db'}",
        "online features and prediction cache (sqlite:// or redis://)",
    ),
    "logs_uri": (
        lambda h: f"file://{h / 'logs'}",
        "prediction and feedback logs, Parquet by model and date (file:// or s3://bucket/prefix)",
    ),
    "compute": (lambda _h: "local", "tuning / batch scoring backend (local or ray or ray://host)"),
    "user": (lambda _h: _default_user(), "actor recorded in runs and audit events"),
    "cache_dir": (lambda h: str(h / "cache"), "local cache of downloaded models"),
    "s3_endpoint_url": (lambda _h: "", "S3-compatible endpoint (MinIO, moto); empty for AWS"),
    "log_level": (lambda _h: "WARNING", "logging level for modelyard's loggers"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings. ``sources`` says where each value came from (argument/env/file/default)."""

    home: str
    metadata_uri: str
    artifact_uri: str
    offline_uri: str
    online_uri: str
    logs_uri: str
    compute: str
    user: str
    cache_dir: str
    s3_endpoint_url: str
    log_level: str
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def field_names(cls) -> list[str]:
        return list(_FIELDS)

    @classmethod
    def describe(cls) -> dict[str, str]:
        return {name: help_text for name, (_, help_text) in _FIELDS.items()}

    @classmethod
    def resolve(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Resolve every setting. ``overrides`` are explicit arguments (None means "not given")."""
        unknown = set(overrides) - set(_FIELDS)
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(
                f"Unknown setting {name!r}{suggest(name, list(_FIELDS))}. "
                f"Valid settings: {', '.join(_FIELDS)}.",
                setting=name,
            )
        env = os.environ if environ is None else environ
        file_values = _read_config_file(config_file)
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        home: Path | None = None
        for name, (default, _) in _FIELDS.items():
            env_name = ENV_PREFIX + name.upper()
            if overrides.get(name) is not None:
                value, source = str(overrides[name]), "argument"
            elif env.get(env_name):
                value, source = env[env_name], f"env {env_name}"
            elif name in file_values:
                value, source = str(file_values[name]), f"file {CONFIG_FILE}"
            else:
                value, source = default(home or Path(".modelyard").resolve()), "default"
            if name in ("home", "cache_dir") and value:
                value = str(Path(value).expanduser().resolve())
            if name == "home":
                home = Path(value)
            values[name] = value
            sources[name] = source
        return cls(**values, sources=sources)

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _FIELDS}

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some values replaced (marked as explicit arguments)."""
        sources = dict(self.sources)
        sources.update({k: "argument" for k, v in overrides.items() if v is not None})
        clean = {k: str(v) for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **clean, sources=sources)


def _read_config_file(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    file = Path(path) if path is not None else Path.cwd() / CONFIG_FILE
    if not file.is_file():
        if path is not None:
            raise ConfigError(f"Config file {str(file)!r} does not exist.", path=str(file))
        return {}
    import yaml

    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Cannot parse {file}: {exc}", path=str(file)) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file} must hold a mapping of settings, got {type(data).__name__}.")
    unknown = [k for k in data if k not in _FIELDS]
    if unknown:
        key = str(unknown[0])
        raise ConfigError(
            f"Unknown setting {key!r} in {file}{suggest(key, list(_FIELDS))}. "
            f"Valid settings: {', '.join(_FIELDS)}.",
            setting=key,
            path=str(file),
        )
    return data


def misspelled_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``MODELYARD_*`` variables that name no setting but look like one (a typo is otherwise
    silently ignored): ``(variable, the setting's variable)`` pairs, for ``modelyard doctor``."""
    import difflib

    env = os.environ if environ is None else environ
    known = [ENV_PREFIX + name.upper() for name in _FIELDS]
    found = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            if close:
                found.append((name, close[0]))
    return found


_current: Settings | None = None


def get_settings(**overrides: Any) -> Settings:
    """The process-wide settings (resolved once); overrides give a fresh, unshared copy."""
    global _current
    if any(v is not None for v in overrides.values()):
        return Settings.resolve(**overrides)
    if _current is None:
        _current = Settings.resolve()
    return _current


def reset_settings() -> None:
    """Forget the cached settings (after changing the environment, e.g. in tests)."""
    global _current
    _current = None
