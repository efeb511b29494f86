"""``POST /v1/feedback``: true labels for logged predictions, as a router the model server mounts.

    app.include_router(feedback_router(workspace, flush=prediction_logger.flush))

Body: ``{"feedback": [{"prediction_id": "p-1", "label": 1}, ...], "model": "fraud",
"strict": false}``. The answer is the :class:`modelyard.monitoring.FeedbackResult`: accepted
rows, unknown prediction ids (reported, not an error) and refused rows with the field and value
(a label of the wrong type for the model). Status 200 when anything was stored or nothing was
refused; 422 when every row was refused or, with ``strict``, when any was (nothing stored then);
404 naming the ``model`` when it has no logged prediction at all.

The model server buffers its prediction log for a few seconds; ``flush`` (the logger's flush)
is called before the ids are looked up, so a label sent right after its prediction is not
reported unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import DependencyMissingError
from modelyard.storage import Workspace

__all__ = ["FeedbackItem", "FeedbackRequest", "feedback_router"]


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prediction_id: str | int = Field(description="the id the prediction response carried")
    label: Any = Field(description="the true label: a number or a string, as the model predicts")


class FeedbackRequest(BaseModel):
    """Body of ``POST /v1/feedback``."""

    model_config = ConfigDict(extra="forbid")

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100_000)
    model: str | None = Field(None, description="look ids up in this model's log only (faster)")
    strict: bool = Field(False, description="refuse the whole batch if any row is refused")


def feedback_router(workspace: Workspace, *, flush: Callable[[], object] | None = None) -> Any:
    """A FastAPI router with ``POST /v1/feedback`` over ``workspace``'s logs; ``flush`` is
    called first (write the predictions still buffered)."""
    try:
        from fastapi import APIRouter
        from fastapi.responses import JSONResponse
    except ImportError as exc:
        raise DependencyMissingError.for_extra("fastapi", "serve") from exc
    from modelyard.errors import ModelyardError
    from modelyard.monitoring import record_feedback

    router = APIRouter()

    @router.post("/v1/feedback")
    def feedback(request: FeedbackRequest) -> Any:
        rows = [{"prediction_id": str(i.prediction_id), "label": i.label} for i in request.feedback]
        if flush is not None:
            flush()
        try:
            result = record_feedback(workspace, rows, model=request.model, strict=request.strict)
        except ModelyardError as exc:
            return JSONResponse(exc.to_dict(), status_code=exc.http_status)
        body = result.to_dict()
        if result.accepted == 0 and result.refused_count:
            return JSONResponse(
                {"error": "DataValidationError", "message": "every row was refused", **body},
                status_code=422,
            )
        return JSONResponse(body)

    return router
