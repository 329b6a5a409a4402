"""LARS (You et al., "Large Batch Training of Convolutional Networks"), as EvoDENSS evolves it.

EvoDENSS's learning unit may choose ``learning:lars`` with ``lr_weights``,
``lr_biases``, ``momentum`` and ``weight_decay`` (the Barlow Twins recipe). Its
rules, kept here:

* a weight tensor (``ndim > 1``: conv and fc kernels) gets L2 added to its
  gradient, then the gradient is scaled by the trust ratio
  ``eta * ||w|| / ||g||`` (1 when either norm is 0), and moves at the lr;
* a 1-D tensor (biases, BatchNorm) gets neither L2 nor the trust ratio and
  moves at ``lr * bias_lr_ratio`` (``lr_biases / lr_weights``);
* heavy-ball momentum on the result: ``mu = momentum * mu + g``, ``w -= lr * mu``.

The lr of each parameter group is whatever the training loop writes into it
(neronet's schedule of the individual's ``lr``, which for LARS is its
``lr_weights``), so LARS follows the same schedule as every other optimizer;
the ratio keeps the biases' rate in proportion. L2 comes from the group's
``weight_decay`` (neronet's groups give it to kernels only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

ETA = 1e-3
"""The trust coefficient of EvoDENSS and Barlow Twins."""


class Lars(torch.optim.Optimizer):
    """Layer-wise adaptive rate scaling with momentum; see the module docstring."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        *,
        momentum: float,
        bias_lr_ratio: float = 1.0,
        weight_decay: float = 0.0,
        eta: float = ETA,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "bias_lr_ratio": bias_lr_ratio,
            "weight_decay": weight_decay,
            "eta": eta,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                lr = group["lr"]
                if p.ndim > 1:
                    grad = grad.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(grad)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, 1.0
                    )
                    grad = grad.mul(trust)
                else:
                    lr = lr * group["bias_lr_ratio"]
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                mu = state["mu"]
                mu.mul_(group["momentum"]).add_(grad)
                p.add_(mu, alpha=-lr)
        return loss
