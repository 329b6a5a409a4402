"""Whether the search's fitness ranks the bests: one point per distinct (run,
architecture), the tau against scipy's on those points, the strongest attack's column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_executors import tiny_spec
from scipy import stats

from neronet.nn.plan import count_parameters
from neronet.reports.document import Table
from neronet.reports.experiment import (
    MethodTable,
    RunResult,
    SearchRecord,
    method_table,
    with_network,
)
from neronet.reports.fitness_rank import distinct_bests, fitness_rank_section


def _result(method: str, run: int, robust: float, arch: str | None, size: int) -> RunResult:
    accuracy = {"clean": 0.8, "PGD-20": robust + 0.05, "AutoAttack": robust}
    return RunResult(method, run, accuracy, (), (), size, arch)


def _search(fitness: float | None) -> SearchRecord:
    return SearchRecord(seed=1, fitness=fitness, nero_net_fitness=fitness, trained=30, epochs=90)


RUNS = [  # method, run, AutoAttack, architecture, parameters, yardstick fitness
    ("es", 0, 0.30, "x", 100_000, 0.70),
    ("es", 1, 0.45, "y", 900_000, 0.74),
    ("es", 2, 0.20, "z", 50_000, 0.69),
    ("es", 3, 0.40, "w", 300_000, 0.72),
    ("acc", 0, 0.30, "x", 100_000, 0.70),  # run 0's architecture again: one point
    ("acc", 1, 0.35, "x", 100_000, 0.71),  # "x" in another run: its own images, a point
    ("acc", 2, 0.50, None, 2_000_000, 0.68),  # architecture unknown: its own point
    ("acc", 3, 0.10, "v", 40_000, None),  # no fitness yet: left out
]


def _table() -> tuple[MethodTable, dict[tuple[str, int], SearchRecord]]:
    table = method_table(["es", "acc"], [_result(m, r, a, h, p) for m, r, a, h, p, _ in RUNS])
    searches = {(m, r): _search(f) for m, r, _, _, _, f in RUNS}
    return table, searches


def test_each_distinct_run_and_architecture_is_one_point() -> None:
    table, searches = _table()
    bests = distinct_bests(table, searches, "AutoAttack")
    assert bests == [
        (0.70, 0.30, 100_000.0),
        (0.74, 0.45, 900_000.0),
        (0.69, 0.20, 50_000.0),
        (0.72, 0.40, 300_000.0),
        (0.71, 0.35, 100_000.0),
        (0.68, 0.50, 2_000_000.0),
    ]


def test_the_section_ranks_the_bests_under_the_strongest_attack_as_scipy_does() -> None:
    table, searches = _table()
    section = fitness_rank_section(table, searches, "the yardstick")
    assert section is not None
    text = " ".join(p for p in section.blocks if isinstance(p, str))
    assert "6 distinct bests of 8 runs" in text and "AutoAttack accuracy" in text
    rows = next(p for p in section.blocks if isinstance(p, Table)).rows
    bests = distinct_bests(table, searches, "AutoAttack")
    fitness, robust, sizes = zip(*bests, strict=True)
    for (_, n, cell), x in zip(rows, (fitness, sizes), strict=True):
        expected = stats.kendalltau(x, robust).statistic
        assert n == "6" and float(cell.split(" ")[0]) == pytest.approx(expected, abs=0.005)
    assert [name for name, _, _ in rows] == ["search-time fitness", "parameters"]
    assert rows[0][2].endswith("[no interval]")  # six bests: none below ten


def test_too_few_distinct_bests_make_no_section() -> None:
    table, searches = _table()
    few = method_table(["es"], [r for r in table.results if r.run == 0])
    assert fitness_rank_section(few, searches, "the yardstick") is None


def test_a_runs_network_is_read_from_its_retraining_record(tmp_path: Path) -> None:
    spec = tiny_spec()
    bare = RunResult("es", 0, {"clean": 0.8}, ())
    assert with_network(bare, tmp_path / "missing") == bare  # not retrained yet
    (tmp_path / "train.json").write_text(json.dumps({"spec": spec.to_dict()}))
    found = with_network(bare, tmp_path)
    assert (found.parameters, found.architecture) == (count_parameters(spec), spec.digest())
