"""Training-free robustness proxies, computed on a network at initialisation.

Why: if a signal measured before any training ranked architectures by their final
robustness, a search could skip most of its training. The survey records three
and the report correlates each with the final AutoAttack accuracy:

* ``proxy_grad_norm``: the mean L2 norm of the loss's input gradient
  (a large gradient means a small step moves the loss: first-order fragility);
* ``proxy_curvature``: the mean finite-difference curvature of the loss along
  the gradient direction, ``||grad L(x + h d) - grad L(x)|| / h`` with
  ``d = grad / ||grad||`` and ``h`` the attack's eps (CURE, Moosavi-Dezfooli et
  al. 2019: robustness goes with low curvature of the loss in input space);
* ``proxy_croze``: CRoZe-style consistency (Ha, Kim and Hwang, NeurIPS 2023):
  over every conv/fc layer m, the product of the cosine similarities between
  its features on clean and on FGSM-perturbed inputs, its weights after one SGD
  step on each, and its weight gradients on each, summed over layers. Simplified
  from the paper: the perturbed branch shares the clean initial weights (no
  adversarially perturbed surrogate network) and the step is SGD with lr
  ``CROZE_LR``; the score is a consistency, higher meaning more alike.

The network is in training mode (batch-norm on batch statistics, as zero-cost
proxies are usually computed) on a fixed batch, under a fixed seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neronet.attacks import fgsm

CROZE_LR = 0.01
PROXIES = ("proxy_grad_norm", "proxy_curvature", "proxy_croze")


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(leaf), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, leaf)
    return grad.flatten(1)


def grad_norm_and_curvature(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, h: float
) -> tuple[float, float]:
    """The mean input-gradient norm and the mean curvature along the gradient at ``h``."""
    g = _input_grad(model, x, y)
    norms = g.norm(dim=1)
    direction = (g / norms.clamp_min(1e-12)[:, None]).view_as(x)
    moved = _input_grad(model, x + h * direction, y)
    curvature = (moved - g).norm(dim=1) / h
    return float(norms.mean()), float(curvature.mean())


def _layer_state(
    model: nn.Module, layers: list[nn.Module], x: torch.Tensor, y: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """Per layer of ``layers``: its output features (flattened) and its weight gradient;
    None for a layer the forward pass did not use."""
    features: dict[nn.Module, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: features.__setitem__(mod, out)) for m in layers
    ]
    try:
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)
    finally:
        for hook in hooks:
            hook.remove()
    return [
        None if g is None or m not in features else (features[m].detach().flatten(), g)
        for m, g in zip(layers, grads, strict=True)
    ]


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.flatten(), b.flatten(), dim=0, eps=1e-12))


def croze(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """The CRoZe-style consistency of clean and FGSM inputs (see the module docstring)."""
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    perturbed = fgsm(model, x, y, eps).detach()
    model.train()  # fgsm restores the mode it found; be explicit about the proxies'
    clean = _layer_state(model, layers, x, y)
    adv = _layer_state(model, layers, perturbed, y)
    score = 0.0
    for layer, one, other in zip(layers, clean, adv, strict=True):
        if one is None or other is None:
            continue
        (z, g), (z_adv, g_adv) = one, other
        w = layer.weight.detach()
        weights = _cos(w - CROZE_LR * g, w - CROZE_LR * g_adv)
        score += _cos(z, z_adv) * weights * _cos(g, g_adv)
    return score


def measure_proxies(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float
) -> dict[str, float]:
    """All proxies of an untrained ``model`` on images ``x`` (floats in [0, 1])."""
    model.train()
    grad_norm, curvature = grad_norm_and_curvature(model, x, y, eps)
    return {
        "proxy_grad_norm": grad_norm,
        "proxy_curvature": curvature,
        "proxy_croze": croze(model, x, y, eps),
    }
