"""Benchmark: what one candidate evaluation of the search costs on this machine.

NERO-Net spends ten minutes of training per candidate; neronet aims at under a
minute for the NSGA-Net seed on one H100. This script measures the pieces that
decide that figure, for the NSGA-Net seed and for a small hand-written network:

1. training throughput (images/s) of neronet's own training step
   (:func:`neronet.train.budgeted.train`: device-resident uint8 data, batched
   on-device augmentation, bf16 autocast and channels-last when ``amp: auto``
   picks them), timed over a fixed number of batches after warm-up batches,
   side by side with a *reference* loop written the way most PyTorch code is
   (``Dataset`` with a per-sample pad-crop-flip, ``DataLoader``, per-batch
   ``.to(device)``): the two alternate over ``--rounds`` rounds and the ratio
   of their medians is the figure to quote, since the machine's load hits both
   alike (absolute CPU throughputs on a shared machine are not);
2. FGSM throughput (images/s) of :func:`neronet.attacks.fgsm`;
3. one full :func:`neronet.evaluation.individual.evaluate_individual` on the paper's
   train/control/fitness proportions of CIFAR-10 for a fixed budget;
4. with ``--target-accuracy``: the time the seed needs to reach that accuracy on
   the fitness set (a GPU measurement; skipped on the CPU unless forced).

Everything runs through neronet's public functions so the numbers are those of
the search itself; the script only counts batches and reads clocks.

    python bench/eval_candidate.py --limit-per-class 200 --budget 20 --seed-batches 1
    python bench/eval_candidate.py --target-accuracy 0.85 --json-out target.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neronet import phenotype, seeds
from neronet.attacks import fgsm
from neronet.augment import DeviceData, DeviceSplit, default_pad, to_float
from neronet.config import FitnessConfig, TrainingConfig
from neronet.data import DataSplits, load_dataset, make_splits, paper_split_sizes
from neronet.errors import NeronetError
from neronet.evaluation.individual import EvalSettings, evaluate_individual
from neronet.nn import build, count_parameters, estimate_flops
from neronet.spec import INPUT, LayerSpec, LearningSpec, NetworkSpec, NodeSpec
from neronet.train.budgeted import train
from neronet.train.core import accuracy, amp_dtype, make_optimizer, resolve_device, seeded

DATA_HELP = (
    "CIFAR-10 zip, image folder or python-version batches"
    " (default: download it into neronet's cache)"
)

FIXED_LEARNING = LearningSpec(
    optimizer="sgd",
    lr=0.05,
    momentum=0.9,
    nesterov=True,
    decay=2e-4,
    batch_size=128,
    early_stop=10,
)
"""A plain, reasonable recipe (not tuned per network) for the small network and the
time-to-accuracy run, so that run measures the machine rather than a lucky draw
of the seed's evolvable learning unit."""

NEVER = 10**6
"""Patience / budget large enough never to trigger."""


class BatchClock:
    """``should_stop`` callback for :func:`train` that times a window of batches.

    :func:`train` asks ``should_stop`` before every batch, so call ``k`` happens
    right after ``k`` batches ran: the clock starts at call ``warmup`` and stops
    training at call ``warmup + count``, timing exactly ``count`` production
    training steps (pending CUDA work is waited for at both ends).
    """

    def __init__(self, warmup: int, count: int, device: torch.device) -> None:
        self.warmup, self.count, self.device = warmup, count, device
        self.calls = 0
        self.start = 0.0
        self.seconds: float | None = None

    def __call__(self) -> bool:
        if self.calls == self.warmup:
            self.start = synced_clock(self.device)
        if self.calls == self.warmup + self.count:
            self.seconds = synced_clock(self.device) - self.start
            return True
        self.calls += 1
        return False


