"""The encoding contract, and every strategy on every encoding it allows.

* Every registered encoding: its random genomes and mutants decode (or fail the way
  the runner records as invalid), round-trip through ``to_json`` / ``parse`` and
  through a run's store, and a mutant names the mutations that made it.
* Every (strategy, encoding) pair the registries allow, driven without training
  (outcomes from the genotype's hash): it asks valid candidates (fresh ids in
  order, keys of their generation, parents and warm starts among the members it
  was told, genomes of its encoding), it terminates, and a fresh instance told the
  same outcomes asks exactly the same candidates (resume by replay).
* NSGA-II on RAS genomes through the runner: an interrupted run resumes to the
  uninterrupted one.
* ``search.encoding`` is validated with the other plug-ins: unknown, or refused by
  the strategy, is a one-line error naming the setting.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers_store import store_fingerprint
from test_search import StubExecutor, _run

from neronet.config import NeroConfig, load_config
from neronet.errors import ConfigError, GrammarError, InvalidArchitecture
from neronet.evaluation.result import Outcome
from neronet.genotype import structure_for
from neronet.plugins import check_plugins
from neronet.progress import search_plan
from neronet.search.base import Candidate, Strategy
from neronet.search.encodings import ENCODINGS, TRAIN_LONGER, Genome, Variation
from neronet.search.strategies import STRATEGIES, make_strategy
from neronet.spec import NetworkSpec
from neronet.store import RunStore

SHAPE, CLASSES = (1, 8, 8), 10
TINY = [
    "search.generations=3",
    "search.default_train_time=10",
    "search.max_train_time=30",
    "search.objective=accuracy",
    "ras.initial_models=3",
    "ras.children=1",
    "ras.redraws=1",
    "ras.full_training_period=2",
    "ras.blocks_per_model=[1,3]",
    "ras.layers_per_block=[1,3]",
]
PAIRS = [
    (name, encoding)
    for name in STRATEGIES.names()
    for encoding in ENCODINGS.names()
    if STRATEGIES.get(name).encodings is None or encoding in STRATEGIES.get(name).encodings
]


SIZES = ["search.offspring=3", "search.initial_size=3"]
"""Sizes of every strategy but ras (which sizes itself by ``ras.*``, and refuses these)."""
GRAMMAR = ["search.mutation.train_longer=0.3"]
"""The grammar encoding's own setting (a run of RAS genomes refuses it)."""


def _config(strategy: str, encoding: str, *more: str) -> NeroConfig:
    own = [*(SIZES if strategy != "ras" else []), *(GRAMMAR if encoding == "grammar" else [])]
    return load_config(
        None, [*TINY, *own, f"search.strategy={strategy}", f"search.encoding={encoding}", *more]
    )


def _strategy(strategy: str, encoding: str) -> Strategy:
    config = check_plugins(_config(strategy, encoding))
    return make_strategy(config, structure_for(config))


def _variation(encoding: str, seed: int = 0) -> Variation:
    config = _config("nsga2", encoding)
    return ENCODINGS.get(encoding)(config, structure_for(config), np.random.default_rng(seed))


def _decodes(genome: Genome) -> bool:
    """Whether ``genome`` becomes a network; False where the runner records it invalid."""
    try:
        spec, _ = genome.decode(SHAPE, CLASSES)
    except (GrammarError, InvalidArchitecture):
        return False
    assert isinstance(spec, NetworkSpec) and spec.nodes
    return True


def _outcome(cand: Candidate) -> Outcome:
    """What a stub evaluation reports: invalid when it does not decode, else a score
    from the genotype's hash (sometimes ill-fitted, better when warm-started)."""
    if not _decodes(cand.genotype):
        return Outcome(cand.id, "invalid", {})
    h = int(hashlib.sha256(cand.genotype.to_json().encode()).hexdigest()[:8], 16)
    clean = 0.3 + (h % 600) / 1000 + (0.05 if cand.warm_start_from is not None else 0.0)
    status = "ill-fitted" if h % 7 == 0 else "ok"
    return Outcome(cand.id, status, {"clean_accuracy": clean})


def _asked(cand: Candidate) -> tuple[Any, ...]:
    return (
        cand.id,
        cand.key,
        cand.generation,
        cand.genotype.to_json(),
        cand.parent_id,
        cand.mutations,
        cand.budget,
        cand.warm_start_from,
        cand.cacheable,
    )


