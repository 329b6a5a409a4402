"""AutoAttack's Square (L-inf), query by query.

Square is the last attack of AutoAttack's standard ensemble and on a robust network
the longest: 5,000 queries, each a forward pass of every image still robust, about an
hour per batch on one CPU core. :func:`square_batch` runs the loop of pyautoattack
0.2.0's L-inf Square itself (one restart, the standard version's: the random vertical
stripes to start, then per query one random square of +-2 eps at the size the query
count's schedule gives, kept for an image where it lowers the loss or misclassifies)
and hands its state (best images, margins, losses, RNG) to a callback every
:data:`EVERY` queries; started from such a state it ends exactly as the uninterrupted
loop (tested against the library's ``perturb``, bit for bit on the CPU).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from neronet.attacks.inside import After, Inside, begin, snapshot

EVERY = 250
"""Queries between two states handed over (20 per 5,000-query run)."""


def drives_square(aa: Any, name: str) -> bool:
    """Whether :func:`square_batch` runs attack ``name`` of ``aa``: the standard version's
    untargeted L-inf Square with one restart (others run through the library)."""
    square = aa.square
    return (
        name == "square"
        and square.norm == "Linf"
        and square.n_restarts == 1
        and not square.targeted
    )


def square_batch(
    aa: Any,
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    resume: Inside | None,
    after: After,
    every: int = EVERY,
) -> torch.Tensor:
    """The adversarial batch ``run_standard_evaluation`` would give for ``x`` (every
    image correctly classified) under Square, continued from ``resume`` if it is this
    batch's; ``after`` receives the state every ``every`` queries (``done``: queries
    made; tensors ``best``, ``margin``, ``loss``)."""
    square = aa.square
    x, y = x.detach().clone().float(), y.detach().clone().long()
    adv = x.clone()
    with torch.no_grad():  # as run_standard_evaluation runs its attacks
        square.seed = aa.get_seed()
        square.init_hyperparam(x)
        left = (square.predict(x).max(1)[1] == y).nonzero().flatten()
        xs, ys = x[left], y[left]
        state = begin(square.seed, resume, xs, ("best",), ("margin", "loss"))
        if not left.numel():
            return adv
        if state is not None:
            first = state.done
            best = state.get("best", xs).to(xs.dtype)
            margin, loss = state.get("margin", xs), state.get("loss", xs)
        else:
            first = 0
            stripes = square.random_choice([xs.shape[0], xs.shape[1], 1, xs.shape[3]])
            best = torch.clamp(xs + square.eps * stripes, 0.0, 1.0)
            margin, loss = square.margin_and_loss(best, ys)
        if first or not bool((margin < 0).all()):  # the library's early return
            _queries(square, xs, ys, best, margin, loss, first, after, every)
        fooled = square.predict(best).max(1)[1] != ys
        adv[left[fooled]] = best[fooled]
    return adv


def _queries(
    square: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    best: torch.Tensor,
    margin: torch.Tensor,
    loss: torch.Tensor,
    first: int,
    after: After,
    every: int,
) -> None:
    """Queries ``first`` .. ``n_queries - 1``, updating ``best``, ``margin`` and ``loss``
    in place; stops early once every image is fooled, as the library does."""
    c, h, w = x.shape[1:]
    features, eps = c * h * w, square.eps
    for query in range(first, square.n_queries):
        left = (margin > 0).nonzero().flatten()
        x_left, best_left = x[left], best[left]
        size = max(round(math.sqrt(square.p_selection(query) * features / c)), 1)
        size = min(size, h, w)
        top, side = square.random_int(0, h - size), square.random_int(0, w - size)
        delta = torch.zeros([c, h, w], device=x.device)
        delta[:, top : top + size, side : side + size] = 2.0 * eps * square.random_choice([c, 1, 1])
        candidate = torch.min(torch.max(best_left + delta, x_left - eps), x_left + eps)
        candidate = torch.clamp(candidate, 0.0, 1.0)
        new_margin, new_loss = square.margin_and_loss(candidate, y[left])
        better = (new_loss < loss[left]).float()
        loss[left] = better * new_loss + (1.0 - better) * loss[left]
        better = torch.max(better, (new_margin <= 0.0).float())
        margin[left] = better * new_margin + (1.0 - better) * margin[left]
        keep = better.reshape(-1, 1, 1, 1)
        best[left] = keep * candidate + (1.0 - keep) * best_left
        if bool((margin <= 0).all()):
            return
        if (query + 1) % every == 0:
            of = (square.n_queries, "queries")
            after(
                snapshot(query + 1, of, margin > 0, x.device, best=best, margin=margin, loss=loss)
            )
