"""Running one attack on a model: progress ticks, the AutoAttack adapter, batching.

AutoAttack is the reference implementation (``pyautoattack``), wrapped: its
global-RNG seeding is confined with ``torch.random.fork_rng`` and every count it
uses is set explicitly (APGD-CE restarts, APGD-T target classes and restarts,
FAB-T target classes), because its "custom" version would otherwise fall back
to 5 APGD-CE restarts, unlike "standard". The L-inf row is the standard version
untouched (only the target classes are capped at classes - 1 on datasets with
fewer than 10 classes), so it stays the reference number;
``autoattack_restarts`` applies only to the custom L2 APGD-CE + APGD-T run.

The catalogue's runners (``neronet.attacks.builtin``), the post-search suite, the
audit and the time estimate all drive attacks through these helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neronet.attacks.catalogue import Threat
from neronet.attacks.gradient import AttackFn, attack_correct, eval_mode
from neronet.attacks.inside import After, Inside
from neronet.attacks.layout import frozen_parameters
from neronet.attacks.resume import Checkpoint, mask_of
from neronet.attacks.square import drives_square, square_batch
from neronet.attacks.targeted import drives_targeted, targeted_batch

AA_NORMS = {"linf": "Linf", "l2": "L2"}
TARGET_CLASSES = 9
"""AutoAttack standard's APGD-T / FAB-T target classes (capped at classes - 1)."""


def predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Predicted labels of ``x`` in batches, without building a graph."""
    with torch.no_grad():
        return torch.cat([model(part).argmax(dim=1) for part in x.split(batch_size)])


@dataclass(frozen=True)
class Tick:
    """How far one attack (or audit check) has got, for a progress display.

    AutoAttack on a CPU can run for hours inside one call; without these a log
    shows nothing between "starting" and the result. ``done`` of ``total``
    ``unit`` s are finished; ``robust`` of ``images`` are still classified
    correctly when the attack says so.
    """

    task: str
    done: int
    total: int
    robust: int | None = None
    images: int | None = None
    unit: str = "batches"

    def describe(self) -> str:
        """One line: the task, how far, and how many images are still robust."""
        robust = "" if self.robust is None else f", {self.robust}/{self.images} still robust"
        return f"{self.task}: {self.done}/{self.total} {self.unit}{robust}"


Ticker = Callable[[Tick], None]
"""Receives :class:`Tick` s; may raise (``KeyboardInterrupt`` included) to stop the work."""


def configured_autoattack(
    model: nn.Module,
    *,
    threat: Threat,
    eps: float,
    attacks: list[str] | None,
    seed: int,
    device: torch.device,
    num_classes: int,
    restarts: int = 1,
    square_queries: int | None = None,
) -> Any:
    """pyautoattack's ``AutoAttack`` with every count set explicitly (see the module
    docstring); the runner and the time estimate read the same object."""
    from pyautoattack import AutoAttack

    version = "standard" if attacks is None else "custom"
    aa = AutoAttack(
        model,
        norm=AA_NORMS[threat],
        eps=eps,
        version=version,
        attacks=attacks,
        device=device,
        seed=seed,
    )
    aa.verbose = False  # neronet reports progress itself (Tick), per batch
    if version == "custom":
        aa.apgd.n_restarts = restarts
        aa.apgd_targeted.n_restarts = 1
    targets = min(TARGET_CLASSES, num_classes - 1)
    aa.apgd_targeted.n_target_classes = targets
    aa.fab.n_target_classes = targets
    if square_queries is not None:
        aa.square.n_queries = square_queries
    return aa


def autoattack_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    threat: Threat,
    eps: float,
    attacks: list[str] | None,
    batch_size: int,
    seed: int,
    restarts: int = 1,
    square_queries: int | None = None,
    label: str = "AutoAttack",
    on_tick: Ticker | None = None,
) -> torch.Tensor:
    """Per-sample robustness of ``x`` (all clean-correct) under pyautoattack.

    ``attacks=None`` runs the standard version (APGD-CE, APGD-T, FAB-T,
    Square) with its own restarts; a list runs the custom version with exactly
    those attacks, ``restarts`` APGD-CE restarts and one APGD-T restart.

    The ensemble is driven one attack and one batch at a time, exactly as
    ``run_standard_evaluation`` loops (same attacks and order, same batches of
    the images still robust, the same seed per batch, an image counts as robust
    only if every attack failed), so that ``on_tick`` can say which attack runs
    and how many images are still robust, and so that inside
    :func:`~neronet.attacks.resume.batch_checkpoint` a stopped call resumes at
    the batch where it stopped, with the same result. APGD-T and FAB-T are driven one
    target class at a time (:mod:`neronet.attacks.targeted`), Square (L-inf) query by
    query (:mod:`neronet.attacks.square`), so there a stopped call resumes at the
    target class, or within 250 queries, where it stopped.
    """
    robust = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    if x.shape[0] == 0:
        return robust
    settings = f"{threat} {eps!r} {attacks} {batch_size} {seed} {restarts} {square_queries}"
    checkpoint = Checkpoint(model, x, y, settings)
    resumed = checkpoint.load()
    if resumed is not None:
        robust = mask_of(resumed.robust, robust)
    cuda = [x.device.index or 0] if x.device.type == "cuda" else []
    # evaluation mode, as every attack here: batch norm on its running statistics, which
    # the attack's forward passes (and this probe) must not move
    with eval_mode(model), torch.random.fork_rng(devices=cuda), frozen_parameters(model):
        with torch.no_grad():
            num_classes = int(model(x[:1]).shape[1])
        aa = configured_autoattack(
            model,
            threat=threat,
            eps=eps,
            attacks=attacks,
            seed=seed,
            device=x.device,
            num_classes=num_classes,
            restarts=restarts,
            square_queries=square_queries,
        )
        for number, name in enumerate(list(aa.attacks_to_run)):
            first, start = 0, robust.clone()
            if resumed is not None:
                if number < resumed.attack:  # finished before the stop
                    continue
                first, start = resumed.batches, mask_of(resumed.start, robust)
                resumed = None
            if not start.any():  # every image already broken: the later attacks have none
                break  # (an empty split is one empty batch, which AutoAttack cannot take)
            batches = start.nonzero().flatten().split(batch_size)
            task = f"{label} {name}"
            for done, index in enumerate(batches):
                if done < first:
                    continue
                if on_tick is not None:
                    on_tick(Tick(task, done, len(batches), int(robust.sum()), len(robust)))
                driver = _driver(aa, name)
                if driver is not None:  # checkpointed inside the batch too, and ticking there
                    inside = f"{task}, batch {done + 1}/{len(batches)}"
                    after = _inside(checkpoint, number, done, inside, len(index), on_tick)
                    resume = checkpoint.load_inside(number, done)
                    x_adv = driver(aa, name, x[index], y[index], resume, after)
                else:
                    aa.attacks_to_run = [name]
                    x_adv, _ = aa.run_standard_evaluation(x[index], y[index], batch_size=batch_size)
                robust[index] = predict(model, x_adv, batch_size) == y[index]
                checkpoint.save(number, start, done + 1, robust)
            if on_tick is not None:
                on_tick(Tick(task, len(batches), len(batches), int(robust.sum()), len(robust)))
    return robust


Driver = Callable[[Any, str, torch.Tensor, torch.Tensor, Inside | None, After], torch.Tensor]


def _inside(
    checkpoint: Checkpoint, attack: int, batch: int, task: str, images: int, on_tick: Ticker | None
) -> After:
    """What a driven attack hands its state to inside ``batch`` of ``attack``: the
    checkpoint keeps it, and a :class:`Tick` says how far the batch is (a robust
    network's Square batch is over an hour on a CPU core, with no other line)."""

    def after(state: Inside) -> None:
        checkpoint.save_inside(attack, batch, state)
        if on_tick is not None:
            on_tick(Tick(task, state.done, state.total, state.robust, images, state.unit))

    return after


def _driver(aa: Any, name: str) -> Driver | None:
    """The neronet loop that runs attack ``name`` of ``aa`` (None: the library's)."""
    if drives_targeted(aa, name):
        return targeted_batch
    if drives_square(aa, name):
        return square_batch
    return None


def ticking_attack_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    fn: AttackFn,
    batch_size: int,
    attacked: torch.Tensor,
    task: str,
    on_tick: Ticker | None,
) -> torch.Tensor:
    """``attack_correct``'s ``adv_correct`` (only ``attacked`` images are attacked), with
    a :class:`Tick` before each batch it attacks and one when it is done."""
    if on_tick is None:
        return attack_correct(model, x, y, fn, batch_size, clean_correct=attacked)[1]
    total = sum(bool(part.any()) for part in attacked.split(batch_size))
    images = int(attacked.sum())
    done = 0

    def ticked(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        nonlocal done
        on_tick(Tick(task, done, total, images=images))
        done += 1
        return fn(m, xb, yb)

    adv = attack_correct(model, x, y, ticked, batch_size, clean_correct=attacked)[1]
    on_tick(Tick(task, total, total, int(adv.sum()), images))
    return adv
