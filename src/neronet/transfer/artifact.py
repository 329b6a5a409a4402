"""The transfer-set file: uint8 images, labels and per-sample provenance in safetensors.

Tensors: ``images`` (N, C, H, W) uint8, ``labels`` int64, and one small integer
code per sample for ``source``, ``attack``, ``threshold`` (the integer itself)
and ``optimiser``. The string metadata holds the format name and version, the
code tables (JSON), the dataset name, image shape and class count, so a set is
checked against a run's data before any search starts. Written with canonical
bytes (same set, same file, same checksum) and atomically (temporary file,
then rename): a kill leaves the old file or the new one, never half of one.
The SHA-256 of the file is what a run records.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load

from neronet import __version__
from neronet.artifact import safetensors_bytes
from neronet.errors import TransferSetError
from neronet.store import atomic_write

FORMAT = "neronet-transfer-set"
FORMAT_VERSION = 1
CODED = ("source", "attack", "optimiser")
"""Per-sample fields stored as codes into a table of names in the metadata."""
TENSORS = ("images", "labels", *CODED, "threshold")


@dataclass(frozen=True)
class TransferSet:
    """Adversarial samples with their provenance; ``tables[f][code]`` names a code of ``f``."""

    images: torch.Tensor
    labels: torch.Tensor
    source: torch.Tensor
    attack: torch.Tensor
    optimiser: torch.Tensor
    threshold: torch.Tensor
    tables: dict[str, list[str]]
    dataset: str
    num_classes: int
    info: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance (the transfer settings, neronet version)."""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def from_samples(
        cls,
        samples: list[dict[str, Any]],
        image_shape: tuple[int, int, int],
        tables: dict[str, list[str]],
        dataset: str,
        num_classes: int,
        info: dict[str, Any],
    ) -> TransferSet:
        """From ``samples`` (each ``image`` uint8 tensor, ``label``, ``threshold`` int and
        the names of its ``source``, ``attack``, ``optimiser``)."""

        def codes(key: str) -> torch.Tensor:
            return torch.tensor([tables[key].index(s[key]) for s in samples], dtype=torch.int64)

        images = [s["image"].cpu() for s in samples]
        return cls(
            images=torch.stack(images)
            if images
            else torch.zeros((0, *image_shape), dtype=torch.uint8),
            labels=torch.tensor([s["label"] for s in samples], dtype=torch.int64),
            threshold=torch.tensor([s["threshold"] for s in samples], dtype=torch.int64),
            **{key: codes(key) for key in CODED},
            tables=tables,
            dataset=dataset,
            num_classes=num_classes,
            info=info,
        )

    def to_bytes(self) -> bytes:
        tensors = {name: getattr(self, name).contiguous() for name in TENSORS}
        metadata = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "tables": json.dumps(self.tables),
            "dataset": self.dataset,
            "image_shape": json.dumps(list(self.image_shape)),
            "num_classes": str(self.num_classes),
            "info": json.dumps(self.info, sort_keys=True),
            "neronet_version": __version__,
        }
        return safetensors_bytes(tensors, metadata)

    @classmethod
    def from_bytes(cls, data: bytes, origin: str) -> TransferSet:
        """Parse and check a set; anything malformed is one ``TransferSetError``."""
        fix = "rebuild it with neronet transfer-set"
        try:
            tensors = load(data)
            meta = _metadata(data)
            if meta.get("format") != FORMAT:
                raise ValueError("not a neronet transfer set")
            if meta.get("format_version") != str(FORMAT_VERSION):
                raise ValueError(f"format version {meta.get('format_version')} is not supported")
            tables = json.loads(meta["tables"])
            shape = tuple(int(s) for s in json.loads(meta["image_shape"]))
            result = cls(
                **{name: tensors[name] for name in TENSORS},
                tables={k: [str(n) for n in tables[k]] for k in CODED},
                dataset=meta["dataset"],
                num_classes=int(meta["num_classes"]),
                info=json.loads(meta.get("info", "{}")),
            )
            _check_consistent(result, shape)
        except (SafetensorError, ValueError, KeyError, TypeError, IndexError) as err:
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            message = f"'{origin}' is not a valid transfer set ({detail}); {fix}"
            raise TransferSetError(message) from None
        return result

    def composition(self) -> Counter[tuple[str, str, str, int]]:
        """Samples per (source, optimiser, attack, threshold): the paper's Table 1 cells."""
        names = [
            [self.tables[key][int(c)] for c in getattr(self, key).tolist()]
            for key in ("source", "optimiser", "attack")
        ]
        return Counter(zip(*names, self.threshold.tolist(), strict=True))


