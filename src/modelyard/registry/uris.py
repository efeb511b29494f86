"""Model URIs.

models:/fraud@production     the version a stage or alias points at
models:/fraud@champion
models:/fraud/3              version 3
models:/fraud/latest         the newest version (also models:/fraud@latest)
runs:/<run_id>/model         a model logged by a run
file:///..., s3://..., path  a saved model directory
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.errors import InvalidModelURIError

__all__ = ["ModelRef", "RunRef", "parse_model_uri"]

_MODELS = re.compile(r"^models:/+(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<ref>[^/@]+))$")
_RUNS = re.compile(r"^runs:/+(?P<run_id>[0-9a-fA-F]{32})(?:/(?P<path>.+))?$")


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return (
            f"models:/{self.name}/{self.version}"
            if self.version
            else f"models:/{self.name}@{self.alias}"
        )


@dataclass(frozen=True, slots=True)
class RunRef:
    run_id: str
    path: str


def parse_model_uri(uri: str) -> ModelRef | RunRef | str:
    """A ModelRef, a RunRef, or (for anything else) the URI / path unchanged."""
    if uri.startswith("models:"):
        match = _MODELS.match(uri)
        if match is None:
            raise InvalidModelURIError(
                f"Invalid model URI {uri!r}; use models:/NAME@ALIAS (e.g. models:/fraud@production) "
                "or models:/NAME/VERSION (e.g. models:/fraud/3).",
                uri=uri,
            )
        if match["alias"]:
            return ModelRef(match["name"], alias=match["alias"])
        ref = match["ref"]
        return (
            ModelRef(match["name"], version=int(ref))
            if ref.isdigit()
            else ModelRef(match["name"], alias=ref)
        )
    if uri.startswith("runs:"):
        match = _RUNS.match(uri)
        if match is None:
            raise InvalidModelURIError(
                f"Invalid run URI {uri!r}; use runs:/RUN_ID/PATH with the 32-character run id, "
                "e.g. runs:/0123456789abcdef0123456789abcdef/model.",
                uri=uri,
            )
        return RunRef(match["run_id"].lower(), (match["path"] or "model").strip("/"))
    return uri
