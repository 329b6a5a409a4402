"""Black-box L0 and L-inf threshold attacks optimised by DE or CMA-ES (RAS, Table 1).

The attacks of Vargas and Kotyan's dual quality assessment, which RAS (Kotyan
and Vargas) uses to build its stored transfer set: untargeted, the optimiser
minimises the soft-label probability of the true class (the paper's eq. 2)
and the attack succeeds when the prediction changes.

* ``l0``: change at most ``th`` pixels. A candidate is ``th`` (row, column,
  colour) tuples; two tuples on one pixel change it once, so fewer than ``th``
  pixels may change but never more.
* ``linf``: every channel of every pixel moves by at most ``th`` grey levels
  (``th/255`` in the model's float input).

Both optimisers' candidates reach one decoder as points of the unit cube
``[0, 1]^d``; it maps a whole population to uint8 images, so the budget holds
exactly *after* rounding: the images are integers from the start (the datasets
are uint8 and the stored set is uint8), never floats rounded later. Each
generation is one batched forward pass over the population (speed: the model is
the cost, not the optimiser).
An attack stops at the first generation holding a successful candidate and
returns the one with the lowest true-class probability among them.

The optimisers' settings are those of the authors' attack code (Vargas and
Kotyan's DualQualityAssessment, ``code/attacks/our_attacks.py``), which the
papers do not state: DE is SciPy's ``best1bin`` with dithered mutation in
[0.5, 1], crossover probability 1 and a Latin-hypercube start; CMA-ES starts
at the unperturbed image with the authors' step size (:func:`_cma_frame`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from cmaes import CMA, SepCMA
from scipy.optimize import differential_evolution
from scipy.stats.qmc import LatinHypercube
from torch import nn

from neronet.errors import AttackError

Norm = Literal["l0", "linf"]
Optimiser = Literal["de", "cmaes"]
BLACKBOX_NORMS: tuple[Norm, ...] = ("l0", "linf")
BLACKBOX_OPTIMISERS: tuple[Optimiser, ...] = ("de", "cmaes")
FULL_CMA_MAX_DIMS = 256
"""Largest candidate (L0 tuples or L-inf shifts) searched with a full covariance matrix."""


@dataclass(frozen=True)
class Budget:
    """The optimiser's budget: candidates per generation and generations at most."""

    popsize: int
    """CMA-ES: candidates per generation. DE: rounded down to a multiple of the candidate's
    length, at least one per coordinate (:func:`de_population`)."""
    iterations: int
    batch_size: int = 1024
    """Images per forward pass when a population is larger (memory, not results)."""


def dimensions(norm: Norm, th: int, shape: tuple[int, int, int]) -> int:
    """Length of a candidate: ``th`` (row, column, colour...) tuples, or one shift per value."""
    channels, height, width = shape
    return th * (2 + channels) if norm == "l0" else channels * height * width


