"""One prepared GPU check: every GPU figure BENCHMARKS.md waits for, in one command.

A session with a GPU gets a few minutes of device time in all, so the figures
are measured by one script with a global time guard, written to ``--out`` as
three flat files (``gpu_check.json``, ``gpu_check.md``, ``gpu_check.log``: the
device tool brings back few files, two folders deep) after every section. A
section that does not fit in the time left is skipped and says so; what
finished is already on disk. The sections, most wanted first:

1. ``step_modes``: training images/s of :func:`neronet.train.budgeted.train` for
   the NSGA-Net seed and a small CNN, eager vs CUDA-graph steps
   (``training.compile``), fp32 vs bf16, beside the plain DataLoader reference
   loop of ``bench/eval_candidate.py``; and what a graph capture costs per
   candidate (the first steps' time against the steady step time);
2. ``concurrency``: aggregate training images/s of the seed with K candidates
   training at once in separate processes on one GPU (what
   ``executor.workers_per_device`` does), each process's peak memory;
3. ``batch_scaling``: one candidate's images/s at larger batches (how much of the
   card one batch-128 candidate leaves idle);
4. ``streams``: K candidates training at once as threads of one process, each on
   its own CUDA stream (kernels of different candidates may overlap, which
   time-sliced processes without MPS cannot);
5. ``p1_seed_to_target``: the seed evaluated as the search evaluates a candidate
   (:func:`neronet.evaluation.individual.evaluate_individual`: training, clean
   accuracy and FGSM on the fitness set of 3,500 images), trained with fixed
   recipes (an epoch budget, ``training.schedule: cosine``) until its control
   accuracy reaches 85 %; the figure is the total time;
6. ``gpu_quickstart``: generation 0 of ``configs/cifar10-gpu-quick.yaml`` run by
   ``neronet evolve`` (5 candidates sharing the GPU): wall time, statuses, parent;
7. ``learning_units``: the share of the paper grammar's random learning units
   (the seed's architecture, one random unit each) that train healthily within
   a short epoch budget;
8. ``compile``: ``training.compile=compile`` (torch.compile) on the seed: its
   compilation cost per candidate and its steady images/s;
9. ``attacks``: FGSM and PGD-20 images/s against foolbox (and torchattacks when
   importable), as in ``bench/attack_throughput.py``;
10. ``mps``: the process concurrency again under a private CUDA MPS control daemon
    (started in a temporary pipe directory and quit afterwards; skipped where
    ``nvidia-cuda-mps-control`` is missing).

On a machine without CUDA the same code paths run on a tiny budget (digits,
20 images per class, a few batches; the graph modes are left out); a test runs
that mode, so the script cannot rot before a GPU session uses it.

    python bench/gpu_check.py --out gpu-check [--data PATH/train.zip]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from neronet.augment import DeviceData, DeviceSplit
from neronet.config import FitnessConfig, TrainingConfig
from neronet.data import DataSplits
from neronet.evaluation.individual import EvalSettings, evaluate_individual
from neronet.execution.mps import CONTROL as MPS_CONTROL
from neronet.execution.mps import MpsDaemon
from neronet.nn import build, count_parameters
from neronet.phenotype import to_spec
from neronet.seeds import nsga_net
from neronet.spec import NetworkSpec
from neronet.train.budgeted import Budget, train
from neronet.train.core import resolve_device, seeded
from neronet.train.graphs import WARMUP_STEPS

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))  # spawned concurrency workers import this script by name


def _sibling(name: str) -> ModuleType | None:
    """A script of bench/ (not a package) as a module; None when its imports are missing."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except ImportError:
        del sys.modules[name]
        return None
    return module


# The timing helpers, the reference loop and the attack tables are those of the
# single-purpose benchmarks, so a figure here means what it means there.
EVAL = _sibling("eval_candidate")
ATTACKS = _sibling("attack_throughput")  # None without foolbox (the test extra)
UNITS = _sibling("learning_units")
assert EVAL is not None and UNITS is not None

FIGURES = (
    "step_modes",
    "graphs_match",
    "concurrency",
    "batch_scaling",
    "streams",
    "p1_seed_to_target",
    "gpu_quickstart",
    "learning_units",
    "compile",
    "attacks",
    "mps",
)
"""The sections, in the order they run (most wanted first, in case time runs out)."""


@dataclass(frozen=True)
class P1Recipe:
    """One fixed training recipe for P1: SGD with Nesterov momentum at ``lr``, ``batch_size``,
    the cosine schedule over an ``epochs`` budget."""

    name: str
    batch_size: int
    lr: float
    epochs: int


@dataclass(frozen=True)
class Profile:
    """Sizes of one run: the GPU figures, or the tiny CPU pass over the same code."""

    dataset: str
    limit_per_class: int | None
    time_limit_s: float
    batch_size: int
    warmup_batches: int
    timed_batches: int
    rounds: int
    concurrency: tuple[int, ...]
    concurrency_batches: int
    batch_sizes: tuple[int, ...]
    streams: tuple[int, ...]
    p1_recipes: tuple[P1Recipe, ...]
    attack_batch: int
    attack_repeats: int
    target_accuracy: float
    target_cap_s: float
    learning_units: int
    learning_unit_epochs: int
    quickstart_overrides: tuple[str, ...]
    cuda_only: tuple[str, ...]
    """Sections too slow for the CPU pass (skipped there, and said so)."""
    reserve_s: float
    """Time kept for the sections after P1 when sizing its cap."""


