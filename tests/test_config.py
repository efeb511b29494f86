from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.config import Settings
from modelyard.errors import ConfigError


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings.resolve(environ={}, config_file=None, home=str(tmp_path))
    assert s.metadata_uri == f"sqlite:///{tmp_path}/modelyard.db"
    assert s.artifact_uri == f"file://{tmp_path}/artifacts"
    assert s.offline_uri == f"duckdb:///{tmp_path}/offline"
    assert s.online_uri == f"sqlite:///{tmp_path}/online.db"
    assert s.compute == "local"
    assert s.sources["metadata_uri"] == "default"


def test_order_argument_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "modelyard.yaml").write_text("compute: ray\nuser: from-file\nlog_level: INFO\n")
    env = {"MODELYARD_USER": "from-env", "MODELYARD_LOG_LEVEL": "DEBUG"}
    s = Settings.resolve(environ=env, log_level="ERROR")
    assert (s.log_level, s.sources["log_level"]) == ("ERROR", "argument")
    assert (s.user, s.sources["user"]) == ("from-env", "env MODELYARD_USER")
    assert (s.compute, s.sources["compute"]) == ("ray", "file modelyard.yaml")
    assert s.sources["artifact_uri"] == "default"


def test_home_from_env_moves_every_default(tmp_path: Path) -> None:
    s = Settings.resolve(environ={"MODELYARD_HOME": str(tmp_path / "h")})
    assert s.metadata_uri == f"sqlite:///{tmp_path}/h/modelyard.db"


def test_unknown_settings_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="did you mean 'metadata_uri'"):
        Settings.resolve(metadata_url="x")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "modelyard.yaml").write_text("artifact_url: s3://x\n")
    with pytest.raises(ConfigError, match="Unknown setting 'artifact_url' in .*did you mean"):
        Settings.resolve(environ={})
    (tmp_path / "modelyard.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        Settings.resolve(environ={})
    (tmp_path / "modelyard.yaml").write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="Cannot parse"):
        Settings.resolve(environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.resolve(environ={}, config_file=tmp_path / "missing.yaml")


def test_with_overrides_marks_arguments(tmp_path: Path) -> None:
    s = Settings.resolve(environ={}, home=str(tmp_path)).with_overrides(compute="ray", user=None)
    assert s.compute == "ray" and s.sources["compute"] == "argument"
    assert s.sources["user"] == "default"


def test_a_misspelled_variable_is_reported_by_doctor(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.config import misspelled_variables
    from modelyard.diagnostics import run_checks
    from modelyard.storage import Workspace

    env = {"MODELYARD_METADATA_URL": "sqlite:///x.db", "MODELYARD_TEST_POSTGRES": "postgresql://"}
    assert misspelled_variables(env) == [("MODELYARD_METADATA_URL", "MODELYARD_METADATA_URI")]
    monkeypatch.setenv("MODELYARD_METADATA_URL", "sqlite:///x.db")
    ws = Workspace()
    (check,) = [r for r in run_checks(ws) if r.name == "environment"]
    ws.close()
    assert not check.ok and "did you mean MODELYARD_METADATA_URI" in check.detail
