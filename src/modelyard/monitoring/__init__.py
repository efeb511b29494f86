"""Monitoring: reference profiles, drift detection and drift reports.

from modelyard.monitoring import build_profile, save_profile, load_profile, detect_drift

save_profile(ws, "fraud", 3, build_profile(X_train, predictions=proba, prediction_column="proba"))
report = detect_drift(load_profile(ws, "fraud", 3), window)   # window: DataFrame / Arrow
report.dataset_drift, report.drifted_features, report.to_dict()
html = render_report(title="fraud v3", drift=report, profile=profile, current=window)
"""

from modelyard.entities.drift import (
    DriftCheck,
    DriftReport,
    FeatureDrift,
    FeatureProfile,
    Profile,
)
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
from modelyard.monitoring.profile import BINS, MAX_CATEGORIES, SKETCH_SIZE, build_profile
from modelyard.monitoring.report import render_report
from modelyard.monitoring.store import PROFILE_TAG, load_profile, profile_location, save_profile

__all__ = [
    "BINS",
    "CATEGORICAL_METHODS",
    "CORRECTIONS",
    "MAX_CATEGORIES",
    "NUMERIC_METHODS",
    "PROFILE_TAG",
    "SKETCH_SIZE",
    "ChiSquaredDetector",
    "Detector",
    "DriftCheck",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "JensenShannonDetector",
    "KSDetector",
    "PSIDetector",
    "Profile",
    "WassersteinDetector",
    "adjust_p_values",
    "build_profile",
    "checks_of",
    "detect_drift",
    "load_profile",
    "profile_location",
    "render_report",
    "save_profile",
]
