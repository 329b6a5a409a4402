"""What ``neronet.evaluate`` is given, checked before any attack runs.

Robustness numbers of wrong inputs are silent nonsense, worse than an error: a model
returning NaN logits scored 100 % conditional FGSM robustness, images in [0, 255] were
attacked at an eps meant for [0, 1], labels of 99 were compared with 10 logits. So the
images, the labels and one forward pass of the model over them are checked first, each
problem one :class:`~neronet.errors.InputError` naming the argument.
"""

from __future__ import annotations

import torch
from torch import nn

from neronet.errors import InputError


def check_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> None:
    """Raise InputError unless ``x`` are images in [0, 1], ``y`` their class labels and
    ``model`` maps them to finite logits of at least as many classes as the labels need."""
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch nn.Module, not {type(model).__name__}")
    _check_images(x)
    _check_labels(y, len(x))
    classes = _check_logits(model, x, batch_size)
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= classes:
        raise InputError(
            f"y holds labels {low}..{high}, but the model returns {classes} logits per image; "
            f"pass labels 0..{classes - 1} (one per logit)"
        )


def _check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"x must be a torch.Tensor of images, not {type(x).__name__}")
    if x.ndim != 4:
        raise InputError(f"x must be images (N, C, H, W), got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise InputError("x holds no images; pass at least one")
    if not x.is_floating_point():
        raise InputError(f"x must be float images in [0, 1], got dtype {x.dtype}; use x / 255")
    low, high = float(x.min()), float(x.max())
    if not (low >= 0.0 and high <= 1.0):  # also False for NaN
        raise InputError(
            f"x must be images in [0, 1], got values in [{low:g}, {high:g}]; scale them "
            "(e.g. x / 255 for 8-bit images, not normalized with a mean and std)"
        )


def _check_labels(y: torch.Tensor, count: int) -> None:
    if not isinstance(y, torch.Tensor):
        raise InputError(f"y must be a torch.Tensor of labels, not {type(y).__name__}")
    if y.ndim != 1 or y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise InputError(
            f"y must be integer class labels of shape (N,), got dtype {y.dtype} and shape "
            f"{tuple(y.shape)}"
        )
    if len(y) != count:
        raise InputError(f"x holds {count} images but y {len(y)} labels; pass one label each")


def _check_logits(model: nn.Module, x: torch.Tensor, batch_size: int) -> int:
    """The model's class count, from one forward pass over ``x`` (eval mode, no grad)."""
    model.eval()
    classes = None
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            try:
                out = model(batch)
            except Exception as err:
                raise InputError(
                    f"the model raised {type(err).__name__} on images of shape "
                    f"{tuple(batch.shape)} ({str(err).splitlines()[0] if str(err) else ''}); "
                    "pass a model that takes x"
                ) from err
            if not isinstance(out, torch.Tensor) or out.ndim != 2 or len(out) != len(batch):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise InputError(
                    f"the model must return logits (N, classes) for N images, got {shape} "
                    f"for {len(batch)} images"
                )
            if out.shape[1] < 2:
                raise InputError(f"the model returns {out.shape[1]} logit per image; need 2+")
            if not bool(torch.isfinite(out).all()):
                raise InputError(
                    "the model returns non-finite logits (NaN or inf) on x; robustness "
                    "measured on them would be meaningless: fix the model"
                )
            classes = int(out.shape[1])
    assert classes is not None  # x is not empty
    return classes
