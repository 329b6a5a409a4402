"""Hundreds of random NERO-Net individuals either build and run, or are rejected
with a reason: the genotype -> spec -> module pipeline never crashes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neronet.config import MutationRates, StructureConfig
from neronet.errors import InvalidArchitecture
from neronet.genotype import Genotype, Structure, default_structure
from neronet.grammar import Grammar
from neronet.mutation import mutate
from neronet.nn import build, count_parameters, infer_shapes
from neronet.phenotype import to_spec


def _individuals(structure: Structure, n_random: int, n_mutants: int) -> list[Genotype]:
    rng = np.random.default_rng(11)
    population = [Genotype.random(structure, rng, 600.0) for _ in range(n_random)]
    parent = population[0]
    for _ in range(n_mutants):
        parent, _ = mutate(
            parent, structure, MutationRates(), rng, default_train_time=600, max_train_time=1800
        )
        population.append(parent)
    return population


def _check(genotype: Genotype, shape: tuple[int, int, int]) -> bool:
    spec = to_spec(genotype, input_shape=shape, num_classes=10)
    try:
        model = build(spec).eval()
    except InvalidArchitecture as err:
        assert str(err) and "\n" not in str(err)
        return False
    assert count_parameters(spec) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        out = model(torch.rand(2, *shape))
    assert out.shape == (2, 10) and tuple(infer_shapes(spec)[-1]) == (10,)
    assert torch.isfinite(out).all()
    return True


@pytest.mark.parametrize(
    ("grammar", "shape", "n_random", "n_mutants"),
    [("nero-net.grammar", (3, 16, 16), 150, 50), ("nero-net-quick.grammar", (1, 8, 8), 150, 50)],
)
def test_random_individuals_build_and_run_or_are_rejected(
    grammar: str, shape: tuple[int, int, int], n_random: int, n_mutants: int
) -> None:
    if grammar == "nero-net.grammar":
        structure = default_structure()
    else:
        structure = Structure.from_config(
            StructureConfig(grammar=grammar), Grammar.shipped(grammar)
        )
    results = [_check(g, shape) for g in _individuals(structure, n_random, n_mutants)]
    assert len(results) == n_random + n_mutants
    assert sum(results) >= len(results) // 2  # most individuals are valid networks
