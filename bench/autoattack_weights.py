"""Benchmark: what freezing the weights saves AutoAttack's FAB-T.

pyautoattack's FAB calls ``backward()``, so on a model whose parameters require
gradients every FAB step also computes (and accumulates) every weight's gradient,
which an attack never uses. ``neronet.attacks.running.autoattack_correct`` freezes the
parameters while AutoAttack runs (``frozen_parameters``). This script times one FAB-T
target class (``attack_single_run``, as neronet drives it) on the survey's own
architectures (``configs/survey-fashion-mnist.yaml``'s ``--index``-th draws, freshly
initialised: the cost of a step does not depend on the weights), both ways, the two
taking turns over ``--rounds`` rounds, and reports the ratio of the median times (the
figure to quote: the shared machine's load hits both alike). It also checks that the
adversarial batches are bit for bit the same.

    python bench/autoattack_weights.py --index 40 41 42 \\
        --json-out bench/results/autoattack_weights_cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from eval_candidate import environment
from torch import nn

from neronet.attacks.running import configured_autoattack, frozen_parameters
from neronet.config import load_config
from neronet.genotype import structure_for
from neronet.nn import build, count_parameters
from neronet.spec import NetworkSpec
from neronet.survey.run import sample

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "survey-fashion-mnist.yaml"
WAYS = ("weights require gradients", "weights frozen")


def fab_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> torch.Tensor:
    """One FAB-T target class of ``steps`` steps, seeded alike every call."""
    aa = configured_autoattack(
        model,
        threat="linf",
        eps=0.03,
        attacks=None,
        seed=0,
        device=x.device,
        num_classes=10,
    )
    aa.fab.n_iter, aa.fab.target_class = steps, 2
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return aa.fab.attack_single_run(x, y, use_rand_start=False, is_targeted=True)


def measure(spec: NetworkSpec, args: argparse.Namespace) -> dict[str, Any]:
    """Both ways in alternating order over the rounds; the ratio of the medians."""
    model = build(spec).eval()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.images, 1, 28, 28, generator=generator)
    with torch.no_grad():  # FAB attacks only the images the model classifies "correctly"
        y = model(x).argmax(1)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    found: dict[str, torch.Tensor] = {}
    for number in range(args.rounds):
        order = WAYS if number % 2 == 0 else tuple(reversed(WAYS))
        for way in order:
            frozen = frozen_parameters(model) if way == WAYS[1] else contextlib.nullcontext()
            start = time.perf_counter()
            with frozen:
                found[way] = fab_step(model, x, y, args.steps)
            times[way].append(time.perf_counter() - start)
    medians = {way: statistics.median(values) for way, values in times.items()}
    return {
        "parameters": count_parameters(spec),
        "seconds": times,
        "median_seconds": medians,
        "speedup": medians[WAYS[0]] / medians[WAYS[1]],
        "same_adversarial_batch": bool(torch.equal(*found.values())),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=int, nargs="+", default=[40], help="survey draws")
    parser.add_argument("--images", type=int, default=32, help="images in the batch")
    parser.add_argument("--steps", type=int, default=10, help="FAB steps (standard: 100)")
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
    result = {
        "environment": environment(torch.device("cpu")),
        "settings": {k: v for k, v in vars(args).items() if k != "json_out"},
        "networks": networks,
    }
    for name, row in networks.items():
        print(f"{name} ({row['parameters']:,} parameters): {row['speedup']:.2f}x faster frozen")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
