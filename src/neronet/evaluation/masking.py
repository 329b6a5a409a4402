"""Gradient-masking evidence for a single-step attack, shared by the search and the audit.

The cheapest way for a network to score well on FGSM is to break the attack's
gradient (saturated logits, non-differentiable steps, shattered gradients),
not to be robust. Three symptoms, each measured on clean-correct images:

* a large radius does not work: a few PGD steps at ``large_eps`` (0.5 in
  [0, 1] reaches a constant grey image) should leave ~0 correct;
* iteration does not help: PGD with a few steps at the attack's own radius
  must not be *weaker* than the single step;
* a random perturbation of the same size must not be *stronger* than the
  single gradient step.

The search runs these on a small subset of the fitness set after FGSM (the
``masking`` measurement); the post-search audit runs them on the FGSM / FGM
rows, so the number the search optimises is judged like PGD's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neronet.attacks.gradient import attack_correct, fgm, fgsm, pgd


@dataclass(frozen=True)
class MaskingLimits:
    """When evidence counts as masking (shares of the audited images, 0.1 = 10 points)."""

    large_eps: float = 0.5
    large_eps_max_accuracy: float = 0.1
    tolerance: float = 0.1
    min_images: int = 3
    pgd_steps: int = 5


@dataclass(frozen=True)
class MaskingEvidence:
    """Accuracies on ``images`` clean-correct images under each probe."""

    images: int
    single: float
    iterative: float
    large_eps: float
    random: float

    def reasons(self, limits: MaskingLimits, name: str = "FGSM") -> list[str]:
        """Which checks failed, with their numbers (empty: no sign of masking)."""
        out = []
        if self._count(self.large_eps, limits) and self.large_eps > limits.large_eps_max_accuracy:
            out.append(
                f"PGD-{limits.pgd_steps} at eps {limits.large_eps} leaves {self.large_eps:.0%} "
                "correct (should be ~0)"
            )
        if self._count(self.iterative - self.single, limits):
            out.append(
                f"PGD-{limits.pgd_steps} ({self.iterative:.0%}) is weaker than {name} "
                f"({self.single:.0%})"
            )
        if self._count(self.single - self.random, limits):
            out.append(
                f"random noise ({self.random:.0%}) fools more than {name} ({self.single:.0%})"
            )
        return out

    def _count(self, gap: float, limits: MaskingLimits) -> bool:
        """A gap counts when above the tolerance and worth at least ``min_images`` images."""
        return gap > limits.tolerance and gap * self.images >= limits.min_images


def masking_evidence(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str,
    limits: MaskingLimits,
    seed: int,
    batch_size: int,
    amp_dtype: torch.dtype | None = None,
) -> MaskingEvidence:
    """Run the probes on ``x`` (images the model classifies correctly, floats in [0, 1])."""
    n = x.shape[0]
    if n == 0:
        return MaskingEvidence(0, 0.0, 0.0, 0.0, 0.0)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    single = fgsm if norm == "linf" else fgm
    steps = limits.pgd_steps
    probes = {
        "single": lambda m, xb, yb: single(m, xb, yb, eps, amp_dtype=amp_dtype),
        "iterative": lambda m, xb, yb: pgd(
            m, xb, yb, eps, 2.5 * eps / steps, steps, norm, True, gen, amp_dtype=amp_dtype
        ),
        "large_eps": lambda m, xb, yb: pgd(
            m,
            xb,
            yb,
            limits.large_eps,
            2.5 * limits.large_eps / steps,
            steps,
            "linf",
            True,
            gen,
            amp_dtype=amp_dtype,
        ),
        "random": lambda m, xb, yb: _random(xb, eps, norm, gen),
    }
    everyone = torch.ones(n, dtype=torch.bool, device=x.device)
    shares = {}
    for name, attack in probes.items():
        _, robust = attack_correct(
            model, x, y, attack, batch_size, clean_correct=everyone, amp_dtype=amp_dtype
        )
        shares[name] = int(robust.sum()) / n
    return MaskingEvidence(n, **shares)


def _random(x: torch.Tensor, eps: float, norm: str, gen: torch.Generator) -> torch.Tensor:
    """A random perturbation as large as the attack's: a random sign (L-inf) or direction (L2)."""
    noise = torch.rand(x.shape, generator=gen, device=x.device) * 2 - 1
    if norm == "linf":
        step = eps * noise.sign()
    else:
        flat = noise.flatten(1)
        step = (eps * flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(x)
    return (x + step).clamp(0.0, 1.0)
