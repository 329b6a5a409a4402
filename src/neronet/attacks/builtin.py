"""The attacks neronet ships, each one :class:`~neronet.attacks.catalogue.AttackSpec`
with its hooks: FGSM / FGM (one gradient step), PGD under either norm, and the
reference AutoAttack (standard under L-inf, APGD-CE + APGD-T under L2).

Imported by the catalogue on its first lookup; an attack from elsewhere registers
itself in ``ATTACKS`` alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from neronet.attacks.catalogue import ATTACKS, AttackSpec, Work
from neronet.attacks.gradient import check_pgd, fgm, fgsm, pgd
from neronet.attacks.running import (
    Ticker,
    autoattack_correct,
    configured_autoattack,
    ticking_attack_correct,
)

if TYPE_CHECKING:
    from neronet.config import AttackSettings


def run_single_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_correct: torch.Tensor,
    attack: AttackSpec,
    settings: AttackSettings,
    task: str,
    on_tick: Ticker | None,
) -> torch.Tensor:
    """A one-step attack at the attack's radius, with its own section's settings."""
    fn = attack.bind(eps=attack.radius(settings), **attack.options(settings))
    return ticking_attack_correct(
        model, x, y, fn, settings.batch_size, clean_correct, task, on_tick
    )


def run_iterative(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_correct: torch.Tensor,
    attack: AttackSpec,
    settings: AttackSettings,
    task: str,
    on_tick: Ticker | None,
) -> torch.Tensor:
    """PGD with the suite's steps, step size and random start, seeded by ``attack.seed``."""
    gen = torch.Generator(device=x.device).manual_seed(settings.seed)
    fn = attack.bind(
        eps=attack.radius(settings),
        alpha=settings.step(attack.threat),
        steps=settings.steps,
        random_start=settings.random_start,
        generator=gen,
        **attack.options(settings),
    )
    return ticking_attack_correct(
        model, x, y, fn, settings.batch_size, clean_correct, task, on_tick
    )


def run_autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_correct: torch.Tensor,
    attack: AttackSpec,
    settings: AttackSettings,
    task: str,
    on_tick: Ticker | None,
) -> torch.Tensor:
    """pyautoattack's ensemble ``attack.fixed["attacks"]`` (None: the standard version)."""
    adv = torch.zeros_like(clean_correct)
    adv[clean_correct] = autoattack_correct(
        model,
        x[clean_correct],
        y[clean_correct],
        threat=attack.threat,
        eps=attack.radius(settings),
        attacks=attack.fixed["attacks"],
        batch_size=settings.batch_size,
        seed=settings.seed,
        restarts=settings.autoattack_restarts,
        label=task,
        on_tick=on_tick,
    )
    return adv


def autoattack_for(
    model: nn.Module,
    attack: AttackSpec,
    settings: AttackSettings,
    device: torch.device,
    classes: int,
) -> Any:
    """The AutoAttack object :func:`run_autoattack` runs (its counts, for the estimate)."""
    return configured_autoattack(
        model,
        threat=attack.threat,
        eps=attack.radius(settings),
        attacks=attack.fixed["attacks"],
        seed=settings.seed,
        device=device,
        num_classes=classes,
        restarts=settings.autoattack_restarts,
    )


def one_step(
    model: nn.Module, attack: AttackSpec, settings: AttackSettings, classes: int
) -> list[Work]:
    del model, attack, settings, classes
    return [(1, 0, 0)]


def iterative_steps(
    model: nn.Module, attack: AttackSpec, settings: AttackSettings, classes: int
) -> list[Work]:
    del model, attack, classes
    return [(settings.steps, 0, 0)]


def autoattack_work(
    model: nn.Module, attack: AttackSpec, settings: AttackSettings, classes: int
) -> list[Work]:
    """Per attack of the ensemble, in order, its gradient steps and queries per image,
    read from the configured AutoAttack object the run would use."""
    aa = autoattack_for(model, attack, settings, torch.device("cpu"), classes)
    targeted = aa.apgd_targeted
    work: dict[str, Work] = {
        "apgd-ce": (0, aa.apgd.n_iter * aa.apgd.n_restarts, 0),
        "apgd-t": (0, targeted.n_iter * targeted.n_target_classes * targeted.n_restarts, 0),
        "fab-t": (0, aa.fab.n_iter * aa.fab.n_target_classes, 0),  # FAB-T: one restart
        "square": (0, 0, aa.square.n_queries * aa.square.n_restarts),
    }
    return [work[name] for name in aa.attacks_to_run]


def _check_pgd(settings: dict[str, Any]) -> None:
    check_pgd(settings["eps"], settings["alpha"], settings["steps"], settings["norm"])


def _single(name: str, threat: Any, label: str, fn: Any) -> AttackSpec:
    return AttackSpec(name, threat, label, run_single_step, one_step, "single-step", fn)


def _pgd(threat: Any) -> AttackSpec:
    return AttackSpec(
        f"pgd-{threat}",
        threat,
        "PGD-{steps}",
        run_iterative,
        iterative_steps,
        "iterative",
        pgd,
        {"norm": threat},
        _check_pgd,
    )


def _autoattack(name: str, threat: Any, label: str, ensemble: list[str] | None) -> AttackSpec:
    fixed = {"attacks": ensemble}
    return AttackSpec(name, threat, label, run_autoattack, autoattack_work, fixed=fixed)


for _spec in (
    _single("fgsm", "linf", "FGSM", fgsm),
    _pgd("linf"),
    _autoattack("autoattack", "linf", "AutoAttack", None),
    _single("fgm", "l2", "FGM", fgm),
    _pgd("l2"),
    _autoattack("apgd-l2", "l2", "APGD-CE + APGD-T", ["apgd-ce", "apgd-t"]),
):
    ATTACKS.register(_spec.name, _spec)
