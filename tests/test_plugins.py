"""The plug-in contract: any registered strategy, objective or measurement works alone.

* The strategy contract drives every registered strategy through ask/tell with
  a fake evaluator (no runner, no store): deterministic given the seed, and a
  fresh strategy told the same outcomes (resume by replay) asks exactly what
  the original asks next.
* A toy measurement and a toy objective registered from this test (no module
  of the package touched) run a real search.
* The runner and the strategies import no torch.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import neronet
from neronet.cli import main
from neronet.config import (
    NeroConfig,
    grammar_text,
    load_config,
    parse_config,
    read_config_data,
    set_override,
)
from neronet.errors import ConfigError
from neronet.evaluation.measurements import MEASUREMENTS, Measurement, Trained
from neronet.evaluation.objectives import OBJECTIVES, Objective
from neronet.evaluation.result import Outcome
from neronet.genotype import structure_for
from neronet.search.base import Candidate, Strategy
from neronet.search.runner import SearchRun
from neronet.search.strategies import STRATEGIES, make_strategy
from neronet.store import RunStore

SMALL = [
    "search.generations=4",
    "search.offspring=3",
    "search.initial_size=3",
    "search.default_train_time=10",
    "search.max_train_time=30",
    "search.mutation.train_longer=0.3",
]


def _strategy(name: str, seed: int = 0) -> Strategy:
    """Every strategy driven by one override list: SMALL is the harness's, not a user's
    config, so the settings a strategy never reads (RAS refuses NERO-Net's where a user
    writes them) are not checked here."""
    data, source = read_config_data(None)
    for assignment in [*SMALL, f"search.strategy={name}", f"seed={seed}"]:
        set_override(data, assignment)
    config = parse_config(data, source)
    return make_strategy(config, structure_for(config))


def fake_outcome(cand: Candidate) -> Outcome:
    """Metrics from the genotype's hash: deterministic, varied, sometimes ill-fitted."""
    h = int(hashlib.sha256(cand.genotype.to_json().encode()).hexdigest()[:8], 16)
    status = "ill-fitted" if h % 7 == 0 else "ok"
    clean = 0.3 + (h % 600) / 1000 + (0.05 if cand.warm_start_from is not None else 0.0)
    adv = ((h >> 10) % 500) / 1000
    return Outcome(cand.id, status, {"clean_accuracy": clean, "adversarial_accuracy": adv})


def _trace(strategy: Strategy, batches: int | None = None) -> Iterator[tuple[Any, ...]]:
    """Drive ``strategy``; yield each batch (keys, genotypes) and each summary."""
    done = 0
    while not strategy.finished and (batches is None or done < batches):
        batch = strategy.ask()
        assert batch, "an unfinished strategy must ask for something"
        yield tuple((c.key, c.id, c.genotype.to_json(), c.warm_start_from) for c in batch)
        summary = strategy.tell([fake_outcome(c) for c in batch])
        done += 1
        if summary is not None:
            told = {c.id for c in batch} | set(summary.members)
            assert summary.elites and set(summary.elites) <= told | set(summary.members)
            yield (summary.generation, summary.elites, summary.best_fitness, summary.info)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_is_deterministic_given_the_seed(name: str) -> None:
    first = list(_trace(_strategy(name)))
    assert first == list(_trace(_strategy(name)))
    assert first != list(_trace(_strategy(name, seed=1)))
    assert any(len(step) == 4 and isinstance(step[1], tuple) for step in first)


@pytest.mark.parametrize("name", STRATEGIES.names())
@pytest.mark.parametrize("stop_after", [1, 2, 4])
def test_strategy_resumes_exactly_by_replay(name: str, stop_after: int) -> None:
    original = _strategy(name)
    before = list(_trace(original, stop_after))
    replayed = _strategy(name)  # a fresh strategy, told what the store would hold
    assert list(_trace(replayed, stop_after)) == before
    assert list(_trace(replayed)) == list(_trace(original))


def test_runner_and_strategies_import_no_torch() -> None:
    code = (
        "import sys, neronet.search.runner, neronet.search.strategies, neronet.store; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class Shallow(Objective):
    """Toy objective: prefer fewer units (from the toy measurement), healthy ones only."""

    requires = ("toy_units",)

    def __init__(self, config: NeroConfig) -> None:
        del config

    def fitness(self, outcome: Outcome) -> float:
        return -outcome.metric("toy_units", 99.0) if outcome.status == "ok" else -100.0


def _units(ind: Trained) -> dict[str, float]:
    return {"toy_units": float(len(ind.spec.nodes))}


@pytest.fixture
def toy_plugins() -> Iterator[None]:
    MEASUREMENTS.register("toy-units", Measurement("toy-units", _units, ("toy_units",), "spec"))
    OBJECTIVES.register("toy-shallow", Shallow)
    yield
    MEASUREMENTS.unregister("toy-units")
    OBJECTIVES.unregister("toy-shallow")


def test_a_toy_measurement_and_objective_run_a_real_search(
    tmp_path: Path, toy_plugins: None
) -> None:
    config = load_config(
        None,
        [
            "search.objective=toy-shallow",
            "evaluation.measurements=[clean, toy-units]",
            "search.generations=2",
            "search.offspring=2",
            "search.initial_size=2",
            "data.train=200",
            "data.control=60",
            "data.fitness=60",
            "training.max_epochs=1",
            "search.default_train_time=1000",
            "search.max_train_time=3000",
        ],
    )
    text, name = grammar_text(config)
    SearchRun.open(config, text, name, tmp_path / "r").run()
    store = RunStore.open(tmp_path / "r", readonly=True)
    rows = store.individuals()
    assert all("toy_units" in r.metrics for r in rows if r.status != "invalid")
    assert all("adversarial_accuracy" not in r.metrics for r in rows)  # FGSM not configured
    for r in rows:
        if r.status == "ok":
            assert r.fitness == -r.metrics["toy_units"]
    best = store.best()
    assert best is not None and best.fitness == max(r.fitness for r in rows)


def test_a_search_refuses_an_unknown_plugin_before_its_directory_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schema reads any name; ``check_plugins`` (runner, API, evolve) refuses it in one
    line that names the setting and the registered names, and nothing is written."""
    config = load_config(None, ["search.strategy=nope"])
    text, name = grammar_text(config)
    with pytest.raises(ConfigError, match=r"'search\.strategy': unknown strategy 'nope'; choose"):
        SearchRun.open(config, text, name, tmp_path / "r")
    with pytest.raises(ConfigError, match="unknown measurement 'nope'"):
        neronet.create_run(tmp_path / "api", overrides=["evaluation.measurements=[nope]"])
    assert main(["evolve", "--run", str(tmp_path / "cli"), "search.objective=nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.count("\n") == 0 and "unknown objective 'nope'; choose one of accuracy, nero-net" in err
    )
    assert list(tmp_path.iterdir()) == []