def synced_clock(device: torch.device) -> float:
    """``perf_counter`` once the device's queued kernels are done (CUDA is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def small_spec(input_shape: tuple[int, int, int], num_classes: int) -> NetworkSpec:
    """Three conv-BN-ReLU stages (32/64/128 filters, max pooling between), global
    average pooling and a linear classifier: a cheap candidate for comparison."""

    def stage(filters: int, pool: bool) -> tuple[LayerSpec, ...]:
        conv = {"filters": filters, "kernel": 3, "stride": 1, "padding": "same", "bias": False}
        layers = (LayerSpec("conv", conv), LayerSpec("bn"), LayerSpec("act", {"fn": "relu"}))
        if not pool:
            return layers
        halve = {"op": "max", "kernel": 2, "stride": 2, "padding": "valid"}
        return (LayerSpec("pool", halve), *layers)

    nodes = (
        NodeSpec("stage", (INPUT,), stage(32, pool=False)),
        NodeSpec("stage", (0,), stage(64, pool=True)),
        NodeSpec("stage", (1,), stage(128, pool=True)),
        NodeSpec("gpool", (2,), (LayerSpec("gpool", {"op": "avg"}),)),
        NodeSpec("softmax", (3,), (LayerSpec("fc", {"units": num_classes, "bias": True}),)),
    )
    return NetworkSpec(input_shape=input_shape, num_classes=num_classes, nodes=nodes)


def candidates(splits: DataSplits) -> dict[str, tuple[NetworkSpec, LearningSpec]]:
    """The benchmarked networks, shaped for the data, with the learning each trains with."""
    seed = seeds.nsga_net()
    return {
        "nsga-net-seed": (
            phenotype.to_spec(seed, splits.input_shape, splits.num_classes),
            phenotype.to_learning(seed),
        ),
        "small": (small_spec(splits.input_shape, splits.num_classes), FIXED_LEARNING),
    }


def tiled(split: DeviceSplit, n: int) -> DeviceSplit:
    """``split`` repeated to at least ``n`` samples (one long epoch for a timing window)."""
    reps = math.ceil(n / len(split))
    if reps == 1:
        return split
    return DeviceSplit(split.x.repeat(reps, 1, 1, 1), split.y.repeat(reps))


def train_throughput(
    spec: NetworkSpec,
    learning: LearningSpec,
    data: DeviceData,
    settings: TrainingConfig,
    count: int,
    args: argparse.Namespace,
) -> tuple[float, nn.Module]:
    """Images/s of :func:`train`'s steps over ``count`` batches, and the model it trained
    (for the attack timing).

    The train split is tiled so the window never crosses an epoch end (whose
    control evaluation is not a training step).
    """
    batches = args.warmup_batches + count + 1
    window = replace(data, train=tiled(data.train, batches * learning.batch_size))
    with seeded(args.seed, data.device):
        model = build(spec)
    clock = BatchClock(args.warmup_batches, count, data.device)
    one_epoch = settings.model_copy(update={"max_epochs": 1})
    train(
        model,
        learning,
        window,
        one_epoch,
        NEVER,
        seed=args.seed,
        device=data.device,
        should_stop=clock,
    )
    if clock.seconds is None:
        raise RuntimeError("training stopped before the timing window closed")
    return count * learning.batch_size / clock.seconds, model


# --- Reference (baseline for the ratio; NOT part of neronet) -------------------------
# The training loop as most PyTorch code writes it: host-side uint8 tensors in a
# Dataset whose per-sample transform pads, random-crops and flips one image at a
# time (what torchvision's RandomCrop(padding=p) + RandomHorizontalFlip do), a
# DataLoader (shuffle, num_workers=0: one process, as fair on a 2-core machine),
# then per batch .to(device) and float conversion. Model, optimizer, loss,
# precision and memory layout are the same as neronet's, so the ratio measures
# the input pipeline and loop, not a different network or dtype.


class ReferenceImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """REFERENCE: uint8 images (N, C, H, W) and labels with a per-sample pad-crop-flip."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, pad: int, gen: torch.Generator) -> None:
        self.x, self.y, self.pad, self.gen = x, y, pad, gen

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        p, (h, w) = self.pad, self.x.shape[2:]
        image = F.pad(self.x[i], (p, p, p, p))
        top, left = torch.randint(0, 2 * p + 1, (2,), generator=self.gen).tolist()
        image = image[:, top : top + h, left : left + w]
        if torch.rand(1, generator=self.gen).item() < 0.5:
            image = image.flip(-1)
        return image, self.y[i]


