"""AutoAttack resumed at the batch where it was stopped.

On a CPU, AutoAttack on a robust network runs for most of an hour inside one
call (APGD-T, FAB-T and Square's 5,000 queries on every image still robust); a
survey or an experiment killed in it used to start the whole ensemble again.
Inside :func:`batch_checkpoint`, :func:`~neronet.attacks.running.autoattack_correct`
saves after every attacked batch which attack it is in, the images that attack
began with (its batches) and the images still robust, and a later call on the
same model, images and settings continues from there. Each batch of the
ensemble is seeded on its own, so the continued call ends with the mask an
uninterrupted one gives. A checkpoint of other inputs (another model's weights,
other images or settings: a digest of all of them is its key) is ignored and
replaced; an unreadable one too (a kill mid-write cannot leave one: it is
written atomically).

Inside a batch of APGD-T or FAB-T (nine target classes, the longest batches by
far) a second file, ``<name>.target.safetensors``, holds the state after each
target class (:class:`~neronet.attacks.targeted.TargetState`: images still
robust, adversarial images, RNG state), so a kill there loses one target class,
not the batch; it is removed once the batch is done.

The path travels in a context variable rather than through every attack's
signature: only AutoAttack has batches long enough to be worth resuming.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import nn

from neronet.attacks.targeted import TargetState
from neronet.store import atomic_write

_PATH: ContextVar[Path | None] = ContextVar("autoattack_checkpoint", default=None)


@contextlib.contextmanager
def batch_checkpoint(path: Path) -> Iterator[None]:
    """AutoAttack calls inside the block save their progress to ``path`` and resume
    from it."""
    token = _PATH.set(path)
    try:
        yield
    finally:
        _PATH.reset(token)


@dataclass(frozen=True)
class Progress:
    """How far one AutoAttack call got: image indices as lists (the file is JSON)."""

    key: str
    attack: int
    """Index of the attack in progress in the ensemble's order."""
    start: list[int]
    """Images the attack in progress began with: its batches are these, split."""
    batches: int
    """Batches of that attack finished."""
    robust: list[int]
    """Images still robust after them."""


def fingerprint(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: str) -> str:
    """A digest of everything a call's result depends on: the weights, the images, the
    labels and the settings (as text)."""
    digest = hashlib.sha256(settings.encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for tensor in (x, y):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Checkpoint:
    """The checkpoint of one call: where it lies (None: no checkpointing) and its key."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: str) -> None:
        self.path = _PATH.get()
        self.key = "" if self.path is None else fingerprint(model, x, y, settings)

    def load(self) -> Progress | None:
        """The saved progress of this very call, else None."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            progress = Progress(**json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        return progress if progress.key == self.key else None

    def save(self, attack: int, start: torch.Tensor, batches: int, robust: torch.Tensor) -> None:
        """Record that ``batches`` of attack ``attack`` (begun on mask ``start``) are done."""
        if self.path is None:
            return
        progress = Progress(self.key, attack, _indices(start), batches, _indices(robust))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(asdict(progress)).encode())
        self._within().unlink(missing_ok=True)  # the batch it was inside is done

    def _within(self) -> Path:
        assert self.path is not None
        return self.path.with_name(f"{self.path.stem}.target.safetensors")

    def save_target(self, attack: int, batch: int, state: TargetState) -> None:
        """Record how far the targeted attack ``attack`` got inside batch ``batch``: its
        images and RNG state, so a resumed call continues at the next target class."""
        if self.path is None:
            return
        tensors = {
            "robust": state.robust.to("cpu", torch.uint8),
            "adv": state.adv.detach().to("cpu").contiguous(),
            "rng": state.rng,
        }
        if state.cuda_rng is not None:
            tensors["cuda_rng"] = state.cuda_rng
        where = {"key": self.key, "attack": str(attack), "batch": str(batch)}
        meta = {**where, "done": str(state.done)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self._within(), save(tensors, metadata=meta))

    def load_target(self, attack: int, batch: int, x: torch.Tensor) -> TargetState | None:
        """The state :meth:`save_target` left inside this very batch ``x``, else None."""
        if self.path is None or not self._within().is_file():
            return None
        try:
            with safe_open(str(self._within()), framework="pt") as handle:
                meta = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        except Exception:  # a damaged file: the batch starts again, as before targets
            return None
        where = {"key": self.key, "attack": str(attack), "batch": str(batch)}
        adv = tensors.get("adv")
        if any(meta.get(k) != v for k, v in where.items()) or adv is None:
            return None
        if adv.shape != x.shape or tensors["robust"].shape != x.shape[:1]:
            return None
        return TargetState(
            done=int(meta["done"]),
            robust=tensors["robust"].to(x.device, torch.bool),
            adv=adv.to(x.device, x.dtype),
            rng=tensors["rng"],
            cuda_rng=tensors.get("cuda_rng"),
        )


def _indices(mask: torch.Tensor) -> list[int]:
    return [int(i) for i in mask.nonzero().flatten().tolist()]


def mask_of(indices: list[int], like: torch.Tensor) -> torch.Tensor:
    """A boolean mask shaped and placed like ``like``, true at ``indices``."""
    mask = torch.zeros_like(like)
    mask[torch.tensor(indices, dtype=torch.long, device=like.device)] = True
    return mask
