"""The gradient-masking audit of one model's suite results.

The audit (Athalye et al. 2018; Carlini et al. 2019) looks for signs that an
attack failed because the gradients are useless rather than because the model
is robust, and flags the row whose number is then suspect:

* single-step beats iterative: FGSM (FGM) accuracy below PGD's;
* the black-box Square attack fools images that every white-box attack of the
  threat (the single-step one and PGD) left correct;
* accuracy under L-inf PGD with a huge eps (0.5, where a constant grey image
  is reachable) does not fall towards 0;
* PGD has not converged: more steps with several random restarts still lower
  accuracy substantially;
* on the single-step row (FGSM / FGM, the number NERO-Net's search optimises):
  the in-search probes of :mod:`neronet.evaluation.masking` (a few PGD steps at
  a large eps do not reach ~0, PGD weaker than the single step, random noise
  stronger than it).

Separately it notes (not a masking flag) when FGSM accuracy far exceeds PGD's:
the FGSM number is then an optimistic estimate, not robustness. The
single-step check compares the suite's own numbers; the other checks run extra
attacks on a fixed subset of the clean-correct images (the first
``audit.subset``) and compare on that subset. A gap counts only when it is
both above ``audit.tolerance`` and at least ``audit.min_images`` images.

Every check compares against the suite's PGD attack of a threat, so a threat
without one (``--attacks fgsm,autoattack``) is not audited at all: the report
must then say so instead of "no flag" (:func:`audited_threats`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import nn

from neronet.attacks.catalogue import AttackSpec, Threat
from neronet.attacks.running import (
    AA_NORMS,
    Tick,
    Ticker,
    autoattack_correct,
    ticking_attack_correct,
)
from neronet.config import AttackSettings
from neronet.evaluation.masking import MaskingLimits, masking_evidence
from neronet.evaluation.scores import conditional_adversarial_accuracy
from neronet.robustness.suite import attack_label
from neronet.threat import threat_label


def audited_threats(attacks: list[AttackSpec]) -> list[Threat]:
    """The threats the audit checks, in ``attacks``' order: those with an iterative attack
    among ``attacks`` and a Square attack to compare with (L-inf and L2)."""
    iterative = (a.threat for a in attacks if a.audit_role == "iterative")
    return [t for t in dict.fromkeys(iterative) if t in AA_NORMS]


@dataclass(frozen=True)
class Flag:
    """An audit finding attached to the row whose number it concerns."""

    attack: str
    kind: Literal["masking", "note"]
    check: str
    reason: str


class Audit:
    """The masking checks of one model, on the first ``subset`` clean-correct images."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        clean_correct: torch.Tensor,
        settings: AttackSettings,
        on_tick: Ticker | None = None,
    ) -> None:
        self.model = model
        self.on_tick = on_tick
        self.task = "audit"
        """The check running now: the label of its attacks' ticks."""
        self.settings = settings
        self.audit = settings.audit
        self.index = clean_correct.nonzero().flatten()[: self.audit.subset]
        self.x, self.y = x[self.index], y[self.index]

    def _share(self, robust: torch.Tensor) -> float:
        return float(robust.float().mean().item()) if robust.numel() else 0.0

    def _exceeds(self, images: int, total: int) -> bool:
        """Whether a gap of ``images`` out of ``total`` is beyond noise: both more than
        ``tolerance`` of them and at least ``min_images`` (1 image of a 50-image subset
        is already 2%)."""
        return images >= self.audit.min_images and images > self.audit.tolerance * total

    def _pgd(
        self, iterative: AttackSpec, eps: float, alpha: float, steps: int, restarts: int
    ) -> torch.Tensor:
        """Robust under every one of ``restarts`` random-start runs of ``iterative``."""
        gen = torch.Generator(device=self.x.device).manual_seed(self.settings.seed + 1)
        fn = iterative.bind(eps=eps, alpha=alpha, steps=steps, random_start=True, generator=gen)
        robust = torch.ones(len(self.index), dtype=torch.bool, device=self.x.device)
        for restart in range(restarts):  # each restart attacks only the images still robust
            task = f"{self.task}, restart {restart + 1}/{restarts}" if restarts > 1 else self.task
            robust = ticking_attack_correct(
                self.model, self.x, self.y, fn, self.settings.batch_size, robust, task, self.on_tick
            )
        return robust

    def run(
        self, attacks: list[AttackSpec], masks: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> list[Flag]:
        """Every check of every audited threat, in order, each announced by a :class:`Tick`
        (the checks' own attacks tick too: the audit alone can take longer than the suite)."""
        audit = self.audit
        plan: list[tuple[str, Callable[[], list[Flag]]]] = []
        for threat in audited_threats(attacks):
            by_role = {at.audit_role: at for at in attacks if at.threat == threat}
            single, iterative = by_role.get("single-step"), by_role["iterative"]
            name = threat_label(threat)
            if single is not None:
                plan += [
                    (
                        f"{name} single-step vs iterative",
                        partial(self._single_vs_iterative, single, iterative, masks, clean),
                    ),
                    (f"{name} single-step probes", partial(self._single_step, single)),
                ]
            whitebox = [attack for attack in (single, iterative) if attack]
            plan += [
                (
                    f"{name} Square {audit.square_queries} queries",
                    partial(self._square, threat, whitebox, masks, iterative),
                ),
                (
                    f"{name} PGD-{audit.convergence_steps} convergence",
                    partial(self._convergence, threat, masks, iterative),
                ),
            ]
            if threat == "linf":
                check = f"{name} large eps {audit.large_eps}"
                plan.append((check, partial(self._large_eps, iterative)))
        flags: list[Flag] = []
        for number, (check, run) in enumerate(plan, start=1):
            self.task = f"audit {number}/{len(plan)}: {check}"
            if self.on_tick is not None:
                self.on_tick(Tick(self.task, 0, 1, images=len(self.index), unit="check"))
            flags += run()
        return flags

    def _single_vs_iterative(
        self,
        single: AttackSpec,
        iterative: AttackSpec,
        masks: dict[str, torch.Tensor],
        clean: torch.Tensor,
    ) -> list[Flag]:
        s = conditional_adversarial_accuracy(clean, masks[single.name])
        i = conditional_adversarial_accuracy(clean, masks[iterative.name])
        one, many = attack_label(single, self.settings), attack_label(iterative, self.settings)
        gap = int(masks[iterative.name].sum().item()) - int(masks[single.name].sum().item())
        if self._exceeds(gap, int(clean.sum().item())):
            reason = (
                f"single-step {one} ({s:.1%}) beats iterative {many} ({i:.1%}): "
                f"the {many} gradients are unreliable (gradient masking?)"
            )
            return [Flag(iterative.name, "masking", "single-step beats iterative", reason)]
        if s - i > self.audit.fgsm_gap:
            reason = (
                f"{one} accuracy exceeds {many}'s by {s - i:.1%}: the {one} figure is an "
                "optimistic estimate, not robustness"
            )
            return [Flag(single.name, "note", "single-step optimistic", reason)]
        return []

    def _single_step(self, single: AttackSpec) -> list[Flag]:
        """The number the search optimises is audited too: the in-search masking probes
        (large eps, PGD vs single step, random noise) on the audit images."""
        a = self.audit
        limits = MaskingLimits(
            large_eps=a.large_eps,
            large_eps_max_accuracy=a.large_eps_max_accuracy,
            tolerance=a.tolerance,
            min_images=a.min_images,
            pgd_steps=a.single_step_probe_steps,
        )
        evidence = masking_evidence(
            self.model,
            self.x,
            self.y,
            eps=single.radius(self.settings),
            norm=single.threat,
            limits=limits,
            seed=self.settings.seed + 2,
            batch_size=self.settings.batch_size,
        )
        reasons = evidence.reasons(limits, attack_label(single, self.settings))
        if not reasons:
            return []
        reason = "; ".join(reasons) + " (gradient masking?)"
        return [Flag(single.name, "masking", "single-step probes", reason)]

    def _square(
        self,
        threat: Threat,
        whitebox: list[AttackSpec],
        masks: dict[str, torch.Tensor],
        iterative: AttackSpec,
    ) -> list[Flag]:
        robust = torch.ones(len(self.index), dtype=torch.bool, device=self.x.device)
        for attack in whitebox:
            robust &= masks[attack.name][self.index]
        square = autoattack_correct(
            self.model,
            self.x,
            self.y,
            threat=threat,
            eps=iterative.radius(self.settings),
            attacks=["square"],
            batch_size=max(self.settings.batch_size, len(self.index)),
            seed=self.settings.seed,
            square_queries=self.audit.square_queries,
            label=self.task,
            on_tick=self.on_tick,
        )
        beaten = int((robust & ~square).sum().item())
        if not self._exceeds(beaten, len(self.index)):
            return []
        names = " and ".join(attack_label(a, self.settings) for a in whitebox)
        reason = (
            f"black-box Square ({self.audit.square_queries} queries) fools {beaten} of "
            f"{len(self.index)} audit images that {names} left correct (gradient masking?)"
        )
        return [Flag(iterative.name, "masking", "black-box beats white-box", reason)]

    def _convergence(
        self, threat: Threat, masks: dict[str, torch.Tensor], iterative: AttackSpec
    ) -> list[Flag]:
        a = self.audit
        base = masks[iterative.name][self.index]
        strong = self._pgd(
            iterative,
            iterative.radius(self.settings),
            self.settings.step(threat),
            a.convergence_steps,
            a.convergence_restarts,
        )
        if not self._exceeds(int(base.sum().item()) - int(strong.sum().item()), len(self.index)):
            return []
        base, strong = self._share(base), self._share(strong)
        reason = (
            f"not converged: PGD-{a.convergence_steps} with {a.convergence_restarts} restarts "
            f"lowers accuracy on the audit images from {base:.1%} to {strong:.1%}"
        )
        return [Flag(iterative.name, "masking", "not converged", reason)]

    def _large_eps(self, iterative: AttackSpec) -> list[Flag]:
        a = self.audit
        alpha = 2.5 * a.large_eps / a.convergence_steps  # Madry et al.'s step-size rule
        share = self._share(self._pgd(iterative, a.large_eps, alpha, a.convergence_steps, 1))
        if share <= a.large_eps_max_accuracy:
            return []
        reason = (
            f"accuracy {share:.1%} at L-inf eps {a.large_eps} (should be ~0): "
            "the attack's gradients do not lead anywhere (gradient masking?)"
        )
        return [Flag(iterative.name, "masking", "large eps not ~0", reason)]