GPU = Profile(
    dataset="cifar10",
    limit_per_class=None,
    time_limit_s=420.0,
    batch_size=128,
    warmup_batches=20,
    timed_batches=100,
    rounds=2,
    concurrency=(1, 4),
    concurrency_batches=300,
    batch_sizes=(128, 256, 512),
    streams=(1, 2, 4, 8),
    p1_recipes=(
        P1Recipe("bs256-lr0.1-10ep", 256, 0.1, 10),
        P1Recipe("bs512-lr0.2-12ep", 512, 0.2, 12),
    ),
    attack_batch=128,
    attack_repeats=5,
    target_accuracy=0.85,
    target_cap_s=45.0,
    learning_units=10,
    learning_unit_epochs=2,
    quickstart_overrides=("search.generations=1",),
    cuda_only=(),
    reserve_s=150.0,
)
CPU = Profile(
    dataset="digits",
    limit_per_class=20,
    time_limit_s=120.0,
    batch_size=16,
    warmup_batches=1,
    timed_batches=2,
    rounds=1,
    concurrency=(1, 2),
    concurrency_batches=2,
    batch_sizes=(16, 32),
    streams=(1, 2),
    p1_recipes=(P1Recipe("bs16-lr0.05-1ep", 16, 0.05, 1),),
    attack_batch=8,
    attack_repeats=1,
    target_accuracy=0.0,
    target_cap_s=10.0,
    learning_units=2,
    learning_unit_epochs=1,
    quickstart_overrides=(
        "search.generations=1",
        "search.initial_size=2",
        "search.default_train_time=1",
        "search.max_train_time=1",
        "data.dataset=digits",
        "data.path=null",
        "data.download=false",
        "data.train=0.7",
        "data.control=0.15",
        "data.fitness=0.15",
        "executor.workers_per_device=2",
        "executor.mps=false",  # MPS shares GPUs
    ),
    # no graphs or streams; torch.compile takes minutes here; no MPS
    cuda_only=("graphs_match", "compile", "streams", "mps"),
    reserve_s=10.0,
)
HARD_STOP_GRACE_S = 25.0
"""After the time limit plus this, the process exits with what is on disk (a hang)."""


class Guard:
    """The global time budget: sections ask what is left before they start.

    Inside ``with``, a watchdog ends the process once the limit is exceeded by
    :data:`HARD_STOP_GRACE_S` (a hung section); results are on disk after every
    section, so that loses only the section that hung.
    """

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.start = time.monotonic()
        self._watchdog = threading.Timer(limit_s + HARD_STOP_GRACE_S, self._hard_stop)
        self._watchdog.daemon = True

    def __enter__(self) -> Guard:
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watchdog.cancel()

    def left(self) -> float:
        return self.limit_s - (time.monotonic() - self.start)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _hard_stop(self) -> None:
        print(f"gpu_check: still running {HARD_STOP_GRACE_S:.0f} s past the limit; exiting")
        os._exit(3)


def peak_memory(device: torch.device, fn: Callable[[], Any]) -> tuple[Any, int | None]:
    """``fn()`` and the CUDA peak memory it allocated in bytes (None off CUDA)."""
    if device.type != "cuda":
        return fn(), None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    result = fn()
    torch.cuda.synchronize(device)
    return result, torch.cuda.max_memory_allocated(device)


def networks(splits: DataSplits) -> dict[str, NetworkSpec]:
    """The benchmarked networks, shaped for the data: the NSGA-Net seed and a small CNN."""
    return {
        "nsga-net-seed": to_spec(nsga_net(), splits.input_shape, splits.num_classes),
        "small": EVAL.small_spec(splits.input_shape, splits.num_classes),
    }


def step_settings(device: torch.device) -> dict[str, TrainingConfig]:
    """The (step mode, precision) pairs measured; graphs only where CUDA can capture them."""
    base = TrainingConfig(device=str(device))
    modes = ["off", "graphs"] if device.type == "cuda" else ["off"]
    settings = {
        f"{'eager' if mode == 'off' else mode} {name}": base.model_copy(
            update={"compile": mode, "amp": amp}
        )
        for mode in modes
        for name, amp in (("fp32", "off"), ("bf16", "bf16"))
    }
    return settings