def reference_throughput(
    spec: NetworkSpec,
    learning: LearningSpec,
    host_train: DeviceSplit,
    device: torch.device,
    settings: TrainingConfig,
    count: int,
    args: argparse.Namespace,
) -> float:
    """REFERENCE: images/s of the plain DataLoader loop over ``count`` batches after the
    same warm-up as :func:`train_throughput` (the clock includes loading each batch)."""
    total = args.warmup_batches + count
    data = tiled(host_train, total * learning.batch_size)
    pad = default_pad(data.x.shape[2]) if settings.augment_pad is None else settings.augment_pad
    dataset = ReferenceImages(data.x, data.y, pad, torch.Generator().manual_seed(args.seed))
    loader = DataLoader(
        dataset,
        batch_size=learning.batch_size,
        shuffle=True,
        num_workers=0,
        drop_last=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    with seeded(args.seed, device):
        model = build(spec).to(device)
    memory = torch.channels_last if settings.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory).train()
    optimizer = make_optimizer(model, learning, settings.weight_decay)
    amp = amp_dtype(settings.amp, device)
    loader_batches = iter(loader)
    start = 0.0
    for i in range(total):
        if i == args.warmup_batches:
            start = synced_clock(device)
        x, y = next(loader_batches)
        x = x.to(device).float().div_(255.0).contiguous(memory_format=memory)
        y = y.to(device)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return count * learning.batch_size / (synced_clock(device) - start)


# --- end of reference ---------------------------------------------------------------


def alternating(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every measurement once per round, reversing the order every other round
    (A B, B A, A B, ...), so a drift in the shared machine's load hits all alike."""
    results: dict[str, list[float]] = {name: [] for name in measures}
    order = list(measures)
    for _ in range(rounds):
        for name in order:
            results[name].append(measures[name]())
        order.reverse()
    return results


def fgsm_throughput(
    model: nn.Module,
    data: DeviceData,
    settings: TrainingConfig,
    eps: float,
    count: int,
    args: argparse.Namespace,
) -> float:
    """Images/s of FGSM on one fitness-set batch, in the evaluator's precision and layout."""
    batch = tiled(data.fitness, args.batch_size)
    x = to_float(batch.x[: args.batch_size], settings.channels_last)
    y = batch.y[: args.batch_size]
    amp = amp_dtype(settings.amp, data.device)
    start = 0.0
    for i in range(args.warmup_batches + count):
        if i == args.warmup_batches:
            start = synced_clock(data.device)
        fgsm(model, x, y, eps, amp_dtype=amp)
    return count * args.batch_size / (synced_clock(data.device) - start)


def bench_network(
    name: str,
    spec: NetworkSpec,
    learning: LearningSpec,
    data: DeviceData,
    host_train: DeviceSplit,
    settings: EvalSettings,
    count: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Sections 1-3 for one network, timing ``count`` batches per throughput."""
    print(f"[{name}] training throughput, ours vs reference, {args.rounds} rounds ...", flush=True)
    trained: list[nn.Module] = []

    def ours() -> float:
        images_per_s, model = train_throughput(spec, learning, data, settings.training, count, args)
        trained[:] = [model]
        return images_per_s

    def reference() -> float:
        return reference_throughput(
            spec, learning, host_train, data.device, settings.training, count, args
        )

    rounds = alternating({"ours": ours, "reference": reference}, args.rounds)
    train_ips = statistics.median(rounds["ours"])
    reference_ips = statistics.median(rounds["reference"])
    print(f"[{name}] FGSM throughput ...", flush=True)
    eps = settings.fitness.attack_eps
    fgsm_ips = fgsm_throughput(trained.pop(), data, settings.training, eps, count, args)
    print(f"[{name}] evaluate_individual, budget {args.budget:g} s ...", flush=True)
    evaluation = evaluate_individual(
        spec, learning, args.budget, data, settings, seed=args.seed, device=data.device
    )
    return {
        "parameters": count_parameters(spec),
        "mflops_per_image": estimate_flops(spec) / 1e6,
        "learning": learning.to_dict(),
        "timed_batches": count,
        "train_images_per_s": train_ips,
        "reference_train_images_per_s": reference_ips,
        "train_ratio_vs_reference": train_ips / reference_ips,
        "train_rounds_images_per_s": rounds,
        "fgsm_images_per_s": fgsm_ips,
        "evaluation": evaluation.to_record(),
    }


def time_to_target(
    spec: NetworkSpec, data: DeviceData, settings: TrainingConfig, args: argparse.Namespace
) -> dict[str, Any]:
    """Train the seed with :data:`FIXED_LEARNING` until its fitness-set accuracy reaches
    ``--target-accuracy`` or ``--target-cap`` seconds pass; the clock includes the
    per-epoch control and fitness evaluations, as a search would pay them."""
    learning = replace(FIXED_LEARNING, batch_size=args.batch_size, early_stop=NEVER)
    amp = amp_dtype(settings.amp, data.device)
    with seeded(args.seed, data.device):
        model = build(spec)
    curve: list[dict[str, Any]] = []
    reached: list[float] = []
    start = synced_clock(data.device)

    def on_epoch(record: dict[str, Any]) -> None:
        fit = accuracy(
            model,
            data.fitness,
            settings.eval_batch_size,
            channels_last=settings.channels_last,
            amp=amp,
        )
        elapsed = synced_clock(data.device) - start
        curve.append({**record, "fitness_accuracy": fit, "elapsed_s": elapsed})
        print(
            f"  epoch {record['epoch']:3d}  {elapsed:7.1f} s  control "
            f"{record['control_accuracy'] or 0:.4f}  fitness {fit:.4f}",
            flush=True,
        )
        if fit >= args.target_accuracy and not reached:
            reached.append(elapsed)

    result = train(
        model,
        learning,
        data,
        settings,
        args.target_cap,
        seed=args.seed,
        device=data.device,
        should_stop=lambda: bool(reached),
        progress=on_epoch,
    )
    return {
        "target_accuracy": args.target_accuracy,
        "reached": bool(reached),
        "seconds_to_target": reached[0] if reached else None,
        "cap_s": args.target_cap,
        "epochs": result.epochs,
        "best_fitness_accuracy": max((c["fitness_accuracy"] for c in curve), default=None),
        "learning": learning.to_dict(),
        "curve": curve,
    }


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, Any]:
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def cpu_networks_result(
    args: argparse.Namespace, networks: dict[str, Any], leave_out: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A one-thread CPU benchmark's record: the machine, its settings (less ``json_out``
    and ``leave_out``) and one row per network; written to ``args.json_out`` if given."""
    settings = {k: v for k, v in vars(args).items() if k not in ("json_out", *leave_out)}
    result = {
        "environment": environment(torch.device("cpu")),
        "settings": settings,
        "networks": networks,
    }
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2))
    return result


