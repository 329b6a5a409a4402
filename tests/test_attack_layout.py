"""The network's layout while it is attacked (neronet.attacks.layout): weights frozen,
channels-last memory, the input's gradient in the standard layout, everything undone
afterwards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neronet.attacks import ATTACKS
from neronet.attacks.layout import attack_layout
from neronet.config import AttackSettings
from neronet.robustness import adversarial_correct


def colour_net() -> nn.Module:
    """A small 3-channel convolutional network (a multi-channel input is where a
    channels-last gradient would break ``.view``)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 10),
    ).eval()


def images(count: int = 12) -> torch.Tensor:
    return torch.rand(count, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_inside_the_weights_are_frozen_and_channels_last_and_the_gradient_is_not() -> None:
    model, x = colour_net(), images()
    conv = model[0].weight
    before = model(x).detach()
    model(x).sum().backward()  # a model that has gradients keeps their layout too
    with attack_layout(model, channels_last=True):
        assert conv.is_contiguous(memory_format=torch.channels_last)
        assert not conv.is_contiguous()
        assert not any(p.requires_grad for p in model.parameters())
        x_adv = x.clone().requires_grad_(True)
        logits = model(x_adv)
        (grad,) = torch.autograd.grad(logits.sum(), x_adv)
        assert grad.is_contiguous()
        assert grad.view(len(x), -1).shape == (len(x), 3 * 8 * 8)  # what attacks do with it
        torch.testing.assert_close(logits.detach(), before, rtol=1e-4, atol=1e-5)
    assert conv.is_contiguous() and all(p.requires_grad for p in model.parameters())
    assert conv.grad is not None and conv.grad.is_contiguous()
    assert not model._forward_pre_hooks
    assert torch.equal(model(x).detach(), before)


def test_everything_is_undone_when_the_attack_stops() -> None:
    model = colour_net()
    storage = model[0].weight.data_ptr()
    with pytest.raises(KeyboardInterrupt), attack_layout(model, channels_last=True):
        raise KeyboardInterrupt
    assert model[0].weight.data_ptr() == storage and model[0].weight.is_contiguous()
    assert all(p.requires_grad for p in model.parameters()) and not model._forward_pre_hooks


def test_standard_layout_only_freezes() -> None:
    model = colour_net()
    with attack_layout(model, channels_last=False):
        assert model[0].weight.is_contiguous() and not model._forward_pre_hooks
        assert not any(p.requires_grad for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", ["apgd-l2", "pgd-linf"])
def test_an_attack_through_the_suite_gives_the_same_verdicts_in_either_layout(name: str) -> None:
    """On a 3-channel network attacked channels-last, pyautoattack's APGD and neronet's
    PGD give the verdicts of the standard layout, but for float rounding at the boundary,
    and leave the network as it was."""
    model, x = colour_net(), images(24)
    with torch.no_grad():
        y = model(x).argmax(1)
    correct = torch.ones(len(x), dtype=torch.bool)
    verdicts = {
        layout: adversarial_correct(
            model,
            x,
            y,
            correct,
            ATTACKS.get(name),
            AttackSettings(l2_eps=0.3, linf_eps=0.02, steps=5, batch_size=8, channels_last=layout),
        )
        for layout in (False, True)
    }
    assert 0 < int(verdicts[False].sum()) < len(x)  # an attack that decides something
    assert int((verdicts[False] != verdicts[True]).sum()) <= 1
    assert all(p.requires_grad for p in model.parameters())