# ---------------------------------------------------------------------- 1. step modes
def step_modes(
    profile: Profile,
    nets: dict[str, NetworkSpec],
    data: DeviceData,
    host_train: DeviceSplit,
    seed: int,
) -> dict[str, Any]:
    """Steady training images/s per step mode and precision, alternating over rounds
    (medians), the reference loop in bf16 beside them; then each mode's start-up: the
    first ``WARMUP_STEPS + 2`` steps from a fresh model (the capture included)."""
    learning = replace(EVAL.FIXED_LEARNING, batch_size=profile.batch_size)
    timing = argparse.Namespace(warmup_batches=profile.warmup_batches, seed=seed)
    startup = argparse.Namespace(warmup_batches=0, seed=seed)
    first_steps = WARMUP_STEPS + 2
    settings = step_settings(data.device)
    rows: dict[str, Any] = {}
    for name, spec in nets.items():

        def ours(cfg: TrainingConfig, spec: NetworkSpec = spec) -> float:
            count = profile.timed_batches
            return EVAL.train_throughput(spec, learning, data, cfg, count, timing)[0]

        def reference(spec: NetworkSpec = spec) -> float:
            cfg = TrainingConfig(device=str(data.device), amp="bf16")
            count = profile.timed_batches
            return EVAL.reference_throughput(
                spec, learning, host_train, data.device, cfg, count, timing
            )

        measures: dict[str, Callable[[], float]] = {
            key: (lambda cfg=cfg: ours(cfg)) for key, cfg in settings.items()
        }
        measures["reference bf16"] = reference
        rounds = EVAL.alternating(measures, profile.rounds)
        median = {key: statistics.median(values) for key, values in rounds.items()}
        first = {
            key: EVAL.train_throughput(spec, learning, data, cfg, first_steps, startup)[0]
            for key, cfg in settings.items()
        }
        startup_s = {key: first_steps * learning.batch_size / ips for key, ips in first.items()}
        steady_step_s = {key: learning.batch_size / median[key] for key in settings}
        rows[name] = {
            "parameters": count_parameters(spec),
            "images_per_s": median,
            "rounds": rounds,
            "first_steps": first_steps,
            "first_steps_s": startup_s,
            "startup_overhead_s": {
                key: startup_s[key] - first_steps * steady_step_s[key] for key in settings
            },
        }
    return rows


def graphs_match(
    profile: Profile, spec: NetworkSpec, data: DeviceData, seed: int
) -> dict[str, Any]:
    """Eager and CUDA-graph steps train the same weights: ``steps`` fp32 steps from one
    initialisation each way, with cuDNN's deterministic algorithms, then the largest weight
    difference (graphs change how kernels are launched, not what they compute)."""
    learning = replace(EVAL.FIXED_LEARNING, batch_size=profile.batch_size)
    steps = 30
    startup = argparse.Namespace(warmup_batches=0, seed=seed)
    deterministic = torch.backends.cudnn.deterministic
    torch.backends.cudnn.deterministic = True
    try:
        weights = {}
        for mode in ("off", "graphs"):
            cfg = TrainingConfig(device=str(data.device), amp="off", compile=mode)
            model = EVAL.train_throughput(spec, learning, data, cfg, steps, startup)[1]
            weights[mode] = {k: v.float() for k, v in model.state_dict().items()}
    finally:
        torch.backends.cudnn.deterministic = deterministic
    diffs = [(weights["off"][k] - weights["graphs"][k]).abs().max().item() for k in weights["off"]]
    scale = max(v.abs().max().item() for v in weights["off"].values())
    return {"steps": steps, "max_abs_difference": max(diffs), "max_abs_weight": scale}


