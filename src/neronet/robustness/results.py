"""Finished (model, attack) results on disk, so an interrupted ``neronet attack`` resumes.

A suite on a CPU can take hours; an interrupt must not throw away the attacks
that finished. Each finished pair is one small JSON file, written atomically
as it finishes (an attack's per-image robustness, or the audit's findings), next
to a manifest saying what was attacked with which settings. A re-run with the
same models and settings loads the finished pairs instead of recomputing them;
different ones would mix two experiments in one table, so an unfinished suite
refuses them, naming what changed. A finished suite is simply replaced.

With a memo (:class:`AttackMemo`, ``neronet attack --memo``) finished pairs are also
shared between suites: a model with the same weights (by digest) under the same attacks,
settings and data, attacked on the same device, is not attacked twice. An experiment's
methods that end on the same network retrain it to the same weights, and its AutoAttack
(most of an hour on a CPU) runs once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from neronet.errors import AttackError
from neronet.store import atomic_write

MANIFEST = "manifest.json"


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``: a changed setting is named by its key."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


SETTINGS_BEFORE_THEY_EXISTED = {"channels_last": False}
"""Attack settings added since suites were first stored, at the value every attack had
before the setting existed: a suite stored then is read as having run with it (attacked
in the standard layout), so it resumes under ``attack.channels_last=false`` and is refused,
naming the setting, under the new default."""


def _as_stored_now(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """A stored suite identity with the :data:`SETTINGS_BEFORE_THEY_EXISTED` that ``now``
    has and it lacks filled in."""
    settings, current = stored.get("settings"), now.get("settings")
    if not isinstance(settings, dict) or not isinstance(current, dict):
        return stored
    lacking = {k: v for k, v in SETTINGS_BEFORE_THEY_EXISTED.items() if k in current}
    return {**stored, "settings": {**lacking, **settings}}


def _changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs, as ``key old -> new`` (values cut short: digests are long)."""
    old, new = _flat(before), _flat(now)

    def show(value: Any) -> str:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."

    return [
        f"{key} {show(old.get(key))} -> {show(new.get(key))}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def mask_text(mask: torch.Tensor) -> str:
    """A per-image boolean mask as ``0``/``1`` characters (small, exact, readable)."""
    return "".join("1" if v else "0" for v in mask.tolist())


def text_mask(text: str, device: torch.device) -> torch.Tensor:
    return torch.tensor([c == "1" for c in text], dtype=torch.bool, device=device)


def weights_digest(weights: Mapping[str, torch.Tensor]) -> str:
    """A model's identity in a suite: a digest of its tensors' names and bytes (a
    retrained seed is another model, whatever its file is called)."""
    digest = hashlib.sha256()
    for key in sorted(weights):
        digest.update(key.encode())
        digest.update(weights[key].detach().cpu().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


@dataclass(frozen=True)
class AttackMemo:
    """Finished pairs shared between suites, one JSON file each, named by a digest of what
    the pair's result depends on: the model's weights, the suite's attacks, settings and
    data, the step, the ``device`` it runs on (with the CPU's thread count) and the package
    versions: float results may differ on another."""

    directory: Path
    device: str

    def path(self, identity: dict[str, Any], model: int, step: str) -> Path:
        from neronet.versions import computation_digest

        what = {
            **identity,
            "models": list(identity["models"].values())[model],
            "step": step,
            "device": self.device,
        }
        return self.directory / f"{computation_digest(what)}.json"


class SuiteResults:
    """The finished pairs of one suite in ``directory``; ``identity`` says what the suite
    is (models' weight digests, attacks, settings, data) and must match to resume;
    ``memo``: where pairs are shared with other suites."""

    def __init__(
        self, directory: Path, identity: dict[str, Any], memo: AttackMemo | None = None
    ) -> None:
        self.directory = directory
        self.memo = memo
        manifest = directory / MANIFEST
        stored = json.loads(manifest.read_text()) if manifest.is_file() else None
        if stored is not None:
            stored["identity"] = _as_stored_now(stored["identity"], identity)
        if stored is not None and stored["identity"] != identity:
            if not stored["complete"]:
                changed = "; ".join(_changes(stored["identity"], identity))
                raise AttackError(
                    f"'{directory}' holds an unfinished attack with other models or settings "
                    f"({changed}); re-run its command to resume it, or pass another --out"
                )
            stored = None
        if stored is None:
            for old in [*directory.glob("pair-*.json"), *directory.glob("partial-*")]:
                old.unlink()
            self._write_manifest(identity, complete=False)
        self.identity = identity

    def _write_manifest(self, identity: dict[str, Any], complete: bool) -> None:
        text = json.dumps({"identity": identity, "complete": complete}, indent=1)
        atomic_write(self.directory / MANIFEST, text.encode())

    def _path(self, model: int, step: str) -> Path:
        return self.directory / f"pair-{model}-{step}.json"

    def load(self, model: int, step: str) -> dict[str, Any] | None:
        """The saved result of model number ``model`` under ``step``, if it finished here
        or, with a memo, in another suite (then it is saved here too)."""
        path = self._path(model, step)
        if path.is_file():
            return json.loads(path.read_text())
        if self.memo is None:
            return None
        try:
            result = json.loads(self.memo.path(self.identity, model, step).read_text())
        except (OSError, ValueError):  # none, or a damaged one: attacked again
            return None
        atomic_write(path, json.dumps(result).encode())
        return result

    def partial(self, model: int, step: str) -> Path:
        """Where the step in progress keeps what it has done so far (an AutoAttack's
        batches: :func:`~neronet.attacks.resume.batch_checkpoint`)."""
        return self.directory / f"partial-{model}-{step}.json"

    def save(self, model: int, step: str, result: dict[str, Any]) -> None:
        text = json.dumps(result).encode()
        atomic_write(self._path(model, step), text)
        if self.memo is not None:
            atomic_write(self.memo.path(self.identity, model, step), text)
        self.partial(model, step).unlink(missing_ok=True)

    def finish(self) -> None:
        """Marks the suite complete: a later command with other settings replaces it."""
        self._write_manifest(self.identity, complete=True)

    @property
    def kept(self) -> int:
        """How many finished pairs are on disk."""
        return len(list(self.directory.glob("pair-*.json")))
