"""The state inside one attacked batch of AutoAttack, for the attacks neronet drives
itself (:mod:`neronet.attacks.targeted`, :mod:`neronet.attacks.square`).

On a CPU one batch of APGD-T, FAB-T or Square on a robust network runs for most of an
hour. Driven step by step (target classes, queries), such an attack hands its state to
a callback now and then; the checkpoint (:mod:`neronet.attacks.resume`) saves it, and a
call started from it ends exactly as the uninterrupted one, because the state carries
the global RNG with the tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Inside:
    """A driven attack's batch after ``done`` steps: its named tensors and RNG state (what
    a checkpoint keeps), and for a progress line how many steps there are (``total``
    ``unit``) and how many of the batch's images are still robust (as the driver hands
    it over; a state read back from a checkpoint has only what it keeps)."""

    done: int
    tensors: dict[str, torch.Tensor]
    total: int = 0
    unit: str = "steps"
    robust: int | None = None

    def get(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """Tensor ``name`` moved to ``like``'s device (its own dtype)."""
        return self.tensors[name].to(like.device)


After = Callable[[Inside], None]
"""Receives the state after a step; may raise to stop the attack there."""


def snapshot(
    done: int,
    of: tuple[int, str],
    still_robust: torch.Tensor,
    device: torch.device,
    /,
    **tensors: torch.Tensor,
) -> Inside:
    """The state after ``done`` of ``of`` (steps, unit) steps: copies of ``tensors`` (on the
    CPU) and the RNG; ``still_robust`` marks the images not fooled yet."""
    saved = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}
    saved["rng"] = torch.get_rng_state()
    if device.type == "cuda":
        saved["cuda_rng"] = torch.cuda.get_rng_state(device)
    return Inside(done, saved, *of, int(still_robust.sum()))


def begin(
    seed: float,
    resume: Inside | None,
    x: torch.Tensor,
    images: tuple[str, ...],
    rows: tuple[str, ...],
) -> Inside | None:
    """Seed the global RNG as the library's loop does at its start, then, if ``resume``
    holds the named tensors shaped for batch ``x`` (``images`` like ``x``, ``rows`` one
    value per image; a checkpoint of another batch does not), put back the RNG state it
    was taken with and return it: the loop continues from there (None: from the start)."""
    torch.random.manual_seed(seed)
    torch.cuda.random.manual_seed(seed)
    if resume is None:
        return None
    t = resume.tensors
    if any(n not in t for n in (*images, *rows, "rng")):
        return None
    if any(t[n].shape != x.shape for n in images) or any(t[n].shape != x.shape[:1] for n in rows):
        return None
    torch.set_rng_state(t["rng"])
    if "cuda_rng" in t and x.device.type == "cuda":
        torch.cuda.set_rng_state(t["cuda_rng"], x.device)
    return resume
