"""Post-search training (NERO-Net, section 6): standard and Madry adversarial training.

The architecture a search found is retrained from scratch on the *whole*
training set, for a fixed number of epochs and several seeds, and measured on
the held-out test split (never used for any decision: no early stopping, no
model selection; so it is tested only after the last epoch unless
``test_every`` asks for a curve: on a survey's 2,500 training images, testing
all 10,000 test images every epoch took longer than the epoch). Two schedules,
each setting defaulting to the paper:

* standard: SGD momentum 0.9, 350 epochs, batch 128, lr 0.025 cosine-annealed
  to 0 (per step), gradient-norm clip 5.0, pad-crop-flip augmentation, weight
  decay 3e-4 (the paper lost its value; 3e-4 is NSGA-Net's, whose macro model
  is the seed architecture).
* adversarial (Madry et al.): every batch is replaced by its PGD-7 examples
  (L-inf eps 8/255, step 2/255, random start) before the update; 200 epochs,
  batch 64, lr 0.1 decayed x0.1 after 50% and 75% of the epochs (epochs 100
  and 150 of 200), clip 5.0, weight decay 5e-4 (chosen: Madry's and most
  adversarial-training baselines' value). Milestones are fractions so that a
  shortened run keeps the schedule's shape. The PGD examples are generated with
  the network in eval mode (the shared :func:`neronet.attacks.pgd` contract),
  so intermediate attack iterates never pollute the BatchNorm statistics.

Checkpoints: after every epoch, ``seed-<s>/checkpoints/epoch-<N>.state.pt``
(optimizer, step, RNG states, history: ``torch.save`` bytes read back only with
``torch.load(weights_only=True)``) is written, then the weights as
``epoch-<N>.safetensors``, each atomically; the older pair is deleted once the
new one is complete. A killed training therefore resumes from the newest
complete pair and, on the CPU, ends bit-identical to an uninterrupted one. The
final weights go to ``seed-<s>/model.safetensors`` with the NetworkSpec in the
metadata (the format of ``neronet export``), so ``neronet attack`` reads both.

A dataset without a test split (the CIFAR-10 JPEG zip, the copy available
offline) gets one held out of its training images: ``holdout`` (20%, i.e.
10,000 of 50,000), stratified and drawn with ``holdout_seed``, by
:func:`neronet.data.full_train_test`. The model metadata records both, so
``neronet attack`` tests on exactly the images the training never saw. A run's
search on such a dataset drew its train/control/fitness splits from the images
the run's hold-out keeps (:func:`neronet.execution.worker.search_pool`), so no
search split holds an image its best is measured on (a RAS transfer set, though,
is made of adversarial copies of test images, as the paper's is); a run's best
is retrained under the run's hold-out, and another one set is refused. A run
begun before that rule drew its splits from every training image: its best may
have been selected partly on held-out images, and the log says so.

``posttrain.images: search`` (from a run only) retrains on the run's own search
train + control images instead of the whole training set (a run begun before
the rule: those the hold-out did not take): the survey's ground-truth recipe, so
that a method comparison and a survey on the same small budget measure the same
thing.

A finished seed's ``model.safetensors`` and ``history.json`` are checked
before they are trusted (the JSON parses, the safetensors header is whole and
names this spec and epoch count). Files that fail are discarded with a
warning (logger ``neronet.train.posttrain``) and the seed retrains, from its
checkpoints if any are left, else from scratch: training is deterministic, so
this recovers the lost result (bit for bit on the CPU) without user action.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from neronet import __version__
from neronet.artifact import safetensors_bytes
from neronet.augment import DeviceSplit, steps_per_epoch
from neronet.config import PostTrainConfig
from neronet.data.dataset import Dataset
from neronet.data.splits import full_train_test
from neronet.errors import StoreError
from neronet.nn import build
from neronet.spec import NetworkSpec
from neronet.store import atomic_write
from neronet.train.core import device_label, resolve_device, seeded
from neronet.train.epoch_loop import EpochLoop, EpochStats, final_accuracy
from neronet.train.training_dir import (
    HISTORY_FILE,
    MODEL_FILE,
    RESULTS_FILE,
    check_claim,
    check_compatible,
    copy_final,
    holdout_metadata,
    memo_entry,
    threat_metadata,
    training_identity,
    write_claim,
)

_CHECKPOINT = re.compile(r"epoch-(\d+)\.safetensors")
_OWN_FILE = re.compile(r"\.?epoch-\d+\.(safetensors|state\.pt)(\.tmp\d+)?")
"""Checkpoint files this module writes (with ``atomic_write``'s temporaries); others are left."""
_FINAL_TEMP = re.compile(r"\.(model\.safetensors|history\.json)\.tmp\d+")
"""``atomic_write``'s temporaries of a seed's final files (a kill before their rename)."""
log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]
"""Receives one dict per finished (and checkpointed) epoch."""


@dataclass(frozen=True)
class SeedResult:
    """A finished seed: its final weights and clean test accuracy."""

    seed: int
    model_path: Path
    test_accuracy: float
    epochs: int
    seconds: float
    history: list[EpochStats] = field(default_factory=list)


