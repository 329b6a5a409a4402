"""What the worker-pool and Ray executors share: the scheduling loop and the worker setup.

Both executors keep a fixed set of long-lived *slots* (a process or a Ray
actor per device), each holding the dataset splits resident on its device.
:class:`SlotExecutor` feeds requests to idle slots, yields results as they
come back, and owns the failure policy: a slot whose worker dies gets a fresh
worker and its request is re-queued, up to ``max_retries`` times, after which
the request is answered with an ``"invalid"`` evaluation naming the deaths.
Results of a batch the caller abandoned are dropped when they arrive, so they
can never be mistaken for the next batch's.

Backends implement only three things: start a slot's worker, submit one
request to it, and wait for something to happen (:class:`Done`, :class:`Died`
or :class:`Progress` events).

Several slots may share one GPU (``executor.workers_per_device``). The memory
guard: each of the K slots on a GPU evaluates under a hard cap of
:data:`MEMORY_HEADROOM` / K of the card (the caching allocator refuses beyond
it), so a candidate that needs more fails with an out-of-memory error in its
own process and can never take memory its neighbours hold. Such a candidate
is then run again *alone* on that GPU, under the whole headroom: its slot
waits until the others on the GPU are idle and no new work goes there
meanwhile. The failed attempt is discarded, so the outcome is the one a
one-at-a-time run gives; each evaluation reports the peak it measured.
"""

from __future__ import annotations

import os
import time
from abc import abstractmethod
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from neronet.augment import DeviceData
from neronet.config import NeroConfig, parse_config
from neronet.data import DataSplits
from neronet.errors import NeronetError
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest, Executor, ProgressFn
from neronet.execution.worker import EvaluationContext

MEMORY_HEADROOM = 0.9
"""Share of a GPU's memory the evaluations on it may allocate in all (the rest: CUDA
contexts, cuDNN workspaces outside the caching allocator, fragmentation)."""


class WorkerStartError(NeronetError):
    """A worker could not load the data or open its device."""


@dataclass
class Task:
    """A request in flight; ``batch`` tells results of an abandoned batch apart.

    ``alone``: the task ran out of memory under a shared GPU's cap and is run
    again with the GPU to itself.
    """

    request: EvalRequest
    batch: int
    deaths: int = 0
    submitted: float = 0.0
    alone: bool = False


@dataclass(eq=False)
class Slot:
    """One long-lived worker; ``ready`` once its data is resident on its device."""

    label: str
    pid: int | None = None
    ready: bool = False
    task: Task | None = None


@dataclass(frozen=True)
class Done:
    """``slot`` finished its task after ``seconds`` of work inside the worker."""

    slot: Slot
    evaluation: Evaluation
    seconds: float


@dataclass(frozen=True)
class Died:
    """``slot``'s worker died (``reason``: exit code or error); the scheduler restarts it."""

    slot: Slot
    reason: str


@dataclass(frozen=True)
class Progress:
    """``slot``'s worker finished an epoch of its task (the epoch's record as ``info``)."""

    slot: Slot
    info: dict[str, Any]


Event = Done | Died | Progress


@dataclass
class SchedulingStats:
    """Round trips versus work inside the workers: the executor's own cost per task."""

    tasks: int = 0
    worker_seconds: float = 0.0
    round_trip_seconds: float = 0.0
    restarts: int = 0

    @property
    def overhead_per_task(self) -> float:
        """Mean seconds a task spent in transit (pickling, pipes, wake-ups), not evaluating."""
        if not self.tasks:
            return 0.0
        return (self.round_trip_seconds - self.worker_seconds) / self.tasks


@dataclass
class _Batch:
    number: int
    queue: deque[Task] = field(default_factory=deque)
    pending: int = 0