# --------------------------------------------------------------------- 2. concurrency
def concurrency(
    profile: Profile, spec: NetworkSpec, device: torch.device, counts: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Aggregate images/s with K processes training the seed at once on ``device``.

    Each process builds the seed, trains ``warmup_batches`` steps (graph capture
    included) on its own random uint8 data (throughput does not depend on pixel
    values), waits at a barrier, then times ``concurrency_batches`` steps. The
    aggregate is all images over the span from the first start to the last end.
    """
    ctx = multiprocessing.get_context("spawn")
    rows: dict[str, Any] = {}
    for k in counts or profile.concurrency:
        barrier = ctx.Barrier(k)
        queue = ctx.Queue()
        args = (spec.to_dict(), str(device), profile, barrier, queue)
        procs = [ctx.Process(target=_concurrent_worker, args=(*args, i)) for i in range(k)]
        for proc in procs:
            proc.start()
        results = [queue.get(timeout=300) for _ in procs]
        for proc in procs:
            proc.join()
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            rows[str(k)] = {"error": errors[0]}
            continue
        rows[str(k)] = _aggregate(results)
        print(f"  K={k}: {rows[str(k)]['aggregate_images_per_s']:,.0f} images/s", flush=True)
    return rows


def _aggregate(results: list[dict[str, Any]]) -> dict[str, Any]:
    """All images over the span from the first window's start to the last one's end."""
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "aggregate_images_per_s": sum(r["images"] for r in results) / span,
        "per_process_images_per_s": [r["images"] / (r["end"] - r["start"]) for r in results],
        "peak_memory_bytes": [r["peak"] for r in results],
    }


def _concurrent_worker(
    spec_data: dict[str, Any],
    device_name: str,
    profile: Profile,
    barrier: Any,
    queue: Any,
    index: int,
) -> None:
    """One of K concurrent trainings (a spawned process); reports its timed window."""
    try:
        queue.put(_timed_window(spec_data, device_name, profile, barrier, index))
    except Exception as err:  # reported to the parent, which records it in the results
        barrier.abort()
        queue.put({"error": f"{type(err).__name__}: {err}"})


def _timed_window(
    spec_data: dict[str, Any],
    device_name: str,
    profile: Profile,
    barrier: Any,
    index: int,
    ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """One candidate's timed training window; ``ready`` is called once its warm-up (graph
    capture included) is done, just before it waits at ``barrier``."""
    device = torch.device(device_name)
    spec = NetworkSpec.from_dict(spec_data)
    learning = replace(EVAL.FIXED_LEARNING, batch_size=profile.batch_size)
    steps = profile.warmup_batches + profile.concurrency_batches + 1
    gen = np.random.default_rng(index)
    n = steps * learning.batch_size
    x = gen.integers(0, 256, (n, *spec.input_shape), dtype=np.uint8)
    y = gen.integers(0, spec.num_classes, n).astype(np.int64)
    train_split = DeviceSplit(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
    small = DeviceSplit(train_split.x[: learning.batch_size], train_split.y[: learning.batch_size])
    data = DeviceData(train=train_split, control=small, fitness=small)
    clock = _BarrierClock(
        profile.warmup_batches, profile.concurrency_batches, device, barrier, ready
    )
    with seeded(index, device):
        model = build(spec)
    settings = TrainingConfig(device=device_name, max_epochs=1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train(model, learning, data, settings, EVAL.NEVER, seed=index, device=device, should_stop=clock)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    images = profile.concurrency_batches * learning.batch_size
    assert clock.seconds is not None, "training stopped before the timing window closed"
    end = clock.start + clock.seconds
    return {"images": images, "start": clock.start, "end": end, "peak": peak}


class _BarrierClock(EVAL.BatchClock):
    """:class:`BatchClock` whose window opens only once every process has finished its
    warm-up (queued CUDA work waited for first), so the K processes are timed together."""

    def __init__(
        self,
        warmup: int,
        count: int,
        device: torch.device,
        barrier: Any,
        ready: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(warmup, count, device)
        self.barrier = barrier
        self.ready = ready

    def __call__(self) -> bool:
        if self.calls == self.warmup:
            EVAL.synced_clock(self.device)
            if self.ready is not None:
                self.ready()
            self.barrier.wait(timeout=300)
        return super().__call__()


# ------------------------------------------------------------------- 3. batch scaling
def batch_scaling(
    profile: Profile, spec: NetworkSpec, data: DeviceData, seed: int
) -> dict[str, Any]:
    """One candidate's steady images/s (default step mode and precision) per batch size."""
    timing = argparse.Namespace(warmup_batches=profile.warmup_batches, seed=seed)
    cfg = TrainingConfig(device=str(data.device))
    rows: dict[str, Any] = {}
    for size in profile.batch_sizes:
        learning = replace(EVAL.FIXED_LEARNING, batch_size=size)
        count = max(profile.timed_batches * profile.batch_size // size, 2)
        rows[str(size)] = EVAL.train_throughput(spec, learning, data, cfg, count, timing)[0]
        print(f"  batch {size}: {rows[str(size)]:,.0f} images/s", flush=True)
    return {"images_per_s": rows}


# -------------------------------------------------------------------------- 4. streams
def streams(profile: Profile, spec: NetworkSpec, device: torch.device) -> dict[str, Any]:
    """Aggregate images/s with K candidates as threads of this process, each on its own
    CUDA stream, timed together (the same window as :func:`concurrency`).

    The threads warm up (and capture their graphs) one after another, each starting
    when the previous one is ready, so no capture overlaps another thread's work;
    then all are released together.
    """
    rows: dict[str, Any] = {}
    for k in profile.streams:
        barrier = threading.Barrier(k)
        turns = [threading.Event() for _ in range(k)]
        results: list[dict[str, Any]] = []
        args = (spec, device, profile, barrier, turns, results)
        threads = [threading.Thread(target=_stream_candidate, args=(*args, i)) for i in range(k)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        errors = [r["error"] for r in results if "error" in r]
        rows[str(k)] = {"error": errors[0]} if errors else _aggregate(results)
        if not errors:
            print(f"  K={k}: {rows[str(k)]['aggregate_images_per_s']:,.0f} images/s", flush=True)
    return rows


def _stream_candidate(
    spec: NetworkSpec,
    device: torch.device,
    profile: Profile,
    barrier: threading.Barrier,
    turns: list[threading.Event],
    results: list[dict[str, Any]],
    index: int,
) -> None:
    """One thread of :func:`streams`: waits for its turn, trains on its own stream."""
    try:
        if index:
            turns[index - 1].wait(timeout=300)
        with torch.cuda.stream(torch.cuda.Stream(device)):
            window = _timed_window(
                spec.to_dict(), str(device), profile, barrier, index, turns[index].set
            )
        results.append(window)
    except Exception as err:  # recorded; the other threads are released
        barrier.abort()
        turns[index].set()
        results.append({"error": f"{type(err).__name__}: {err}"})


# ---------------------------------------------------------------------------- 5. P1
def p1_seed_to_target(
    profile: Profile,
    seed_spec: NetworkSpec,
    data: DeviceData,
    settings: EvalSettings,
    guard: Guard,
    seed: int,
) -> dict[str, Any]:
    """The seed as one search candidate, per recipe of the profile, trained until the
    control set reaches the target (or the recipe's epochs end).

    The control set (3,500 images, never trained on) decides when to stop, as early
    stopping does in a search; the fitness set then gives the reported accuracies.
    """
    cosine = replace(settings, training=settings.training.model_copy(update={"schedule": "cosine"}))
    rows: dict[str, Any] = {}
    for recipe in profile.p1_recipes:
        print(f"  recipe {recipe.name}", flush=True)
        rows[recipe.name] = _p1_recipe(profile, recipe, seed_spec, data, cosine, guard, seed)
        if rows[recipe.name]["reached"]:
            break
    return {"target_control_accuracy": profile.target_accuracy, "recipes": rows}


def _p1_recipe(
    profile: Profile,
    recipe: P1Recipe,
    seed_spec: NetworkSpec,
    data: DeviceData,
    settings: EvalSettings,
    guard: Guard,
    seed: int,
) -> dict[str, Any]:
    learning = replace(
        EVAL.FIXED_LEARNING, batch_size=recipe.batch_size, lr=recipe.lr, early_stop=EVAL.NEVER
    )
    cap = max(min(profile.target_cap_s, guard.left() - profile.reserve_s), 1.0)
    start = time.perf_counter()
    curve: list[dict[str, Any]] = []

    def on_epoch(record: dict[str, Any]) -> None:
        curve.append({"epoch": record["epoch"], "control_accuracy": record["control_accuracy"]})
        print(f"  epoch {record['epoch']}: control accuracy {record['control_accuracy'] or 0:.4f}")

    def reached() -> bool:
        return bool(curve) and (curve[-1]["control_accuracy"] or 0.0) >= profile.target_accuracy

    def stop() -> bool:
        return reached() or time.perf_counter() - start > cap

    evaluation, peak = peak_memory(
        data.device,
        lambda: evaluate_individual(
            seed_spec,
            learning,
            Budget(recipe.epochs, "epochs"),
            data,
            settings,
            seed=seed,
            should_stop=stop,
            progress=on_epoch,
        ),
    )
    return {
        "reached": reached(),
        "cap_s": cap,
        "fitness_images": len(data.fitness.y),
        "total_s": sum(evaluation.seconds.values()),
        "peak_cuda_memory_bytes": peak,
        "learning": learning.to_dict(),
        "curve": curve,
        "evaluation": evaluation.to_record(),
    }


# ---------------------------------------------------------------------- 6. quickstart
def gpu_quickstart(profile: Profile, data_path: Path | None, guard: Guard) -> dict[str, Any]:
    """Generation 0 of the GPU quickstart through the real command, timed from the outside
    (its run directory is temporary: only the three result files travel back)."""
    with tempfile.TemporaryDirectory(prefix="gpu-quickstart-") as work:
        return _quickstart_in(Path(work) / "run", profile, data_path, guard)


def _quickstart_in(
    run: Path, profile: Profile, data_path: Path | None, guard: Guard
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "neronet.cli",
        "evolve",
        "--config",
        str(ROOT / "configs" / "cifar10-gpu-quick.yaml"),
        "--run",
        str(run),
        # without --data, the canonical download (cached), as the other sections load it
        "data.download=true" if data_path is None else f"data.path={data_path}",
        *profile.quickstart_overrides,
    ]
    start = time.perf_counter()
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=max(guard.left() - 5, 10),
        cwd=ROOT,
    )
    wall = time.perf_counter() - start
    with sqlite3.connect(f"file:{run / 'run.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT id, key, status, reason, fitness, metrics, epochs, train_seconds, record "
            "FROM individuals ORDER BY id"
        ).fetchall()
        elites = db.execute("SELECT elites FROM generations ORDER BY generation").fetchall()
    individuals = [
        {
            "key": key,
            "status": status,
            "reason": reason,
            "fitness": None if fitness is None else json.loads(fitness),
            "metrics": json.loads(metrics),
            "epochs": epochs,
            "train_seconds": train_seconds,
            "peak_memory_bytes": json.loads(record).get("peak_memory_bytes"),
        }
        for _, key, status, reason, fitness, metrics, epochs, train_seconds, record in rows
    ]
    statuses = {row[0]: row[2] for row in rows}
    parent = json.loads(elites[-1][0])[0] if elites else None
    return {
        "command": " ".join(["neronet", *command[3:]]),
        "exit_code": proc.returncode,
        "wall_s": wall,
        "individuals": individuals,
        "parent_id": parent,
        "parent_healthy": statuses.get(parent) == "ok",
        "output_tail": (proc.stdout + proc.stderr)[-3000:],
    }


# ------------------------------------------------------------------------ 8. compile
def compile_mode(
    profile: Profile, spec: NetworkSpec, data: DeviceData, seed: int
) -> dict[str, Any]:
    """torch.compile on the seed (bf16): the first steps (compilation) and steady images/s."""
    learning = replace(EVAL.FIXED_LEARNING, batch_size=profile.batch_size)
    cfg = TrainingConfig(device=str(data.device), amp="bf16", compile="compile")
    first_steps = 2
    first = EVAL.train_throughput(
        spec, learning, data, cfg, first_steps, argparse.Namespace(warmup_batches=0, seed=seed)
    )[0]
    timing = argparse.Namespace(warmup_batches=profile.warmup_batches, seed=seed)
    steady = EVAL.train_throughput(spec, learning, data, cfg, profile.timed_batches, timing)[0]
    return {
        "first_steps": first_steps,
        "first_steps_s": first_steps * learning.batch_size / first,
        "images_per_s": steady,
    }


# ------------------------------------------------------------------------ 9. attacks
def attacks(profile: Profile, nets: dict[str, NetworkSpec], device: torch.device) -> dict[str, Any]:
    """Images/s of FGSM and PGD-20 per implementation, on one random batch per network
    (throughput does not depend on pixel values or on training)."""
    if ATTACKS is None:
        return {"skipped": "needs foolbox: pip install -e '.[test]'"}
    rows: dict[str, Any] = {}
    for name, spec in nets.items():
        gen = torch.Generator().manual_seed(0)
        n = profile.attack_batch
        x = torch.rand(n, *spec.input_shape, generator=gen).to(device)
        y = torch.randint(0, spec.num_classes, (n,), generator=gen).to(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build(spec).to(device).eval()
        rows[name] = {
            attack: ATTACKS.throughputs(impls, x, y, profile.attack_repeats)
            for attack, impls in ATTACKS.implementations(model, device).items()
        }
    return rows


# ---------------------------------------------------------------------------- 10. MPS
def mps(profile: Profile, spec: NetworkSpec, device: torch.device) -> dict[str, Any]:
    """:func:`concurrency` at the largest K under the private MPS daemon a worker pool
    starts with ``executor.mps`` (:class:`neronet.execution.mps.MpsDaemon`: its own pipe
    folder, lent to the spawned candidates, told to quit afterwards whatever happened)."""
    if shutil.which(MPS_CONTROL) is None:
        return {"skipped": f"{MPS_CONTROL} not found"}
    daemon = MpsDaemon()
    try:
        with daemon.spawning():
            return {"K": concurrency(profile, spec, device, (max(profile.concurrency),))}
    finally:
        daemon.close()


def environment(device: torch.device) -> dict[str, Any]:
    """Where the figures come from: device name, CPU, versions, optional packages."""
    return {
        **EVAL.environment(device),
        "torchattacks": importlib.util.find_spec("torchattacks") is not None,
        "foolbox": ATTACKS is not None,
        "platform": platform.platform(),
    }


def markdown(result: dict[str, Any]) -> str:
    """The results as the tables BENCHMARKS.md shows (device named in the first line)."""
    env = result["environment"]
    lines = [
        "# GPU check",
        "",
        f"Device: {env['device_name']} ({env['device']}); CPU {env['cpu']} x{env['cpu_count']}; "
        f"torch {env['torch']}; Python {env['python']}; profile {result['profile_name']}; "
        f"wall time {result['elapsed_s']:.0f} s of {result['profile']['time_limit_s']:.0f} s.",
        "",
        f"Command: `{result['command']}`",
        "",
    ]
    for name, render in RENDERERS.items():
        if isinstance(result.get(name), dict):
            lines += render(result[name])
    if result["skipped"]:
        skipped = result["skipped"]
        lines += ["Skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()), ""]
    return "\n".join(lines)


def _md_step_modes(rows: dict[str, Any]) -> list[str]:
    keys = list(next(iter(rows.values()))["images_per_s"])
    lines = [
        "## Training images/s by step mode (medians of alternating rounds)",
        "",
        "| network | params | " + " | ".join(keys) + " |",
        "|---|---:|" + "---:|" * len(keys),
    ]
    for name, row in rows.items():
        ips = row["images_per_s"]
        cells = " | ".join(f"{ips[key]:,.0f}" for key in keys)
        lines.append(f"| {name} | {row['parameters']:,} | {cells} |")
    lines += ["", "Start-up: seconds of the first steps from a fresh model, and their overhead", ""]
    lines.append("| network | mode | first steps | seconds | overhead s |")
    lines.append("|---|---|---:|---:|---:|")
    for name, row in rows.items():
        for key, seconds in row["first_steps_s"].items():
            lines.append(
                f"| {name} | {key} | {row['first_steps']} | {seconds:.3f} "
                f"| {row['startup_overhead_s'][key]:.3f} |"
            )
    return [*lines, ""]


def _md_graphs_match(row: dict[str, Any]) -> list[str]:
    return [
        "## Eager vs CUDA-graph steps (fp32, deterministic cuDNN)",
        "",
        f"After {row['steps']} steps from one initialisation: largest weight difference "
        f"{row['max_abs_difference']:.3g} (largest weight {row['max_abs_weight']:.3g}).",
        "",
    ]


def _md_concurrency(rows: dict[str, Any]) -> list[str]:
    return _md_concurrent(
        "## Concurrent candidates on one device (seed, default step mode and precision)", rows
    )


def _md_concurrent(title: str, rows: dict[str, Any]) -> list[str]:
    lines = [
        title,
        "",
        "| K | aggregate images/s | per candidate | peak MiB each |",
        "|---:|---:|---|---|",
    ]
    for k, row in rows.items():
        if "error" in row:
            lines.append(f"| {k} | error: {row['error']} | | |")
            continue
        each = ", ".join(f"{v:,.0f}" for v in row["per_process_images_per_s"])
        peaks = ", ".join(_mib(v) for v in row["peak_memory_bytes"])
        lines.append(f"| {k} | {row['aggregate_images_per_s']:,.0f} | {each} | {peaks} |")
    return [*lines, ""]


def _md_p1(p1: dict[str, Any]) -> list[str]:
    lines = [
        f"## P1: the NSGA-Net seed to {p1['target_control_accuracy']:.0%} control accuracy, "
        "plus FGSM on the fitness set (SGD Nesterov, cosine over an epoch budget)",
        "",
        "| recipe | reached | epochs | train s | clean eval s | FGSM s | masking check s "
        "| total s | fitness images | clean | FGSM conditional | peak MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in p1["recipes"].items():
        ev = row["evaluation"]
        m, sec = ev["metrics"], ev["seconds"]
        lines.append(
            f"| {name} | {row['reached']} | {ev['epochs']} | {sec.get('train', 0):.1f} "
            f"| {sec.get('predict', 0):.2f} | {sec.get('fgsm', 0):.2f} "
            f"| {sec.get('masking', 0):.2f} | {row['total_s']:.1f} | {row['fitness_images']:,} "
            f"| {_num(m.get('clean_accuracy'))} | {_num(m.get('adversarial_accuracy'))} "
            f"| {_mib(row['peak_cuda_memory_bytes'])} |"
        )
    return [*lines, ""]


def _md_batch_scaling(rows: dict[str, Any]) -> list[str]:
    ips = rows["images_per_s"]
    return [
        "## One candidate (seed, default step mode and precision) by batch size",
        "",
        "| batch | " + " | ".join(ips) + " |",
        "|---|" + "---:|" * len(ips),
        "| images/s | " + " | ".join(f"{v:,.0f}" for v in ips.values()) + " |",
        "",
    ]


def _md_streams(rows: dict[str, Any]) -> list[str]:
    return _md_concurrent(
        "## Concurrent candidates as threads of one process, one CUDA stream each", rows
    )


def _md_mps(row: dict[str, Any]) -> list[str]:
    if "skipped" in row:
        return ["## Concurrent processes under CUDA MPS", "", f"Skipped: {row['skipped']}", ""]
    return _md_concurrent("## Concurrent processes under CUDA MPS (private daemon)", row["K"])


def _md_quickstart(q: dict[str, Any]) -> list[str]:
    lines = [
        "## GPU quickstart, generation 0",
        "",
        f"`{q['command']}`: exit {q['exit_code']}, wall {q['wall_s']:.1f} s, "
        f"parent id {q['parent_id']} (healthy: {q['parent_healthy']})",
        "",
        "| key | status | epochs | train s | clean | FGSM | fitness | peak MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for ind in q["individuals"]:
        m = ind["metrics"]
        fitness = ind["fitness"] if isinstance(ind["fitness"], float) else None
        lines.append(
            f"| {ind['key']} | {ind['status']} | {ind['epochs']} | {ind['train_seconds'] or 0:.1f} "
            f"| {_num(m.get('clean_accuracy'))} | {_num(m.get('adversarial_accuracy'))} "
            f"| {_num(fitness)} | {_mib(ind['peak_memory_bytes'])} |"
        )
    return [*lines, ""]


def _md_learning_units(u: dict[str, Any]) -> list[str]:
    lines = [
        f"## Random learning units of the paper grammar ({u['epochs']} epochs, seed architecture)",
        "",
        f"Healthy: {u['healthy']} of {len(u['units'])} ({u['share_healthy']:.0%}); the fixed "
        f"unit (SGD 0.1): {u['fixed_unit']['status']}.",
        "",
        "| optimizer | lr | status | clean |",
        "|---|---:|---|---:|",
    ]
    for unit in u["units"]:
        lines.append(
            f"| {unit['learning']['optimizer']} | {unit['learning']['lr']:.3g} "
            f"| {unit['status']} | {_num(unit['clean_accuracy'])} |"
        )
    return [*lines, ""]


def _md_compile(c: dict[str, Any]) -> list[str]:
    return [
        "## torch.compile (seed, bf16)",
        "",
        f"First {c['first_steps']} steps (compilation included): {c['first_steps_s']:.1f} s; "
        f"steady {c['images_per_s']:,.0f} images/s.",
        "",
    ]


def _md_attacks(rows: dict[str, Any]) -> list[str]:
    if "skipped" in rows:
        return []
    lines = [
        "## Attacks (images/s, L-inf eps 8/255; PGD-20 step 2/255)",
        "",
        "| network | attack | implementation | images/s | neronet / this |",
        "|---|---|---|---:|---:|",
    ]
    for name, by_attack in rows.items():
        for attack, rates in by_attack.items():
            for impl, rate in rates.items():
                ratio = "" if impl.startswith("neronet") else f"{rates['neronet'] / rate:.2f}x"
                lines.append(f"| {name} | {attack} | {impl} | {rate:,.1f} | {ratio} |")
    return [*lines, ""]


RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "step_modes": _md_step_modes,
    "graphs_match": _md_graphs_match,
    "concurrency": _md_concurrency,
    "batch_scaling": _md_batch_scaling,
    "streams": _md_streams,
    "p1_seed_to_target": _md_p1,
    "gpu_quickstart": _md_quickstart,
    "learning_units": _md_learning_units,
    "compile": _md_compile,
    "attacks": _md_attacks,
    "mps": _md_mps,
}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the three files")
    parser.add_argument("--data", type=Path, default=None, help=EVAL.DATA_HELP)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--time-limit", type=float, default=None, help="seconds (default: 420 GPU, 120 CPU)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=FIGURES, default=None, help="run these sections only"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure every figure that fits in the time limit; returns what it wrote as JSON."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    profile = GPU if device.type == "cuda" else CPU
    if args.time_limit is not None:
        profile = replace(profile, time_limit_s=args.time_limit)
    args.out.mkdir(parents=True, exist_ok=True)
    with Guard(profile.time_limit_s) as guard, _Tee(args.out / "gpu_check.log"):
        return run_all(args, sys.argv[1:] if argv is None else argv, device, profile, guard)


class _Tee:
    """Everything printed also goes to ``path`` (the third file that travels back)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w")
        self._stdout = sys.stdout

    def write(self, text: str) -> int:
        self._file.write(text)
        self._file.flush()
        return self._stdout.write(text)

    def flush(self) -> None:
        self._stdout.flush()

    def __enter__(self) -> _Tee:
        sys.stdout = self  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self._stdout
        self._file.close()


def run_all(
    args: argparse.Namespace,
    command: list[str],
    device: torch.device,
    profile: Profile,
    guard: Guard,
) -> dict[str, Any]:
    """Load the data, then run every section the time left allows, writing after each."""
    result: dict[str, Any] = {
        "environment": environment(device),
        "command": " ".join(["python", "bench/gpu_check.py", *command]),
        "profile_name": "gpu" if device.type == "cuda" else "cpu (tiny)",
        "profile": asdict(profile),
        "skipped": {},
        "elapsed_s": 0.0,
    }
    print(f"gpu_check on {result['environment']['device_name']}, profile {result['profile_name']}")
    splits = EVAL.paper_splits(profile.dataset, args.data, profile.limit_per_class, args.seed)
    data = DeviceData.from_splits(splits, device)
    host_train = DeviceSplit.from_split(splits.train, "cpu")
    training = TrainingConfig(device=str(device))
    settings = EvalSettings(training=training, fitness=FitnessConfig())
    result["data"] = {
        "dataset": profile.dataset,
        "train": len(splits.train.y),
        "control": len(splits.control.y),
        "fitness": len(splits.fitness.y),
    }
    nets = networks(splits)
    seed_spec = nets["nsga-net-seed"]
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "step_modes": lambda: step_modes(profile, nets, data, host_train, args.seed),
        "graphs_match": lambda: graphs_match(profile, seed_spec, data, args.seed),
        "concurrency": lambda: concurrency(profile, seed_spec, device),
        "batch_scaling": lambda: batch_scaling(profile, seed_spec, data, args.seed),
        "streams": lambda: streams(profile, seed_spec, device),
        "p1_seed_to_target": lambda: p1_seed_to_target(
            profile, seed_spec, data, settings, guard, args.seed
        ),
        "gpu_quickstart": lambda: gpu_quickstart(profile, args.data, guard),
        "learning_units": lambda: UNITS.survey_units(
            profile.learning_units, profile.learning_unit_epochs, seed_spec, data, args.seed
        ),
        "compile": lambda: compile_mode(profile, seed_spec, data, args.seed),
        "attacks": lambda: attacks(profile, nets, device),
        "mps": lambda: mps(profile, seed_spec, device),
    }
    assert tuple(sections) == FIGURES
    for name, run in sections.items():
        if args.only is not None and name not in args.only:
            continue
        if name in profile.cuda_only:
            result["skipped"][name] = "CUDA only: too slow for the CPU pass"
            continue
        if guard.left() <= 0:
            result["skipped"][name] = f"time limit of {profile.time_limit_s:.0f} s reached"
            continue
        print(f"[{name}] {guard.left():.0f} s left", flush=True)
        try:
            result[name] = run()
        except Exception as err:  # one broken section must not cost the others' figures
            result["skipped"][name] = f"failed: {type(err).__name__}: {str(err)[:300]}"
            print(f"[{name}] failed: {err!r}", flush=True)
        result["elapsed_s"] = guard.elapsed()
        write(args.out, result)
    result["elapsed_s"] = guard.elapsed()
    write(args.out, result)
    print(f"done in {guard.elapsed():.0f} s: {args.out / 'gpu_check.md'}")
    return result


def write(out: Path, result: dict[str, Any]) -> None:
    """Both files, replaced whole, so a killed run leaves the last complete section."""
    for name, text in (
        ("gpu_check.json", json.dumps(result, indent=2)),
        ("gpu_check.md", markdown(result)),
    ):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)


if __name__ == "__main__":
    main()
