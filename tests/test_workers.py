"""The local worker pool: parallel results equal sequential ones, and dead workers are survived."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers_executors import (
    KillOnce,
    kill,
    outcome,
    request,
    run_search,
    sequential,
    tiny_config,
)
from helpers_store import store_fingerprint

from neronet.config import ExecutorConfig
from neronet.errors import ConfigError, DataError
from neronet.execution.base import make_executor
from neronet.execution.scheduling import Slot, SlotExecutor, WorkerStartError
from neronet.execution.workers import WorkerPoolExecutor, pool_devices

REQUESTS = [request(f"k{i}", seed=i) for i in range(3)]


@pytest.fixture(scope="module")
def reference() -> dict[str, tuple]:
    return sequential(tiny_config(), REQUESTS)


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPoolExecutor]:
    with WorkerPoolExecutor(tiny_config("executor.workers=2")) as executor:
        yield executor


def gone(pid: int) -> bool:
    """True once ``pid`` is reaped (a zombie would still accept signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_pool_devices_default_to_every_gpu_and_cycle_to_the_worker_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert pool_devices(ExecutorConfig()) == ["cpu", "cpu"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pool_devices(ExecutorConfig()) == ["cuda:0", "cuda:1"]
    assert pool_devices(ExecutorConfig(devices=["cuda:1", "cpu"], workers=3)) == [
        "cuda:1",
        "cpu",
        "cuda:1",
    ]


def test_parallel_results_equal_sequential_and_workers_are_reaped(reference: dict) -> None:
    config = tiny_config("executor.kind=workers", "executor.workers=2")
    seen: dict[str, list[int]] = {}
    pids: dict[str, int] = {}
    with make_executor(config) as executor:
        assert isinstance(executor, WorkerPoolExecutor)
        assert executor.describe() == ((1, 8, 8), 10)

        def progress(key: str, info: dict) -> None:
            seen.setdefault(key, []).append(info["epoch"])
            pids[key] = executor.running()[key]

        results = {req.key: outcome(ev) for req, ev in executor.evaluate(REQUESTS, progress)}
        assert executor.stats.tasks == 3 and executor.stats.restarts == 0
    assert results == reference
    assert seen == {key: [1, 2, 3] for key in reference}  # every epoch reported, per request
    assert len(set(pids.values())) == 2  # both workers evaluated, in parallel
    assert all(gone(pid) for pid in pids.values())  # close() reaped them: no zombies


def test_killed_worker_is_restarted_and_its_request_requeued(
    pool: WorkerPoolExecutor, reference: dict
) -> None:
    restarts = pool.stats.restarts
    killer = KillOnce(pool, on_progress=True)
    results = {req.key: outcome(ev) for req, ev in killer.evaluate(REQUESTS)}
    assert killer.killed in reference
    assert pool.stats.restarts == restarts + 1
    assert results == reference  # the re-queued request trained from scratch, identically


def test_worker_dying_twice_marks_the_individual_invalid(
    pool: WorkerPoolExecutor, reference: dict
) -> None:
    restarts = pool.stats.restarts

    def kill_doomed(key: str, info: dict) -> None:
        if key == "k1":
            kill(pool.running()[key])

    results = {req.key: ev for req, ev in pool.evaluate(REQUESTS, kill_doomed)}
    doomed = results.pop("k1")
    assert doomed.status == "invalid"
    assert doomed.reason == "worker died 2 times while evaluating it (exit code -9, SIGKILL)"
    assert {key: outcome(ev) for key, ev in results.items()} == {
        key: value for key, value in reference.items() if key != "k1"
    }
    assert pool.stats.restarts == restarts + 2


def test_an_error_inside_an_evaluation_propagates_and_the_worker_stays(
    pool: WorkerPoolExecutor, reference: dict
) -> None:
    bad = request("bad", seed=0)
    bad = type(bad)(**{**bad.__dict__, "learning": type(bad.learning)(optimizer="nope")})
    with pytest.raises(ConfigError, match="nope") as info:
        list(pool.evaluate([bad]))
    assert any("raised in the worker on cpu" in note for note in info.value.__notes__)
    assert {req.key: outcome(ev) for req, ev in pool.evaluate(REQUESTS[:1])} == {
        "k0": reference["k0"]
    }


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ("[nodevice]", "executor.devices: unknown device 'nodevice'; use cpu or cuda:N"),
        ("[cuda:64]", "executor.devices: 'cuda:64' asked for but this machine has"),
    ],
)
def test_bad_devices_are_refused_before_any_worker_starts(devices: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerPoolExecutor(tiny_config(f"executor.devices={devices}"))


def test_a_data_error_in_a_starting_worker_reaches_the_user_as_is(tmp_path: Path) -> None:
    config = tiny_config("executor.workers=1", "data.dataset=cifar10", f"data.cache_dir={tmp_path}")
    with pytest.raises(DataError) as info:
        WorkerPoolExecutor(config)
    assert "\n" not in str(info.value)


def test_other_start_failures_become_one_line_worker_start_errors() -> None:
    error = SlotExecutor._failed(Slot("cuda:1"), RuntimeError("CUDA error: no kernel\nmore"), "")
    assert isinstance(error, WorkerStartError)
    assert str(error).startswith("worker on cuda:1 failed to start (RuntimeError: CUDA error")


def test_search_survives_a_killed_worker_with_the_sequential_store(
    pool: WorkerPoolExecutor, tmp_path: Path
) -> None:
    restarts = pool.stats.restarts
    run_search(tmp_path / "local")
    killer = KillOnce(pool, on_progress=True)
    run_search(tmp_path / "workers", killer)
    assert killer.killed is not None and pool.stats.restarts == restarts + 1
    assert store_fingerprint(tmp_path / "workers") == store_fingerprint(tmp_path / "local")


def test_the_local_executors_never_import_ray() -> None:
    code = (
        "import sys, neronet.cli, neronet.execution.local, neronet.execution.workers; "
        "from neronet.execution import EXECUTORS; "
        "assert 'ray' in EXECUTORS.names() and 'ray' not in sys.modules"
    )
    root = str(Path(__file__).resolve().parent.parent)
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": root})


def test_a_closed_pool_refuses_work_instead_of_waiting_forever() -> None:
    executor = WorkerPoolExecutor(tiny_config("executor.workers=1"))
    executor.close()
    with pytest.raises(RuntimeError, match="closed executor"):
        next(executor.evaluate([request("k", 0)]))
    assert list(executor.evaluate([])) == []