def decode(norm: Norm, th: int, image: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Candidates ``u`` (P, d) in ``[0, 1]`` -> perturbed uint8 images (P, C, H, W) of ``image``
    (uint8, C x H x W), each within its budget by construction."""
    channels, height, width = image.shape
    population = u.shape[0]
    base = image.to(torch.int16).expand(population, -1, -1, -1).clone()
    if norm == "linf":
        shift = torch.round((2 * u - 1) * th).clamp_(-th, th).to(torch.int16)
        return (base + shift.view(population, channels, height, width)).clamp_(0, 255).byte()
    tuples = u.view(population, th, 2 + channels)
    rows = (tuples[..., 0] * height).long().clamp_(0, height - 1)
    cols = (tuples[..., 1] * width).long().clamp_(0, width - 1)
    colours = torch.round(tuples[..., 2:] * 255).to(torch.int16)  # (P, th, C)
    members = torch.arange(population, device=u.device).unsqueeze(1).expand(-1, th)
    base.permute(0, 2, 3, 1)[members, rows, cols] = colours
    return base.byte()


def true_class_probability(
    model: nn.Module, images: torch.Tensor, label: int, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the softmax probability of ``label`` and whether the prediction differs."""
    probs = []
    with torch.no_grad():
        for chunk in images.split(batch_size):
            probs.append(torch.softmax(model(chunk.float().div_(255.0)).float(), dim=1))
    p = torch.cat(probs)
    return p[:, label], p.argmax(dim=1) != label


@dataclass
class _Search:
    """The attack's objective over a population, remembering the best successful image."""

    model: nn.Module
    norm: Norm
    th: int
    image: torch.Tensor
    label: int
    batch_size: int
    found: torch.Tensor | None = None
    found_p: float = float("inf")

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """``u`` (P, d) -> true-class probabilities (P,); records any success."""
        x = torch.as_tensor(u, dtype=torch.float32, device=self.image.device).clamp_(0, 1)
        images = decode(self.norm, self.th, self.image, x)
        p, fooled = true_class_probability(self.model, images, self.label, self.batch_size)
        if bool(fooled.any()):
            p_fooled = torch.where(fooled, p, torch.inf)
            best = int(p_fooled.argmin())
            if float(p_fooled[best]) < self.found_p:
                self.found, self.found_p = images[best].clone(), float(p_fooled[best])
        return p.double().cpu().numpy()


def blackbox_attack(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    *,
    norm: Norm,
    th: int,
    optimiser: Optimiser,
    budget: Budget,
    seed: int,
) -> torch.Tensor | None:
    """Attack one uint8 ``image`` (C x H x W, on the model's device) of class ``label``.

    Returns the successful adversarial uint8 image, or None when the budget ran out
    first (the paper keeps only successful samples). ``model`` is put in eval mode.
    """
    if norm not in BLACKBOX_NORMS or optimiser not in BLACKBOX_OPTIMISERS:
        raise AttackError(
            f"unknown black-box attack {norm!r}/{optimiser!r}; use norms "
            f"{', '.join(BLACKBOX_NORMS)} and optimisers {', '.join(BLACKBOX_OPTIMISERS)}"
        )
    if th < 1 or budget.popsize < 5 or budget.iterations < 1:
        raise AttackError("a black-box attack needs th >= 1, popsize >= 5 and iterations >= 1")
    model.eval()
    search = _Search(model, norm, th, image, label, budget.batch_size)
    dims = dimensions(norm, th, tuple(image.shape))
    run = _de if optimiser == "de" else _cmaes
    run(search, dims, budget, seed)
    return search.found


def de_population(popsize: int, dims: int) -> int:
    """DE's candidates per generation: the authors pass SciPy ``popsize // d`` (at least 1),
    a multiplier of the dimension, so 400 gives 400, 390, 400, 400 candidates at L0
    th 1, 3, 5, 10 on colour images and 3,072 (one per coordinate) at L-inf on CIFAR-10."""
    return max(5, max(1, popsize // dims) * dims)


def _de(search: _Search, dims: int, budget: Budget, seed: int) -> None:
    """SciPy's differential evolution, the whole population evaluated in one call, with
    the authors' settings: ``best1bin``, mutation dithered in [0.5, 1], crossover
    probability 1 (every coordinate from the mutant), a Latin-hypercube start of
    :func:`de_population` candidates. No polishing (L-BFGS on a step function), no
    convergence stop (the authors' ``atol=-1``)."""
    rng = np.random.default_rng(seed)
    start = LatinHypercube(dims, rng=rng).random(de_population(budget.popsize, dims))
    differential_evolution(
        lambda u: search(u.T),
        [(0.0, 1.0)] * dims,
        init=start,
        recombination=1.0,
        maxiter=budget.iterations,
        vectorized=True,
        updating="deferred",
        polish=False,
        tol=0.0,
        rng=rng,
        callback=_stop_when(search),
    )


def _stop_when(search: _Search) -> Callable[..., bool]:
    def callback(intermediate_result: object) -> bool:
        del intermediate_result
        return search.found is not None

    return callback


L0_SIGMA = 63 / 4
"""The authors' CMA-ES step size for L0 (``std = 63``, ``sigma0 = std / 4``), in pixels on
the positions and grey levels on the colours alike."""


@dataclass(frozen=True)
class _Frame:
    """Where CMA-ES searches: the authors' units (pixel positions, grey levels), a start
    ``mean`` and step ``sigma`` there, and the map ``u = (z - low) / span`` to the cube."""

    mean: np.ndarray
    sigma: float
    low: np.ndarray
    span: np.ndarray

    def to_cube(self, z: np.ndarray) -> np.ndarray:
        return (z - self.low) / self.span


def _cma_frame(norm: Norm, th: int, image: torch.Tensor) -> _Frame:
    """The authors' start: the unperturbed image. L-inf: every value at its own grey level,
    step ``th / 4``, box ``[x - th, x + th]``. L0: the first ``th`` pixels in raster order
    (at their centres) with their own colours, step 63 / 4, box the image and [0, 255]."""
    channels, height, width = image.shape
    pixels = image.detach().to("cpu", torch.float64)
    if norm == "linf":
        values = pixels.flatten().numpy()
        return _Frame(values, th / 4, values - th, np.full_like(values, 2.0 * th))
    index = np.arange(th) % (height * width)
    colours = pixels.flatten(1).numpy()[:, index].T  # (th, C)
    positions = np.stack([index // width + 0.5, index % width + 0.5], axis=1)
    mean = np.concatenate([positions, colours], axis=1).ravel()
    span = np.tile([height, width, *([255.0] * channels)], th).astype(np.float64)
    return _Frame(mean, L0_SIGMA, np.zeros_like(mean), span)


def _cmaes(search: _Search, dims: int, budget: Budget, seed: int) -> None:
    """CMA-ES (the ``cmaes`` package) from the authors' start (:func:`_cma_frame`).

    Unbounded, the candidates clipped to the box when decoded (the authors' pycma maps
    them into it; ``cmaes``' bounds resample until every coordinate is inside, hopeless
    in 3,072 dimensions). Above ``FULL_CMA_MAX_DIMS`` (an L-inf attack on anything but
    tiny images) the covariance is diagonal (separable CMA-ES, Ros and Hansen 2008):
    the full one's eigendecomposition took minutes per generation at 3,072 dimensions,
    the separable one is linear in them."""
    frame = _cma_frame(search.norm, search.th, search.image)
    kind = CMA if dims <= FULL_CMA_MAX_DIMS else SepCMA
    opt = kind(mean=frame.mean, sigma=frame.sigma, population_size=budget.popsize, seed=seed)
    for _ in range(budget.iterations):
        z = np.stack([opt.ask() for _ in range(opt.population_size)])
        values = search(frame.to_cube(z))
        if search.found is not None:
            return
        opt.tell(list(zip(z, values, strict=True)))
