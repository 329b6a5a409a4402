"""Benchmark: the gradient-masking guard on masked and honest models (issue "Do not
reward gradient masking").

Four models on scikit-learn's digits (8x8, L-inf eps 0.1 as the quickstart searches):
an ordinary CNN trained normally and adversarially (honest), and that CNN behind
two masks a search could climb by: input quantisation ``round(4x)/4`` (zero input
gradient) and logits x 1e4 (a saturated softmax). For each it reports FGSM's
conditional accuracy (what NERO-Net's fitness rewards), the in-search probes'
verdict (``neronet.evaluation.masking``, the defaults of ``fitness.masking``) and the
post-search audit's verdict on the FGSM row; then the time the in-search check adds
to one quickstart-sized evaluation, as a share of that evaluation.

    OMP_NUM_THREADS=1 python bench/masking_guard.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from neronet.attacks import ATTACKS
from neronet.augment import to_float
from neronet.config import (
    AdversarialTraining,
    AttackSettings,
    AuditSettings,
    FitnessConfig,
    MaskingConfig,
    PostTrainConfig,
    StandardTraining,
    TrainingConfig,
)
from neronet.data import load_dataset, make_splits
from neronet.evaluation.individual import EvalSettings, evaluate_individual
from neronet.evaluation.masking import masking_evidence
from neronet.evaluation.measurements import masking_limits
from neronet.export import spec_from_safetensors
from neronet.nn import build
from neronet.robustness import evaluate_model
from neronet.spec import INPUT, LayerSpec, LearningSpec, NetworkSpec, NodeSpec
from neronet.train.posttrain import train_seeds

EPS = 0.1


def cnn() -> NetworkSpec:
    """conv-bn-relu, conv-bn-relu-pool, fc: a small honest digits classifier."""

    def conv(filters: int) -> LayerSpec:
        params = {"filters": filters, "kernel": 3, "stride": 1, "padding": "same", "bias": False}
        return LayerSpec("conv", params)

    relu = LayerSpec("act", {"fn": "relu"})
    pool = LayerSpec("pool", {"op": "max", "kernel": 2, "stride": 2, "padding": "valid"})
    return NetworkSpec(
        (1, 8, 8),
        10,
        (
            NodeSpec("conv", (INPUT,), (conv(16), LayerSpec("bn"), relu)),
            NodeSpec("conv", (0,), (conv(32), LayerSpec("bn"), relu, pool)),
            NodeSpec("fc", (1,), (LayerSpec("fc", {"units": 10, "bias": True}),)),
        ),
    )


class Quantised(nn.Module):
    """Masking by quantisation: ``round`` has a zero derivative everywhere."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 4) / 4)


class Saturated(nn.Module):
    """Masking by saturation: logits x 1e4, so softmax is one-hot in fp32."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * 1e4


def trained(mode: str, epochs: int, out: Path) -> nn.Module:
    config = PostTrainConfig(
        mode=mode,
        seeds=1,
        device="cpu",
        amp="off",
        standard=StandardTraining(epochs=epochs, lr=0.05),
        adversarial=AdversarialTraining(epochs=epochs, lr=0.05, eps=EPS, alpha=EPS / 4, steps=3),
    )
    [result] = train_seeds(cnn(), load_dataset("digits"), config, out / mode)
    spec, weights = spec_from_safetensors(result.model_path)
    model = build(spec)
    model.load_state_dict(weights)
    return model.eval()


def verdicts(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, object]:
    """FGSM's conditional accuracy, the in-search verdict and the audit's FGSM verdict."""
    correct = (model(x).argmax(1) == y).nonzero().flatten()
    limits = masking_limits(MaskingConfig())
    start = time.perf_counter()
    evidence = masking_evidence(
        model,
        x[correct[:64]],
        y[correct[:64]],
        eps=EPS,
        norm="linf",
        limits=limits,
        seed=0,
        batch_size=128,
    )
    probe_s = time.perf_counter() - start
    audit = AuditSettings(subset=100, square_queries=300, convergence_steps=50)
    settings = AttackSettings(linf_eps=EPS, audit=audit)
    attacks = [ATTACKS.get("fgsm"), ATTACKS.get("pgd-linf")]
    report = evaluate_model(model, x, y, attacks, settings)
    fgsm = next(o for o in report.outcomes if o.attack == "fgsm")
    flags = [f for f in report.flags if f.attack == "fgsm" and f.kind == "masking"]
    return {
        "fgsm_conditional": fgsm.conditional,
        "search_flag": bool(evidence.reasons(limits)),
        "search_reasons": evidence.reasons(limits),
        "search_probe_s": probe_s,
        "audit_fgsm_flag": bool(flags),
        "audit_fgsm_reason": flags[0].reason if flags else None,
    }


def in_search_cost() -> dict[str, float]:
    """One quickstart-sized evaluation: the masking check's share of its time."""
    splits = make_splits(load_dataset("digits"), 0.7, 0.15, 0.15, seed=0)
    learning = LearningSpec(optimizer="adam", lr=0.01, batch_size=64, early_stop=100)
    settings = EvalSettings(
        TrainingConfig(device="cpu", max_epochs=8), FitnessConfig(attack_eps=EPS)
    )
    ev = evaluate_individual(cnn(), learning, 600.0, splits, settings, seed=0)
    total = sum(ev.seconds.values())
    return {
        "evaluation_s": total,
        "masking_s": ev.seconds["masking"],
        "fgsm_s": ev.seconds["fgsm"],
        "masking_share": ev.seconds["masking"] / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    digits = load_dataset("digits")
    assert digits.test is not None
    x = to_float(torch.from_numpy(digits.test.x))
    y = torch.from_numpy(digits.test.y)
    with tempfile.TemporaryDirectory() as tmp:
        standard = trained("standard", args.epochs, Path(tmp))
        adversarial = trained("adversarial", args.epochs, Path(tmp))
    models = {
        "standard (honest)": standard,
        "adversarially trained (honest)": adversarial,
        "quantised input (masked)": Quantised(standard),
        "saturated softmax (masked)": Saturated(standard),
    }
    rows = {name: verdicts(model, x, y) for name, model in models.items()}
    cost = in_search_cost()
    print(
        f"device: cpu ({platform.processor() or platform.machine()}), torch threads "
        f"{torch.get_num_threads()}, digits test split, L-inf eps {EPS}"
    )
    print("| model | FGSM acc. (cond.) | in-search flag | audit FGSM row |")
    print("|---|---:|---|---|")
    for name, r in rows.items():
        search = "flagged: " + "; ".join(r["search_reasons"]) if r["search_flag"] else "no flag"
        audit = "flagged" if r["audit_fgsm_flag"] else "no flag"
        print(f"| {name} | {100 * r['fgsm_conditional']:.1f}% | {search} | {audit} |")
    print(
        f"in-search check: {cost['masking_s']:.2f} s of a {cost['evaluation_s']:.1f} s "
        f"evaluation ({100 * cost['masking_share']:.1f}%; FGSM itself {cost['fgsm_s']:.2f} s)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"models": rows, "cost": cost}, indent=1))


if __name__ == "__main__":
    main()
