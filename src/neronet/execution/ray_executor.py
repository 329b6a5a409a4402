"""Ray executor: the same long-lived workers, as Ray actors on one or many machines.

Each actor reserves ``executor.num_gpus`` GPUs (fractions allowed, so small
networks can share a GPU) and ``executor.num_cpus`` CPUs, builds its
evaluation context once, either from ``data.path`` / ``data.cache_dir`` (which
must then be readable on every node) or from a copy of the splits the search
process put into Ray's object store (``executor.ship_data``), and evaluates the
requests it is sent. Only small requests and results travel per task; the
search process alone writes the run store.

An actor that dies (its node lost, OOM-killed, ``kill -9``) is replaced by a new
one and its request re-queued, like a worker process of
:mod:`neronet.execution.workers`. Per-epoch progress is not forwarded (an
actor cannot push messages to the driver without an extra queue actor per
epoch); the search still reports each individual as it completes.

Ray is an optional extra (``pip install 'neronet-evo[ray]'``) imported only here.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from neronet.config import ExecutorConfig, NeroConfig
from neronet.data import DataSplits
from neronet.errors import ConfigError, StudyError
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EXECUTORS, EvalRequest
from neronet.execution.scheduling import (
    Died,
    Done,
    Event,
    Slot,
    SlotExecutor,
    context_shape,
    timed_run,
    worker_context,
)
from neronet.execution.worker import EvaluationContext, load_splits

MAX_REASON = 200


def _import_ray() -> ModuleType:
    try:
        return importlib.import_module("ray")
    except ModuleNotFoundError:
        raise ConfigError(
            "executor 'ray' needs Ray: pip install 'neronet-evo[ray]' or use executor.kind=workers"
        ) from None


class EvaluationActor:
    """The body of one Ray actor: one evaluation context, one evaluation at a time."""

    def __init__(self) -> None:
        self._context: EvaluationContext | None = None

    def start(
        self,
        config_data: dict[str, Any],
        device: str,
        threads: int,
        splits: DataSplits | None,
    ) -> tuple[int, tuple[tuple[int, int, int], int]]:
        """Load the data onto ``device``; errors surface in the search process as raised."""
        self._context = worker_context(config_data, device, threads, splits)
        return os.getpid(), context_shape(self._context)

    def evaluate(self, request: EvalRequest) -> tuple[Evaluation, float]:
        assert self._context is not None, "evaluate() before start()"
        return timed_run(self._context, request)


def actor_count(cfg: ExecutorConfig, resources: dict[str, float], num_gpus: float) -> int:
    """``executor.workers``, else as many actors as the cluster's GPUs (or CPUs) hold."""
    if cfg.workers:
        return cfg.workers
    total, each = (
        (resources.get("GPU", 0.0), num_gpus)
        if num_gpus
        else (
            resources.get("CPU", 1.0),
            cfg.num_cpus,
        )
    )
    return max(1, math.floor(total / each + 1e-6))


@dataclass(eq=False)
class _ActorSlot(Slot):
    handle: Any = None
    call: Any = None  # the ObjectRef of the start() or evaluate() call in flight


@EXECUTORS.register("ray")
class RayExecutor(SlotExecutor):
    """Evaluates batches on Ray actors, on the cluster at ``executor.address`` or a local one."""

    def __init__(self, config: NeroConfig) -> None:
        cfg = config.executor
        super().__init__(cfg.max_retries)
        self._ray = _import_ray()
        self._owns_ray = not self._ray.is_initialized()
        if self._owns_ray:
            # a new local cluster needs no dashboard; an existing one keeps its own settings
            options = {"address": cfg.address} if cfg.address else {"include_dashboard": False}
            self._ray.init(**options)
        try:
            resources = self._ray.cluster_resources()
            # a cluster without GPUs runs CPU actors rather than waiting forever for a GPU
            gpus = cfg.num_gpus if resources.get("GPU", 0.0) >= cfg.num_gpus else 0.0
            self._actor = self._ray.remote(EvaluationActor).options(
                num_cpus=cfg.num_cpus, num_gpus=gpus
            )
            self._device = "cuda" if gpus else "cpu"
            self.threads = cfg.threads or max(1, math.floor(cfg.num_cpus))
            self._config_data = config.model_dump(mode="json")
            self._splits = self._ray.put(load_splits(config)) if cfg.ship_data else None
            count = actor_count(cfg, resources, gpus)
            self._launch([_ActorSlot(f"ray actor {i}") for i in range(count)])
        except BaseException:
            self.close()
            raise

    @classmethod
    def lanes(cls, executor: ExecutorConfig, parallel: int) -> list[dict[str, Any]]:
        """Refused: one Ray pool already spreads a run over the cluster."""
        raise StudyError(
            f"--parallel {parallel} gives each run an executor of its own, but a Ray "
            "executor is one pool for the whole cluster; pass --parallel 1 (Ray already "
            "spreads each run's candidates over the cluster) or use executor.kind=workers"
        )

    # ----------------------------------------------------------- backend hooks
    def _start(self, slot: Slot) -> None:
        assert isinstance(slot, _ActorSlot)
        self._kill(slot)
        slot.handle = self._actor.remote()
        slot.call = slot.handle.start.remote(
            self._config_data, self._device, self.threads, self._splits
        )

    def _submit(self, slot: Slot, request: EvalRequest) -> None:
        assert isinstance(slot, _ActorSlot)
        slot.call = slot.handle.evaluate.remote(request)

    def _wait(self) -> list[Event]:
        calls = {slot.call: slot for slot in self._slots if isinstance(slot, _ActorSlot)}
        calls.pop(None, None)
        done, _ = self._ray.wait(list(calls), num_returns=1)
        events: list[Event] = []
        for ref in done:
            slot = calls[ref]
            slot.call = None
            try:
                value = self._ray.get(ref)
            except self._ray.exceptions.RayActorError as err:
                first = str(err).strip().splitlines()[0][:MAX_REASON]
                events.append(Died(slot, f"{slot.label}: {first}"))
                continue
            except self._ray.exceptions.RayTaskError as err:
                raise self._failed(slot, err.cause, str(err)) from None
            if slot.ready:
                events.append(Done(slot, *value))
            else:
                self._ready(slot, *value)
        return events

    # ----------------------------------------------------------------- helpers
    def _kill(self, slot: _ActorSlot) -> None:
        if slot.handle is not None:
            with contextlib.suppress(Exception):  # already dead is fine
                self._ray.kill(slot.handle)
            slot.handle = None

    def close(self) -> None:
        """Kill the actors; shut Ray down if this executor started it."""
        for slot in self._slots:
            if isinstance(slot, _ActorSlot):
                self._kill(slot)
        self._slots = []
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_ray = False
