"""One prepared GPU check: every GPU figure BENCHMARKS.md waits for, in one command.

A session with a GPU gets a few minutes of device time in all, so the figures
are measured by one script with a global time guard, written to ``--out`` as
JSON and markdown after every section (a section that does not fit in the time
left is skipped and says so, and what finished is already on disk):

1. ``p1_seed_to_target``: the NSGA-Net seed evaluated as the search evaluates a
   candidate (:func:`neronet.evaluation.individual.evaluate_individual`: training, clean
   accuracy and FGSM on the fitness set, 3,500 CIFAR-10 images), training with a
   fixed recipe until its control-set accuracy reaches the target (85 %); the
   figure is the candidate's total time (target: 30 s on one H200);
2. ``training_throughput``: training images/s of :func:`neronet.train.budgeted.train`
   under bf16 autocast and in fp32, and of the plain DataLoader reference loop of
   ``bench/eval_candidate.py``, for the seed and a small CNN;
3. ``attacks``: FGSM and PGD-20 images/s of :mod:`neronet.attacks` against
   foolbox and torchattacks (``pip install --no-deps torchattacks``; left out when
   not importable), as in ``bench/attack_throughput.py``;
4. ``candidates``: one budgeted ``evaluate_individual`` per network (the seed with
   its own learning unit) with the CUDA peak memory it needed.

On a machine without CUDA the same code paths run on a tiny budget (digits, 20
images per class, one epoch, a few batches) in well under a minute; a test runs
that mode, so the script cannot rot before a GPU session uses it.

    python bench/gpu_check.py --out gpu-check [--data PATH/cifar10/train.zip]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from neronet.augment import DeviceData, DeviceSplit
from neronet.config import FitnessConfig, TrainingConfig
from neronet.data import DataSplits, load_dataset, make_splits, paper_split_sizes
from neronet.evaluation.individual import EvalSettings, evaluate_individual
from neronet.nn import build, count_parameters
from neronet.phenotype import to_learning, to_spec
from neronet.seeds import nsga_net
from neronet.spec import LearningSpec, NetworkSpec
from neronet.train.core import resolve_device


def _sibling(name: str) -> ModuleType | None:
    """A script of bench/ (not a package) as a module; None when its imports are missing."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
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
assert EVAL is not None

FIGURES = ("p1_seed_to_target", "training_throughput", "attacks", "candidates")
"""The sections, in the order they run (most wanted first, in case time runs out)."""


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
    attack_batch: int
    attack_repeats: int
    target_accuracy: float
    target_cap_s: float
    candidate_budget_s: float
    max_epochs: int | None
    reserve_s: float
    """Time kept for the sections after P1 when sizing its cap."""


