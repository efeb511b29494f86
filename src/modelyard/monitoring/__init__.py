"""Monitoring and continuous training: reference profiles, drift, feedback, performance,
alerts, retraining.

    from modelyard.monitoring import apply_monitors, record_feedback, run_due
    apply_monitors(workspace, "monitors/fraud.yaml")
    record_feedback(workspace, [{"prediction_id": "p-1", "label": 1}])
    for outcome in run_due(workspace):
        print(outcome.monitor, outcome.check.status, [c.alert.rule for c in outcome.opened])

Drift on its own:

    save_profile(ws, "fraud", 3, build_profile(X_train, predictions=proba, prediction_column="proba"))
    report = detect_drift(load_profile(ws, "fraud", 3), window)   # window: DataFrame / Arrow
    report.dataset_drift, report.drifted_features, report.to_dict()

A monitor watches the version an alias points at (``models:/fraud@production``) through the
prediction log the model server writes: drift of its inputs against the reference profile
stored at registration, quality on the predictions that received a true label, latency and
errors. Rules turn values into alerts (deduplicated while they hold, resolved when they clear,
sent to log / webhook / command sinks), and a retrain policy closes the loop. See
docs/monitoring.md.
"""

from modelyard.entities.drift import (
    DriftCheck,
    DriftReport,
    FeatureDrift,
    FeatureProfile,
    Profile,
)
from modelyard.monitoring.checks import CheckOutcome, run_due, run_monitor
from modelyard.monitoring.detectors import (
    ChiSquaredDetector,
    Detector,
    JensenShannonDetector,
    KSDetector,
    PSIDetector,
    WassersteinDetector,
)
from modelyard.monitoring.drift import (
    CATEGORICAL_METHODS,
    CORRECTIONS,
    NUMERIC_METHODS,
    adjust_p_values,
    checks_of,
    detect_drift,
)
from modelyard.monitoring.feedback import FeedbackResult, record_feedback, record_feedback_file
from modelyard.monitoring.monitors import (
    AppliedMonitor,
    Monitor,
    MonitorHistory,
    MonitorStatus,
    apply_monitors,
    delete_monitor,
    get_monitor,
    list_alerts,
    list_monitors,
    load_monitor_specs,
    monitor_history,
    monitor_statuses,
    redacted,
)
from modelyard.monitoring.performance import (
    PerformanceResult,
    ServiceResult,
    performance,
    service_health,
)
from modelyard.monitoring.profile import BINS, MAX_CATEGORIES, SKETCH_SIZE, build_profile
from modelyard.monitoring.report import render_report
from modelyard.monitoring.reporting import monitor_report, write_monitor_report
from modelyard.monitoring.retrain import retrain
from modelyard.monitoring.spec import METRICS, MonitorSpec, RuleSpec, default_rules
from modelyard.monitoring.store import PROFILE_TAG, load_profile, profile_location, save_profile
from modelyard.monitoring.window import (
    Window,
    labelled,
    read_feedback,
    read_shadow,
    read_window,
)

__all__ = [
    "monitor_statuses",
    "monitor_history",
    "list_alerts",
    "MonitorStatus",
    "MonitorHistory",
    "BINS",
    "CATEGORICAL_METHODS",
    "CORRECTIONS",
    "MAX_CATEGORIES",
    "METRICS",
    "NUMERIC_METHODS",
    "PROFILE_TAG",
    "SKETCH_SIZE",
    "AppliedMonitor",
    "CheckOutcome",
    "ChiSquaredDetector",
    "Detector",
    "DriftCheck",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "FeedbackResult",
    "JensenShannonDetector",
    "KSDetector",
    "Monitor",
    "MonitorSpec",
    "PSIDetector",
    "PerformanceResult",
    "Profile",
    "RuleSpec",
    "ServiceResult",
    "WassersteinDetector",
    "Window",
    "adjust_p_values",
    "apply_monitors",
    "build_profile",
    "checks_of",
    "default_rules",
    "delete_monitor",
    "detect_drift",
    "get_monitor",
    "labelled",
    "list_monitors",
    "load_monitor_specs",
    "load_profile",
    "monitor_report",
    "performance",
    "profile_location",
    "read_feedback",
    "read_shadow",
    "read_window",
    "record_feedback",
    "record_feedback_file",
    "redacted",
    "render_report",
    "retrain",
    "run_due",
    "run_monitor",
    "save_profile",
    "service_health",
    "write_monitor_report",
]
