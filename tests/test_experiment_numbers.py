"""tools/experiment_numbers.py: the facts docs/EXPERIMENTS.md quotes beside an experiment's
report, checked on rows worked by hand and on a tiny experiment whose warm-up is set to
end at once for one method and never for the other."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from helpers_scripts import load_script
from test_experiment import tiny_experiment

from neronet.cli import main
from neronet.config import load_config


@pytest.fixture(scope="module")
def numbers() -> ModuleType:
    return load_script("tools/experiment_numbers.py")


def _row(method: str, run: int, fgsm: float, pgd: float, autoattack: float, **extra: str) -> dict:
    row = {
        "method": method,
        "run": str(run),
        "FGSM": str(fgsm),
        "PGD-20": str(pgd),
        "AutoAttack": str(autoattack),
        "notes": "",
        "search_nero_net_fitness": "0.5",
        "individuals_trained": "4",
        "individuals_from_memo": "0",
    }
    return row | extra


ROWS = [
    _row("ref", 0, 0.60, 0.20, 0.10, notes="FGSM: far above PGD-20", search_nero_net_fitness="0.7"),
    _row("ref", 1, 0.50, 0.40, 0.40, search_nero_net_fitness="0.8"),
    _row("ref", 2, 0.50, 0.45, 0.45, search_nero_net_fitness="0.6"),
    _row("other", 0, 0.50, 0.45, 0.40, individuals_from_memo="4"),
    _row("other", 1, 0.50, 0.40, 0.35),
    _row("other", 2, 0.40, 0.40, 0.50, individuals_from_memo="4"),
]


def test_the_numbers_from_the_runs_table_as_worked_by_hand(numbers: ModuleType) -> None:
    assert numbers.methods_of(ROWS) == ["ref", "other"]
    gaps = numbers.fgsm_overrating(ROWS)
    assert gaps["ref"] == pytest.approx((40 + 10 + 5) / 3)
    assert gaps["other"] == pytest.approx((5 + 10 + 0) / 3)
    assert numbers.fgsm_overrating(ROWS, without=0)["ref"] == pytest.approx(7.5)
    assert numbers.audit_fgsm_notes(ROWS) == {"ref": 1, "other": 0}
    assert numbers.median_yardstick(ROWS) == {"ref": 0.7, "other": 0.5}
    assert numbers.memo_only(ROWS) == {"ref": [], "other": [0, 2]}
    # leads on AutoAttack: +30, -5, +5; run 0's pair is most of the mean
    assert numbers.lead_without(ROWS, "ref", 9, "AutoAttack")["other"] == pytest.approx(10.0)
    assert numbers.lead_without(ROWS, "ref", 0, "AutoAttack")["other"] == pytest.approx(0.0)


def test_the_weighted_hrs_and_clean_accuracy_pick_alike_or_not(numbers: ModuleType) -> None:
    config = load_config(None, [])

    def individual(genotype: str, clean: float, fgsm: float) -> SimpleNamespace:
        metrics = {"clean_accuracy": clean, "adversarial_accuracy": fgsm, "masking_flag": 0.0}
        return SimpleNamespace(genotype=genotype, status="ok", fitness=clean, metrics=metrics)

    unscored = SimpleNamespace(genotype="c", status="ok", fitness=None, metrics={})
    cleanest_but_brittle = individual("a", 0.90, 0.05)
    robust = individual("b", 0.85, 0.60)
    assert not numbers.same_pick(config, [cleanest_but_brittle, robust, unscored])
    assert numbers.same_pick(config, [individual("a", 0.90, 0.70), robust, unscored])


def test_a_tiny_experiment_tells_which_runs_left_the_warm_up(
    numbers: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "e"
    methods = ["early:fitness.warmup_tau=0", "late:fitness.warmup_tau=1"]
    assert main(tiny_experiment(directory, methods, "search.generations=2")) == 0
    capsys.readouterr()
    rows = numbers.read_rows(directory)
    assert numbers.warmup_and_pick(directory, rows, "early")[0] == [0]  # left after gen 0
    assert numbers.warmup_and_pick(directory, rows, "late")[0] == []  # never reaches 1.0
    assert numbers.same_as(directory, rows, "early", "early") == ([0], [0])
    # the command prints every section; a method that is not there is a one-line error
    assert numbers.main([str(directory), "--reference", "early"]) == 0
    out = capsys.readouterr().out
    assert "early: 1 [0];" in out and "late: 0 [];" in out
    assert "early: 1; -; 0 of 1;" in out  # no PGD-20 column: no FGSM overrating to tell
    assert numbers.main([str(directory), "--reference", "nero-net"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no method 'nero-net'" in err
    assert numbers.main([str(tmp_path / "missing")]) == 2
    assert "experiment.csv" in capsys.readouterr().err
