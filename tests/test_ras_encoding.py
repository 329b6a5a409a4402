"""RasGenotype: canonical JSON round trip, determinism from a seed, stats and training recipe."""

from __future__ import annotations

import json

import numpy as np
from helpers_ras import small_world

from neronet.ras import RAS_LEARNING, RasGenotype, initial_population, mutate


def _genotypes(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    population, models = initial_population(rng, models=3)
    children = [mutate(m, population, rng)[0] for m in models]
    return [RasGenotype.resolve(m, population, 60.0).to_json() for m in models + children]


def test_json_is_canonical_and_round_trips() -> None:
    for text in _genotypes(1):
        genotype = RasGenotype.from_json(text)
        assert genotype.to_json() == text
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        assert genotype.train_time == 60.0 and genotype.learning == RAS_LEARNING


def test_same_seed_same_genotypes() -> None:
    assert _genotypes(9) == _genotypes(9) != _genotypes(10)


def test_resolve_freezes_members_by_value_and_reports_stats() -> None:
    population, model = small_world()
    genotype = RasGenotype.resolve(model, population, 5.0)
    population.prune([])  # the genotype no longer needs the population
    assert not population.layers
    stats = genotype.stats()
    assert stats["blocks"] == 3 and stats["layers"] == 8
    assert stats["layers_per_block"] == [3, 2, 3]
    assert stats["connections_per_block"] == [3, 0, 3]
    assert stats["block_connections"] == 2
    assert tuple(stats["spectrum"].values()) == genotype.spectrum()
    spec, learning = genotype.decode((1, 8, 8), 10)
    assert learning.early_stop == 15 and spec.num_classes == 10
