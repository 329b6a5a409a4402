"""White-box evasion attacks: FGSM, FGM and PGD (L-inf and L2), batched.

These run in the search's inner loop (FGSM on every individual's fitness set),
so they are written for speed: one forward and one backward per step, input
gradients only (``torch.autograd.grad`` w.r.t. the input, so no parameter
gradient is computed or accumulated), one adversarial buffer updated in place,
no per-sample Python loops.

Conventions (those of foolbox and RobustBench): inputs are floats in [0, 1]
with no normalisation outside the model; the attack is untargeted and ascends
the cross-entropy summed over the batch (a sum, so the gradient of a sample
does not depend on the batch size); the model is put in eval mode for the
attack and every submodule's previous mode is restored afterwards.

Mixed precision: when the caller runs under ``torch.autocast`` or passes
``amp_dtype``, the forward pass runs in that dtype, but the loss is computed in
fp32 and the gradient is taken w.r.t. an fp32 input leaf. In fp16 the loss is
multiplied by a constant scale so that small gradients do not underflow to
zero; the scale needs no undoing because the steps only use the gradient's
sign (L-inf) or direction (L2). If the scaled fp16 gradient overflows, that
step's gradient is recomputed in fp32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neronet.errors import AttackError

AttackFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
"""An attack with its settings bound: ``(model, x, y) -> x_adv``."""

NORMS = ("linf", "l2")
_FP16_LOSS_SCALE = 2.0**12
_TINY = 1e-12  # floor for L2 norms: a zero gradient or zero perturbation stays zero


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Fast Gradient Sign Method: one L-inf step of size ``eps`` from ``x``."""
    check_eps(eps)
    return _attack(model, x, y, eps, eps, 1, "linf", False, None, amp_dtype)


def fgm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Fast Gradient Method (L2): one step of L2 length ``eps`` along the gradient."""
    check_eps(eps)
    return _attack(model, x, y, eps, eps, 1, "l2", False, None, amp_dtype)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    random_start: bool = True,
    generator: torch.Generator | None = None,
    *,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Projected Gradient Descent (Madry et al.) in the L-inf or L2 ``eps``-ball.

    Each of the ``steps`` iterations moves ``alpha`` along the gradient's sign
    (L-inf) or per-sample unit direction (L2), projects back onto the ball
    around ``x`` and clips to [0, 1]. ``random_start`` begins at a uniform
    random point of the ball, drawn with ``generator`` (a ``torch.Generator``
    on ``x``'s device) for reproducibility.
    """
    check_pgd(eps, alpha, steps, norm)
    return _attack(model, x, y, eps, alpha, steps, norm, random_start, generator, amp_dtype)


