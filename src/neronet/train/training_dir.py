"""What a post-search training's directory holds, and which training it is.

``neronet train --out DIR`` resumes whatever DIR holds, so DIR records the training it
is (``train.json``: the architecture, data, mode, schedule and test split), and a
resume with other settings is refused before anything is overwritten. A training with
``--memo`` shares each finished seed with other trainings that would compute it the
same way. A dataset without a test split gets one held out of its training images, and
the model's metadata says which, so ``neronet attack`` tests on exactly those.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from neronet.config import PostTrainConfig
from neronet.data.dataset import Dataset
from neronet.data.splits import resolve_size
from neronet.errors import DataError, StoreError
from neronet.spec import NetworkSpec
from neronet.store import atomic_write
from neronet.threat import ThreatRecord
from neronet.versions import computation_digest

META_FILE = "train.json"
RESULTS_FILE = "train_results.csv"
MODEL_FILE = "model.safetensors"
HISTORY_FILE = "history.json"


def check_compatible(spec: NetworkSpec, dataset: Dataset) -> None:
    """The network must take the dataset's images and predict its classes."""
    if tuple(spec.input_shape) != dataset.input_shape or spec.num_classes != len(dataset.classes):
        raise DataError(
            f"the network expects {spec.input_shape} images and {spec.num_classes} classes but "
            f"dataset '{dataset.name}' has {dataset.input_shape} and {len(dataset.classes)}; "
            "pick the dataset the architecture was searched on"
        )


def holdout_metadata(dataset: Dataset, config: PostTrainConfig) -> dict[str, str]:
    """What a model records about its held-out test split (nothing for a real test split)."""
    if dataset.test is not None:
        return {}
    return {"holdout": repr(config.holdout), "holdout_seed": str(config.holdout_seed)}


def threat_metadata(config: PostTrainConfig) -> dict[str, str]:
    """The search's threat record, when known, so ``neronet attack`` defaults to it."""
    return {} if config.search_eps is None else ThreatRecord.search(config.search_eps).metadata()


def recorded_holdout(metadata: dict[str, Any]) -> tuple[float, int]:
    """The held-out draw a model was tested on: its metadata's, else the defaults."""
    defaults = PostTrainConfig()
    holdout = metadata.get("holdout", defaults.holdout)
    seed = metadata.get("holdout_seed", defaults.holdout_seed)
    try:
        return float(holdout), int(seed)
    except (TypeError, ValueError):
        raise StoreError(
            f"model metadata holdout={holdout!r} holdout_seed={seed!r} is not a number; "
            "retrain the model with neronet train"
        ) from None


def held_out_note(dataset: Dataset, holdout: float, seed: int) -> str | None:
    """A log line saying how the test split was held out; None for a real test split."""
    if dataset.test is not None:
        return None
    n = len(dataset.y_train)
    count = resolve_size("holdout", holdout, n)
    return (
        f"dataset '{dataset.name}' has no test split: {count} of its {n} training images "
        f"(holdout={holdout:g}, stratified, seed {seed}) are held out as its test split, "
        "the same images for neronet train (never trained on) and neronet attack"
    )


def training_identity(
    spec: NetworkSpec, dataset: Dataset, config: PostTrainConfig, only: np.ndarray | None
) -> dict[str, Any]:
    """What must match for ``out`` to be resumed (test_split None: the dataset's own;
    images None: all, as in trainings recorded before ``only`` existed)."""
    images = None if only is None else np.ascontiguousarray(only, np.int64)
    return {
        "images": None if images is None else hashlib.sha256(images).hexdigest(),
        "spec_digest": spec.digest(),
        "dataset": dataset.name,
        "mode": config.mode,
        "schedule": config.schedule.model_dump(mode="json"),
        "test_split": holdout_metadata(dataset, config) or None,
    }


def check_claim(out: Path, identity: dict[str, Any]) -> None:
    """Refuse to resume ``out`` when it holds a different training."""
    meta = out / META_FILE
    if not meta.is_file():
        return
    try:
        stored = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        raise StoreError(f"'{meta}' is unreadable; delete it or use a new --out") from None
    if not isinstance(stored, dict):
        raise StoreError(f"'{meta}' is not a training record; delete it or use a new --out")
    if {key: stored.get(key) for key in identity} != identity:
        changed = ", ".join(k for k in identity if stored.get(k) != identity[k])
        raise StoreError(
            f"'{out}' holds a training with a different {changed}; "
            "use a new --out directory or the same settings to resume"
        )


def write_claim(
    out: Path, identity: dict[str, Any], spec: NetworkSpec, config: PostTrainConfig
) -> None:
    """Record what ``out`` trains (once; :func:`check_claim` vetted an existing record)."""
    meta = out / META_FILE
    if meta.is_file():
        return
    record = {**identity, "spec": spec.to_dict(), "config": config.model_dump(mode="json")}
    atomic_write(meta, json.dumps(record, indent=2).encode())


def memo_entry(
    memo: Path, identity: dict[str, Any], config: PostTrainConfig, seed: int, device: str
) -> Path:
    """Where ``memo`` keeps seed ``seed`` of a training: named by a digest of what it
    depends on (the training's identity, its settings, the seed, the ``device`` with the
    CPU's torch threads as :func:`~neronet.train.core.device_label` names it, the
    versions). An experiment's methods that end on the same network retrain it once
    (``neronet train --memo``)."""
    what = {
        "identity": identity,
        "config": config.model_dump(mode="json"),
        "seed": seed,
        "device": device,
    }
    return memo / computation_digest(what)


def final_files(directory: Path) -> list[Path] | None:
    """A finished seed's model and history in ``directory`` (the history last: it is
    written last, so both present means whole), or None when either is missing."""
    files = [directory / MODEL_FILE, directory / HISTORY_FILE]
    return files if all(path.is_file() for path in files) else None


def copy_final(source: Path, target: Path, *, replace: bool) -> bool:
    """Copy ``source``'s finished seed to ``target``: where ``target`` holds none (taking
    from the memo; a copy that proves unusable there is discarded and trained again, see
    :mod:`neronet.train.posttrain`), or with ``replace`` where it holds other files (keeping
    in the memo); whether it copied."""
    files = final_files(source)
    if files is None or (final_files(target) is not None and not replace):
        return False
    copied = False
    for path in files:
        data, there = path.read_bytes(), target / path.name
        if not there.is_file() or there.read_bytes() != data:
            atomic_write(there, data)
            copied = True
    return copied
