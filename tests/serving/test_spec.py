"""Deployments files: every problem reported with its path (and line), before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.errors import NotFoundError, SpecError
from modelyard.serving import load_deployments, single_deployment

BAD = """\
server:
  max_body_bytes: 10
  modles: {max_models: 2}
deployments:
  fraud:
    variants:
      - {name: a, model: "models:/fraud@production", weight: 1}
      - {name: a, model: "models:/fraud@challenger"}
  ranker:
    model: "runs:/nope"
    batching: {max_batch_sise: 8, max_latency_ms: -1}
    cache: {backend: memcached}
  "bad name":
    model: "models:/x/1"
    model_uri: "models:/x/2"
"""


def test_every_problem_is_reported_with_its_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "deployments.yaml"
    path.write_text(BAD)
    with pytest.raises(SpecError) as info:
        load_deployments(path)
    text = str(info.value)
    for expected in (
        "server.max_body_bytes (line 2): Input should be greater than or equal to 1024",
        "server.modles (line 3): unknown key; did you mean 'models'?",
        "deployments.fraud (line 5): variant name 'a' is used twice",
        "deployments.ranker.model (line 10): Invalid run URI 'runs:/nope'",
        "deployments.ranker.batching.max_batch_sise (line 11): unknown key; did you mean "
        "'max_batch_size'?",
        "deployments.ranker.batching.max_latency_ms (line 11): Input should be greater than or "
        "equal to 0",
        "deployments.ranker.cache.backend (line 12): Input should be 'memory' or 'redis'",
        "deployments.bad name.model_uri (line 15): unknown key",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_other_mistakes(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="give exactly one of 'model'"):
        load_deployments({"deployments": {"f": {}}})
    with pytest.raises(SpecError, match="at least one variant needs a weight"):
        load_deployments(
            {
                "deployments": {
                    "f": {"variants": [{"name": "a", "model": "models:/f/1", "weight": 0}]}
                }
            }
        )
    with pytest.raises(SpecError, match="deployment name 'a/b'"):
        load_deployments({"deployments": {"a/b": {"model": "models:/f/1"}}})
    with pytest.raises(SpecError, match="deployments: .*at least 1 item"):
        load_deployments({"deployments": {}})
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="must hold a mapping"):
        load_deployments(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("deployments: {a: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_deployments(tmp_path / "broken.yaml")
    with pytest.raises(NotFoundError, match="does not exist"):
        load_deployments(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="not a registered model"):
        single_deployment("/some/dir")
    spec = single_deployment("models:/fraud@production", batching={"max_batch_size": 8})
    assert spec.deployments["fraud"].batching.max_batch_size == 8
    assert spec.deployments["fraud"].preload is True


def test_cli_reports_a_bad_file_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "deployments.yaml"
    path.write_text(BAD)
    result = CliRunner().invoke(
        cli, ["--home", str(tmp_path / "h"), "serve", "--config", str(path)]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, SpecError)
    both = CliRunner().invoke(
        cli, ["serve", "models:/fraud@production", "--config", str(path)], standalone_mode=False
    )
    assert "not both" in str(both.exception)
    flags = CliRunner().invoke(cli, ["serve", "--config", str(path), "--max-batch-size", "4"])
    assert "--max-batch-size apply to a single model" in str(flags.exception)


def test_the_command_exits_with_the_error_code(tmp_path: Path) -> None:
    from modelyard.cli.main import main

    path = tmp_path / "deployments.yaml"
    path.write_text(BAD)
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path / "h"), "serve", "--config", str(path)])
    assert info.value.code == 2


def test_rate_limits_key_by_ip_unless_a_proxy_header_is_configured(tmp_path: Path) -> None:
    limit = {"requests_per_s": 5}
    spec = load_deployments({"deployments": {"a": {"model": "models:/m/1", "rate_limit": limit}}})
    assert spec.deployments["a"].rate_limit.client_header is None  # type: ignore[union-attr]
    alone = CliRunner().invoke(
        cli, ["--home", str(tmp_path / "h"), "serve", "models:/m/1", "--rate-limit-header", "X-C"]
    )
    assert "--rate-limit-header names the client for --rate-limit" in str(alone.exception)
    one = single_deployment("models:/m/1", rate_limit={**limit, "client_header": "X-Client-Id"})
    assert one.deployments["m"].rate_limit.client_header == "X-Client-Id"  # type: ignore[union-attr]
