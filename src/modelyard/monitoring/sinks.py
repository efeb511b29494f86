"""Where alert events go: a log line, a signed JSON webhook, or a command with the JSON on stdin.

A webhook POST carries::

    X-Modelyard-Event: alert.opened | alert.resolved
    X-Modelyard-Timestamp: 1767225600
    X-Modelyard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>   (with a secret)

the same scheme as the registry's promotion webhooks (verify with
:func:`modelyard.registry.verify_signature`). Delivery never raises: each attempt's outcome is
returned, and the caller records it.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping
from typing import Any

from modelyard.entities.monitoring import Alert
from modelyard.monitoring.spec import CommandSink, LogSink, Sink, WebhookSink

__all__ = ["alert_payload", "deliver", "wants"]

log = logging.getLogger("modelyard.monitoring")

_SEVERITY = {"info": 0, "warning": 1, "critical": 2}
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def alert_payload(
    event: str, alert: Alert, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON every sink receives: ``{"event": "alert.opened", "alert": {...}, ...}``."""
    return {"event": f"alert.{event}", "alert": alert.to_dict(), **(extra or {})}


def wants(sink: Sink, event: str, severity: str) -> bool:
    return event in sink.events and _SEVERITY[severity] >= _SEVERITY[sink.min_severity]


def deliver(sink: Sink, payload: Mapping[str, Any]) -> tuple[bool, str, str]:
    """Send ``payload``; returns (delivered, detail, target)."""
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    try:
        if isinstance(sink, LogSink):
            return _log(sink, payload, body)
        if isinstance(sink, WebhookSink):
            return _webhook(sink, str(payload.get("event", "alert")), body)
        return _command(sink, body)
    except Exception as exc:  # a sink must never break a check run
        log.exception("alert sink %s failed", sink.type)
        return False, f"{type(exc).__name__}: {exc}", sink.type


def _log(sink: LogSink, payload: Mapping[str, Any], body: bytes) -> tuple[bool, str, str]:
    alert = payload.get("alert", {})
    log.log(
        _LEVELS[sink.level],
        "%s monitor=%s rule=%r value=%s: %s",
        payload.get("event"),
        alert.get("monitor"),
        alert.get("rule"),
        alert.get("value"),
        body.decode(),
    )
    return True, "logged", "modelyard.monitoring"


def _webhook(sink: WebhookSink, event: str, body: bytes) -> tuple[bool, str, str]:
    from modelyard.registry import post_json

    ok, detail = post_json(
        sink.url,
        body,
        event=event,
        secret=sink.secret,
        agent="modelyard-monitoring",
        timeout_s=sink.timeout_s,
        attempts=sink.attempts,
    )
    if not ok:
        log.warning("alert webhook to %s failed: %s", sink.url, detail)
    return ok, detail, sink.url


def _command(sink: CommandSink, body: bytes) -> tuple[bool, str, str]:
    target = " ".join(sink.command)
    try:
        done = subprocess.run(
            sink.command, input=body, capture_output=True, timeout=sink.timeout_s, check=False
        )
    except FileNotFoundError:
        return False, f"command not found: {sink.command[0]}", target
    except subprocess.TimeoutExpired:
        return False, f"timed out after {sink.timeout_s:g}s", target
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return False, f"exit {done.returncode}: {tail[0][:500]}", target
    return True, "exit 0", target
