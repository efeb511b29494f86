"""The feature store: point-in-time training sets, an online store with TTL enforced on read,
push and streaming ingestion, training-serving parity checks.

    from modelyard.features import FeatureStore
    fs = FeatureStore()                      # the default workspace's stores
    fs.apply("features.yaml")                # or Python objects: Entity, FeatureView, ...
    train = fs.get_historical_features(labels, "fraud_features", timestamp_column="event_ts")
    fs.materialize_incremental()
    fs.get_online_features("fraud_features", [{"customer_id": "c000042"}]).to_dict()
"""

from modelyard.features.definitions import (
    Aggregation,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    Source,
    StreamSource,
    format_duration,
    parse_duration,
)
from modelyard.features.loader import load_definitions, parse_definitions
from modelyard.features.online import OnlineFeatures
from modelyard.features.parity import ParityMismatch, ParityReport
from modelyard.features.registry import AppliedDefinition
from modelyard.features.resolve import Resolved, ResolvedView, entity_key
from modelyard.features.store import FeatureStore
from modelyard.features.streaming import StreamProcessor, StreamStats
from modelyard.features.training import TrainingSet

__all__ = [
    "Aggregation",
    "AppliedDefinition",
    "Entity",
    "Feature",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "OnlineFeatures",
    "ParityMismatch",
    "ParityReport",
    "Resolved",
    "ResolvedView",
    "Source",
    "StreamProcessor",
    "StreamSource",
    "StreamStats",
    "TrainingSet",
    "entity_key",
    "format_duration",
    "load_definitions",
    "parse_definitions",
    "parse_duration",
]
