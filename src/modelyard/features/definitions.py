"""Feature definitions: entities, feature views and feature services (pydantic, ``extra=forbid``).

    customer = Entity(name="customer", join_keys=["customer_id"])
    spend = FeatureView(
        name="customer_spend",
        entities=["customer"],
        source="data/transactions.parquet",        # or Source(query="SELECT ... FROM ...")
        timestamp_field="event_ts",
        ttl="7d",
        aggregations=[Aggregation(function="sum", column="amount", window="1h")],
    )
    fraud = FeatureService(name="fraud_features", features=["customer_spend"])

The same objects can be written in YAML (see ``docs/features.md``). Shorthands are accepted where
they are unambiguous: a source as a path string (or a SQL string starting with SELECT / WITH),
features as ``{name: dtype}``, a TTL as ``"10m"`` / ``"7d"`` or seconds, entities as objects.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.entities import FEATURE_DTYPES
from modelyard.errors import InvalidArgumentError

__all__ = [
    "Aggregation",
    "Entity",
    "Feature",
    "FeatureService",
    "FeatureView",
    "Source",
    "StreamSource",
    "format_duration",
    "parse_duration",
]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$"
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DTYPE_ALIASES = {
    "int": "int64",
    "integer": "int64",
    "long": "int64",
    "float": "float64",
    "double": "float64",
    "str": "string",
    "text": "string",
    "boolean": "bool",
}


def parse_duration(value: Any) -> int:
    """A duration as milliseconds: ``"90s"``, ``"10m"``, ``"1h"``, ``"7d"``, ``"2w"``, a number
    of seconds, or a ``timedelta``."""
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, bool):
        raise InvalidArgumentError(f"Invalid duration {value!r}.", value=value)
    if isinstance(value, (int, float)):
        return int(value * 1000)
    match = _DURATION.match(str(value))
    if not match:
        raise InvalidArgumentError(
            f"Invalid duration {value!r}: use a number and a unit (ms, s, m, h, d, w), e.g. "
            "'10m', '24h' or '7d'.",
            value=str(value),
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _duration_ms(value: Any) -> int:
    """parse_duration for validators (pydantic collects ValueErrors with their paths)."""
    try:
        return parse_duration(value)
    except InvalidArgumentError as exc:
        raise ValueError(exc.message) from None


def format_duration(ms: int) -> str:
    """The shortest exact form: 600000 -> '10m'."""
    for unit in ("d", "h", "m", "s"):  # days, not weeks: "7d" reads as written
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_spec(self) -> dict[str, Any]:
        """The JSON form stored in the metadata store."""
        return self.model_dump(mode="json", exclude_defaults=False)


class Entity(_Spec):
    """Something features describe (a customer, a merchant), identified by its join keys."""

    name: str = Field(pattern=NAME_PATTERN)
    join_keys: list[str] = Field(default_factory=list)
    key_dtype: Literal["string", "int64"] = "string"
    """The type of the join keys in data the feature store writes itself (streamed events)."""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_key(self) -> Entity:
        if not self.join_keys:
            object.__setattr__(self, "join_keys", [self.name])
        return self


class Feature(_Spec):
    name: str = Field(pattern=NAME_PATTERN)
    dtype: str = "float64"
    description: str = ""

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype(cls, value: Any) -> str:
        text = _DTYPE_ALIASES.get(str(value).lower(), str(value).lower())
        if text not in FEATURE_DTYPES:
            raise ValueError(f"unknown dtype {value!r}; use one of {', '.join(FEATURE_DTYPES)}")
        return text


class Aggregation(_Spec):
    """``function`` of ``column`` over each entity's events in the last ``window``."""

    function: Literal["count", "sum", "mean", "min", "max"]
    column: str | None = None
    window: str
    name: str | None = Field(None, pattern=NAME_PATTERN)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> str:
        ms = _duration_ms(value)
        if ms <= 0:
            raise ValueError("window must be positive")
        return format_duration(ms)

    @model_validator(mode="after")
    def _column(self) -> Aggregation:
        if self.function != "count" and not self.column:
            raise ValueError(f"{self.function} needs a column")
        return self

    @property
    def window_ms(self) -> int:
        return parse_duration(self.window)

    @property
    def output_name(self) -> str:
        return self.name or f"{self.column or 'events'}_{self.function}_{self.window}"

    @property
    def dtype(self) -> str:
        return "int64" if self.function == "count" else "float64"