class SlotExecutor(Executor):
    """Schedules requests over long-lived slots; subclasses supply the transport."""

    def __init__(self, max_retries: int) -> None:
        self._slots: list[Slot] = []
        self._max_retries = max_retries
        self._batches = 0
        self._shape: tuple[tuple[int, int, int], int] | None = None
        self.stats = SchedulingStats()
        self._sharing: Counter[str] = Counter()
        """Slots per GPU, for the memory guard (CPU slots are not counted)."""

    # ------------------------------------------------------------ backend hooks
    @abstractmethod
    def _start(self, slot: Slot) -> None:
        """Start (or restart) ``slot``'s worker; it reports readiness through :meth:`_wait`."""

    @abstractmethod
    def _submit(self, slot: Slot, request: EvalRequest) -> None:
        """Send ``request`` to the ready, idle ``slot``."""

    @abstractmethod
    def _wait(self) -> list[Event]:
        """Block until something happens; may return no event (e.g. a slot became ready).

        Events of one slot come in the order they happened, so a result sent
        just before a crash is a :class:`Done` ahead of the :class:`Died`.
        """

    def _ready(self, slot: Slot, pid: int, shape: tuple[tuple[int, int, int], int]) -> None:
        """Backends call this when ``slot``'s worker has its data resident."""
        slot.ready, slot.pid = True, pid
        self._shape = shape

    def _launch(self, slots: Sequence[Slot]) -> None:
        """Start every slot's worker and wait until all hold their data."""
        self._slots = list(slots)
        self._sharing = Counter(s.label for s in self._slots if s.label.startswith("cuda"))
        for slot in self._slots:
            self._start(slot)
        while not all(slot.ready for slot in self._slots):
            for event in self._wait():
                if isinstance(event, Died):
                    self._restart(event)

    # ------------------------------------------------------------------ public
    def describe(self) -> tuple[tuple[int, int, int], int]:
        assert self._shape is not None, "describe() before the workers started"
        return self._shape

    def running(self) -> dict[str, int]:
        """Keys in flight and the process id of the worker evaluating each."""
        return {
            slot.task.request.key: slot.pid
            for slot in self._slots
            if slot.task is not None and slot.pid is not None
        }

    def evaluate(
        self, requests: Sequence[EvalRequest], progress: ProgressFn | None = None
    ) -> Iterator[tuple[EvalRequest, Evaluation]]:
        if requests and not self._slots:  # waiting on no worker would spin forever
            raise RuntimeError("evaluate() on a closed executor: its workers are gone")
        self._batches += 1
        batch = _Batch(self._batches, deque(Task(r, self._batches) for r in requests))
        batch.pending = len(batch.queue)
        while batch.pending:
            self._dispatch(batch.queue)
            for event in self._wait():
                answer = self._handle(event, batch, progress)
                if answer is not None:
                    batch.pending -= 1
                    yield answer

    def _dispatch(self, queue: deque[Task]) -> None:
        """Hand queued tasks to idle slots; a task that must run alone waits for its GPU."""
        for slot in self._slots:
            if not queue:
                return
            if not slot.ready or slot.task is not None or self._reserved(slot.label):
                continue
            task = queue[0]
            if task.alone and self._busy(slot.label):
                continue  # the GPU's other slots finish first
            queue.popleft()
            task.submitted = time.perf_counter()
            slot.task = task
            self._submit(slot, replace(task.request, memory_fraction=self._share(slot, task)))

    def _busy(self, label: str) -> bool:
        return any(s.task is not None for s in self._slots if s.label == label)

    def _reserved(self, label: str) -> bool:
        """Whether a task running alone holds ``label``'s GPU."""
        return any(s.task is not None and s.task.alone for s in self._slots if s.label == label)

    def _share(self, slot: Slot, task: Task) -> float | None:
        """The memory cap of ``task`` on ``slot``: None unless the GPU is shared."""
        sharing = self._sharing[slot.label]
        if sharing <= 1:
            return None
        return MEMORY_HEADROOM if task.alone else MEMORY_HEADROOM / sharing

    def _handle(
        self, event: Event, batch: _Batch, progress: ProgressFn | None
    ) -> tuple[EvalRequest, Evaluation] | None:
        """Apply one event; return the answer it completes for the current batch, if any."""
        if isinstance(event, Progress):
            task = event.slot.task
            if progress is not None and task is not None and task.batch == batch.number:
                progress(task.request.key, event.info)
            return None
        if isinstance(event, Done):
            task = event.slot.task
            event.slot.task = None
            if task is None or task.batch != batch.number:
                return None
            shared = self._sharing[event.slot.label] > 1
            if event.evaluation.out_of_memory and shared and not task.alone:
                task.alone = True  # over its share of a shared GPU: again, alone
                batch.queue.appendleft(task)
                return None
            self.stats.tasks += 1
            self.stats.worker_seconds += event.seconds
            self.stats.round_trip_seconds += time.perf_counter() - task.submitted
            return task.request, event.evaluation
        task = self._restart(event)  # Died
        if task is None or task.batch != batch.number:
            return None
        task.deaths += 1
        if task.deaths <= self._max_retries:
            batch.queue.appendleft(task)
            return None
        times = "once" if task.deaths == 1 else f"{task.deaths} times"
        reason = f"worker died {times} while evaluating it ({event.reason})"
        return task.request, Evaluation(status="invalid", reason=reason)

    @staticmethod
    def _failed(slot: Slot, error: Exception, remote_traceback: str) -> Exception:
        """The exception to raise for one a worker raised (the worker itself is still alive).

        While starting, a user error (bad data path) is raised as it is and
        anything else as a one-line :class:`WorkerStartError`; during an
        evaluation it is a bug, raised with the worker's traceback attached.
        """
        if not slot.ready:
            if isinstance(error, NeronetError):
                return error
            return WorkerStartError(
                f"worker on {slot.label} failed to start ({type(error).__name__}: {error}); "
                "check executor.devices and the data settings"
            )
        slot.task = None
        error.add_note(f"raised in the worker on {slot.label}:\n{remote_traceback}")
        return error

    def _restart(self, event: Died) -> Task | None:
        """Start a fresh worker in the dead one's slot; return the task it was running.

        A worker that dies before it is ready raises: loading the same data on
        the same device would fail the same way again.
        """
        slot = event.slot
        if not slot.ready:
            raise WorkerStartError(
                f"worker on {slot.label} died while loading the data ({event.reason}); "
                "check free memory and executor.devices"
            )
        task, slot.task, slot.ready, slot.pid = slot.task, None, False, None
        self.stats.restarts += 1
        self._start(slot)
        return task


