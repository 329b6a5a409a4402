"""The Ray executor on a local two-CPU Ray cluster it starts itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from helpers_executors import (
    KillOnce,
    assert_runs_a_trivial_evaluation,
    outcome,
    request,
    run_search,
    sequential,
    tiny_config,
)
from helpers_store import store_fingerprint

from neronet.config import ExecutorConfig
from neronet.execution.base import make_executor
from neronet.execution.ray_executor import RayExecutor, actor_count


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayExecutor]:
    """Two actors sharing the splits through the object store; Ray shut down afterwards."""
    config = tiny_config(
        "executor.kind=ray",
        "executor.workers=2",
        "executor.num_cpus=0.5",
        "executor.ship_data=true",
    )
    assert not ray.is_initialized()
    executor = make_executor(config)
    assert isinstance(executor, RayExecutor) and ray.is_initialized()
    yield executor
    executor.close()
    assert not ray.is_initialized()  # it started Ray, so it stopped it


def test_actor_count_fills_the_cluster() -> None:
    cpu = ExecutorConfig(num_cpus=0.5)
    assert actor_count(cpu, {"CPU": 2.0}, num_gpus=0.0) == 4
    assert actor_count(ExecutorConfig(), {"CPU": 8.0, "GPU": 1.0}, num_gpus=0.3) == 3
    assert actor_count(ExecutorConfig(workers=5), {"CPU": 1.0}, num_gpus=0.0) == 5


def test_the_ray_executor_keeps_the_executor_contract(cluster: RayExecutor) -> None:
    """``test_registry_contracts.py``'s executor contract, on this module's cluster."""
    assert_runs_a_trivial_evaluation(cluster, tiny_config())


def test_search_on_ray_gives_the_local_store(cluster: RayExecutor, tmp_path: Path) -> None:
    run_search(tmp_path / "local")
    run_search(tmp_path / "ray", cluster)
    assert cluster.stats.tasks > 0
    assert store_fingerprint(tmp_path / "ray") == store_fingerprint(tmp_path / "local")


def test_a_killed_actor_is_replaced_and_its_request_requeued(cluster: RayExecutor) -> None:
    # when the first result comes back the other actor is still training (the slow one,
    # more steps per epoch, on an idle machine; a loaded one may finish it first): that
    # one is killed, whichever it is
    requests = [request("slow", seed=5, batch_size=8), request("k0", 0), request("k1", 1)]
    restarts = cluster.stats.restarts
    killer = KillOnce(cluster, on_progress=False)
    results = {req.key: outcome(ev) for req, ev in killer.evaluate(requests)}
    assert killer.killed in {"slow", "k0"}
    assert cluster.stats.restarts == restarts + 1
    assert results == sequential(tiny_config(), requests)
