"""Request and response bodies: modelyard's v1 JSON and the Open Inference Protocol (v2).

v1 (``POST /v1/models/{name}/predict``)::

    {"instances": [{"amount": 12.5, "channel": "web"}, ...]}      rows, or
    {"inputs": {"amount": [12.5, 80.0], "channel": ["web", "pos"]}} columns
    optional: "routing_key": "customer-42" (sticky A/B, like the X-Routing-Key header)

v2 (``POST /v2/models/{name}/infer``, KServe / Triton clients)::

    {"id": "r1", "inputs": [{"name": "amount", "shape": [2], "datatype": "FP64",
                              "data": [12.5, 80.0]}, ...]}
    or one tensor of shape [N, F] whose columns are the model's inputs in signature order.

Each tensor is checked before its values reach the model: ``datatype`` is one of the protocol's
(:data:`V2_DATATYPES`) and suits the signature's type of the input (FP64 or INT64 for a float
input, BYTES for a string, BOOL for a boolean), every value fits the datatype (an integer in
INT64's range, a string for BYTES), ``data`` is flat (row-major) or nested exactly as
``shape``, and no input is given twice. A violation is a :class:`SpecError` (422) naming the
tensor, e.g. ``inputs[2].data[5]: 1e+30 is not an INT64``.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelyard.errors import SpecError, suggest

__all__ = [
    "V2_DATATYPES",
    "V2_TYPES",
    "parse_json",
    "v1_rows",
    "v2_columns",
    "v2_outputs",
    "v2_tensor_type",
]

V2_TYPES = {
    "float": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}
_INT_RANGES = {
    **{f"INT{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64)},
    **{f"UINT{b}": (0, 2**b - 1) for b in (8, 16, 32, 64)},
}
_INF = float("inf")
_FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": _INF}
V2_DATATYPES = ("BOOL", *_INT_RANGES, *_FLOAT_MAX, "BYTES")
"""the Open Inference Protocol's tensor datatypes"""
_NUMBERS = frozenset([*_INT_RANGES, *_FLOAT_MAX])
_SUITS = {  # signature type -> the datatypes its values may come in
    "float": _NUMBERS,
    "integer": _NUMBERS,  # FP values must then be whole: the signature check says so
    "boolean": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
    "category": frozenset(V2_DATATYPES),
    "datetime": frozenset({"BYTES"}),
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


def v2_columns(payload: dict[str, Any], inputs: dict[str, str] | None) -> dict[str, list[Any]]:
    """The request's tensors as columns (name -> values). ``inputs``: the model's inputs in
    signature order -> their signature types (None without a signature)."""
    for key in payload:
        if key not in _V2_KEYS:
            raise _problem(key, f"unknown key{suggest(key, _V2_KEYS)}", key)
    tensors = payload.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise _problem("inputs", "must be a non-empty list of input tensors", "inputs")
    types = inputs or {}
    columns: dict[str, list[Any]] = {}
    given: dict[str, int] = {}
    for i, tensor in enumerate(tensors):
        where = f"inputs[{i}]"
        name, datatype, shape, data = _tensor(tensor, where)
        if name in given:
            raise _problem(
                f"{where}.name", f"input {name!r} is given twice (inputs[{given[name]}] too)", name
            )
        given[name] = i
        if len(shape) == 2 and shape[1] > 1 and len(tensors) == 1 and inputs is not None:
            matrix = _matrix(data, shape, list(inputs), where)
            for column in inputs:
                _suits(datatype, column, types, where)
            return matrix
        if len(shape) != 1 and (len(shape) != 2 or shape[1] != 1):
            raise _problem(
                f"{where}.shape",
                f"{shape}: a named input is [N] (or [N, 1]); one [N, F] tensor may instead hold "
                "all the model's inputs in signature order",
                "shape",
            )
        _suits(datatype, name, types, where)
        columns[name] = data
    return columns


def _tensor(tensor: Any, where: str) -> tuple[str, str, list[int], list[Any]]:
    """One input tensor checked: its name, datatype, shape and values (flat, row-major)."""
    if not isinstance(tensor, dict):
        raise _problem(where, "must be an object with name, shape, datatype, data", "inputs")
    for key in tensor:
        if key not in _TENSOR_KEYS:
            raise _problem(f"{where}.{key}", f"unknown key{suggest(key, _TENSOR_KEYS)}", key)
    for key in ("name", "shape", "datatype", "data"):
        if key not in tensor:
            raise _problem(where, f"missing {key!r}", key)
    name, datatype, shape = tensor["name"], tensor["datatype"], tensor["shape"]
    if not isinstance(name, str) or not name:
        raise _problem(f"{where}.name", "must be the input's name (a non-empty string)", "name")
    if datatype not in V2_DATATYPES:
        raise _problem(
            f"{where}.datatype",
            f"{datatype!r} is not an Open Inference Protocol datatype"
            f"{suggest(str(datatype), V2_DATATYPES)}; use one of {', '.join(V2_DATATYPES)}",
            name,
        )
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _problem(f"{where}.shape", "must be a list of sizes", "shape")
    if not isinstance(tensor["data"], list):
        raise _problem(
            f"{where}.data", f"must be a list, got {type(tensor['data']).__name__}", "data"
        )
    data = _flat(tensor["data"], shape, f"{where}.data")
    _fits(data, datatype, f"{where}.data", name)
    return name, datatype, shape, data


def _flat(data: list[Any], shape: list[int], where: str) -> list[Any]:
    """``data`` flat (row-major): given flat, or nested exactly as ``shape``."""
    size = 1
    for d in shape:
        size *= d
    if not any(isinstance(v, list) for v in data):
        if len(data) != size:
            raise _problem(
                where, f"holds {len(data)} values but shape {shape} needs {size}", "data"
            )
        return data
    out: list[Any] = []
    _unnest(data, shape, 0, where, out)
    return out


def _unnest(data: Any, shape: list[int], depth: int, where: str, out: list[Any]) -> None:
    if depth == len(shape):
        if isinstance(data, list):
            raise _problem(
                where, f"is nested deeper than its shape {shape} (send the values flat, "
                "row-major, or nested as the shape)", "data",
            )  # fmt: skip
        out.append(data)
        return
    if not isinstance(data, list) or len(data) != shape[depth]:
        got = f"{len(data)} items" if isinstance(data, list) else "a single value"
        raise _problem(
            where, f"holds {got} where shape {shape} needs {shape[depth]} (dimension {depth})",
            "data",
        )  # fmt: skip
    for j, part in enumerate(data):
        _unnest(part, shape, depth + 1, f"{where}[{j}]", out)


def _fits(values: list[Any], datatype: str, where: str, name: str) -> None:
    """Every value fits ``datatype`` (null is left to the signature's nullability)."""
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    if datatype in _INT_RANGES:
        low, high = _INT_RANGES[datatype]
        ok = kinds <= {int} and all(low <= v <= high for v in values if v is not None)
    elif datatype in _FLOAT_MAX:
        top = _FLOAT_MAX[datatype]
        # FP64, the usual datatype, has no bound to check (orjson refuses NaN and infinity)
        ok = kinds <= {int, float} and (
            top == _INF or all(abs(v) <= top for v in values if v is not None)
        )
    else:
        ok = kinds <= ({bool} if datatype == "BOOL" else {str})
    if ok:
        return
    for j, v in enumerate(values):  # the first value that does not fit, for the message
        if v is not None and not _fits_one(v, datatype):
            raise _problem(f"{where}[{j}]", f"{_show(v)} is not a valid {datatype}", name)


def _fits_one(value: Any, datatype: str) -> bool:
    if datatype in _INT_RANGES:
        low, high = _INT_RANGES[datatype]
        return type(value) is int and low <= value <= high
    if datatype in _FLOAT_MAX:
        return type(value) in (int, float) and abs(value) <= _FLOAT_MAX[datatype]
    return type(value) is (bool if datatype == "BOOL" else str)


def _suits(datatype: str, name: str, types: dict[str, str], where: str) -> None:
    kind = types.get(name)
    if kind is None or datatype in _SUITS.get(kind, V2_DATATYPES):
        return
    allowed = [t for t in V2_DATATYPES if t in _SUITS[kind]]
    raise _problem(
        f"{where}.datatype",
        f"{datatype} does not suit input {name!r}, which the model declares {kind}; send "
        f"{' or '.join(allowed) if len(allowed) < 4 else 'a number type (FP64, INT64, ...)'}",
        name,
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
