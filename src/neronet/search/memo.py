"""The evaluation memo: runs that would train a candidate the same way train it once.

An experiment's methods share their run seeds, and the methods that differ only in how
they rank candidates (NERO-Net's objective, the PGD objective, accuracy only) start
from the same individuals with the same training seeds and often go on choosing the
same ones: without a memo each of them trains and attacks those candidates again, to
the same numbers. With ``store.memo`` naming a directory the runs share, an evaluation
is looked up there by a digest of everything it depends on (the network, its learning
unit, the budget, the training seed, the parent's state it continues from, the data,
with the hold-out a dataset without a test split keeps out of the splits, the training
and measurement settings, the device, the torch thread count, the versions and
platform) and reused when found; every evaluation trained is added. A
reused row keeps the epochs its evaluation trained (a search's spent budget is the same
with or without the memo) and names its entry (``record["memo"]``).

Only budgets of epochs or images are memoised: a time budget's training depends on how
fast the machine was at the time. An evaluation that ran out of device memory is not
kept (it depends on what else held the device). On the CPU a reused evaluation is the one a
retraining would give; on a GPU, whose kernels may be nondeterministic, it is one such
evaluation, so runs that share it agree where separate trainings could differ slightly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from safetensors import SafetensorError, safe_open

from neronet.config import NeroConfig
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest
from neronet.store.run_store import atomic_write
from neronet.versions import computation_digest

UNRELATED = ("structure", "search", "store", "executor", "posttrain", "attack")
"""Config sections an evaluation does not read (the network and its budget come decoded
in the request; the search only decides which candidates to ask for)."""

BLOBS = ("weights", "train_state")
"""The :class:`Evaluation` fields stored as tensors of bytes beside its record."""


def memo_key(
    config: NeroConfig, request: EvalRequest, threads: int, transfer_sha: str | None
) -> str | None:
    """The digest of what ``request``'s evaluation under ``config`` depends on, or None
    when it cannot be reused (a time budget)."""
    if config.search.budget == "seconds":
        return None
    settings = config.model_dump(mode="json")
    for section in UNRELATED:
        settings.pop(section, None)
    warm = request.warm_start
    payload = {
        "settings": settings,
        "search_holdout": config.search_holdout,
        "budget_unit": config.search.budget,
        "device": _device(config.training.device),
        "devices": config.executor.devices,
        "threads": threads,
        "spec": request.spec.to_dict(),
        "learning": request.learning.to_dict(),
        "budget": request.budget,
        "seed": request.seed,
        "warm_start": None if warm is None else hashlib.sha256(warm).hexdigest(),
        "transfer_set": transfer_sha,
    }
    return computation_digest(payload)


def seed_memo(directory: Path, seed: int) -> EvaluationMemo:
    """The memo of runs with seed ``seed`` in ``directory`` (``store.memo``): runs of
    other seeds never share an evaluation (the seed draws the data splits and every
    training seed), so each seed's entries lie apart and can go once its runs are done
    (they hold weights and training states: megabytes each)."""
    return EvaluationMemo(directory / f"seed-{seed}")


def _device(setting: str) -> str:
    """What ``training.device`` means on this machine: the GPU by name (``auto`` is one
    on a GPU machine, the CPU elsewhere), or the CPU (its threads are keyed apart: the
    workers', not this process's)."""
    from neronet.train.core import device_label, resolve_device

    device = resolve_device(setting)
    return device_label(device) if device.type == "cuda" else device.type


@dataclasses.dataclass(frozen=True)
class EvaluationMemo:
    """A directory of evaluations by :func:`memo_key`, one safetensors file each (the
    record in its metadata, the blobs as byte tensors), written whole or not at all, so
    runs in other processes may read and add at the same time."""

    directory: Path

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.safetensors"

    def find(self, key: str) -> Evaluation | None:
        """The evaluation stored under ``key`` (``memo`` set to it), or None when there is
        none or its file is unreadable (then it is trained, and its entry rewritten)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(path, framework="pt") as entry:
                fields = json.loads(entry.metadata()["evaluation"])
                stored = set(entry.keys())
                blobs = {n: entry.get_tensor(n).numpy().tobytes() for n in BLOBS if n in stored}
            return Evaluation(**fields, **blobs, memo=key)
        except (OSError, ValueError, KeyError, TypeError, SafetensorError):
            return None

    def add(self, key: str, evaluation: Evaluation) -> None:
        """Keep ``evaluation`` under ``key``, unless it ran out of memory."""
        if evaluation.out_of_memory:
            return
        import torch  # the search process imports no torch until a memo is written
        from safetensors.torch import save

        fields = {
            f.name: getattr(evaluation, f.name)
            for f in dataclasses.fields(evaluation)
            if f.name not in (*BLOBS, "memo")
        }
        tensors = {
            name: torch.frombuffer(bytearray(blob), dtype=torch.uint8)
            for name in BLOBS
            if (blob := getattr(evaluation, name))
        }
        metadata = {"evaluation": json.dumps(fields)}  # NaN kept: json writes and reads it
        atomic_write(self.path(key), save(tensors, metadata=metadata))
