"""AutoAttack's targeted attacks (APGD-T, FAB-T), one target class at a time.

On a CPU one batch of APGD-T or FAB-T on a robust network runs for most of an
hour (nine target classes, each a full attack on the images not yet fooled), and
the per-batch checkpoint of :mod:`neronet.attacks.resume` loses all of it when
the process is killed. :func:`targeted_batch` runs the loop of pyautoattack
0.2.0's targeted ``perturb`` itself (the pinned version: one global seed, then
the target classes in order, each restart on the images still robust) and hands
the state after every target class (images still robust, adversarial images
found so far, the global RNG) to a callback; started from such a state it ends
exactly as the uninterrupted loop does (tested against the library's own
``perturb``, bit for bit on the CPU).
"""

from __future__ import annotations

from typing import Any

import torch

from neronet.attacks.inside import After, Inside, begin, snapshot

TARGETED = ("apgd-t", "fab-t")
"""The ensemble's targeted attacks, driven here."""


def drives_targeted(aa: Any, name: str) -> bool:
    """Whether :func:`targeted_batch` runs attack ``name`` of ``aa`` (not the large-eps
    schedule of the library's other versions)."""
    return name in TARGETED and not (name == "apgd-t" and aa.apgd_targeted.use_largereps)


def targeted_batch(
    aa: Any, name: str, x: torch.Tensor, y: torch.Tensor, resume: Inside | None, after: After
) -> torch.Tensor:
    """The adversarial batch ``run_standard_evaluation`` would give for ``x`` (every
    image correctly classified) under ``name``, continued from ``resume`` if it is this
    batch's; ``after`` receives the state after each target class (``done``: classes
    finished; tensors ``robust``: not fooled yet, ``adv``: the batch with each fooled
    image replaced by the example that fooled it)."""
    x, y = x.detach().clone().float(), y.detach().clone().long()
    with torch.no_grad():  # as run_standard_evaluation runs its attacks
        if name == "apgd-t":
            attack = aa.apgd_targeted
            attack.seed = aa.get_seed()
            attack.init_hyperparam(x)
            robust = attack.model(x).max(1)[1] == y
            step = _apgd_target
        else:
            attack = aa.fab
            attack.targeted, attack.n_restarts, attack.seed = True, 1, aa.get_seed()
            if attack.device is None:
                attack.device = x.device
            robust = attack._predict_fn(x).max(1)[1] == y
            step = _fab_target
        adv, first = x.clone(), 0
        state = begin(attack.seed, resume, x, ("adv",), ("robust",))
        if state is not None:
            robust, adv = state.get("robust", x).bool(), state.get("adv", x).to(x.dtype)
            first = state.done
        for done, target in enumerate(range(2, attack.n_target_classes + 2)):
            if done < first:
                continue
            for restart in range(attack.n_restarts):
                left = robust.nonzero().flatten()
                if left.numel():
                    fooled, found = step(attack, x[left], y[left], target, restart)
                    robust[left[fooled]] = False
                    adv[left[fooled]] = found[fooled]
            of = (attack.n_target_classes, "target classes")
            after(snapshot(done + 1, of, robust, x.device, robust=robust.to(torch.uint8), adv=adv))
    return adv


def _apgd_target(
    apgd: Any, x: torch.Tensor, y: torch.Tensor, target: int, restart: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD-T run towards each image's ``target``-th most likely class."""
    apgd.y_target = apgd.model(x).sort(dim=1)[1][:, -target]
    _, correct, _, found = apgd.attack_single_run(x, y)
    return correct == 0, found


def _fab_target(
    fab: Any, x: torch.Tensor, y: torch.Tensor, target: int, restart: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One FAB-T run towards ``target``; an example counts only inside the eps ball."""
    fab.target_class = target
    found = fab.attack_single_run(x, y, use_rand_start=restart > 0, is_targeted=True)
    correct = fab._predict_fn(found).max(1)[1] == y
    flat = (x - found).reshape(x.shape[0], -1)
    if fab.norm == "Linf":
        distance = flat.abs().max(1)[0]
    elif fab.norm == "L2":
        distance = (flat**2).sum(dim=-1).sqrt()
    else:
        distance = flat.abs().sum(dim=-1)
    return ~torch.max(correct, distance > fab.eps), found
