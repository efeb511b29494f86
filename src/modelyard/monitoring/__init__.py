"""Monitoring and continuous training: feedback, performance, drift, alerts, retraining.

    from modelyard.monitoring import apply_monitors, record_feedback, run_due
    apply_monitors(workspace, "monitors/fraud.yaml")
    record_feedback(workspace, [{"prediction_id": "p-1", "label": 1}])
    for outcome in run_due(workspace):
        print(outcome.monitor, outcome.check.status, [c.alert.rule for c in outcome.opened])

A monitor watches the version an alias points at (``models:/fraud@production``) through the
prediction log the model server writes: drift of its inputs against the reference profile
stored at registration, quality on the predictions that received a true label, latency and
errors. Rules turn values into alerts (deduplicated while they hold, resolved when they clear,
sent to log / webhook / command sinks), and a retrain policy closes the loop. See
docs/monitoring.md.
"""

from modelyard.monitoring.checks import CheckOutcome, run_due, run_monitor
from modelyard.monitoring.feedback import FeedbackResult, record_feedback, record_feedback_file
from modelyard.monitoring.monitors import (
    AppliedMonitor,
    Monitor,
    apply_monitors,
    delete_monitor,
    get_monitor,
    list_monitors,
    load_monitor_specs,
    redacted,
)
from modelyard.monitoring.performance import (
    PerformanceResult,
    ServiceResult,
    performance,
    service_health,
)
from modelyard.monitoring.retrain import retrain
from modelyard.monitoring.spec import METRICS, MonitorSpec, RuleSpec, default_rules
from modelyard.monitoring.window import Window, labelled, read_feedback, read_window

__all__ = [
    "METRICS",
    "AppliedMonitor",
    "CheckOutcome",
    "FeedbackResult",
    "Monitor",
    "MonitorSpec",
    "PerformanceResult",
    "RuleSpec",
    "ServiceResult",
    "Window",
    "apply_monitors",
    "default_rules",
    "delete_monitor",
    "get_monitor",
    "labelled",
    "list_monitors",
    "load_monitor_specs",
    "performance",
    "read_feedback",
    "read_window",
    "record_feedback",
    "record_feedback_file",
    "redacted",
    "retrain",
    "run_due",
    "run_monitor",
    "service_health",
]
