"""The feature server: ``POST /v1/features/online`` and ``GET /health``.

Routes only parse, call :class:`modelyard.features.FeatureStore` and format; a
``ModelyardError`` becomes a JSON error with its ``http_status``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import DependencyMissingError
from modelyard.storage import Workspace

__all__ = ["create_app", "serve"]


class OnlineRequest(BaseModel):
    """Body of ``POST /v1/features/online``."""

    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = Field(None, description="'view:feature' or 'view' refs")
    feature_service: str | None = None
    entities: dict[str, list[Any]] | None = Field(None, description="join key -> values")
    entity_rows: list[dict[str, Any]] | None = None
    full_feature_names: bool = False
    at: str | int | None = Field(None, description="read as of this time (ISO-8601 / ms)")


def _json(data: Any) -> Any:
    """A JSON response, encoded by orjson when it is installed (it comes with the serve extra)."""
    from fastapi.responses import JSONResponse, Response

    try:
        import orjson
    except ImportError:  # pragma: no cover
        return JSONResponse(data)
    return Response(orjson.dumps(data), media_type="application/json")


def create_app(workspace: Workspace) -> Any:
    """A FastAPI app serving the workspace's online features."""
    try:
        from fastapi import FastAPI
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import JSONResponse
    except ImportError as exc:
        raise DependencyMissingError.for_extra("fastapi", "serve") from exc
    from modelyard.errors import ModelyardError, SpecError
    from modelyard.features import FeatureStore

    store = FeatureStore(workspace)
    app = FastAPI(title="modelyard feature server")

    @app.exception_handler(ModelyardError)
    async def _domain_error(_request: Any, exc: ModelyardError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Any, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()
        ]
        body = {"error": "SpecError", "message": "; ".join(problems), "problems": problems}
        return JSONResponse(body, status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "online_store": workspace.online.check()}

    @app.post("/v1/features/online")
    def online(request: OnlineRequest) -> Any:
        if (request.features is None) == (request.feature_service is None):
            raise SpecError("Give exactly one of 'features' or 'feature_service'.")
        if (request.entities is None) == (request.entity_rows is None):
            raise SpecError("Give exactly one of 'entities' (columns) or 'entity_rows'.")
        result = store.get_online_features(
            request.feature_service or request.features or [],
            request.entities if request.entities is not None else request.entity_rows or [],
            now=request.at,
            full_feature_names=request.full_feature_names,
        )
        return _json(result.to_dict())

    return app


def serve(workspace: Workspace, *, host: str = "127.0.0.1", port: int = 6566) -> None:
    """Run the feature server until interrupted."""
    app = create_app(workspace)
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
