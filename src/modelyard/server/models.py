"""The model server's HTTP routes (FastAPI on uvicorn with uvloop and httptools).

    POST /v1/models/{name}/predict     records or columns -> predictions, probabilities, ids
    POST /v1/feedback                  true labels for prediction ids (monitoring)
    GET  /v1/models                    the deployments, their variants and versions
    POST /v2/models/{name}/infer       Open Inference Protocol (KServe / Triton clients)
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
    GET  /v2/models/{name}/versions/{version}[/ready], POST .../versions/{version}/infer
         the same for the version a deployment serves now (404 for another)
    GET  /health, /metrics (Prometheus), /docs (OpenAPI)

Routes only read the body (bounded by ``max_body_bytes``: 413 beyond), call
:class:`modelyard.serving.ModelServer` and write its reply. The prediction routes read the raw
body and let the server parse it with orjson: no pydantic model per request.

The two prediction routes are also answered by :class:`PredictionRoutes`, a bare ASGI app in
front of FastAPI: at a few thousand requests per second on one core, FastAPI's middleware stack,
routing and dependency solving cost more CPU than everything else a request does (measured with
py-spy: about 70 % of the event loop's time). The FastAPI routes stay the reference (and the
OpenAPI docs); both call the same server methods.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from modelyard import __version__
from modelyard.errors import DependencyMissingError, ModelyardError, PayloadTooLargeError
from modelyard.serving import AccessLog, ModelServer, Reply

try:  # the serve extra; create_app says how to install it when it is missing
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response
except ImportError:  # pragma: no cover
    Request = JSONResponse = Response = Any  # type: ignore[misc,assignment]

__all__ = ["create_app"]

log = logging.getLogger("modelyard.server")

_RECORDS_EXAMPLE = {"instances": [{"amount": 12.5, "channel": "web"}]}
_PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "instances": {
                        "type": "array",
                        "items": {"type": "object"},
                        "description": "rows: input name -> value",
                    },
                    "inputs": {
                        "type": "object",
                        "additionalProperties": {"type": "array"},
                        "description": "columns: input name -> values (instead of instances)",
                    },
                    "routing_key": {
                        "type": "string",
                        "description": "sticky A/B key (or the X-Routing-Key header)",
                    },
                },
            },
            "example": _RECORDS_EXAMPLE,
        }
    },
}
_INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object"},
            "example": {
                "id": "1",
                "inputs": [{"name": "amount", "shape": [1], "datatype": "FP64", "data": [12.5]}],
            },
        }
    },
}


def create_app(server: ModelServer, *, access_log: AccessLog | None = None) -> Any:
    """A FastAPI app answering for ``server``'s deployments (started by the app's lifespan)."""
    try:
        from fastapi import FastAPI
        from fastapi.exceptions import RequestValidationError
    except ImportError as exc:
        raise DependencyMissingError.for_extra("fastapi", "serve") from exc
    import orjson

    limit = server.spec.server.max_body_bytes

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if access_log is not None:
            access_log.start()
        await server.start()
        try:
            yield
        finally:
            await server.stop()
            if access_log is not None:
                access_log.close()

    app = FastAPI(
        title="modelyard model server",
        version=__version__,
        description="Real-time predictions for registered models. See docs/serving.md.",
        lifespan=lifespan,
    )

    from modelyard.server.feedback import feedback_router

    # POST /v1/feedback: true labels for the prediction ids this server answered with
    app.include_router(
        feedback_router(server.workspace, flush=server.flush_prediction_log), tags=["v1"]
    )

    def reply(r: Reply) -> Response:
        return Response(r.body, r.status, r.headers)

    def error(exc: ModelyardError) -> Response:
        return Response(orjson.dumps(exc.to_dict(), default=str), exc.http_status, _JSON)

    @app.exception_handler(ModelyardError)
    async def _domain_error(_request: Any, exc: ModelyardError) -> Response:
        return error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Any, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        body = {"error": "SpecError", "message": "; ".join(problems), "problems": problems}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Any, exc: Exception) -> Response:
        log.exception("unexpected error")
        body = {"error": type(exc).__name__, "message": f"Internal error: {exc}"}
        return Response(orjson.dumps(body, default=str), 500, _JSON)

    async def body_of(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _too_large(int(length), limit)
        if length is not None:
            return await request.body()
        chunks, size = [], 0  # chunked transfer: stop reading as soon as the limit is passed
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    @app.post(
        "/v1/models/{name}/predict",
        openapi_extra={"requestBody": _PREDICT_BODY},
        summary="Predict with a deployment",
        tags=["v1"],
    )
    async def predict(name: str, request: Request) -> Response:
        """Rows (``instances``) or columns (``inputs``) in; ``predictions``, ``probabilities``
        (classifiers), ``classes``, ``prediction_ids``, ``model``, ``version`` and ``variant``
        out. Errors: 404 unknown deployment, 413 body too large, 422 invalid input (naming the
        field), 429 rate limited, 503 overloaded / circuit open, 504 timeout."""
        try:
            body = await body_of(request)
        except PayloadTooLargeError as exc:
            return error(exc)
        return reply(
            await server.predict(
                name, body, client=client(request), headers=_Headers(request.scope["headers"])
            )
        )

    @app.get("/v1/models", summary="The deployments and their versions", tags=["v1"])
    async def deployments() -> Response:
        return Response(orjson.dumps(server.describe()), 200, _JSON)

    @app.get("/health", tags=["health"])
    async def health() -> Response:
        status = 200 if server.ready else 503
        body = {
            "status": "ok" if server.ready else "starting",
            "deployments": len(server.deployments),
        }
        return Response(orjson.dumps(body), status, _JSON)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics() -> Response:
        content, media = server.metrics.render()
        return Response(content, 200, media_type=media)

    # -- Open Inference Protocol (v2) ------------------------------------------------------------
    @app.get("/v2", tags=["v2"])
    async def v2_server() -> Response:
        body = {"name": "modelyard", "version": __version__, "extensions": []}
        return Response(orjson.dumps(body), 200, _JSON)

    @app.get("/v2/health/live", tags=["v2"])
    async def live() -> Response:
        return Response(orjson.dumps({"live": True}), 200, _JSON)

    @app.get("/v2/health/ready", tags=["v2"])
    async def ready() -> Response:
        return Response(orjson.dumps({"ready": server.ready}), 200 if server.ready else 503, _JSON)

    @app.get("/v2/models/{name}", tags=["v2"])
    async def v2_metadata(name: str) -> Response:
        return await _metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["v2"])
    async def v2_version_metadata(name: str, version: str) -> Response:
        """The metadata of the version the deployment serves now (404 for another version)."""
        return await _metadata(name, version)

    async def _metadata(name: str, version: str | None) -> Response:
        try:
            return Response(orjson.dumps(await server.model_metadata(name, version)), 200, _JSON)
        except ModelyardError as exc:
            return _v2_error(exc)

    @app.get("/v2/models/{name}/ready", tags=["v2"])
    async def v2_ready(name: str) -> Response:
        return await _ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
    async def v2_version_ready(name: str, version: str) -> Response:
        return await _ready(name, version)

    async def _ready(name: str, version: str | None) -> Response:
        try:
            ok = await server.model_ready(name, version)
        except ModelyardError as exc:
            return _v2_error(exc)
        return Response(orjson.dumps({"name": name, "ready": ok}), 200 if ok else 503, _JSON)

    @app.post("/v2/models/{name}/infer", openapi_extra={"requestBody": _INFER_BODY}, tags=["v2"])
    async def infer(name: str, request: Request) -> Response:
        """Open Inference Protocol: named tensors (one per input) or one [N, F] tensor."""
        return await _infer(name, None, request)

    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        openapi_extra={"requestBody": _INFER_BODY},
        tags=["v2"],
    )
    async def infer_version(name: str, version: str, request: Request) -> Response:
        """The same, answered by the version the deployment serves now (404 for another)."""
        return await _infer(name, version, request)

    async def _infer(name: str, version: str | None, request: Request) -> Response:
        try:
            body = await body_of(request)
        except PayloadTooLargeError as exc:
            return _v2_error(exc)
        headers = _Headers(request.scope["headers"])
        return reply(
            await server.infer(name, body, client=client(request), headers=headers, version=version)
        )

    def _v2_error(exc: ModelyardError) -> Response:
        data = {**exc.to_dict(), "error": exc.message, "error_type": type(exc).__name__}
        return Response(orjson.dumps(data, default=str), exc.http_status, _JSON)

    if access_log is not None:
        app.add_middleware(AccessLogMiddleware, log=access_log)  # type: ignore[arg-type]
    return PredictionRoutes(app, server, access_log=access_log)


_JSON = {"content-type": "application/json"}


def _too_large(size: int, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body ({size:,} bytes) is over this server's limit of {limit:,} bytes; send "
        "fewer rows per request (or raise server.max_body_bytes).",
        limit=limit,
    )


class AccessLogMiddleware:
    """One structured line per HTTP request (pure ASGI: no per-request object but a dict)."""

    def __init__(self, app: Any, log: AccessLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        seen: dict[str, Any] = {}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["headers"] = message.get("headers")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            entry = {
                "ts": time.time(),
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": seen.get("status", 500),
                "latency_ms": round((time.perf_counter() - start) * 1000, 3),
                "client": scope["client"][0] if scope.get("client") else None,
            }
            for key, value in seen.get("headers") or ():
                if key.startswith(b"x-modelyard-"):
                    entry[key[12:].decode().replace("-", "_")] = value.decode()
            self.log.add(entry)


class PredictionRoutes:
    """``POST /v1/models/{name}/predict`` and ``POST /v2/models/{name}/infer`` as a bare ASGI
    app; every other request goes to the FastAPI ``app`` (which it wraps, lifespan included)."""

    def __init__(self, app: Any, server: ModelServer, *, access_log: AccessLog | None) -> None:
        self.app = app
        self.server = server
        self.limit = server.spec.server.max_body_bytes
        self.access_log = access_log

    def __getattr__(self, name: str) -> Any:  # routes, openapi(), state ... of the FastAPI app
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith("/v1/models/") and path.endswith("/predict"):
                name = path[11:-8]
                if name and "/" not in name:
                    await self._answer(scope, receive, send, name, self.server.predict)
                    return
            elif path.startswith("/v2/models/") and path.endswith("/infer"):
                name, sep, version = path[11:-6].partition("/versions/")
                if name and "/" not in name + version and bool(sep) == bool(version):
                    call = self.server.infer
                    if version:
                        call = functools.partial(call, version=version)
                    await self._answer(scope, receive, send, name, call)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Any, receive: Any, send: Any, name: str, call: Any) -> None:
        start = time.perf_counter()
        headers = _Headers(scope["headers"])
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            body = await self._body(headers, receive)
            if body is None:
                return  # the client went away
            result: Reply = await call(name, body, client=client, headers=headers)
            status, payload, extra = result.status, result.body, result.headers
        except PayloadTooLargeError as exc:
            status, payload, extra = exc.http_status, _error_body(exc), {}
        except Exception as exc:  # never let a request take the process down
            log.exception("unexpected error answering %s", scope["path"])
            status, extra = 500, {}
            payload = _error_body(ModelyardError(f"Internal error: {exc!r}"))
        raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
        for key, value in extra.items():
            if key != "content-type":
                raw.append((key.encode(), value.encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})
        if self.access_log is not None:
            entry = {
                "ts": time.time(),
                "method": "POST",
                "path": scope["path"],
                "status": status,
                "latency_ms": round((time.perf_counter() - start) * 1000, 3),
                "client": client,
                "bytes": len(payload),
            }
            for key, value in extra.items():
                if key.startswith("x-modelyard-"):
                    entry[key[12:].replace("-", "_")] = value
            self.access_log.add(entry)

    async def _body(self, headers: _Headers, receive: Any) -> bytes | None:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            raise _too_large(int(length), self.limit)
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.limit:
                raise _too_large(len(body), self.limit)
            if not message.get("more_body", False):
                return bytes(body)


class _Headers:
    """Case-insensitive lookup in the raw ASGI header list (lower-case names), without building
    a dict per request."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.encode("latin-1")
        for k, v in self.raw:
            if k == key:
                return v.decode("latin-1")
        return default


def _error_body(exc: ModelyardError) -> bytes:
    import orjson

    return orjson.dumps(exc.to_dict(), default=str)
