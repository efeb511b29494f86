"""Model serving: real-time (HTTP, micro-batched, A/B + shadow, cache, protection, prediction
log, following the registry) and batch inference.

    from modelyard.serving import ModelServer, load_deployments
    server = ModelServer(load_deployments("deployments.yaml"))   # the HTTP app: modelyard.server

    from modelyard.serving import predict_file
    predict_file("models:/fraud@production", "in.parquet", "out.parquet", workers=4)

See docs/serving.md.
"""

from modelyard.serving.accesslog import AccessLog
from modelyard.serving.batch import BatchResult, predict_file
from modelyard.serving.models import ModelFailedError
from modelyard.serving.server import Deployment, ModelServer, Reply, Variant
from modelyard.serving.spec import (
    BatchingSpec,
    CacheSpec,
    CircuitBreakerSpec,
    DeploymentSpec,
    DeploymentsSpec,
    PoolSpec,
    PredictionLogSpec,
    RateLimitSpec,
    ServerSpec,
    ShadowSpec,
    VariantSpec,
    load_deployments,
    single_deployment,
)

__all__ = [
    "AccessLog",
    "BatchResult",
    "BatchingSpec",
    "CacheSpec",
    "CircuitBreakerSpec",
    "Deployment",
    "DeploymentSpec",
    "DeploymentsSpec",
    "ModelFailedError",
    "ModelServer",
    "PoolSpec",
    "PredictionLogSpec",
    "RateLimitSpec",
    "Reply",
    "ServerSpec",
    "ShadowSpec",
    "Variant",
    "VariantSpec",
    "load_deployments",
    "predict_file",
    "single_deployment",
]