def paper_splits(
    name: str, data: Path | None, limit_per_class: int | None, seed: int
) -> DataSplits:
    """The dataset split in the paper's 43,000 : 3,500 : 3,500 proportions. CIFAR-10 comes
    from ``data`` or, without one, from the canonical download (cached), so a benchmark
    needs no file of this machine's; the other datasets ignore ``data``."""
    cifar = name == "cifar10"
    dataset = load_dataset(
        name,
        path=data if cifar else None,
        download=cifar and data is None,
        limit_per_class=limit_per_class,
    )
    return make_splits(dataset, *paper_split_sizes(len(dataset.y_train)), seed=seed)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("cifar10", "digits"), default="cifar10")
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument(
        "--limit-per-class",
        type=int,
        default=None,
        help="keep the first N images per class (CPU-sized runs)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--batch-size", type=int, default=None, help="default 128 (quick: 32)")
    parser.add_argument(
        "--warmup-batches",
        type=int,
        default=None,
        help="untimed batches first (default: 20 GPU, 2 CPU, 1 quick)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="timed batches (default: 100 GPU, 10 CPU, 2 quick)",
    )
    parser.add_argument(
        "--seed-batches",
        type=int,
        default=None,
        help="timed batches for the NSGA-Net seed (default: --batches; ~10 s each on a CPU)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="alternating ours/reference training timings, median taken (default: 3, quick 2)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="evaluate_individual budget in seconds (default: 60 GPU, 20 CPU)",
    )
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="epoch cap of evaluate_individual (quick: 1)"
    )
    parser.add_argument(
        "--target-accuracy",
        type=float,
        default=None,
        help="only measure the seed's time to this fitness accuracy (GPU)",
    )
    parser.add_argument(
        "--target-cap",
        type=float,
        default=600.0,
        help="give up the target run after this many seconds",
    )
    parser.add_argument(
        "--force-target", action="store_true", help="run the target measurement on the CPU anyway"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="fast smoke run: tiny data, few batches, short budget"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="write the results here")
    return parser.parse_args(argv)


