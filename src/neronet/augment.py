"""Device-resident uint8 data, on-device pad-crop-flip and shuffled batching.

The search trains hundreds of short-lived networks on the same splits, so the
data is moved to the training device once per worker (:class:`DeviceData`) as
uint8, a quarter of the float32 size, and every individual reuses it. Batches
are augmented on the device with a handful of vectorised tensor ops (no
per-sample Python work, no host round trip) and only then turned into floats in
``[0, 1]``. All randomness comes from an explicit ``torch.Generator`` so that a
training run is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from neronet.errors import DataError


class SplitLike(Protocol):
    """What :meth:`DeviceSplit.from_split` needs: ``neronet.data.Split`` satisfies it."""

    x: np.ndarray
    y: np.ndarray


class SplitsLike(Protocol):
    """What :meth:`DeviceData.from_splits` needs: ``neronet.data.DataSplits`` satisfies it."""

    train: SplitLike
    control: SplitLike
    fitness: SplitLike


@dataclass(frozen=True)
class DeviceSplit:
    """Images ``x`` (uint8, N x C x H x W) and labels ``y`` (int64) on one device."""

    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def from_split(cls, split: SplitLike, device: torch.device | str) -> DeviceSplit:
        x, y = np.asarray(split.x), np.asarray(split.y)
        if x.dtype != np.uint8 or x.ndim != 4:
            raise DataError(
                f"images must be uint8 (N, C, H, W), got {x.dtype} {x.shape}; "
                "convert them with neronet.data before training"
            )
        if y.shape != (x.shape[0],):
            raise DataError(
                f"labels shape {y.shape} does not match {x.shape[0]} images; "
                "pass one label per image"
            )
        return cls(
            x=torch.from_numpy(np.ascontiguousarray(x)).to(device),
            y=torch.from_numpy(y.astype(np.int64)).to(device),
        )

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class DeviceData:
    """The three search splits on the training device, built once per worker."""

    train: DeviceSplit
    control: DeviceSplit
    fitness: DeviceSplit

    @classmethod
    def from_splits(cls, splits: SplitsLike, device: torch.device | str) -> DeviceData:
        return cls(
            train=DeviceSplit.from_split(splits.train, device),
            control=DeviceSplit.from_split(splits.control, device),
            fitness=DeviceSplit.from_split(splits.fitness, device),
        )

    @property
    def device(self) -> torch.device:
        return self.train.x.device


def default_pad(height: int) -> int:
    """Crop padding scaled to the image: 4 on 32x32 (the paper), 4 on 28x28, 1 on 8x8.

    A 4-pixel shift would move half of an 8x8 digit out of view, so the pad is
    ``round(H / 8)`` (at least 1) unless set explicitly.
    """
    return max(1, round(height / 8))


def augment(x: torch.Tensor, gen: torch.Generator, pad: int | None = None) -> torch.Tensor:
    """Zero-pad by ``pad``, random-crop back to H x W and flip half of the batch left-right.

    Each sample gets its own crop offset and flip. ``unfold`` views the padded
    batch as every possible H x W window (no copy), one advanced-indexing
    gather picks each sample's window, and ``torch.where`` applies the flips:
    a few passes over the batch whatever its size, no per-sample Python work
    (about 2x faster than a per-pixel ``gather`` on the CPU). ``x`` is uint8
    (N, C, H, W) on ``gen``'s device; the result has the same shape and dtype.
    """
    n, _, h, w = x.shape
    p = default_pad(h) if pad is None else pad
    device = x.device
    offsets = torch.randint(0, 2 * p + 1, (2, n), generator=gen, device=device)
    flip = torch.randint(0, 2, (n, 1, 1, 1), generator=gen, device=device) == 1
    windows = F.pad(x, (p, p, p, p)).unfold(2, h, 1).unfold(3, w, 1)  # N, C, dy, dx, H, W
    cropped = windows[torch.arange(n, device=device), :, offsets[0], offsets[1]]
    return torch.where(flip, cropped.flip(3), cropped)


def to_float(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 images to float32 in ``[0, 1]``, optionally in channels-last memory layout."""
    out = x.float().div_(255.0)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def batches(
    n: int, batch_size: int, gen: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Index tensors for one shuffled epoch over ``n`` samples.

    The last partial batch is dropped: a batch of one breaks BatchNorm after an
    fc layer, and since the permutation changes every epoch no sample is left
    out for good. ``batch_size`` larger than ``n`` gives one batch of all ``n``
    (``n`` >= 1).
    """
    size = min(batch_size, n)
    perm = torch.randperm(n, generator=gen, device=device)
    for start in range(0, n - size + 1, size):
        yield perm[start : start + size]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Number of batches :func:`batches` yields for ``n`` samples."""
    return n // min(batch_size, n)
