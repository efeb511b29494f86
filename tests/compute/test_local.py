"""The local compute backend: real worker processes."""

from __future__ import annotations

import os
import time

import pytest

from modelyard.compute import LocalBackend, TaskFailedError, get_backend, known_backends
from modelyard.errors import ConfigError, InvalidArgumentError, UnknownSchemeError
from tests.compute.tasks import exit_hard, fail_on, sleep_then, square_with_pid


def test_results_come_back_in_order_from_other_processes() -> None:
    results = LocalBackend(2).map(square_with_pid, [1, 2, 3, 4])
    assert [r for r, _ in results] == [1, 4, 9, 16]
    assert os.getpid() not in {pid for _, pid in results}


def test_tasks_run_in_parallel() -> None:
    backend = LocalBackend(2)
    start = time.perf_counter()
    group = backend.start(sleep_then, [1.5, 1.5])
    assert not group.wait(0.1)  # returns at once, still running
    assert group.results() == [1.5, 1.5]
    # both slept at the same time: well under the 3 s they would take one after the other
    assert time.perf_counter() - start < 2.9


def test_a_task_error_is_raised_with_its_type() -> None:
    with pytest.raises(ValueError, match="bad input 2"):
        LocalBackend(2).map(fail_on, [1, 2, 3])


def test_a_dead_worker_is_reported() -> None:
    with pytest.raises(TaskFailedError, match="exited with code 3"):
        LocalBackend(1).map(exit_hard, [0])


def test_functions_must_be_importable() -> None:
    def local(x: int) -> int:
        return x

    with pytest.raises(InvalidArgumentError, match="top level of an importable module"):
        LocalBackend(1).start(local, [1])


def test_cancel_stops_running_tasks() -> None:
    group = LocalBackend(1).start(sleep_then, [30.0, 30.0])
    time.sleep(0.5)
    start = time.perf_counter()
    group.cancel()
    assert time.perf_counter() - start < 10


def test_backends_by_setting() -> None:
    assert get_backend("local").parallelism == (os.cpu_count() or 1)
    assert get_backend("local:3").parallelism == 3
    with pytest.raises(ConfigError, match="local:N"):
        get_backend("local:many")
    with pytest.raises(UnknownSchemeError, match=r"Known: local") as err:
        get_backend("ray://head:10001")
    assert err.value.details["known"] == known_backends()


def test_doctor_checks_the_compute_setting(tmp_path: object) -> None:
    from modelyard.config import Settings
    from modelyard.diagnostics import run_checks
    from modelyard.storage import Workspace

    good = {
        r.name: r
        for r in run_checks(Workspace(Settings.resolve(home=str(tmp_path), compute="local:2")))
    }
    assert good["compute backend"].ok and "2 task(s)" in good["compute backend"].detail
    bad = {
        r.name: r
        for r in run_checks(Workspace(Settings.resolve(home=str(tmp_path), compute="lokal")))
    }
    assert not bad["compute backend"].ok and "did you mean 'local'" in bad["compute backend"].detail
