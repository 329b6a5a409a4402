"""Local multi-device executor: one long-lived worker process per device.

Each worker is started once per run with the ``spawn`` method (forking a
process that has initialised torch or CUDA is unsafe), loads the dataset
splits onto its device, then evaluates whatever requests it is sent over its
pipe: requests and results are small (a spec, a seed, the trained weights), the
data never travels. The search process alone writes the run store.

A worker that dies (segfault, OOM-killer, ``kill -9``) is noticed through its
process sentinel, replaced by a fresh process on the same device and its
request re-queued (see :class:`~neronet.execution.scheduling.SlotExecutor`).
Per-epoch progress is forwarded to the caller's ``progress`` callback: one
small message per epoch costs nothing next to the epoch itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import torch

from neronet.config import ExecutorConfig, NeroConfig
from neronet.errors import ConfigError, StudyError
from neronet.execution.base import EXECUTORS, EvalRequest
from neronet.execution.mps import MpsDaemon
from neronet.execution.scheduling import (
    Died,
    Done,
    Event,
    Progress,
    Slot,
    SlotExecutor,
    context_shape,
    cpu_threads,
    timed_run,
    worker_context,
)

CPU_WORKERS = 2
"""Worker processes on a machine without CUDA when neither devices nor workers is set."""

REAP_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0


def pool_devices(cfg: ExecutorConfig) -> list[str]:
    """The device of each worker: ``devices`` (or every CUDA GPU, or the CPU) cycled to
    ``workers``, or each taken ``workers_per_device`` times.

    Without a GPU the default is :data:`CPU_WORKERS` CPU workers sharing the cores.
    Devices are checked here, before any process starts, so a typo fails at once.
    """
    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    for name in cfg.devices:
        _check_device(name, len(gpus))
    base = cfg.devices or gpus or ["cpu"]
    if cfg.workers_per_device is not None:
        return [name for name in base for _ in range(cfg.workers_per_device)]
    count = cfg.workers or (len(base) if cfg.devices or gpus else CPU_WORKERS)
    return [base[i % len(base)] for i in range(count)]


def _check_device(name: str, gpus: int) -> None:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"executor.devices: unknown device '{name}'; use cpu or cuda:N") from None
    if device.type == "cuda" and (device.index or 0) >= gpus:
        raise ConfigError(
            f"executor.devices: '{name}' asked for but this machine has {gpus} CUDA GPU(s); "
            "use cpu or an existing cuda:N"
        )
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"executor.devices: '{name}' is not supported; use cpu or cuda:N")


@dataclass(eq=False)
class _ProcessSlot(Slot):
    process: BaseProcess | None = None
    conn: Connection | None = None


@EXECUTORS.register("workers")
class WorkerPoolExecutor(SlotExecutor):
    """Evaluates a batch in parallel, one spawned process per entry of :func:`pool_devices`."""

    def __init__(self, config: NeroConfig) -> None:
        super().__init__(config.executor.max_retries)
        self._mp = multiprocessing.get_context("spawn")
        self._config_data = config.model_dump(mode="json")
        devices = pool_devices(config.executor)
        self.threads = config.executor.threads or cpu_threads(len(devices))
        self._mps: MpsDaemon | None = None
        try:
            if config.executor.mps:
                if not all(device.startswith("cuda") for device in devices):
                    raise ConfigError(
                        "executor.mps shares GPUs; its workers are on "
                        f"{', '.join(sorted(set(devices)))}: set executor.mps=false"
                    )
                self._mps = MpsDaemon()
            self._launch([_ProcessSlot(device) for device in devices])
        except BaseException:
            self.close()
            raise

    @classmethod
    def lanes(cls, executor: ExecutorConfig, parallel: int) -> list[dict[str, Any]]:
        """The pool shared out in contiguous slices (a GPU's workers stay together, under
        one memory guard, when ``parallel`` divides the devices evenly), at the pool's
        thread count; ``parallel`` may not exceed the pool."""
        pool = pool_devices(executor)
        if parallel > len(pool):
            raise StudyError(
                f"--parallel {parallel}: the executor has {len(pool)} worker(s) to share out "
                f"among the runs; pass --parallel {len(pool)} or fewer, or raise executor.workers"
            )
        threads = executor.threads or cpu_threads(len(pool))
        data = executor.model_dump(mode="json")
        return [
            {
                **data,
                "devices": [str(d) for d in share],
                "workers": len(share),
                "workers_per_device": None,
                "threads": threads,
            }
            for share in np.array_split(np.array(pool), parallel)
        ]

    # ----------------------------------------------------------- backend hooks
    def _start(self, slot: Slot) -> None:
        assert isinstance(slot, _ProcessSlot)
        parent, child = self._mp.Pipe()
        process = self._mp.Process(
            target=_worker_main,
            args=(child, self._config_data, slot.label, self.threads),
            name=f"neronet-worker-{slot.label}",
            daemon=True,
        )
        with self._mps.spawning() if self._mps else contextlib.nullcontext():
            process.start()
        child.close()  # only the worker holds that end: its death makes our end read EOF
        slot.process, slot.conn = process, parent

    def _submit(self, slot: Slot, request: EvalRequest) -> None:
        assert isinstance(slot, _ProcessSlot) and slot.conn is not None
        # if the worker is gone, its sentinel reports the death and the task is re-queued
        _send_quietly(slot.conn, request)

    def _wait(self) -> list[Event]:
        owners: dict[Any, _ProcessSlot] = {}
        for slot in self._slots:
            assert isinstance(slot, _ProcessSlot) and slot.process and slot.conn
            owners[slot.conn] = owners[slot.process.sentinel] = slot
        ready = wait(list(owners))
        events: list[Event] = []
        for slot in dict.fromkeys(owners[obj] for obj in ready):
            events += self._drain(slot)
        return events

    # ----------------------------------------------------------------- helpers
    def _drain(self, slot: _ProcessSlot) -> list[Event]:
        """Every message ``slot`` has sent, then a :class:`Died` if its process is gone."""
        assert slot.conn is not None and slot.process is not None
        events: list[Event] = []
        try:
            while slot.conn.poll():
                event = self._message(slot, slot.conn.recv())
                if event is not None:
                    events.append(event)
        except (EOFError, OSError):
            pass
        else:
            if slot.process.is_alive():
                return events
        events.append(Died(slot, self._reap(slot)))
        return events

    def _message(self, slot: _ProcessSlot, message: tuple[Any, ...]) -> Event | None:
        kind = message[0]
        if kind == "ready":
            self._ready(slot, message[1], message[2])
            return None
        if kind == "progress":
            return Progress(slot, message[1])
        if kind == "done":
            return Done(slot, message[1], message[2])
        raise self._failed(slot, message[1], message[2])

    @staticmethod
    def _reap(slot: _ProcessSlot) -> str:
        """Collect a dead (or dying) worker and describe how it ended."""
        assert slot.process is not None and slot.conn is not None
        _join_or_kill(slot.process, REAP_TIMEOUT_S)
        slot.conn.close()
        code = slot.process.exitcode
        if code is not None and code < 0:
            return f"exit code {code}, {signal.Signals(-code).name}"
        return f"exit code {code}"

    def close(self) -> None:
        """Ask idle workers to exit, terminate busy ones, and reap them all."""
        slots = [s for s in self._slots if isinstance(s, _ProcessSlot) and s.process]
        self._slots = []
        for slot in slots:
            assert slot.process is not None and slot.conn is not None
            if slot.task is None and not slot.conn.closed:
                _send_quietly(slot.conn, None)
            else:
                slot.process.terminate()
        for slot in slots:
            assert slot.process is not None and slot.conn is not None
            _join_or_kill(slot.process, CLOSE_TIMEOUT_S)
            slot.conn.close()
        if self._mps is not None:
            self._mps.close()
            self._mps = None


def _join_or_kill(process: BaseProcess, timeout_s: float) -> None:
    """Wait up to ``timeout_s`` for a worker to end, then kill it: never leave a zombie."""
    process.join(timeout_s)
    if process.is_alive():
        process.kill()
        process.join()


def _send_quietly(conn: Connection, message: EvalRequest | None) -> None:
    """Send to a worker that may have died meanwhile (its sentinel will tell)."""
    with contextlib.suppress(OSError):
        conn.send(message)


# ------------------------------------------------------------------ the worker
def _worker_main(conn: Connection, config_data: dict[str, Any], device: str, threads: int) -> None:
    """Body of a worker process: load the data once, then evaluate until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search process's to handle
    try:
        context = worker_context(config_data, device, threads)
    except Exception as err:
        send_error(conn, err)
        return
    conn.send(("ready", os.getpid(), context_shape(context)))

    def report(key: str, info: dict[str, Any]) -> None:
        conn.send(("progress", info))

    while (request := _next_request(conn)) is not None:
        try:
            evaluation, seconds = timed_run(context, request, report)
        except Exception as err:
            send_error(conn, err)
        else:
            conn.send(("done", evaluation, seconds))
    # nothing here needs an orderly interpreter teardown, which takes a second with torch loaded
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _next_request(conn: Connection) -> EvalRequest | None:
    """The next request; None when told to stop or when the search process is gone."""
    try:
        return conn.recv()
    except EOFError:
        return None


def send_error(conn: Connection, err: Exception) -> None:
    """Send ``err`` (with its traceback) to the process that started this one, degraded to a
    RuntimeError if it does not pickle (a worker to its search, a study run to its study)."""
    text = traceback.format_exc()
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        err = RuntimeError(f"{type(err).__name__}: {err}")
    conn.send(("error", err, text))
