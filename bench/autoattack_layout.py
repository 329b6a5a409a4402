"""Benchmark: what the attack layout (weights frozen, channels-last) saves AutoAttack.

``neronet.robustness.adversarial_correct`` attacks a network inside
``neronet.attacks.layout.attack_layout``: its weights frozen (pyautoattack's FAB calls
``backward()``, which otherwise also computes every weight's gradient) and, with
``attack.channels_last`` (the default), its activations in channels-last memory. This
script times two workloads on the survey's own architectures
(``configs/survey-fashion-mnist.yaml``'s ``--index``-th draws, freshly initialised: a
pass's cost does not depend on the weights): one FAB-T target class
(``attack_single_run``, as neronet drives it: gradient passes) and Square's kind of work
(forward passes without a graph), three ways: as the library is called, weights frozen,
and weights frozen with channels-last memory, taking turns over ``--rounds`` rounds. It
reports each way's median and its ratio to the first (the figures to quote: the shared
machine's load hits all alike), and how far each way's adversarial batch lies from the
first's (frozen: 0, bit for bit; channels-last: float rounding).

    python bench/autoattack_layout.py --index 25 40 41 42 \\
        --json-out bench/results/autoattack_layout_cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from eval_candidate import cpu_networks_result
from torch import nn

from neronet.attacks.layout import attack_layout
from neronet.attacks.running import configured_autoattack
from neronet.config import load_config
from neronet.genotype import structure_for
from neronet.nn import build, count_parameters
from neronet.spec import NetworkSpec
from neronet.survey.rows import sample

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "survey-fashion-mnist.yaml"
Layout = Callable[[nn.Module], AbstractContextManager[None]]
WAYS: dict[str, Layout] = {
    "as the library is called": lambda model: contextlib.nullcontext(),
    "weights frozen": lambda model: attack_layout(model, channels_last=False),
    "weights frozen, channels-last": lambda model: attack_layout(model, channels_last=True),
}
Workload = Callable[[nn.Module, torch.Tensor, torch.Tensor, argparse.Namespace], torch.Tensor]


def fab_target(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace
) -> torch.Tensor:
    """One FAB-T target class of ``args.steps`` steps, seeded alike every call."""
    aa = configured_autoattack(
        model, threat="linf", eps=0.03, attacks=None, seed=0, device=x.device, num_classes=10
    )
    aa.fab.n_iter, aa.fab.target_class = args.steps, 2
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return aa.fab.attack_single_run(x, y, use_rand_start=False, is_targeted=True)


def forward_passes(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace
) -> torch.Tensor:
    """``args.steps`` forward passes without a graph (a Square query is one); the logits."""
    with torch.no_grad():
        for _ in range(args.steps - 1):
            model(x)
        return model(x)


WORKLOADS: dict[str, Workload] = {"fab-t": fab_target, "forward": forward_passes}


def measure(spec: NetworkSpec, args: argparse.Namespace) -> dict[str, Any]:
    """Every workload every way, the ways in rotating order over the rounds."""
    model = build(spec).eval()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.images, 1, 28, 28, generator=generator)
    with torch.no_grad():  # FAB attacks only the images the model classifies "correctly"
        y = model(x).argmax(1)
    ways = list(WAYS)
    row: dict[str, Any] = {"parameters": count_parameters(spec)}
    for name, workload in WORKLOADS.items():
        times: dict[str, list[float]] = {way: [] for way in ways}
        found: dict[str, torch.Tensor] = {}
        for number in range(args.rounds):
            for way in ways[number % len(ways) :] + ways[: number % len(ways)]:
                start = time.perf_counter()
                with WAYS[way](model):
                    found[way] = workload(model, x, y, args)
                times[way].append(time.perf_counter() - start)
        medians = {way: statistics.median(values) for way, values in times.items()}
        first = ways[0]
        row[name] = {
            "seconds": times,
            "median_seconds": medians,
            "speedup": {way: medians[first] / medians[way] for way in ways},
            "max_difference": {way: float((found[way] - found[first]).abs().max()) for way in ways},
        }
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=int, nargs="+", default=[40], help="survey draws")
    parser.add_argument("--images", type=int, default=32, help="images in the batch")
    parser.add_argument("--steps", type=int, default=10, help="FAB steps / forward passes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)  # one lane's share, as a survey or experiment runs it
    config = load_config(CONFIG)
    structure = structure_for(config)
    networks = {}
    for index in args.index:
        spec, _ = sample(config, structure, index)[1].decode((1, 28, 28), 10)
        torch.manual_seed(index)
        networks[f"survey arch {index}"] = measure(spec, args)
    for name, row in networks.items():
        for workload in WORKLOADS:
            ratios = ", ".join(f"{w}: {r:.2f}x" for w, r in row[workload]["speedup"].items())
            print(f"{name} ({row['parameters']:,} parameters), {workload}: {ratios}")
    return cpu_networks_result(args, networks)


if __name__ == "__main__":
    main()
