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

Inside a batch of APGD-T, FAB-T or Square (the longest batches by far) a second
file, ``<name>.inside.safetensors``, holds the driven attack's state
(:class:`~neronet.attacks.inside.Inside`: after each target class, or every 250
queries, with the RNG state), so a kill there loses at most that much, not the
batch; it is removed once the batch is done.

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

from neronet.attacks.inside import Inside
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
        return self.path.with_name(f"{self.path.stem}.inside.safetensors")

    def save_inside(self, attack: int, batch: int, state: Inside) -> None:
        """Record how far the driven attack ``attack`` got inside batch ``batch``, so a
        resumed call continues from there (:mod:`neronet.attacks.inside`)."""
        if self.path is None:
            return
        meta = {**self._where(attack, batch), "done": str(state.done)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self._within(), save(state.tensors, metadata=meta))

    def load_inside(self, attack: int, batch: int) -> Inside | None:
        """The state :meth:`save_inside` left inside this very batch, else None."""
        if self.path is None or not self._within().is_file():
            return None
        try:
            with safe_open(str(self._within()), framework="pt") as handle:
                meta = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
            where = self._where(attack, batch)
            if any(meta.get(k) != v for k, v in where.items()):
                return None
            return Inside(int(meta["done"]), tensors)
        except Exception:  # a damaged file: the batch starts again from its beginning
            return None

    def _where(self, attack: int, batch: int) -> dict[str, str]:
        return {"key": self.key, "attack": str(attack), "batch": str(batch)}


def _indices(mask: torch.Tensor) -> list[int]:
    return [int(i) for i in mask.nonzero().flatten().tolist()]


def mask_of(indices: list[int], like: torch.Tensor) -> torch.Tensor:
    """A boolean mask shaped and placed like ``like``, true at ``indices``."""
    mask = torch.zeros_like(like)
    mask[torch.tensor(indices, dtype=torch.long, device=like.device)] = True
    return mask
