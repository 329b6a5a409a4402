"""How a network is laid out while it is attacked: weights frozen, activations
channels-last.

An attack needs the gradient of its input only. Two things make that cheaper without
changing what the attack computes: weights that do not require gradients (autograd then
skips their gradients even where an attack calls ``backward()``, as pyautoattack's FAB
does), and channels-last memory for the activations, as training already runs them
(together 1.35-1.8x faster FAB-T and 1.1-1.3x faster forward passes for the survey's larger
networks on a CPU core: ``bench/autoattack_layout.py``). Both are undone when the attack
ends, however it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


@contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[None]:
    """``model``'s parameters stop requiring gradients while the block runs, and are
    restored after it. The input gradients, hence the adversarial images, are bit for bit
    the same as with the weights thawed."""
    thawed = [p for p in model.parameters() if p.requires_grad]
    for parameter in thawed:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in thawed:
            parameter.requires_grad_(True)


class _ChannelsLastInput(torch.autograd.Function):
    """The network gets a channels-last copy of its input; the input's gradient comes
    back in the standard (contiguous) layout. Without the second half a multi-channel
    image's gradient would come back channels-last, and an attack that flattens it with
    ``.view`` would fail (pyautoattack happens to add it into buffers of its own layout
    first; a plug-in attack need not)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def _channels_last_input(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: the first argument, if an image batch, through
    :class:`_ChannelsLastInput`."""
    first, *rest = args
    if isinstance(first, torch.Tensor) and first.dim() == 4:
        return (_ChannelsLastInput.apply(first), *rest)
    return args


@contextmanager
def attack_layout(model: nn.Module, channels_last: bool) -> Iterator[None]:
    """``model`` with its weights frozen and, with ``channels_last``, its 4-D tensors and
    its input in channels-last memory while the block runs; afterwards every tensor has
    its own layout (and object) back and the model takes its input as before.

    Channels-last convolutions add in another order, so the attacked network's logits
    (and an attack's images) may differ from the standard layout's in the last bits of
    float rounding; robustness is the same measurement either way."""
    with frozen_parameters(model):
        if not channels_last:
            yield
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        tensors = [*model.parameters(), *model.buffers(), *grads]  # .to() converts all three
        kept = [(tensor, tensor.data) for tensor in tensors if tensor.dim() == 4]
        model.to(memory_format=torch.channels_last)
        hook = model.register_forward_pre_hook(_channels_last_input)
        try:
            yield
        finally:
            hook.remove()
            for tensor, data in kept:
                tensor.data = data
