"""Training-free robustness proxies, computed on a network at initialisation.

Why: if a signal measured before any training ranked architectures by their final
robustness, a search could skip most of its training. The survey records three and
the report correlates each with the final AutoAttack accuracy. Each follows its
reference's own recipe, so the survey tests the proxy the literature proposes:

* ``proxy_grad_norm``: the mean over images of the L2 norm of each image's loss
  gradient with respect to its input (a large gradient means a small step moves the
  loss: first-order fragility);
* ``proxy_curvature``: CURE's curvature (Moosavi-Dezfooli et al., CVPR 2019, as their
  code computes its regulariser): per image ``||grad L(x + z) - grad L(x)|| / h`` with
  ``z = h sign(grad L(x)) / ||sign(grad L(x))||``, the mean over images; ``h`` is the
  attack's eps (an L2 length here; CURE's 3 is for standardised CIFAR-10 inputs) and the
  division by it only scales the number;
* ``proxy_croze``: CRoZe (Ha, Kim and Hwang, NeurIPS 2023, as the authors' code
  computes it). The network's weights are replaced by their absolute values (in double
  precision); a robust surrogate adds to each weight tensor ``w`` the step
  ``CROZE_WEIGHT_STEP * ||w|| * g / ||g||`` along its loss gradient ``g``; the surrogate
  makes FGSM inputs. Each conv / fc layer then scores
  ``sum(1 + cos(w_r, w)) * sum(|cos(g_r, g)|) * sum(1 + cos(z_r, z))`` (weights,
  weight gradients and output features of the surrogate on the perturbed inputs against
  the network's on the clean ones; each cosine is taken along the first axis, output
  channels or the batch, and summed over the rest), and the proxy is the sum over
  layers: higher means more consistent. Adapted from the authors' code, each change
  small or forced by these networks: a layer's feature is its own output (the authors
  pair a layer with its cell's output, and the classifier with its pooled input; these
  networks have no cells); the FGSM step raises the loss by the survey's eps on images in
  [0, 1] (the authors' code steps 0.01 down it, on standardised images, where the paper
  calls it an adversarial perturbation); the surrogate's weight gradient is that of its
  loss on the perturbed images alone (the authors' code leaves its FGSM step's gradient
  on the clean images in it too: 1e-4 of the score on a test network); and the network
  is in evaluation mode (below), where the authors' runs in training mode without batch
  norm: the same at initialisation unless the network has dropout, which evaluation mode
  turns off (the fashion survey's grammar has none).

Every proxy runs with the network in evaluation mode. At initialisation the batch-norm
running statistics are the identity, so this is the network without normalisation, as
CURE's code (``net.eval()``) and CRoZe's (its networks built without batch norm) measure
it, and each image's gradient is its own (batch statistics couple the images of a batch:
the training-mode curvature of the survey's first definitions ranked the fashion
survey's architectures with tau -0.16, where CURE's recipe gives about 0). The fixed
batch and the caller's seed make the numbers reproducible.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

PROXIES = ("proxy_grad_norm", "proxy_curvature", "proxy_croze")
PROXY_DEFINITIONS = 2
"""The version of the definitions above, kept in the survey's store so that rows measured
by earlier ones are measured again (1: every proxy in training mode, the curvature along
the gradient itself, a simplified CRoZe without the surrogate)."""
CROZE_WEIGHT_STEP = 2.0
"""The surrogate's weight step, relative to each weight tensor's norm (the authors' 2.0)."""


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each image's loss gradient with respect to it (the losses summed: in evaluation
    mode image ``i``'s gradient is that of its own loss)."""
    leaf = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(leaf), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, leaf)
    return grad


def grad_norm_and_curvature(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, h: float
) -> tuple[float, float]:
    """The mean input-gradient norm and CURE's mean curvature at ``h``."""
    g = _input_grad(model, x, y)
    sign = torch.sign(g).flatten(1)
    step = (h * sign / sign.norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(x)
    moved = _input_grad(model, x + step, y)
    curvature = (moved - g).flatten(1).norm(dim=1) / h
    return float(g.flatten(1).norm(dim=1).mean()), float(curvature.mean())


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _features_and_grads(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[dict[nn.Module, torch.Tensor], list[torch.Tensor | None]]:
    """Each conv / fc layer's output on ``x`` and its weight's loss gradient (None for a
    layer the forward pass does not use)."""
    layers = _weighted_layers(model)
    features: dict[nn.Module, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: features.__setitem__(mod, out.detach()))
        for m in layers
    ]
    try:
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)
    finally:
        for hook in hooks:
            hook.remove()
    return features, list(grads)


def _robust_surrogate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    """A copy of ``model`` whose every conv / fc weight moved up its loss gradient by
    ``CROZE_WEIGHT_STEP`` times its own norm (the authors' rescaled ascent step)."""
    surrogate = copy.deepcopy(model)
    layers = _weighted_layers(surrogate)
    _, grads = _features_and_grads(surrogate, x, y)
    with torch.no_grad():
        for layer, g in zip(layers, grads, strict=True):
            if g is not None:
                w = layer.weight
                w.add_(CROZE_WEIGHT_STEP * w.norm() * g / g.norm().clamp_min(1e-30))
    return surrogate


def _summed_cos(a: torch.Tensor, b: torch.Tensor, absolute: bool = False) -> float:
    """Cosines along the first axis, summed over the others (``1 + cos``, or ``|cos|``)."""
    cos = F.cosine_similarity(a.flatten(1), b.flatten(1), dim=0, eps=1e-12)
    return float((cos.abs() if absolute else 1 + cos).sum())


def croze(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """CRoZe's consistency of ``model`` on ``x`` (see the module docstring); ``model`` is
    left as it was (the score is computed on a copy)."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    x = x.double()
    surrogate = _robust_surrogate(net, x, y)
    # FGSM written out: neronet.attacks.fgsm runs in fp32, the authors' CRoZe in double
    step = torch.sign(_input_grad(surrogate, x, y))
    perturbed = (x + eps * step).clamp(0.0, 1.0)
    features, grads = _features_and_grads(net, x, y)
    features_r, grads_r = _features_and_grads(surrogate, perturbed, y)
    score = 0.0
    for layer, layer_r, g, g_r in zip(
        _weighted_layers(net), _weighted_layers(surrogate), grads, grads_r, strict=True
    ):
        if g is None or g_r is None or layer not in features or layer_r not in features_r:
            continue
        score += abs(
            _summed_cos(layer_r.weight.detach(), layer.weight.detach())
            * _summed_cos(g_r, g, absolute=True)
            * _summed_cos(features_r[layer_r], features[layer])
        )
    return score


def measure_proxies(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float
) -> dict[str, float]:
    """All proxies of an untrained ``model`` on images ``x`` (floats in [0, 1])."""
    model.eval()
    grad_norm, curvature = grad_norm_and_curvature(model, x, y, eps)
    return {
        "proxy_grad_norm": grad_norm,
        "proxy_curvature": curvature,
        "proxy_croze": croze(model, x, y, eps),
    }