def attack_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack_fn: AttackFn,
    batch_size: int = 128,
    *,
    clean_correct: torch.Tensor | None = None,
    amp_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(clean_correct, adv_correct)`` boolean masks on ``x``'s device.

    NERO-Net's conditional adversarial accuracy attacks only the samples the
    model classifies correctly: a sample wrong on clean input is not attacked
    and counts as not robust, so ``adv_correct`` implies ``clean_correct``.
    Work is done in chunks of ``batch_size`` to bound memory. ``x`` and ``y``
    must be on the model's device. Pass ``clean_correct`` when the clean
    predictions are already known (saves a forward pass and guarantees the
    conditioning uses exactly them). ``amp_dtype`` (or the caller's autocast)
    applies to the prediction passes and to the attack.
    """
    if batch_size < 1:
        raise AttackError(f"attack batch size must be >= 1, got {batch_size}; e.g. 128")
    n = x.shape[0]
    clean = torch.zeros(n, dtype=torch.bool, device=x.device)
    adv = torch.zeros(n, dtype=torch.bool, device=x.device)
    amp = _resolve_amp(x.device.type, amp_dtype)
    with eval_mode(model), _precision(x.device.type, amp):
        for start in range(0, n, batch_size):
            part = slice(start, start + batch_size)
            xb, yb = x[part], y[part]
            if clean_correct is None:
                ok = _predict(model, xb) == yb
            else:
                ok = clean_correct[part].to(device=x.device, dtype=torch.bool)
            clean[part] = ok
            if not bool(ok.any()):
                continue
            y_ok = yb[ok]
            adv[part][ok] = _predict(model, attack_fn(model, xb[ok], y_ok)) == y_ok
    return clean, adv


def check_eps(eps: float) -> None:
    if not (math.isfinite(eps) and eps >= 0):
        raise AttackError(f"attack eps must be a finite number >= 0, got {eps}; e.g. eps=8/255")


def check_pgd(eps: float, alpha: float, steps: int, norm: str) -> None:
    check_eps(eps)
    if not (math.isfinite(alpha) and alpha > 0):
        raise AttackError(f"PGD step size alpha must be > 0, got {alpha}; e.g. alpha=eps/4")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise AttackError(f"PGD steps must be an integer >= 1, got {steps!r}; e.g. steps=20")
    if norm not in NORMS:
        raise AttackError(f"unknown PGD norm {norm!r}; use one of: {', '.join(NORMS)}")


def _attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    norm: str,
    random_start: bool,
    generator: torch.Generator | None,
    amp_dtype: torch.dtype | None,
) -> torch.Tensor:
    """Shared iterative core of all attacks (FGSM/FGM are one PGD step from x)."""
    if not x.is_floating_point():
        raise AttackError(f"attack inputs must be floats in [0, 1], got {x.dtype}; convert first")
    if x.shape[0] == 0:
        return x.detach().clone()
    x0 = x.detach().float()  # no copy when x is already fp32; never written to
    y = y.detach().long()
    amp = _resolve_amp(x.device.type, amp_dtype)
    # L-inf: ball and [0, 1] box intersect to one per-pixel interval, a single clamp
    box = ((x0 - eps).clamp_(min=0.0), (x0 + eps).clamp_(max=1.0)) if norm == "linf" else None
    x_adv = _start(x0, eps, norm, generator) if random_start else x0.clone()
    x_adv.requires_grad_(True)
    with eval_mode(model):
        for _ in range(steps):
            grad = _input_grad(model, x_adv, y, amp)
            with torch.no_grad():
                if box is not None:
                    x_adv.add_(grad.sign_(), alpha=alpha).clamp_(*box)
                else:
                    x_adv.add_(grad.mul_(alpha / _l2_norms(grad)))
                    delta = x_adv - x0
                    delta.mul_((eps / _l2_norms(delta)).clamp_(max=1.0))
                    x_adv.copy_(x0).add_(delta).clamp_(0.0, 1.0)
    return x_adv.detach().to(x.dtype)


def _start(
    x0: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None
) -> torch.Tensor:
    """A uniform random point of the eps-ball around ``x0`` (clipped to [0, 1])."""
    if norm == "linf":
        noise = torch.rand(x0.shape, generator=generator, device=x0.device)
        return noise.mul_(2 * eps).sub_(eps).add_(x0).clamp_(0.0, 1.0)
    direction = torch.randn(x0.shape, generator=generator, device=x0.device)
    dims = x0[0].numel()
    radius = torch.rand(x0.shape[0], generator=generator, device=x0.device).pow_(1.0 / dims)
    radius = radius.mul_(eps).view(-1, *([1] * (x0.dim() - 1)))
    return direction.mul_(radius / _l2_norms(direction)).add_(x0).clamp_(0.0, 1.0)


def _l2_norms(t: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norms shaped to broadcast against ``t``, floored at a tiny value."""
    dims = tuple(range(1, t.dim()))
    return torch.linalg.vector_norm(t, dim=dims, keepdim=True).clamp_(min=_TINY)


def _input_grad(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, amp: torch.dtype | None
) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. the fp32 input leaf ``x_adv``."""
    if amp != torch.float16:
        return _loss_grad(model, x_adv, y, amp, 1.0)
    grad = _loss_grad(model, x_adv, y, amp, _FP16_LOSS_SCALE)
    if bool(torch.isfinite(grad).all()):
        return grad
    return _loss_grad(model, x_adv, y, None, 1.0)


def _loss_grad(
    model: nn.Module,
    x_adv: torch.Tensor,
    y: torch.Tensor,
    amp: torch.dtype | None,
    scale: float,
) -> torch.Tensor:
    device_type = x_adv.device.type
    with torch.enable_grad():  # the caller may be under no_grad
        with _precision(device_type, amp):
            # A view, not the leaf itself: autocast caches its low-precision copy of
            # leaves that require grad until the outermost autocast exits, which would
            # freeze x_adv (updated in place) at its first value under a caller's autocast.
            logits = model(x_adv.view_as(x_adv))
        with _precision(device_type, None):
            loss = F.cross_entropy(logits.float(), y, reduction="sum")
        if scale != 1.0:
            loss = loss * scale
        (grad,) = torch.autograd.grad(loss, x_adv)
    return grad


def _resolve_amp(device_type: str, amp_dtype: torch.dtype | None) -> torch.dtype | None:
    """The reduced precision to use: the explicit one, else the caller's autocast."""
    if amp_dtype is None and torch.is_autocast_enabled(device_type):
        amp_dtype = torch.get_autocast_dtype(device_type)
    return None if amp_dtype == torch.float32 else amp_dtype


def _precision(device_type: str, amp: torch.dtype | None) -> AbstractContextManager[Any]:
    """Autocast to ``amp``; with ``None``, full precision even inside a caller's autocast."""
    if amp is not None:
        return torch.autocast(device_type, dtype=amp)
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the block, then each submodule's own previous mode back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1)
