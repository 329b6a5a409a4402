"""Benchmark: what testing the held-out split after every epoch costs a retraining.

``neronet train`` (and a survey's or an experiment's ground truth) used to test the
whole test split after every epoch; ``posttrain.test_every=0`` (now the default) tests
it once, after the last. This script retrains each given architecture through
:func:`neronet.train.posttrain.train_seeds` both ways, the two taking turns over
``--rounds`` rounds, on data shaped as a survey's (2,500 training images, a 10,000-image
test split, the model's own image size; random pixels: time does not depend on them),
and reports the ratio of the median times: the figure to quote, since the shared
machine's load hits both alike. The weights come out the same either way (tested in
tests/test_posttrain.py); only the time differs.

    python bench/posttrain_testing.py --models a/model.safetensors b/model.safetensors \\
        --json-out bench/results/posttrain_testing_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from eval_candidate import cpu_networks_result, small_spec

from neronet.artifact import read_model_file
from neronet.config import PostTrainConfig, StandardTraining
from neronet.data import Dataset
from neronet.nn import count_parameters
from neronet.spec import NetworkSpec
from neronet.train.posttrain import train_seeds

WAYS = {"every epoch": 1, "after the last": 0}
"""``posttrain.test_every`` of the two ways timed."""


def synthetic(shape: tuple[int, int, int], classes: int, train: int, test: int) -> Dataset:
    """Random uint8 images and labels of a survey's sizes (seeded: the same each run)."""
    rng = np.random.default_rng(0)

    def images(n: int) -> np.ndarray:
        return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)

    labels = [f"c{i}" for i in range(classes)]
    y_train = rng.integers(0, classes, size=train).astype(np.int64)
    y_test = rng.integers(0, classes, size=test).astype(np.int64)
    return Dataset("synthetic", images(train), y_train, labels, images(test), y_test)


def retrain_seconds(spec: NetworkSpec, data: Dataset, epochs: int, test_every: int) -> float:
    """Wall time of one seed's retraining (checkpoints included) in a fresh folder."""
    config = PostTrainConfig(
        seeds=1,
        device="cpu",
        amp="off",
        test_every=test_every,
        standard=StandardTraining(epochs=epochs, batch_size=64),
    )
    with tempfile.TemporaryDirectory(prefix="posttrain-testing-") as out:
        start = time.perf_counter()
        train_seeds(spec, data, config, out)
        return time.perf_counter() - start


def measure(spec: NetworkSpec, args: argparse.Namespace) -> dict[str, Any]:
    """Both ways in alternating order over the rounds; the ratio of the medians."""
    data = synthetic(spec.input_shape, spec.num_classes, args.train, args.test)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for number in range(args.rounds):
        order = list(WAYS) if number % 2 == 0 else list(reversed(WAYS))
        for way in order:
            times[way].append(retrain_seconds(spec, data, args.epochs, WAYS[way]))
    medians = {way: statistics.median(values) for way, values in times.items()}
    return {
        "parameters": count_parameters(spec),
        "seconds": times,
        "median_seconds": medians,
        "speedup": medians["every epoch"] / medians["after the last"],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        type=Path,
        nargs="*",
        default=[],
        help="model files (neronet train's model.safetensors); none: a small 28x28 network",
    )
    parser.add_argument("--train", type=int, default=2500, help="training images")
    parser.add_argument("--test", type=int, default=10_000, help="test images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)  # one lane's share, as a survey or experiment runs it
    if args.models:
        specs = {str(path): read_model_file(path)[0] for path in args.models}
    else:
        specs = {"small (bench/eval_candidate.py)": small_spec((1, 28, 28), 10)}
    networks = {name: measure(spec, args) for name, spec in specs.items()}
    for name, row in networks.items():
        print(f"{name}: {row['speedup']:.2f}x faster testing after the last epoch only")
    return cpu_networks_result(args, networks, leave_out=("models",))


if __name__ == "__main__":
    main()