def resolve_defaults(args: argparse.Namespace, device: torch.device) -> None:
    """Fill the settings left unset: quick, else GPU-sized or CPU-sized defaults."""
    gpu = device.type == "cuda"
    defaults: dict[str, Any] = (
        {
            "batch_size": 32,
            "warmup_batches": 1,
            "batches": 2,
            "rounds": 2,
            "budget": 2.0,
            "max_epochs": 1,
            "limit_per_class": 20,
        }
        if args.quick
        else {
            "batch_size": 128,
            "warmup_batches": 20 if gpu else 2,
            "batches": 100 if gpu else 10,
            "rounds": 3,
            "budget": 60.0 if gpu else 20.0,
        }
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seed_batches is None:
        args.seed_batches = args.batches


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(networks: dict[str, dict[str, Any]]) -> None:
    header = (
        f"{'network':14} {'params':>9} {'MFLOPs':>7} {'train img/s':>11} "
        f"{'ref img/s':>9} {'ours/ref':>8} {'FGSM img/s':>10} {'train s':>7} {'epochs':>6} "
        f"{'clean':>6} {'FGSM':>6} {'FGSM|C':>6} {'attack s':>8}  status"
    )
    print(header)
    print("-" * len(header))
    for name, row in networks.items():
        ev = row["evaluation"]
        m = ev["metrics"]
        print(
            f"{name:14} {row['parameters']:>9,} {row['mflops_per_image']:>7.1f} "
            f"{row['train_images_per_s']:>11.1f} {row['reference_train_images_per_s']:>9.1f} "
            f"{row['train_ratio_vs_reference']:>8.2f} {row['fgsm_images_per_s']:>10.1f} "
            f"{ev['seconds'].get('train', 0.0):>7.1f} {ev['epochs']:>6} "
            f"{fmt(m.get('clean_accuracy'), '.4f'):>6} "
            f"{fmt(m.get('overall_adversarial_accuracy'), '.4f'):>6} "
            f"{fmt(m.get('adversarial_accuracy'), '.4f'):>6} "
            f"{ev['seconds'].get('fgsm', 0.0):>8.2f}  "
            f"{ev['status']}{'' if ev['reason'] is None else ' (' + ev['reason'] + ')'}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns (and optionally writes) the JSON-able results."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    resolve_defaults(args, device)
    env = environment(device)
    command = sys.argv[1:] if argv is None else argv
    print(
        f"device {env['device_name']} ({env['device']}), cpu {env['cpu']} "
        f"x{env['cpu_count']}, torch {env['torch']} ({env['torch_threads']} threads)"
    )
    result: dict[str, Any] = {
        "environment": env,
        "command": " ".join(["python", "bench/eval_candidate.py", *command]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    training = TrainingConfig(device=str(device), max_epochs=args.max_epochs)
    if args.target_accuracy is not None and device.type != "cuda" and not args.force_target:
        print(
            "--target-accuracy measures GPU training time; no CUDA device here, skipped "
            "(pass --force-target to run it on the CPU anyway)"
        )
        result["target"] = {"skipped": "needs a GPU"}
    else:
        splits = paper_splits(args.dataset, args.data, args.limit_per_class, args.seed)
        print(
            f"data {args.dataset}: train {len(splits.train.y)}, control "
            f"{len(splits.control.y)}, fitness {len(splits.fitness.y)} images"
        )
        data = DeviceData.from_splits(splits, device)
        nets = candidates(splits)
        if args.target_accuracy is not None:
            seed_spec = nets["nsga-net-seed"][0]
            target = time_to_target(seed_spec, data, training, args)
            result["target"] = target
            print(
                f"seed to {args.target_accuracy:.0%} fitness accuracy: "
                f"{fmt(target['seconds_to_target'], '.1f')} s "
                f"({target['epochs']} epochs, best {fmt(target['best_fitness_accuracy'], '.4f')})"
            )
        else:
            settings = EvalSettings(training=training, fitness=FitnessConfig())
            host_train = DeviceSplit.from_split(splits.train, "cpu")
            counts = {"nsga-net-seed": args.seed_batches}
            result["networks"] = {
                name: bench_network(
                    name,
                    spec,
                    replace(learning, batch_size=args.batch_size),
                    data,
                    host_train,
                    settings,
                    counts.get(name, args.batches),
                    args,
                )
                for name, (spec, learning) in nets.items()
            }
            print_table(result["networks"])
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    try:
        main()
    except NeronetError as err:
        sys.exit(f"error: {err}")
