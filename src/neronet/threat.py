"""The threat record: the norm, radius and PGD step a model was searched (or trained) at.

A run measures robustness at one radius, its search radius (``search_eps``, set in the
config as ``fitness.attack_eps``). ``neronet export`` and ``neronet train --run`` write
it into the model file as one record, ``threat`` (JSON: ``{"norm", "eps", "step"}``),
and ``neronet attack`` defaults to it, so a model is attacked at the radius it was
made robust at without the user repeating it. Model files written before the record
existed carry the radius alone (``search_eps``, a ``repr`` string); they are read as
before: an L-inf record with the usual quarter-radius step. No torch here: the CLI
reads a model's metadata before anything heavy loads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

THREAT_KEY = "threat"
"""The model-metadata key of the record."""
LEGACY_KEY = "search_eps"
"""Where model files from before the record kept the search radius (``repr(float)``)."""
NORMS = ("linf", "l2")
"""Norms a record may name: the radii ``neronet attack`` can default to."""
THREAT_LABELS = {"linf": "L-inf", "l2": "L2", "l0": "L0"}
"""The tables' names of the norms neronet's attacks use."""


def threat_label(norm: str) -> str:
    """The tables' name of ``norm`` (a plug-in's own norm: as it is spelled)."""
    return THREAT_LABELS.get(norm, norm)


@dataclass(frozen=True)
class ThreatRecord:
    """A norm, its radius (images in [0, 1]) and the PGD step at that radius."""

    norm: str
    eps: float
    step: float

    @classmethod
    def search(cls, eps: float) -> ThreatRecord:
        """The search's threat: L-inf at ``eps``, step ``eps / 4`` (the pgd measurement's
        and the attack suite's default step)."""
        return cls("linf", eps, eps / 4)

    def metadata(self) -> dict[str, str]:
        """The record as model metadata (safetensors metadata holds strings only)."""
        return {THREAT_KEY: json.dumps(asdict(self), sort_keys=True)}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> ThreatRecord | None:
        """A model's record: the ``threat`` entry, else an old file's ``search_eps``;
        None when absent or unusable (a value no attack could run at carries nothing)."""
        text = metadata.get(THREAT_KEY)
        if text is None:
            eps = legacy_eps(metadata.get(LEGACY_KEY))
            return None if eps is None else cls.search(eps)
        try:
            data = json.loads(text)
            record = cls(str(data["norm"]), float(data["eps"]), float(data["step"]))
        except (TypeError, ValueError, KeyError):
            return None
        return record if record._usable() else None

    def _usable(self) -> bool:
        bound = 1.0 if self.norm == "linf" else math.inf
        return (
            self.norm in NORMS
            and 0.0 < self.eps <= bound
            and math.isfinite(self.eps)
            and self.step > 0.0
            and math.isfinite(self.step)
        )


def legacy_eps(text: str | None) -> float | None:
    """An old model file's ``search_eps`` if it is one (an L-inf radius in (0, 1] for
    images in [0, 1]); None for a missing or unusable value (``'1e300'``, ``'nan'``)."""
    try:
        eps = float(text) if text is not None else None
    except ValueError:
        return None
    return eps if eps is not None and 0.0 < eps <= 1.0 else None