GPU = Profile(
    dataset="cifar10",
    limit_per_class=None,
    time_limit_s=450.0,
    batch_size=128,
    warmup_batches=20,
    timed_batches=100,
    rounds=3,
    attack_batch=128,
    attack_repeats=5,
    target_accuracy=0.85,
    target_cap_s=240.0,
    candidate_budget_s=30.0,
    max_epochs=None,
    reserve_s=150.0,
)
CPU = Profile(
    dataset="digits",
    limit_per_class=20,
    time_limit_s=50.0,
    batch_size=16,
    warmup_batches=1,
    timed_batches=2,
    rounds=1,
    attack_batch=8,
    attack_repeats=1,
    target_accuracy=0.0,
    target_cap_s=10.0,
    candidate_budget_s=3.0,
    max_epochs=1,
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


def load_splits(profile: Profile, data: Path, seed: int) -> DataSplits:
    """The dataset split in the paper's 43,000 : 3,500 : 3,500 proportions."""
    path = data if profile.dataset == "cifar10" else None
    dataset = load_dataset(profile.dataset, path=path, limit_per_class=profile.limit_per_class)
    return make_splits(dataset, *paper_split_sizes(len(dataset.y_train)), seed=seed)


def networks(splits: DataSplits) -> dict[str, NetworkSpec]:
    """The benchmarked networks, shaped for the data: the NSGA-Net seed and a small CNN."""
    return {
        "nsga-net-seed": to_spec(nsga_net(), splits.input_shape, splits.num_classes),
        "small": EVAL.small_spec(splits.input_shape, splits.num_classes),
    }


def p1_seed_to_target(
    profile: Profile,
    seed_spec: NetworkSpec,
    data: DeviceData,
    settings: EvalSettings,
    guard: Guard,
    seed: int,
) -> dict[str, Any]:
    """The seed as one search candidate, trained until the control set reaches the target.

    The control set (3,500 images, never trained on) decides when to stop, as early
    stopping does in a search; the fitness set then gives the reported accuracies.
    """
    learning = replace(EVAL.FIXED_LEARNING, batch_size=profile.batch_size, early_stop=EVAL.NEVER)
    cap = max(min(profile.target_cap_s, guard.left() - profile.reserve_s), 1.0)
    curve: list[dict[str, Any]] = []

    def on_epoch(record: dict[str, Any]) -> None:
        curve.append({"epoch": record["epoch"], "control_accuracy": record["control_accuracy"]})
        print(f"  epoch {record['epoch']}: control accuracy {record['control_accuracy'] or 0:.4f}")

    def reached() -> bool:
        return bool(curve) and (curve[-1]["control_accuracy"] or 0.0) >= profile.target_accuracy

    evaluation, peak = peak_memory(
        data.device,
        lambda: evaluate_individual(
            seed_spec,
            learning,
            cap,
            data,
            settings,
            seed=seed,
            should_stop=reached,
            progress=on_epoch,
        ),
    )
    return {
        "target_control_accuracy": profile.target_accuracy,
        "reached": reached(),
        "cap_s": cap,
        "fitness_images": len(data.fitness.y),
        "total_s": sum(evaluation.seconds.values()),
        "peak_cuda_memory_bytes": peak,
        "learning": learning.to_dict(),
        "curve": curve,
        "evaluation": evaluation.to_record(),
    }


def training_throughput(
    profile: Profile,
    nets: dict[str, NetworkSpec],
    data: DeviceData,
    host_train: DeviceSplit,
    seed: int,
) -> dict[str, Any]:
    """Training images/s of ours in bf16 and in fp32, and of the reference loop.

    The three alternate over ``rounds`` (medians reported) so load changes hit all
    alike. The reference runs in the precision ``amp: auto`` picks (bf16 on CUDA,
    fp32 on the CPU) and is compared with ours in that same precision.
    """
    timing = argparse.Namespace(warmup_batches=profile.warmup_batches, seed=seed)
    learning = replace(EVAL.FIXED_LEARNING, batch_size=profile.batch_size)
    auto = TrainingConfig(device=str(data.device))
    same_as_reference = "bf16" if data.device.type == "cuda" else "fp32"
    rows: dict[str, Any] = {}
    for name, spec in nets.items():

        def ours(amp: str, spec: NetworkSpec = spec) -> float:
            settings = auto.model_copy(update={"amp": amp})
            count = profile.timed_batches
            return EVAL.train_throughput(spec, learning, data, settings, count, timing)[0]

        def reference(spec: NetworkSpec = spec) -> float:
            count = profile.timed_batches
            return EVAL.reference_throughput(
                spec, learning, host_train, data.device, auto, count, timing
            )

        measures = {
            "bf16": lambda: ours("bf16"),
            "fp32": lambda: ours("off"),
            "reference": reference,
        }
        rounds = EVAL.alternating(measures, profile.rounds)
        median = {key: statistics.median(values) for key, values in rounds.items()}
        rows[name] = {
            "parameters": count_parameters(spec),
            "images_per_s": median,
            "bf16_over_fp32": median["bf16"] / median["fp32"],
            "ours_over_reference": median[same_as_reference] / median["reference"],
            "rounds": rounds,
        }
    return rows


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


def candidates(
    profile: Profile,
    nets: dict[str, NetworkSpec],
    data: DeviceData,
    settings: EvalSettings,
    guard: Guard,
    seed: int,
) -> dict[str, Any]:
    """One budgeted candidate evaluation per network and the CUDA memory it peaked at.

    The seed trains with its own learning unit (its batch size included),
    as generation 0 of a search trains it; the small CNN with the fixed recipe.
    """
    learnings: dict[str, LearningSpec] = {
        "nsga-net-seed": to_learning(nsga_net()),
        "small": replace(EVAL.FIXED_LEARNING, batch_size=profile.batch_size),
    }
    budget = max(min(profile.candidate_budget_s, guard.left() / 3), 1.0)
    rows: dict[str, Any] = {}
    for name, spec in nets.items():
        evaluation, peak = peak_memory(
            data.device,
            lambda spec=spec, name=name: evaluate_individual(
                spec, learnings[name], budget, data, settings, seed=seed
            ),
        )
        rows[name] = {
            "budget_s": budget,
            "batch_size": learnings[name].batch_size,
            "peak_cuda_memory_bytes": peak,
            "evaluation": evaluation.to_record(),
        }
    return rows


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
    skipped = result["skipped"]
    p1 = result.get("p1_seed_to_target")
    if p1 is not None:
        ev = p1["evaluation"]
        m, sec = ev["metrics"], ev["seconds"]
        lines += [
            "## P1: the NSGA-Net seed to the target accuracy, plus FGSM on the fitness set",
            "",
            "| target (control) | reached | epochs | train s | clean eval s | FGSM s "
            "| masking check s | total s | fitness images | clean | FGSM conditional | peak MiB |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {p1['target_control_accuracy']:.2f} | {p1['reached']} | {ev['epochs']} "
            f"| {sec.get('train', 0):.1f} | {sec.get('predict', 0):.2f} | {sec.get('fgsm', 0):.2f} "
            f"| {sec.get('masking', 0):.2f} | {p1['total_s']:.1f} | {p1['fitness_images']:,} "
            f"| {_num(m.get('clean_accuracy'))} | {_num(m.get('adversarial_accuracy'))} "
            f"| {_mib(p1['peak_cuda_memory_bytes'])} |",
            "",
        ]
    throughput = result.get("training_throughput")
    if throughput is not None:
        lines += [
            "## Training throughput (images/s, medians of alternating rounds)",
            "",
            "| network | params | ours bf16 | ours fp32 | reference | bf16 / fp32 "
            "| ours / reference |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in throughput.items():
            ips = row["images_per_s"]
            lines.append(
                f"| {name} | {row['parameters']:,} | {ips['bf16']:,.0f} | {ips['fp32']:,.0f} "
                f"| {ips['reference']:,.0f} | {row['bf16_over_fp32']:.2f} "
                f"| {row['ours_over_reference']:.2f} |"
            )
        lines.append("")
    attack_rows = result.get("attacks")
    if attack_rows is not None and "skipped" not in attack_rows:
        lines += [
            "## Attacks (images/s, L-inf eps 8/255; PGD-20 step 2/255)",
            "",
            "| network | attack | implementation | images/s | neronet / this |",
            "|---|---|---|---:|---:|",
        ]
        for name, by_attack in attack_rows.items():
            for attack, rates in by_attack.items():
                for impl, rate in rates.items():
                    ratio = "" if impl.startswith("neronet") else f"{rates['neronet'] / rate:.2f}x"
                    lines.append(f"| {name} | {attack} | {impl} | {rate:,.1f} | {ratio} |")
        lines.append("")
    rows = result.get("candidates")
    if rows is not None:
        lines += [
            "## One candidate evaluation per network",
            "",
            "| network | batch | budget s | status | epochs | clean | FGSM conditional "
            "| peak MiB |",
            "|---|---:|---:|---|---:|---:|---:|---:|",
        ]
        for name, row in rows.items():
            ev = row["evaluation"]
            lines.append(
                f"| {name} | {row['batch_size']} | {row['budget_s']:.0f} | {ev['status']} "
                f"| {ev['epochs']} | {_num(ev['metrics'].get('clean_accuracy'))} "
                f"| {_num(ev['metrics'].get('adversarial_accuracy'))} "
                f"| {_mib(row['peak_cuda_memory_bytes'])} |"
            )
        lines.append("")
    if skipped:
        lines += ["Skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()), ""]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON and markdown")
    parser.add_argument(
        "--data", type=Path, default=EVAL.DEFAULT_DATA, help="CIFAR-10 zip (default: %(default)s)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--time-limit", type=float, default=None, help="seconds (default: 450 GPU, 50 CPU)"
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
    with Guard(profile.time_limit_s) as guard:
        return run_all(args, sys.argv[1:] if argv is None else argv, device, profile, guard)


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
    splits = load_splits(profile, args.data, args.seed)
    data = DeviceData.from_splits(splits, device)
    host_train = DeviceSplit.from_split(splits.train, "cpu")
    training = TrainingConfig(device=str(device), max_epochs=profile.max_epochs)
    settings = EvalSettings(training=training, fitness=FitnessConfig())
    result["data"] = {
        "dataset": profile.dataset,
        "train": len(splits.train.y),
        "control": len(splits.control.y),
        "fitness": len(splits.fitness.y),
    }
    nets = networks(splits)
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "p1_seed_to_target": lambda: p1_seed_to_target(
            profile, nets["nsga-net-seed"], data, settings, guard, args.seed
        ),
        "training_throughput": lambda: training_throughput(
            profile, nets, data, host_train, args.seed
        ),
        "attacks": lambda: attacks(profile, nets, device),
        "candidates": lambda: candidates(profile, nets, data, settings, guard, args.seed),
    }
    assert tuple(sections) == FIGURES
    for name, run in sections.items():
        if guard.left() <= 0:
            result["skipped"][name] = f"time limit of {profile.time_limit_s:.0f} s reached"
            continue
        print(f"[{name}] {guard.left():.0f} s left", flush=True)
        result[name] = run()
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
