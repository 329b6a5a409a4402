"""Benchmark: what share of the paper grammar's random learning units train at all.

NERO-Net draws the learning unit of every individual at random, the NSGA-Net
seed's included (SGD, Adam or RMSProp; ``lr = 10^k``, ``k`` in -6..-1; Adam's
betas and RMSProp's rho in [0.5, 1]; batch size and decay drawn too). This
script draws ``--units`` of them with the paper's grammar (``nero-net.grammar``),
trains the NSGA-Net seed architecture with each for ``--epochs`` epochs, as a
search evaluates a candidate (:func:`neronet.evaluation.individual.evaluate_individual`,
clean accuracy only), and counts the healthy ones (status ``ok``: neither one class
predicted for most of the fitness set nor a non-finite loss).

    OMP_NUM_THREADS=2 python bench/learning_units.py --network small --limit-per-class 300 \\
        --epochs 2 --units 20 --json-out bench/results/learning_units_cpu.json

On a 2-core CPU the seed trains about 10 CIFAR-10 images/s, so the CPU run uses the
small CNN of ``bench/eval_candidate.py`` (3 conv-BN-ReLU stages) instead: the learning
unit, not the architecture, decides whether a network trains at all here.

``bench/gpu_check.py`` runs the same survey on the full CIFAR-10 split on a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from eval_candidate import DATA_HELP, paper_splits, small_spec

from neronet.augment import DeviceData
from neronet.config import FitnessConfig, TrainingConfig
from neronet.evaluation.individual import EvalSettings, evaluate_individual
from neronet.phenotype import to_learning, to_spec
from neronet.seeds import nsga_net
from neronet.spec import NetworkSpec
from neronet.train.budgeted import Budget
from neronet.train.core import resolve_device


def survey_units(
    count: int, epochs: int, spec: NetworkSpec, data: DeviceData, seed: int
) -> dict[str, Any]:
    """``count`` random learning units, each training ``spec`` for ``epochs`` epochs, after
    the fixed unit (SGD 0.1, Nesterov: ``search.seed_learning=fixed``) as the control that
    the budget suffices for a good unit."""
    rng = np.random.default_rng(seed)
    training = TrainingConfig(device=str(data.device))
    settings = EvalSettings(training=training, fitness=FitnessConfig(), measurements=("clean",))
    units = []
    control = to_learning(nsga_net())
    for learning in [control, *(to_learning(nsga_net(rng=rng)) for _ in range(count))]:
        start = time.perf_counter()
        evaluation = evaluate_individual(
            spec, learning, Budget(epochs, "epochs"), data, settings, seed=seed
        )
        units.append(
            {
                "learning": learning.to_dict(),
                "status": evaluation.status,
                "reason": evaluation.reason,
                "clean_accuracy": evaluation.metrics.get("clean_accuracy"),
                "seconds": time.perf_counter() - start,
            }
        )
        print(
            f"  {learning.optimizer} lr {learning.lr:.3g} batch {learning.batch_size}: "
            f"{evaluation.status}",
            flush=True,
        )
    fixed, units = units[0], units[1:]
    healthy = sum(unit["status"] == "ok" for unit in units)
    return {
        "epochs": epochs,
        "fixed_unit": fixed,
        "units": units,
        "healthy": healthy,
        "share_healthy": healthy / len(units),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--limit-per-class", type=int, default=100)
    parser.add_argument("--units", type=int, default=24)
    parser.add_argument(
        "--network", choices=("seed", "small"), default="seed", help="the architecture trained"
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    splits = paper_splits("cifar10", args.data, args.limit_per_class, args.seed)
    spec = (
        to_spec(nsga_net(), splits.input_shape, splits.num_classes)
        if args.network == "seed"
        else small_spec(splits.input_shape, splits.num_classes)
    )
    data = DeviceData.from_splits(splits, device)
    result = survey_units(args.units, args.epochs, spec, data, args.seed)
    result.update(
        network=args.network,
        device=str(device),
        train_images=len(splits.train.y),
        fitness_images=len(splits.fitness.y),
        command="python bench/learning_units.py " + " ".join(argv or []),
    )
    print(f"healthy: {result['healthy']} of {args.units} ({result['share_healthy']:.0%})")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
