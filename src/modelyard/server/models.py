"""The model server's HTTP routes (FastAPI on uvicorn with uvloop and httptools).

    POST /v1/models/{name}/predict     records or columns -> predictions, probabilities, ids
    GET  /v1/models                    the deployments, their variants and versions
    POST /v2/models/{name}/infer       Open Inference Protocol (KServe / Triton clients)
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
    GET  /health, /metrics (Prometheus), /docs (OpenAPI)

Routes only read the body (bounded by ``max_body_bytes``: 413 beyond), call
:class:`modelyard.serving.ModelServer` and write its reply. The prediction routes read the raw
body and let the server parse it with orjson: no pydantic model per request.
"""

from __future__ import annotations

import contextlib
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
            await server.predict(name, body, client=client(request), headers=request.headers)
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
        try:
            return Response(orjson.dumps(await server.model_metadata(name)), 200, _JSON)
        except ModelyardError as exc:
            return _v2_error(exc)

    @app.get("/v2/models/{name}/ready", tags=["v2"])
    async def v2_ready(name: str) -> Response:
        try:
            ok = await server.model_ready(name)
        except ModelyardError as exc:
            return _v2_error(exc)
        return Response(orjson.dumps({"name": name, "ready": ok}), 200 if ok else 503, _JSON)

    @app.post("/v2/models/{name}/infer", openapi_extra={"requestBody": _INFER_BODY}, tags=["v2"])
    async def infer(name: str, request: Request) -> Response:
        """Open Inference Protocol: named tensors (one per input) or one [N, F] tensor."""
        try:
            body = await body_of(request)
        except PayloadTooLargeError as exc:
            return _v2_error(exc)
        return reply(
            await server.infer(name, body, client=client(request), headers=request.headers)
        )

    def _v2_error(exc: ModelyardError) -> Response:
        data = {**exc.to_dict(), "error": exc.message, "error_type": type(exc).__name__}
        return Response(orjson.dumps(data, default=str), exc.http_status, _JSON)

    if access_log is not None:
        app.add_middleware(AccessLogMiddleware, log=access_log)  # type: ignore[arg-type]
    return app


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
