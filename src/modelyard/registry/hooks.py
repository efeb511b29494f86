"""Promotion hooks: in-process callbacks and signed webhooks.

A webhook receives a JSON POST with these headers::

    X-Modelyard-Event: model_version.promoted
    X-Modelyard-Timestamp: 1767225600
    X-Modelyard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

Verify it with :func:`verify_signature` (or the same three lines in any language), and reject
timestamps older than a few minutes to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.entities import Webhook

__all__ = ["PromotionEvent", "deliver_webhook", "sign", "verify_signature"]

log = logging.getLogger("modelyard.registry")
EVENT = "model_version.promoted"


@dataclass(frozen=True, slots=True)
class PromotionEvent:
    name: str
    version: int
    from_stage: str | None
    to_stage: str
    actor: str
    reason: str
    timestamp: int
    archived_versions: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"event": EVENT, **asdict(self)}


PromotionHook = Callable[[PromotionEvent], None]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, max_age_s: float = 300.0
) -> bool:
    """True when ``signature`` is the HMAC of this body and the timestamp is recent."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def post_json(
    url: str,
    body: bytes,
    *,
    event: str,
    secret: str | None,
    agent: str = "modelyard-webhook",
    timeout_s: float = 3.0,
    attempts: int = 3,
) -> tuple[bool, str]:
    """POST a JSON body with ``X-Modelyard-Event`` / ``-Timestamp`` headers and, with a secret,
    ``X-Modelyard-Signature``; retry network errors and 5xx with backoff (not 4xx). Returns
    (delivered, detail). Promotion webhooks and monitoring's webhook sink both send this way."""
    detail = ""
    for attempt in range(attempts):
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": agent,
            "X-Modelyard-Event": event,
            "X-Modelyard-Timestamp": stamp,
        }
        if secret:
            headers["X-Modelyard-Signature"] = sign(secret, stamp, body)
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return True, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}"
            if exc.code < 500:
                break
        except (urllib.error.URLError, OSError) as exc:
            detail = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt + 1 < attempts:
            time.sleep(0.2 * 2**attempt)
    return False, detail


def deliver_webhook(
    hook: Webhook, event: PromotionEvent, *, timeout_s: float = 3.0, attempts: int = 3
) -> tuple[bool, str]:
    """POST the event, signed; retry on network errors and 5xx. Returns (delivered, detail)."""
    body = json.dumps(event.to_dict(), sort_keys=True).encode()
    ok, detail = post_json(
        hook.url, body, event=EVENT, secret=hook.secret, timeout_s=timeout_s, attempts=attempts
    )
    if not ok:
        log.warning("webhook %s to %s failed: %s", hook.webhook_id, hook.url, detail)
    return ok, detail
