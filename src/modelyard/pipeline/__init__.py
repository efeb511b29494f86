"""Declarative training pipelines: one YAML spec from data to a registered, promoted model.

    from modelyard.pipeline import run
    result = run("examples/fraud/pipeline.yaml")
    print(result.metrics, result.model_version)

Steps: ingest, validate, split, transform, tune, train, evaluate, register. Every run is a
tracking run; unchanged steps are reused from the step cache. See docs/pipelines.md.
"""

from modelyard.pipeline.context import STEPS, Reporter, StepOutcome
from modelyard.pipeline.feature_data import FEATURE_SERVICE_TAG, JOIN_KEYS_TAG, FeatureInputs
from modelyard.pipeline.loading import LoadedSpec, check_references, load_spec
from modelyard.pipeline.runner import PIPELINE_TAG, PipelineResult, list_runs, run
from modelyard.pipeline.sources import register_data_loader
from modelyard.pipeline.spec import PipelineSpec

__all__ = [
    "FEATURE_SERVICE_TAG",
    "JOIN_KEYS_TAG",
    "PIPELINE_TAG",
    "STEPS",
    "LoadedSpec",
    "PipelineResult",
    "FeatureInputs",
    "PipelineSpec",
    "Reporter",
    "StepOutcome",
    "check_references",
    "list_runs",
    "load_spec",
    "register_data_loader",
    "run",
]