class Source(_Spec):
    """Offline rows: a Parquet / CSV ``path`` (file, directory, glob or fsspec URI) or a DuckDB
    SQL ``query``."""

    path: str | None = None
    query: str | None = None
    format: Literal["parquet", "csv"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            is_sql = value.lstrip().split(None, 1)[0].upper() in ("SELECT", "WITH", "FROM")
            return {"query": value} if is_sql else {"path": value}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        if (self.path is None) == (self.query is None):
            raise ValueError("give exactly one of path or query")
        return self


class StreamSource(_Spec):
    """A Redis Stream of events (``url`` defaults to the online store's Redis)."""

    name: str = Field(min_length=1, max_length=256)
    url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class FeatureView(_Spec):
    """Features of one or more entities, read from ``source`` (and from pushed rows), or
    windowed ``aggregations`` of the events in ``source`` / ``stream``."""

    name: str = Field(pattern=NAME_PATTERN)
    entities: list[str] = Field(min_length=1)
    source: Source | None = None
    stream: StreamSource | None = None
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None
    features: list[Feature] = Field(default_factory=list)
    aggregations: list[Aggregation] = Field(default_factory=list)
    ttl: str | None = None
    online: bool = True
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("entities", mode="before")
    @classmethod
    def _entity_names(cls, value: Any) -> Any:
        if isinstance(value, (str, Entity)):
            value = [value]
        return [v.name if isinstance(v, Entity) else v for v in value]

    @field_validator("features", mode="before")
    @classmethod
    def _feature_map(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"name": k, "dtype": v} for k, v in value.items()]
        return value

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, value: Any) -> str | None:
        if value is None:
            return None
        ms = _duration_ms(value)
        if ms < 0:
            raise ValueError("ttl must not be negative")
        return format_duration(ms) if ms else None

    @model_validator(mode="after")
    def _consistent(self) -> FeatureView:
        if self.aggregations and self.features:
            raise ValueError(
                "give either features (values read as they are) or aggregations (computed from "
                "events), not both; put them in two views"
            )
        if not self.aggregations and not self.features:
            raise ValueError("declare features ({name: dtype}) or aggregations")
        if self.stream is not None and not self.aggregations:
            raise ValueError("a stream view computes aggregations; push() plain values instead")
        if self.aggregations and self.source is None and self.stream is None:
            raise ValueError("aggregations need events: give a source or a stream")
        names = [f.name for f in self.all_features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature names: {', '.join(dupes)}")
        return self

    @property
    def all_features(self) -> list[Feature]:
        """Declared features, or one per aggregation (named ``<column>_<function>_<window>``)."""
        if self.aggregations:
            return [Feature(name=a.output_name, dtype=a.dtype) for a in self.aggregations]
        return list(self.features)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.all_features]

    @property
    def ttl_ms(self) -> int | None:
        return parse_duration(self.ttl) if self.ttl else None


class FeatureService(_Spec):
    """A named set of features a model uses: ``"view"`` (all its features) or ``"view:feature"``."""

    name: str = Field(pattern=NAME_PATTERN)
    features: list[str] = Field(min_length=1)
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("features", mode="before")
    @classmethod
    def _refs(cls, value: Any) -> Any:
        if isinstance(value, (str, FeatureView)):
            value = [value]
        return [v.name if isinstance(v, FeatureView) else v for v in value]


Definition = Entity | FeatureView | FeatureService
KIND_OF: dict[type[Any], str] = {
    Entity: "entity",
    FeatureView: "feature_view",
    FeatureService: "feature_service",
}
MODEL_OF: dict[str, type[Entity] | type[FeatureView] | type[FeatureService]] = {
    "entity": Entity,
    "feature_view": FeatureView,
    "feature_service": FeatureService,
}