def _metadata(data: bytes) -> dict[str, str]:
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__", {})


def _check_consistent(tset: TransferSet, shape: tuple[int, ...]) -> None:
    n = len(tset)
    if tset.images.dtype != torch.uint8 or tuple(tset.images.shape) != (n, *shape):
        raise ValueError(f"images are not uint8 of shape (N, {shape})")
    for name in TENSORS[1:]:
        tensor = getattr(tset, name)
        if tensor.dtype != torch.int64 or tuple(tensor.shape) != (n,):
            raise ValueError(f"{name} is not {n} int64 values")
    if n and not (int(tset.labels.min()) >= 0 and int(tset.labels.max()) < tset.num_classes):
        raise ValueError("a label is outside the class count")
    for key in CODED:
        codes = getattr(tset, key)
        if n and not (int(codes.min()) >= 0 and int(codes.max()) < len(tset.tables[key])):
            raise ValueError(f"a {key} code has no name")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_transfer_set(path: Path, tset: TransferSet) -> str:
    """Write ``tset`` atomically; returns its checksum."""
    data = tset.to_bytes()
    atomic_write(path, data)
    return sha256(data)


def read_transfer_set(path: str | Path) -> tuple[TransferSet, str]:
    """The set at ``path`` and its checksum; a missing or unreadable file is one line."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise TransferSetError(
            f"transfer set '{path}' cannot be read ({err.strerror or type(err).__name__}); "
            "pass an existing file built by neronet transfer-set"
        ) from None
    return TransferSet.from_bytes(data, str(path)), sha256(data)


@functools.lru_cache(maxsize=4)
def resident_transfer_set(path: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of the set at ``path`` on ``device``, read once per worker process
    (the run checked the set when it opened; this reads what it checked)."""
    tset, _ = read_transfer_set(path)
    return tset.images.to(device), tset.labels.to(device)


def check_fits(
    tset: TransferSet, origin: str, image_shape: tuple[int, ...], num_classes: int, dataset: str
) -> None:
    """Refuse a set made for other images or classes than the run's dataset's."""
    if tset.image_shape != tuple(image_shape) or tset.num_classes != num_classes:
        raise TransferSetError(
            f"transfer set '{origin}' holds {tset.image_shape} images of {tset.num_classes} "
            f"classes ({tset.dataset}) but the run's dataset '{dataset}' has "
            f"{tuple(image_shape)} and {num_classes}; build one on it with neronet transfer-set"
        )


def composition_table(tset: TransferSet) -> str:
    """The set's composition as the paper's Table 1, in Markdown: one row per source and
    optimiser, one column per attack and threshold (every one attacked, also those that
    found nothing), totals on the right and below."""
    cells = tset.composition()
    thresholds = tset.info.get("transfer", {}).get("thresholds") or sorted({t for *_, t in cells})
    columns = [(a, int(t)) for a in tset.tables["attack"] for t in thresholds]
    rows = [(s, o) for s in tset.tables["source"] for o in tset.tables["optimiser"]]
    header = ["Model", "Optimiser", *(f"{a} th={t}" for a, t in columns), "Total"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for source, optimiser in rows:
        counts = [cells[(source, optimiser, a, t)] for a, t in columns]
        lines.append(
            "| " + " | ".join([source, optimiser, *map(str, counts), str(sum(counts))]) + " |"
        )
    totals = [sum(cells[(s, o, a, t)] for s, o in rows) for a, t in columns]
    lines.append("| " + " | ".join(["Total", "", *map(str, totals), str(len(tset))]) + " |")
    return "\n".join(lines) + "\n"
