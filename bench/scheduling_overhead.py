"""Scheduling overhead per candidate: worker pool and Ray versus the evaluation itself.

Evaluates the same batch of small CNNs on sklearn's digits with the in-process
executor (the baseline: no scheduling at all), the local worker pool and the
Ray executor (a local Ray cluster it starts). For the pool and Ray, each
executor's :class:`~neronet.execution.scheduling.SchedulingStats` separates the
time a candidate spent being evaluated inside a worker from its round trip
(submit -> result back in the search process); the difference is the
scheduling overhead: pickling the request and the result (trained weights
included), the pipe or Ray's object transfer, and wake-ups.

    OMP_NUM_THREADS=1 python bench/scheduling_overhead.py --candidates 16 --workers 2

Prints a markdown table (paste it into BENCHMARKS.md) and the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

import torch

from neronet.config import NeroConfig, load_config
from neronet.execution.base import EvalRequest, make_executor
from neronet.execution.scheduling import SlotExecutor
from neronet.spec import LayerSpec, LearningSpec, NetworkSpec, NodeSpec


@dataclass
class Row:
    executor: str
    workers: int
    startup_s: float
    wall_s: float
    compute_s: float
    overhead_s: float | None
    weights_kb: float


def small_cnn(filters: int) -> NetworkSpec:
    """Two 3x3 convolutions, global pooling and a classifier for 8x8 digits."""

    def conv(n: int) -> LayerSpec:
        params = {"filters": n, "kernel": 3, "stride": 1, "padding": "same", "bias": False}
        return LayerSpec("conv", params)

    relu = LayerSpec("act", {"fn": "relu"})
    return NetworkSpec(
        (1, 8, 8),
        10,
        (
            NodeSpec("conv", (-1,), (conv(filters), LayerSpec("bn"), relu)),
            NodeSpec("conv", (0,), (conv(2 * filters), LayerSpec("bn"), relu)),
            NodeSpec("pool", (1,), (LayerSpec("gpool", {"op": "avg"}),)),
            NodeSpec("fc", (2,), (LayerSpec("fc", {"units": 10, "bias": True}),)),
        ),
    )


def requests(count: int, filters: int) -> list[EvalRequest]:
    learning = LearningSpec(optimizer="adam", lr=0.01, batch_size=64, early_stop=50)
    spec = small_cnn(filters)
    return [EvalRequest(f"c{i}", spec, learning, 1000.0, seed=i) for i in range(count)]


def measure(config: NeroConfig, batch: list[EvalRequest]) -> Row:
    start = time.perf_counter()
    with make_executor(config) as executor:
        startup = time.perf_counter() - start
        start = time.perf_counter()
        results = list(executor.evaluate(batch))
        wall = time.perf_counter() - start
        invalid = [ev.reason for _, ev in results if ev.status == "invalid"]
        if invalid:
            raise SystemExit(f"a candidate could not be evaluated: {invalid[0]}")
        weights = sum(len(ev.weights or b"") for _, ev in results) / len(results) / 1024
        if isinstance(executor, SlotExecutor):
            stats = executor.stats
            compute, overhead = stats.worker_seconds / stats.tasks, stats.overhead_per_task
        else:
            compute, overhead = wall / len(batch), None  # in-process: nothing to schedule
    kind = config.executor.kind
    workers = 1 if kind == "local" else config.executor.workers or 0
    return Row(kind, workers, startup, wall, compute, overhead, weights)


def machine() -> str:
    model = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as handle:
            names = [
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            ]
        model = names[0] if names else model
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{model}, {os.cpu_count()} logical cores, {gpu}; {platform.platform()}"


def table(rows: list[Row]) -> str:
    lines = [
        "| executor | workers | startup s | wall s | evaluation s / candidate "
        "| overhead ms / candidate | overhead share | weights KiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        overhead = "-" if r.overhead_s is None else f"{1000 * r.overhead_s:.1f}"
        share = "-" if r.overhead_s is None else f"{100 * r.overhead_s / r.compute_s:.2f} %"
        lines.append(
            f"| {r.executor} | {r.workers} | {r.startup_s:.1f} | {r.wall_s:.1f} "
            f"| {r.compute_s:.3f} | {overhead} | {share} | {r.weights_kb:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--executors", default="local,workers,ray")
    args = parser.parse_args()
    base = [
        "data.train=500",
        "data.control=100",
        "data.fitness=100",
        f"training.max_epochs={args.epochs}",
        "training.device=cpu",
        "executor.devices=[cpu]",
        "executor.num_gpus=0",
        f"executor.workers={args.workers}",
    ]
    batch = requests(args.candidates, args.filters)
    rows = [
        measure(load_config(None, [*base, f"executor.kind={kind}"]), batch)
        for kind in args.executors.split(",")
    ]
    print(f"machine: {machine()}")
    print(f"{args.candidates} candidates, {args.epochs} epochs each on 500 digits\n")
    print(table(rows))


if __name__ == "__main__":
    main()