@pytest.mark.parametrize("encoding", ENCODINGS.names())
def test_genomes_decode_mutate_and_round_trip_through_json(encoding: str) -> None:
    variation = _variation(encoding)
    genomes = [genome for genome, _ in variation.initial(4)]
    mutated = 0
    for parent in list(genomes):
        for _ in range(4):
            child, names = variation.mutant(parent)
            assert names and all(isinstance(n, str) for n in names)
            mutated += child.to_json() != parent.to_json()
            genomes.append(child)
            parent = child
    assert mutated >= 12  # nearly every mutant differs from its parent
    assert sum(_decodes(g) for g in genomes) >= len(genomes) // 2
    for genome in genomes:
        text = genome.to_json()
        assert variation.parse(text).to_json() == text
        longer = variation.with_train_time(genome, 99.0)
        assert longer.train_time == 99.0 and genome.to_json() == text  # a copy
        assert variation.with_train_time(longer, genome.train_time).to_json() == text
    again = _variation(encoding)
    assert [g.to_json() for g, _ in again.initial(4)] == [g.to_json() for g in genomes[:4]]


@pytest.mark.parametrize(("strategy", "encoding"), PAIRS)
def test_a_strategy_asks_valid_candidates_terminates_and_replays(
    strategy: str, encoding: str
) -> None:
    original = _strategy(strategy, encoding)
    variation = original.variation
    steps: list[tuple[list[tuple[Any, ...]], list[Outcome], Any]] = []
    told: set[int] = set()
    while not original.finished:
        assert len(steps) < 50, "the strategy does not terminate"
        batch = original.ask()
        assert batch and original.ask() == batch  # asking again changes nothing
        for offset, cand in enumerate(batch):
            assert cand.id == len(told) + offset  # fresh ids, in order
            assert cand.generation == original.generation
            assert cand.key.startswith(f"g{cand.generation}/")
            assert cand.parent_id is None or cand.parent_id in told
            if cand.warm_start_from is not None:
                assert cand.warm_start_from in told and TRAIN_LONGER in cand.mutations
            assert 0 <= cand.budget <= cand.genotype.train_time
            text = cand.genotype.to_json()
            assert variation.parse(text).to_json() == text
        outcomes = [_outcome(c) for c in batch]
        summary = original.tell(outcomes)
        told |= {c.id for c in batch}
        if summary is not None:
            assert summary.elites and set(summary.elites) <= told
        steps.append(([_asked(c) for c in batch], outcomes, summary))
    assert original.ask() == [] and len(told) >= original.planned // 2
    assert any(o.status != "invalid" for _, outcomes, _ in steps for o in outcomes)

    replayed = _strategy(strategy, encoding)  # a fresh strategy, told what a store holds
    for asked, outcomes, summary in steps:
        assert [_asked(c) for c in replayed.ask()] == asked
        assert replayed.tell(outcomes) == summary
    assert replayed.finished


def test_nsga2_on_ras_genomes_stores_them_and_resumes_exactly(tmp_path: Path) -> None:
    config = _config("nsga2", "ras", "search.generations=4")
    _run(tmp_path / "full", config, StubExecutor())
    variation = _variation("ras")
    rows = RunStore.open(tmp_path / "full", readonly=True).individuals()
    assert len(rows) == 3 + 3 * 3
    for row in rows:
        assert variation.parse(row.genotype).to_json() == row.genotype
        if row.status == "ok":
            spec, _ = variation.parse(row.genotype).decode(SHAPE, CLASSES)
            assert row.spec_hash == spec.digest()
    assert any(row.parent_id is not None for row in rows)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "resumed", config, StubExecutor(crash_after=5))
    _run(tmp_path / "resumed", config, StubExecutor())
    assert store_fingerprint(tmp_path / "resumed") == store_fingerprint(tmp_path / "full")


@pytest.mark.parametrize(("strategy", "encoding"), [("ras", "ras"), ("nsga2", "grammar")])
def test_unset_the_encoding_is_the_strategys_own(strategy: str, encoding: str) -> None:
    config = check_plugins(load_config(None, [*TINY, f"search.strategy={strategy}"]))
    made = make_strategy(config, structure_for(config))
    assert type(made.variation) is ENCODINGS.get(encoding)
    assert f", {strategy} over {encoding} genomes, " in search_plan(config, 9, "cpu")[0]
    chosen = _config(strategy, "ras")
    assert f", {strategy} over ras genomes, " in search_plan(chosen, 9, "cpu")[0]


def test_an_unknown_or_refused_encoding_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"'search\.encoding': unknown encoding 'dna'; choose"):
        check_plugins(_config("nsga2", "dna"))
    with pytest.raises(
        ConfigError, match=r"'search\.encoding': strategy 'ras' searches only encoding\(s\) ras"
    ):
        check_plugins(_config("ras", "grammar"))
