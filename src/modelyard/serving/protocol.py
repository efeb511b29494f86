"""Request and response bodies: modelyard's v1 JSON and the Open Inference Protocol (v2).

v1 (``POST /v1/models/{name}/predict``)::

    {"instances": [{"amount": 12.5, "channel": "web"}, ...]}      rows, or
    {"inputs": {"amount": [12.5, 80.0], "channel": ["web", "pos"]}} columns
    optional: "routing_key": "customer-42" (sticky A/B, like the X-Routing-Key header)

v2 (``POST /v2/models/{name}/infer``, KServe / Triton clients)::

    {"id": "r1", "inputs": [{"name": "amount", "shape": [2], "datatype": "FP64",
                              "data": [12.5, 80.0]}, ...]}
    or one tensor of shape [N, F] whose columns are the model's inputs in signature order.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelyard.errors import SpecError, suggest

__all__ = ["V2_TYPES", "parse_json", "v1_rows", "v2_columns", "v2_outputs", "v2_tensor_type"]

V2_TYPES = {
    "float": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}
_V1_KEYS = ("instances", "inputs", "routing_key")
_V2_KEYS = ("id", "inputs", "outputs", "parameters")
_TENSOR_KEYS = ("name", "shape", "datatype", "data", "parameters")


def _problem(path: str, message: str, field: str) -> SpecError:
    text = f"{path}: {message}"
    return SpecError(f"Invalid request: {text}.", field=field, problems=[text])


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _problem("(body)", f"not valid JSON ({exc})", "body") from None
    if type(payload) is not dict:
        raise _problem("(body)", f"must be a JSON object, got {type(payload).__name__}", "body")
    return payload  # type: ignore[no-any-return]


def v1_rows(payload: dict[str, Any]) -> tuple[str, Any]:
    """``("instances", records)`` or ``("inputs", columns)``; unknown keys are errors."""
    if len(payload) > 1 or ("instances" not in payload and "inputs" not in payload):
        for key in payload:
            if key not in _V1_KEYS:
                raise _problem(
                    key, f"unknown key{suggest(key, _V1_KEYS)}; send 'instances' (rows) or "
                    "'inputs' (columns)", key,
                )  # fmt: skip
        if "instances" in payload and "inputs" in payload:
            raise _problem(
                "(body)", "give 'instances' (rows) or 'inputs' (columns), not both", "body"
            )
        if "instances" not in payload and "inputs" not in payload:
            raise _problem(
                "(body)", "missing 'instances' (a list of rows) or 'inputs' (columns)", "instances"
            )
    if "instances" in payload:
        return "instances", payload["instances"]
    return "inputs", payload["inputs"]


def v2_columns(payload: dict[str, Any], names: list[str] | None) -> dict[str, list[Any]]:
    """The request's tensors as columns (name -> values)."""
    for key in payload:
        if key not in _V2_KEYS:
            raise _problem(key, f"unknown key{suggest(key, _V2_KEYS)}", key)
    tensors = payload.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise _problem("inputs", "must be a non-empty list of input tensors", "inputs")
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(tensors):
        where = f"inputs[{i}]"
        if not isinstance(tensor, dict):
            raise _problem(where, "must be an object with name, shape, datatype, data", "inputs")
        for key in tensor:
            if key not in _TENSOR_KEYS:
                raise _problem(f"{where}.{key}", f"unknown key{suggest(key, _TENSOR_KEYS)}", key)
        for key in ("name", "shape", "datatype", "data"):
            if key not in tensor:
                raise _problem(where, f"missing {key!r}", key)
        shape, data = tensor["shape"], _flat(tensor["data"])
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _problem(f"{where}.shape", "must be a list of sizes", "shape")
        size = 1
        for d in shape:
            size *= d
        if size != len(data):
            raise _problem(
                f"{where}.data", f"holds {len(data)} values but shape {shape} needs {size}", "data"
            )
        name = str(tensor["name"])
        if len(shape) == 2 and shape[1] > 1 and len(tensors) == 1 and names is not None:
            return _matrix(data, shape, names, where)
        columns[name] = data
    return columns


def _matrix(
    data: list[Any], shape: list[int], names: list[str], where: str
) -> dict[str, list[Any]]:
    """One [N, F] tensor: its columns are the model's inputs in signature order."""
    _rows, width = shape
    if width != len(names):
        raise _problem(
            f"{where}.shape",
            f"a [N, F] tensor needs F = {len(names)} (the model's inputs: {', '.join(names)}), "
            f"got {width}",
            "shape",
        )
    return {name: data[j::width] for j, name in enumerate(names)}


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if data and isinstance(data[0], list):
        out: list[Any] = []
        for part in data:
            out.extend(_flat(part))
        return out
    return data


def v2_tensor_type(values: list[Any]) -> str:
    if all(type(v) is bool for v in values):
        return "BOOL"
    if all(type(v) is int for v in values):
        return "INT64"
    if all(type(v) in (int, float) for v in values):
        return "FP64"
    return "BYTES"


def v2_outputs(predictions: list[Any], proba: list[list[float]] | None) -> list[dict[str, Any]]:
    outputs = [
        {
            "name": "predict",
            "shape": [len(predictions)],
            "datatype": v2_tensor_type(predictions),
            "data": predictions,
        }
    ]
    if proba is not None:
        width = len(proba[0]) if proba else 0
        outputs.append(
            {
                "name": "predict_proba",
                "shape": [len(proba), width],
                "datatype": "FP64",
                "data": [p for row in proba for p in row],
            }
        )
    return outputs
