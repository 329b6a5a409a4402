"""RAS's black-box attacks (:mod:`neronet.attacks.blackbox`) in the attack catalogue:
``de-l0``, ``de-linf``, ``cmaes-l0`` and ``cmaes-linf``, usable by ``neronet attack
--attacks`` and ``neronet.evaluate`` like any other.

The L-inf radius is the attack settings' ``linf_eps`` rounded down to whole grey levels
(8/255 is 8 levels); the L0 radius is ``blackbox.l0_pixels``. The budget is the
``blackbox`` section's (:mod:`neronet.attacks.blackbox_settings`): at most ``popsize x
iterations`` queries per image. The search works on the uint8 grid as in RAS; the model
sees the original float image plus the found integer shift (each channel moved by a
whole number of grey levels, or a few pixels set), so whatever it is shown lies in
the radius of the image it was given, on any input in [0, 1].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from neronet.attacks.blackbox import Budget, blackbox_attack
from neronet.attacks.blackbox_settings import BlackBoxSettings
from neronet.attacks.catalogue import ATTACKS, AttackSpec, Work
from neronet.attacks.running import Ticker, ticking_attack_correct
from neronet.errors import AttackError

if TYPE_CHECKING:
    from neronet.config import AttackSettings

LEVELS = 255
"""Grey levels of a uint8 image above black."""


class _Shifted(nn.Module):
    """``model`` shown ``image`` (float, C x H x W) plus the shift that turns its uint8
    version ``base`` into the candidate it is given (uint8 / 255, as the black-box
    search feeds it), clamped to the L-inf radius ``eps`` and to [0, 1]."""

    def __init__(self, model: nn.Module, image: torch.Tensor, base: torch.Tensor, eps: float):
        super().__init__()
        self.model, self.image, self.base, self.eps = model, image, base, eps

    def shifted(self, candidates: torch.Tensor) -> torch.Tensor:
        shift = torch.round(candidates * LEVELS) - self.base.float()
        delta = (shift / LEVELS).clamp(-self.eps, self.eps)
        return (self.image + delta).clamp(0, 1)

    def forward(self, candidates: torch.Tensor) -> torch.Tensor:
        return self.model(self.shifted(candidates))


def _threshold(norm: str, eps: float) -> int:
    """The black-box threshold of a radius: grey levels (L-inf) or pixels (L0)."""
    return math.floor(eps * LEVELS + 1e-6) if norm == "linf" else int(eps)


def _check(settings: dict[str, Any]) -> None:
    norm, eps = settings["norm"], settings["eps"]
    if not math.isfinite(eps) or _threshold(norm, eps) < 1:
        unit = "one grey level (1/255)" if norm == "linf" else "one pixel"
        raise AttackError(
            f"a black-box {norm} attack needs a radius of at least {unit}, got {eps}; "
            "raise attack.linf_eps or blackbox.l0_pixels"
        )


def blackbox(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    norm: Any,
    optimiser: Any,
    popsize: int,
    iterations: int,
    seed: int = 0,
) -> torch.Tensor:
    """Each image of ``x`` attacked on its own (image ``i`` seeded ``seed + i``); the
    adversarial image where the attack succeeded within its budget, else the image."""
    eps_linf = eps if norm == "linf" else 1.0
    base = torch.round(x * LEVELS).clamp_(0, LEVELS).to(torch.uint8)
    out = x.clone()
    for i in range(len(x)):
        view = _Shifted(model, x[i], base[i], eps_linf)
        found = blackbox_attack(
            view,
            base[i],
            int(y[i]),
            norm=norm,
            th=_threshold(norm, eps),
            optimiser=optimiser,
            budget=Budget(popsize, iterations),
            seed=seed + i,
        )
        if found is not None:
            out[i] = view.shifted(found.float() / LEVELS)
    return out


def run_blackbox(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_correct: torch.Tensor,
    attack: AttackSpec,
    settings: AttackSettings,
    task: str,
    on_tick: Ticker | None,
) -> torch.Tensor:
    """The attack at its radius with the ``blackbox`` section's budget, seeded by
    ``attack.seed``."""
    budget = BlackBoxSettings.of(settings.sections)
    fn = attack.bind(
        eps=attack.radius(settings),
        popsize=budget.popsize,
        iterations=budget.iterations,
        seed=settings.seed,
    )
    return ticking_attack_correct(
        model, x, y, fn, settings.batch_size, clean_correct, task, on_tick
    )


def queries(
    model: nn.Module, attack: AttackSpec, settings: AttackSettings, classes: int
) -> list[Work]:
    """At most ``popsize x iterations`` queries per image (fewer when it succeeds early)."""
    del model, attack, classes
    budget = BlackBoxSettings.of(settings.sections)
    return [(0, 0, budget.popsize * budget.iterations)]


def l0_pixels(attack: AttackSpec, settings: AttackSettings) -> float:
    """The L0 attacks' radius: ``blackbox.l0_pixels``."""
    del attack
    return float(BlackBoxSettings.of(settings.sections).l0_pixels)


def _spec(optimiser: str, norm: str, label: str) -> AttackSpec:
    return AttackSpec(
        f"{optimiser}-{norm}",
        norm,
        label,
        run_blackbox,
        queries,
        fn=blackbox,
        fixed={"norm": norm, "optimiser": optimiser},
        check=_check,
        section=BlackBoxSettings,
        radius_of=l0_pixels if norm == "l0" else None,
    )


for _spec_ in (
    _spec("de", "l0", "DE black-box"),
    _spec("de", "linf", "DE black-box"),
    _spec("cmaes", "l0", "CMA-ES black-box"),
    _spec("cmaes", "linf", "CMA-ES black-box"),
):
    ATTACKS.register(_spec_.name, _spec_)
