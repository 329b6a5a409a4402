"""Benchmark: neronet's FGSM and PGD-20 against independent implementations.

Runs :func:`neronet.attacks.fgsm` and :func:`neronet.attacks.pgd` (L-inf, eps
8/255, step 2/255, 20 steps, random start) side by side with foolbox 3's
``LinfFastGradientAttack`` / ``LinfPGD`` (and torchattacks' ``FGSM`` / ``PGD``
when that package is importable) on the same model, the same batch and the
same device, and reports images/s and the ratio ours / theirs. CUDA is used
when present. Every implementation runs in fp32; on CUDA an extra row shows
neronet's bf16-autocast attack (what the search uses), outside the ratios.

The inputs are a fixed random batch: throughput does not depend on pixel values.
Each figure is the median of ``--repeats`` timed calls after one warm-up call,
the implementations taking turns; every adversarial batch is checked to lie in
the eps-ball and [0, 1].

    OMP_NUM_THREADS=1 python bench/attack_throughput.py            # CPU: small CNN
    python bench/attack_throughput.py --arch small nsga-net        # GPU: both
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import foolbox as fb
import torch
from torch import nn

from neronet.attacks import fgsm, pgd
from neronet.nn import build, count_parameters
from neronet.phenotype import to_spec
from neronet.seeds import nsga_net
from neronet.spec import INPUT, LayerSpec, NetworkSpec, NodeSpec
from neronet.train.core import resolve_device

EPS, ALPHA, STEPS = 8 / 255, 2 / 255, 20
Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def small_cnn() -> NetworkSpec:
    """Three conv-BN-ReLU stages (32, 64, 128 filters) with pooling and an fc head."""
    nodes, source = [], INPUT
    for index, filters in enumerate((32, 64, 128)):
        conv = {"filters": filters, "kernel": 3, "stride": 1, "padding": "same", "bias": False}
        pool = {"op": "max", "kernel": 2, "stride": 2, "padding": "valid"}
        layers = (
            LayerSpec("conv", conv),
            LayerSpec("bn"),
            LayerSpec("act", {"fn": "relu"}),
            LayerSpec("pool", pool),
        )
        nodes.append(NodeSpec("stage", (source,), layers))
        source = index
    head = (LayerSpec("gpool", {"op": "avg"}), LayerSpec("fc", {"units": 10, "bias": True}))
    nodes.append(NodeSpec("head", (source,), head))
    return NetworkSpec((3, 32, 32), 10, tuple(nodes))


ARCHS: dict[str, Callable[[], NetworkSpec]] = {
    "small": small_cnn,
    "nsga-net": lambda: to_spec(nsga_net(), (3, 32, 32), 10),
}


def implementations(model: nn.Module, device: torch.device) -> dict[str, dict[str, Attack]]:
    """attack -> implementation -> ``(x, y) -> x_adv``; the first implementation is ours."""
    gen = torch.Generator(device=device).manual_seed(0)
    fmodel = fb.PyTorchModel(model, bounds=(0, 1), device=device)

    def foolbox(attack: fb.attacks.Attack, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return attack(fmodel, x, y, epsilons=EPS)[1]

    table = {
        "FGSM": {
            "neronet": partial(fgsm, model, eps=EPS),
            "foolbox": partial(foolbox, fb.attacks.LinfFastGradientAttack(random_start=False)),
        },
        "PGD-20": {
            "neronet": partial(pgd, model, eps=EPS, alpha=ALPHA, steps=STEPS, generator=gen),
            "foolbox": partial(
                foolbox, fb.attacks.LinfPGD(abs_stepsize=ALPHA, steps=STEPS, random_start=True)
            ),
        },
    }
    try:
        import torchattacks
    except ImportError:
        pass
    else:
        table["FGSM"]["torchattacks"] = torchattacks.FGSM(model, eps=EPS)
        table["PGD-20"]["torchattacks"] = torchattacks.PGD(
            model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True
        )
    if device.type == "cuda":
        table["FGSM"]["neronet bf16"] = partial(fgsm, model, eps=EPS, amp_dtype=torch.bfloat16)
        table["PGD-20"]["neronet bf16"] = partial(
            pgd, model, eps=EPS, alpha=ALPHA, steps=STEPS, generator=gen, amp_dtype=torch.bfloat16
        )
    return table


def timed(attack: Attack, x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds of one call; checks that the result is a valid adversarial batch."""
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    x_adv = attack(x, y)
    if x.is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    assert float((x_adv - x).abs().max()) <= EPS + 1e-5, "left the eps-ball"
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0, "left [0, 1]"
    return seconds


def throughputs(
    impls: dict[str, Attack], x: torch.Tensor, y: torch.Tensor, repeats: int
) -> dict[str, float]:
    """Median images/s of each implementation over ``repeats`` rounds after a warm-up.

    The implementations take turns within every round, so a change in machine
    load (a shared CI runner) hits all of them alike instead of biasing the ratio.
    """
    times: dict[str, list[float]] = {name: [] for name in impls}
    for attack in impls.values():
        timed(attack, x, y)
    for _ in range(repeats):
        for name, attack in impls.items():
            times[name].append(timed(attack, x, y))
    return {name: x.shape[0] / statistics.median(t) for name, t in times.items()}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--arch",
        nargs="+",
        choices=list(ARCHS),
        help="default: small on CPU, small and nsga-net on CUDA",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="auto", help="auto picks CUDA when present")
    args = parser.parse_args()
    device = resolve_device(args.device)
    archs = args.arch or (["small", "nsga-net"] if device.type == "cuda" else ["small"])
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(
        f"device: {device} ({where}); torch {torch.__version__}; foolbox {fb.__version__}; "
        f"torch threads {torch.get_num_threads()}; batch {args.batch_size}; median of "
        f"{args.repeats} after 1 warm-up; L-inf eps 8/255, PGD step 2/255, 20 steps\n"
    )
    print("| network | attack | implementation | images/s | neronet / this |")
    print("|---|---|---|---:|---:|")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch_size, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (args.batch_size,), generator=gen).to(device)
    for arch in archs:
        spec = ARCHS[arch]()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build(spec).to(device).eval()
        name = f"{arch} ({count_parameters(spec):,} params)"
        for attack, impls in implementations(model, device).items():
            rates = throughputs(impls, x, y, args.repeats)
            for impl, rate in rates.items():
                ratio = "" if impl.startswith("neronet") else f"{rates['neronet'] / rate:.2f}x"
                print(f"| {name} | {attack} | {impl} | {rate:,.1f} | {ratio} |")


if __name__ == "__main__":
    main()