def train_seeds(
    spec: NetworkSpec,
    dataset: Dataset,
    config: PostTrainConfig,
    out_dir: str | Path,
    *,
    progress: ProgressFn | None = None,
    only: np.ndarray | None = None,
    memo: Path | None = None,
) -> list[SeedResult]:
    """Train ``spec`` once per seed on ``dataset.train`` (``only``: on those of its images,
    see :func:`full_train_test`); resume whatever ``out_dir`` holds. With ``memo``, a
    seed another training finished the same way (:func:`memo_entry`) is copied from
    there, and each seed trained here is added.

    Seeds already finished are read back, an interrupted one continues from
    its newest checkpoint. ``out_dir`` must hold a training of the same
    architecture, dataset, mode, schedule and test split (``train.json``), or
    nothing; ``train.json`` is written only once a model is built on the
    device, so a run that fails before (a bad device or architecture) leaves
    the user free to change settings. Without a test split in ``dataset``,
    ``config.holdout`` of the training images is held out as one (see the
    module docstring). Writes ``train_results.csv`` (one row per seed) at the end.
    """
    check_compatible(spec, dataset)
    out = Path(out_dir)
    identity = training_identity(spec, dataset, config, only)
    check_claim(out, identity)
    device = resolve_device(config.device)
    train_split, test_split = full_train_test(dataset, config.holdout, config.holdout_seed, only)
    train = DeviceSplit.from_split(train_split, device)
    test = DeviceSplit.from_split(test_split, device)
    extra = holdout_metadata(dataset, config) | threat_metadata(config)

    def claim() -> None:
        write_claim(out, identity, spec, config)

    results = []
    for index, seed in enumerate(config.seed_list):
        run = _SeedRun(spec, config, seed, out / f"seed-{seed}", device, dataset.name, extra)
        tags = {"seed_index": index, "seeds": config.seeds}
        shared = (
            None if memo is None else memo_entry(memo, identity, config, seed, device_label(device))
        )
        if shared is not None and copy_final(shared, run.directory, replace=False):
            claim()
        results.append(run.run(train, test, _tagged(progress, tags), claim))
        if shared is not None:
            copy_final(run.directory, shared, replace=True)
    _write_results(out / RESULTS_FILE, results)
    return results


def _tagged(progress: ProgressFn | None, tags: dict[str, Any]) -> ProgressFn | None:
    """``progress`` with ``tags`` added to every report (None stays None)."""
    if progress is None:
        return None
    return lambda info: progress({**info, **tags})


def _write_results(path: Path, results: list[SeedResult]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["seed", "epochs", "test_accuracy", "seconds", "model"])
    for r in results:
        writer.writerow(
            [r.seed, r.epochs, f"{r.test_accuracy:.6f}", f"{r.seconds:.1f}", r.model_path]
        )
    atomic_write(path, buffer.getvalue().encode())