# ----------------------------------------------------------------- worker side
def cpu_threads(workers_on_cpu: int) -> int:
    """Share this machine's cores, less one, among the CPU workers (at least one thread each).

    torch's default (every core) collapses beside any other busy process: each
    parallel region waits for the thread whose core was taken (the quickstart's
    first generation took 15.7 s idle, 53.9 s beside one CPU-bound process, 21.4 s
    with one thread). Leaving a core free costs little when the machine is idle.
    The count depends only on the machine, never on its load, so a run's results do
    not depend on what else ran.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, ((cores or 1) - 1) // max(1, workers_on_cpu))


def worker_context(
    config_data: dict[str, Any], device: str, threads: int, splits: DataSplits | None = None
) -> EvaluationContext:
    """A worker's evaluation context, built once: config from JSON, data resident on ``device``.

    ``threads`` fixes torch's CPU thread count: float reductions depend on it,
    so a run is only bit-for-bit reproducible with the same count. ``splits``
    (Ray's object store) skips loading the dataset from disk.
    """
    torch.set_num_threads(threads)
    config: NeroConfig = parse_config(config_data, source="executor config")
    if splits is None:
        return EvaluationContext.from_config(config, device)
    dev = torch.device(device)
    return EvaluationContext(config, splits, DeviceData.from_splits(splits, dev), dev)


def timed_run(
    context: EvaluationContext, request: EvalRequest, progress: ProgressFn | None = None
) -> tuple[Evaluation, float]:
    """Evaluate ``request`` and measure the seconds spent (the scheduler's baseline)."""
    start = time.perf_counter()
    evaluation = context.run(request, progress)
    return evaluation, time.perf_counter() - start


def context_shape(context: EvaluationContext) -> tuple[tuple[int, int, int], int]:
    return context.splits.input_shape, context.splits.num_classes
