"""On-device augmentation and batching: shapes, determinism, real crops and flips."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from neronet.augment import (
    DeviceData,
    DeviceSplit,
    augment,
    batches,
    default_pad,
    steps_per_epoch,
    to_float,
)
from neronet.errors import DataError


def _images(n: int = 64, c: int = 3, h: int = 8, w: int = 8, seed: int = 0) -> torch.Tensor:
    """Random images with no zero pixels, so zero padding is recognisable."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (n, c, h, w), generator=gen, dtype=torch.uint8)


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference: ``x`` moved by (dy, dx) with zeros filling, i.e. a pad-and-crop."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_augment_keeps_shape_dtype_and_device() -> None:
    x = _images()
    out = augment(x, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == x.shape
    assert out.dtype == torch.uint8
    assert out.device == x.device


def test_augment_is_deterministic_per_generator() -> None:
    x = _images()
    a = augment(x, torch.Generator().manual_seed(7))
    b = augment(x, torch.Generator().manual_seed(7))
    c = augment(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_every_sample_is_a_shifted_possibly_flipped_copy() -> None:
    """Each output equals the input shifted by some (dy, dx) within the pad, maybe mirrored."""
    x = _images(n=200)
    pad = 2
    out = augment(x, torch.Generator().manual_seed(3), pad=pad)
    seen_shifts, flips = set(), 0
    for src, dst in zip(x, out, strict=True):
        matches = [
            (dy, dx, flip)
            for dy in range(-pad, pad + 1)
            for dx in range(-pad, pad + 1)
            for flip in (False, True)
            if torch.equal(dst, _shifted(src.flip(-1) if flip else src, dy, dx))
        ]
        assert len(matches) == 1
        dy, dx, flip = matches[0]
        seen_shifts.add((dy, dx))
        flips += flip
    assert len(seen_shifts) == (2 * pad + 1) ** 2  # all 25 offsets occur in 200 draws
    assert 60 < flips < 140  # about half are flipped


def test_zero_pad_only_flips() -> None:
    x = _images(n=100)
    out = augment(x, torch.Generator().manual_seed(0), pad=0)
    flipped = [torch.equal(o, s.flip(-1)) for o, s in zip(out, x, strict=True)]
    unchanged = [torch.equal(o, s) for o, s in zip(out, x, strict=True)]
    assert all(f or u for f, u in zip(flipped, unchanged, strict=True))
    assert 0 < sum(flipped) < 100


def test_default_pad_scales_with_image_size() -> None:
    assert default_pad(32) == 4
    assert default_pad(28) == 4
    assert default_pad(8) == 1
    assert default_pad(2) == 1


def test_to_float_range_and_layout() -> None:
    x = torch.tensor([0, 128, 255], dtype=torch.uint8).reshape(1, 3, 1, 1).expand(2, 3, 4, 4)
    out = to_float(x, channels_last=True)
    assert out.dtype == torch.float32
    assert float(out.min()) == 0.0
    assert float(out.max()) == 1.0
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out[0, 1], torch.full((4, 4), 128 / 255))


def test_batches_shuffle_drop_last_and_determinism() -> None:
    idx = list(batches(10, 3, torch.Generator().manual_seed(0), torch.device("cpu")))
    assert [len(b) for b in idx] == [3, 3, 3]
    assert steps_per_epoch(10, 3) == 3
    flat = torch.cat(idx)
    assert len(set(flat.tolist())) == 9
    assert flat.tolist() != sorted(flat.tolist())
    again = torch.cat(list(batches(10, 3, torch.Generator().manual_seed(0), torch.device("cpu"))))
    assert torch.equal(flat, again)
    whole = list(batches(5, 128, torch.Generator().manual_seed(0), torch.device("cpu")))
    assert [len(b) for b in whole] == [5]
    assert steps_per_epoch(5, 128) == 1


def test_device_data_from_splits() -> None:
    x = np.arange(2 * 1 * 2 * 2, dtype=np.uint8).reshape(2, 1, 2, 2)
    split = SimpleNamespace(x=x, y=np.array([0, 1]))
    data = DeviceData.from_splits(SimpleNamespace(train=split, control=split, fitness=split), "cpu")
    assert data.train.x.dtype == torch.uint8
    assert data.train.y.dtype == torch.int64
    assert len(data.fitness) == 2
    assert data.device == torch.device("cpu")
    assert torch.equal(data.control.x, torch.from_numpy(x))


def test_device_split_rejects_float_images() -> None:
    split = SimpleNamespace(x=np.zeros((2, 1, 2, 2), np.float32), y=np.zeros(2, np.int64))
    with pytest.raises(DataError, match="uint8"):
        DeviceSplit.from_split(split, "cpu")