def summarize(results: list[SeedResult]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one seed) of the test accuracies."""
    values = [r.test_accuracy for r in results]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


class _SeedRun:
    """The training of one seed in ``directory``: fresh, resumed, or already done."""

    def __init__(
        self,
        spec: NetworkSpec,
        config: PostTrainConfig,
        seed: int,
        directory: Path,
        device: torch.device,
        dataset_name: str,
        extra_metadata: dict[str, str],
    ) -> None:
        self.spec = spec
        self.config = config
        self.schedule = config.schedule
        self.seed = seed
        self.directory = directory
        self.device = device
        self.dataset_name = dataset_name
        self.extra_metadata = extra_metadata

    # ------------------------------------------------------------ checkpoints
    @property
    def checkpoints(self) -> Path:
        return self.directory / "checkpoints"

    def _latest(self) -> int:
        """Newest epoch with a complete (state, weights) pair; 0 when none.

        Only ``epoch-<N>.safetensors`` names count: a stray file (``epoch-abc``,
        a copy) is no checkpoint of ours and is ignored.
        """
        if not self.checkpoints.is_dir():
            return 0
        named = {
            int(m[1]) for p in self.checkpoints.iterdir() if (m := _CHECKPOINT.fullmatch(p.name))
        }
        complete = [e for e in named if all(path.is_file() for path in self._paths(e))]
        return max(complete, default=0)

    def _own_files(self) -> list[Path]:
        """The checkpoint files (and interrupted temporaries) this module wrote."""
        if not self.checkpoints.is_dir():
            return []
        return [p for p in self.checkpoints.iterdir() if _OWN_FILE.fullmatch(p.name)]

    def _paths(self, epoch: int) -> tuple[Path, Path]:
        stem = self.checkpoints / f"epoch-{epoch:04d}"
        return stem.with_suffix(".safetensors"), stem.with_suffix(".state.pt")

    def _metadata(self, epoch: int, **extra: str) -> dict[str, str]:
        return {
            "spec": self.spec.to_json(),
            "neronet_version": __version__,
            "dataset": self.dataset_name,
            "mode": self.config.mode,
            "seed": str(self.seed),
            "epoch": str(epoch),
            **self.extra_metadata,
            **extra,
        }

    def _save(self, loop: EpochLoop) -> None:
        weights_path, state_path = self._paths(loop.epoch)
        atomic_write(state_path, loop.state_bytes())
        atomic_write(weights_path, safetensors_bytes(loop.weights(), self._metadata(loop.epoch)))
        for old in self._own_files():
            if old not in (weights_path, state_path):
                old.unlink()

    def _load(self, loop: EpochLoop, epoch: int) -> None:
        weights_path, state_path = self._paths(epoch)
        try:
            weights = load_file(str(weights_path))
            state = torch.load(
                io.BytesIO(state_path.read_bytes()), map_location="cpu", weights_only=True
            )
        except Exception as err:  # corrupt files surface as several exception types
            raise StoreError(
                f"checkpoint '{weights_path}' cannot be read ({type(err).__name__}); "
                f"delete {self.checkpoints} to restart seed {self.seed}"
            ) from None
        loop.restore(weights, state)

    # ------------------------------------------------------------------ run
    def _finished(self) -> SeedResult | None:
        """The finished seed read back; None when it is not finished or its files are bad.

        Bad final files are deleted (they are this module's output and the
        retraining rewrites them), so the seed retrains as the module docstring says.
        """
        model_path = self.directory / MODEL_FILE
        history_path = self.directory / HISTORY_FILE
        if not (model_path.is_file() and history_path.is_file()):
            return None  # killed before (or while) finishing: the checkpoints are still there
        try:
            history = self._read_final(model_path, history_path)
        except Exception as err:  # corrupt files surface as several exception types
            log.warning(
                f"seed {self.seed}: {model_path.name} / {history_path.name} in "
                f"{self.directory} are unusable ({type(err).__name__}: {err}); discarding them "
                "and training the seed again"
            )
            model_path.unlink()
            history_path.unlink()
            return None
        return _result(self.seed, model_path, history)

    def _read_final(self, model_path: Path, history_path: Path) -> list[EpochStats]:
        """The history of a finished seed, once both final files prove whole and this run's."""
        history = [EpochStats(**e) for e in json.loads(history_path.read_text())]
        with safe_open(str(model_path), framework="pt") as handle:
            meta = handle.metadata() or {}
        epochs = self.schedule.epochs
        if not history or history[-1].epoch != epochs or meta.get("epoch") != str(epochs):
            raise ValueError(f"they do not hold a finished {epochs}-epoch training")
        if meta.get("spec") != self.spec.to_json():
            raise ValueError("the model holds another architecture")
        final_accuracy(history)
        return history

    def run(
        self,
        train: DeviceSplit,
        test: DeviceSplit,
        progress: ProgressFn | None,
        claim: Callable[[], None],
    ) -> SeedResult:
        """Train (or read back) the seed; ``claim`` runs once the model is built on the device."""
        done = self._finished()
        if done is not None:
            self._clean()  # a kill at the very end left the last checkpoint pair
            return done
        per_epoch = steps_per_epoch(len(train), self.schedule.batch_size)
        with seeded(self.seed, self.device):
            loop = EpochLoop(build(self.spec), self.config, self.device, self.seed, per_epoch)
            claim()
            start = self._latest()
            if start:
                self._load(loop, start)
            while loop.epoch < self.schedule.epochs:
                stats = loop.run_epoch(train, test)
                self._save(loop)
                if progress is not None:
                    info = {"seed": self.seed, "epochs": self.schedule.epochs, **asdict(stats)}
                    progress(info)
        return self._finish(loop)

    def _finish(self, loop: EpochLoop) -> SeedResult:
        model_path = self.directory / MODEL_FILE
        final = final_accuracy(loop.history)
        metadata = self._metadata(loop.epoch, test_accuracy=f"{final:.6f}")
        history = json.dumps([asdict(e) for e in loop.history], indent=1).encode()
        atomic_write(self.directory / HISTORY_FILE, history)
        atomic_write(model_path, safetensors_bytes(loop.weights(), metadata))
        self._clean()
        return _result(self.seed, model_path, loop.history)

    def _clean(self) -> None:
        """Remove the checkpoints and interrupted temporaries of a finished seed: a seed
        resumed after a kill ends with exactly the files of an uninterrupted one."""
        for old in self._own_files():
            old.unlink()
        for temp in self.directory.glob(".*.tmp*"):
            if _FINAL_TEMP.fullmatch(temp.name):
                temp.unlink()
        if self.checkpoints.is_dir() and not any(self.checkpoints.iterdir()):
            self.checkpoints.rmdir()  # a stray file of the user's keeps the folder


def accuracy_text(info: dict[str, Any], digits: int) -> str:
    """An epoch's test accuracy for a progress line: "-" after an untested epoch."""
    value = info["test_accuracy"]
    return "-" if value is None else f"{value:.{digits}f}"


def _result(seed: int, model_path: Path, history: list[EpochStats]) -> SeedResult:
    return SeedResult(
        seed=seed,
        model_path=model_path,
        test_accuracy=final_accuracy(history),
        epochs=history[-1].epoch,
        seconds=sum(e.seconds for e in history),
        history=history,
    )
