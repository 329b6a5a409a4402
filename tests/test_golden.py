"""A NERO-Net search decides what it decided when the golden runs were recorded.

``fixtures/golden-quickstart.json`` holds two shortened quickstart runs: the outcomes
their executor returned (status, reason, metrics) and every decision the search took
(genotypes, parents, keys, mutations, seeds, warm starts, cache hits, fitness, elites,
the files it kept, its events). A fresh search told those outcomes through a stub
executor must take the same decisions exactly. Float training results differ from CPU
to CPU, so they are only inputs here: the proof holds on any machine. Regenerate the
fixture (``python tests/fixtures/make_golden.py``) only for a change meant to alter the
search, and say so in the commit.

That a real run is bit-identical to itself on one machine (weights included) is
``tests/test_kill_resume.py``'s comparison of an uninterrupted run with a killed and
resumed one; that training learns is checked by properties (``tests/test_training.py``
and the last test here), never against stored numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers_replay import decisions, first_difference, recording, replay

from neronet.config import grammar_text, load_config, parse_config
from neronet.store import RunStore

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
import make_golden

GOLDEN = json.loads(make_golden.OUT.read_text())


@pytest.mark.parametrize("seed", make_golden.SEEDS)
def test_the_search_decides_as_in_the_golden_run(tmp_path: Path, seed: int) -> None:
    assert GOLDEN["args"] == make_golden.ARGS
    recorded = GOLDEN["runs"][str(seed)]
    config = load_config(None, [*make_golden.ARGS, f"seed={seed}"])
    got = replay(tmp_path / "run", config, grammar_text(config), recorded)
    assert first_difference(got, recorded["decisions"]) is None


def test_a_changed_decision_is_caught(tmp_path: Path) -> None:
    """The proof can fail: another seed asks for other candidates than the recording."""
    recorded = GOLDEN["runs"]["0"]
    config = load_config(None, [*make_golden.ARGS, "seed=1"])
    with pytest.raises(AssertionError, match="g0/i0 with another architecture"):
        replay(tmp_path / "run", config, grammar_text(config), recorded)


def test_replaying_a_real_run_reproduces_its_decisions(
    quickstart_run: Path, tmp_path: Path
) -> None:
    """Fixture-free: a run trained on this machine, replayed, decides the same; so the
    stub replay stands for real runs and the golden proof is not vacuous."""
    store = RunStore.open(quickstart_run, readonly=True)
    try:
        config = parse_config(store.meta("config"), "stored config")
        grammar = (store.meta("grammar"), store.meta("grammar_name"))
    finally:
        store.close()
    got = replay(tmp_path / "run", config, grammar, recording(quickstart_run))
    assert first_difference(got, decisions(quickstart_run)) is None


def test_the_real_search_learns(quickstart_run: Path) -> None:
    """Training numerics by properties that hold on any CPU: the best individual is far
    above chance (0.1 on digits) and its training loss fell."""
    store = RunStore.open(quickstart_run, readonly=True)
    try:
        best = store.best()
    finally:
        store.close()
    assert best is not None and best.status == "ok"
    assert best.metric("clean_accuracy") > 0.5
    losses = [epoch["train_loss"] for epoch in best.history]
    assert losses[-1] < losses[0]
