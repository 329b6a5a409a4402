"""Studies and compare, driven by the deterministic stub evaluator of test_search (no training).

Checks the study seeds, a study killed mid-run and resumed (equal to an
uninterrupted one), the aggregation over runs against numbers worked by hand,
the fittest-over-runs rule, compare's table, and the refusals.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers_store import store_fingerprint
from test_search import SMALL, StubExecutor

from neronet.cli import main
from neronet.config import NeroConfig, grammar_text, load_config
from neronet.errors import StudyError
from neronet.reports.compare import compare, write_comparison
from neronet.reports.data import GenerationStats, RunData
from neronet.reports.study_data import best_fitness, curve, fittest, load_runs
from neronet.search.study import STUDY_FILE, open_study, read_study, run_seeds, run_study
from neronet.store import GenerationRow, IndividualRow, RunStore


def _study(
    path: Path, runs: int = 2, *overrides: str, executor: StubExecutor | None = None
) -> None:
    config = load_config(None, [*SMALL, "search.generations=3", *overrides])
    text, name = grammar_text(config)
    study = open_study(path, config, text, name, runs)
    run_study(study, lambda run_config: executor or StubExecutor())


def test_seeds_are_stable_distinct_and_do_not_depend_on_the_run_count() -> None:
    seeds = run_seeds(0, 5)
    assert seeds == run_seeds(0, 5) and len(set(seeds)) == 5
    assert run_seeds(0, 3) == seeds[:3]  # growing a study keeps its runs
    assert run_seeds(1, 5) != seeds
    spawned = np.random.SeedSequence(0).spawn(5)
    assert seeds == [int(s.generate_state(1)[0]) & 0x7FFFFFFF for s in spawned]
    assert all(0 <= s < 2**31 for s in seeds)


def test_a_study_runs_its_runs_with_their_seeds(tmp_path: Path) -> None:
    _study(tmp_path / "s", 2)
    study = read_study(tmp_path / "s")
    assert study.seeds == tuple(run_seeds(0, 2))
    record = json.loads((tmp_path / "s" / STUDY_FILE).read_text())
    assert record["runs"] == 2 and record["config"]["seed"] == 0
    for i, seed in enumerate(study.seeds):
        store = RunStore.open(tmp_path / "s" / f"run-{i}", readonly=True)
        assert store.meta("seed") == seed and store.meta("finished") is True
        assert len(store.generations()) == 3


def test_each_run_of_a_study_searches_and_retrains_on_its_own_splits(tmp_path: Path) -> None:
    """A run draws its train / control / fitness splits from its own seed, so each run of
    a study gets an executor made from its config (one executor on the study seed's
    splits searched every run on the same images, while ``posttrain.images: search``
    retrained on the run seed's); a run refuses an executor on other splits; a lane's
    share of the executor keeps its section."""
    from neronet.config import ExecutorConfig
    from neronet.execution.base import make_executor
    from neronet.search.runner import SearchRun
    from neronet.search.study import executors_on

    config = load_config(None, [*SMALL, "search.generations=1"])
    text, name = grammar_text(config)
    study = open_study(tmp_path / "s", config, text, name, 2)
    seen: list[int] = []

    def executors(run_config: NeroConfig) -> StubExecutor:
        seen.append(run_config.seed)
        stub = StubExecutor()
        stub.data_splits = run_config.splits_identity  # as make_executor sets it
        return stub

    run_study(study, executors)
    assert seen == list(study.seeds) and len(set(seen)) == 2
    assert make_executor(study.run_config(1)).data_splits == study.run_config(1).splits_identity
    lane = ExecutorConfig(kind="local", threads=1)
    made = executors_on(lane)(study.run_config(0))
    assert made.data_splits == study.run_config(0).splits_identity and made.threads == 1
    wrong = StubExecutor()
    wrong.data_splits = study.run_config(0).splits_identity
    run = SearchRun.open(study.run_config(1), text, name, tmp_path / "lone")
    with pytest.raises(ValueError, match=f"'seed': {study.seeds[0]}, 'holdout'"):
        run.run(wrong)


def test_a_study_run_begun_on_the_study_seeds_splits_is_not_resumed_on_its_own(
    tmp_path: Path,
) -> None:
    """A run neronet 0.2 began (no recorded splits seed; every run of a study searched on
    the study seed's splits) would mix two splits if resumed now: a one-line refusal. A
    run outside a study, or one not begun, resumes as ever."""
    from neronet.errors import StoreError
    from neronet.search.runner import SPLITS_SEED, SearchRun

    _study(tmp_path / "s", 1)
    run_dir = tmp_path / "s" / "run-0"
    store = RunStore.open(run_dir)
    assert store.meta(SPLITS_SEED) == read_study(tmp_path / "s").seeds[0]
    store.set_meta(SPLITS_SEED, None)  # as 0.2 wrote it
    store.close()
    config = read_study(tmp_path / "s").run_config(0)
    text, name = grammar_text(config)
    with pytest.raises(StoreError, match=r"began on its study.s splits .* start the study anew"):
        SearchRun.open(config, text, name, run_dir)
    shutil.copytree(run_dir, tmp_path / "alone")  # no study around it: its splits are its own
    SearchRun.open(config, text, name, tmp_path / "alone").store.close()


def test_a_study_killed_mid_run_resumes_to_the_uninterrupted_study(tmp_path: Path) -> None:
    _study(tmp_path / "full", 3)
    attempts = 0
    while True:
        attempts += 1
        try:
            _study(tmp_path / "killed", 3, executor=StubExecutor(crash_after=5))
            break
        except KeyboardInterrupt:
            continue
    assert attempts > 3  # killed inside several runs
    for i in range(3):
        run = f"run-{i}"
        assert store_fingerprint(tmp_path / "killed" / run) == store_fingerprint(
            tmp_path / "full" / run
        )
    assert read_study(tmp_path / "killed").seeds == read_study(tmp_path / "full").seeds
    executor = StubExecutor()
    _study(tmp_path / "killed", 3, executor=executor)  # finished: nothing evaluated
    assert executor.requests == []


def _row(i: int, clean: float, adv: float) -> IndividualRow:
    return IndividualRow(
        i, f"g0/o{i}", 0, None, [], "{}", None, None, 1.0, "ok", None, clean,
        {"clean_accuracy": clean, "adversarial_accuracy": adv}, 1, 1.0, [], {}, None, None,
        None, None,
    )  # fmt: skip


def _run(name: str, fitness: list[float], warmup: list[bool]) -> RunData:
    """A run whose generation g has best fitness ``fitness[g]`` (parent clean = fitness)."""
    gens = []
    for g, (f, w) in enumerate(zip(fitness, warmup, strict=True)):
        row = GenerationRow(g, (g,), f, f / 2, {"warmup": w, "switched": False}, 0.0)
        gens.append(GenerationStats(row, _row(g, f, f / 4), ()))
    best = gens[-1].parent
    return RunData(Path(name), {}, (), tuple(gens), best, NeroConfig())


def test_aggregation_over_runs_matches_numbers_worked_by_hand() -> None:
    runs = [_run("a", [0.2, 0.4, 0.9], [True] * 3), _run("b", [0.4, 0.8], [True] * 2)]
    c = curve(runs, best_fitness)
    assert c.generations == (0, 1, 2) and c.counts == (2, 2, 1)
    assert c.mean == pytest.approx((0.3, 0.6, 0.9))
    # sample std: sqrt(((0.2-0.3)^2 + (0.4-0.3)^2) / 1) = 0.1414; one run: 0
    assert c.std == pytest.approx((0.1414214, 0.2828427, 0.0))


def test_fittest_compares_post_warmup_fitness_only() -> None:
    warm = _run("warm", [0.95], [True])  # clean accuracy 0.95: not on the HRS scale
    hrs_low = _run("low", [0.3, 0.5], [True, False])
    hrs_high = _run("high", [0.3, 0.7], [True, False])
    best = fittest([warm, hrs_low, hrs_high])
    assert best is not None and best.run == 2 and best.post_warmup and best.fitness == 0.7
    tie = fittest([hrs_high, _run("again", [0.1, 0.7], [True, False])])
    assert tie is not None and tie.run == 0  # ties go to the lower run index
    only_warm = fittest([warm, _run("w2", [0.5], [True])])
    assert only_warm is not None and only_warm.run == 0 and not only_warm.post_warmup
    assert fittest([]) is None


def test_study_views_and_train_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _study(tmp_path / "s", 2, "fitness.warmup_tau=0.3")
    runs = load_runs(tmp_path / "s")
    best = fittest(runs.runs)
    assert best is not None and best.post_warmup
    assert main(["status", str(tmp_path / "s")]) == 0
    assert "2 of 2 runs finished" in capsys.readouterr().out
    assert main(["best", str(tmp_path / "s"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["id"] == best.individual.id and info["run"].endswith(f"run-{best.run}")
    assert main(["report", str(tmp_path / "s")]) == 0
    summary = (tmp_path / "s" / "report" / "summary.md").read_text()
    assert f"run-{best.run} (fittest)" in summary and "Generations across runs" in summary
    assert {"fitness.png", "accuracy.png"} <= {p.name for p in (tmp_path / "s/report").iterdir()}
    from neronet.cli.views import study_fittest

    assert study_fittest(str(tmp_path / "s")) == (
        str(runs.runs[best.run].directory),
        best.individual.id,
    )


def test_compare_table_and_csv_on_two_studies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the sets are named as they are passed
    _study(tmp_path / "a", 2)
    _study(tmp_path / "b", 2, "seed=5")
    assert main(["compare", "a", "b", "--out", "c"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("| set | runs |") and "warning" not in out.err
    rows = (tmp_path / "c" / "compare.csv").read_text().splitlines()
    assert rows[0].startswith("set,runs,objective,fitness_mean,fitness_std")
    for line, name in zip(rows[1:], ("a", "b"), strict=True):
        runs = load_runs(tmp_path / name).runs
        finals = [r.generations[-1].row.best_fitness for r in runs]
        cells = line.split(",")
        assert cells[:3] == [name, "2", "nero-net"]
        assert float(cells[3]) == pytest.approx(np.mean(finals))
        assert float(cells[4]) == pytest.approx(np.std(finals, ddof=1))
        assert cells[5] == "2"
    assert {"fitness.png", "accuracy.png", "compare.md"} <= {
        p.name for p in (tmp_path / "c").iterdir()
    }


def test_compare_refuses_other_datasets_and_warns_on_other_objectives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _study(Path("a"), 1, "fitness.warmup_tau=0.3")
    _study(Path("acc"), 1, "search.objective=accuracy")
    comparison = compare([Path("a"), Path("acc")])
    assert any(
        "different objectives (a: nero-net, acc: accuracy)" in w for w in comparison.warnings
    )
    # a warm-up that never ends scores clean accuracy only: the methods cannot differ
    _study(Path("stuck"), 1, "fitness.warmup_tau=0.99")
    stuck, identical, _ = compare([Path("stuck"), Path("acc")]).warnings
    assert stuck.startswith("stuck: the warm-up never ended in any run")
    assert identical.startswith("stuck and acc have identical histories")
    _study(Path("two"), 2, "fitness.warmup_tau=0.3")
    assert compare([Path("a"), Path("two")]).warnings == (
        "different numbers of runs (a: 1, two: 2): the std bands differ in reliability",
    )
    other = Path("other")
    shutil.copytree(Path("a"), other)
    data = json.loads((other / STUDY_FILE).read_text())
    data["config"]["data"]["dataset"] = "fashion-mnist"
    (other / STUDY_FILE).write_text(json.dumps(data))
    with pytest.raises(StudyError, match="twice"):
        compare([Path("a"), tmp_path / "a"])
    with pytest.raises(StudyError, match=r"different datasets .*a: digits, other: fashion-mnist"):
        compare([Path("a"), other])
    write_comparison(comparison, Path("out"))
    assert "different objectives" in (Path("out") / "compare.md").read_text()


def fails(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_bad_studies_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _study(tmp_path / "s", 2)
    # a run of another config inside the study: refused before anything runs
    shutil.rmtree(tmp_path / "s" / "run-1")
    shutil.copytree(tmp_path / "s" / "run-0", tmp_path / "s" / "run-1")  # seed differs
    with pytest.raises(StudyError, match=r"run-1 was made with another config .*seed"):
        _study(tmp_path / "s", 2)
    # a missing run: named, with how to create it
    shutil.rmtree(tmp_path / "s" / "run-1")
    fails(
        ["report", str(tmp_path / "s")],
        "run-1 of 2 runs missing; re-running `neronet study --dir",
        capsys,
    )
    fails(["compare", str(tmp_path / "s"), str(tmp_path / "s")], "run-1 of 2 runs missing", capsys)
    # a study still growing: its first runs compare (an experiment's round does this)
    out = str(tmp_path / "first")
    assert main(["compare", str(tmp_path / "s"), "--runs", "1", "--out", out]) == 0
    assert capsys.readouterr().out.splitlines()[2].split("|")[2].strip() == "1"
    assert (tmp_path / "first" / "compare.csv").read_text().splitlines()[1].split(",")[1] == "1"
    for first in ("0", "3"):
        fails(["compare", str(tmp_path / "s"), "--runs", first], "pass --runs 1..2", capsys)
    fails(["compare", str(tmp_path / "s"), "--runs", "2"], "run-1 of 2 runs missing", capsys)
    fails(["train", "--study", str(tmp_path / "s")], "run-1 of 2 runs missing", capsys)
    fails(["train", "--study", str(tmp_path / "s"), "--id", "1"], "fittest individual", capsys)
    fails(["compare", str(tmp_path / "s/run-0"), str(tmp_path / "nope")], "neither a", capsys)
    assert main(["status", str(tmp_path / "s")]) == 0
    assert "run-1: missing" in capsys.readouterr().out
    # another config for an existing study, a directory that is not a study
    fails(
        ["study", "--dir", str(tmp_path / "s"), *SMALL, "search.generations=4"],
        "another config",
        capsys,
    )
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("")
    fails(["study", "--dir", str(tmp_path / "junk")], "not a study directory", capsys)
    for runs in ("0", "1000000000"):  # the second hung spawning a billion seeds
        fails(["study", "--dir", str(tmp_path / "new"), "--runs", runs], "1..1000", capsys)
    assert not (tmp_path / "new").exists()
    fails(["study", "--dir", str(tmp_path / "s"), "--runs", "1"], "has 2 runs", capsys)


def test_study_command_defaults_to_five_runs_and_resumes_after_an_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import neronet.search.study

    first = iter([StubExecutor(), StubExecutor(crash_after=5)])  # killed in run 1; then whole
    monkeypatch.setattr(
        neronet.search.study, "make_executor", lambda config: next(first, StubExecutor())
    )
    argv = ["study", "--dir", str(tmp_path / "s"), *SMALL, "search.generations=2"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert (
        "run 1 of 5 (run-0, seed" in err
        and f"Resume with: neronet study --dir {tmp_path / 's'}" in err
    )
    assert main(["study", "--dir", str(tmp_path / "s")]) == 0  # the stored config, 5 runs
    out = capsys.readouterr()
    assert "run 1 of 5 (run-0, seed" in out.err and ": finished" in out.err
    assert "study done: 5 runs; fittest: run-" in out.out
    assert main(["status", str(tmp_path / "s"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["finished_runs"] == 5 and info["seeds"] == run_seeds(0, 5)
    # a run of another config inside the study: one line, exit 2, before anything runs
    shutil.rmtree(tmp_path / "s" / "run-3")
    shutil.copytree(tmp_path / "s" / "run-0", tmp_path / "s" / "run-3")
    fails(["study", "--dir", str(tmp_path / "s")], "run-3 was made with another config", capsys)


def test_train_study_trains_the_fittest_individual(tmp_path: Path) -> None:
    """One epoch of one seed on digits: the spec trained is the fittest's (stub specs are
    real networks for 1x8x8 inputs)."""
    _study(tmp_path / "s", 2, "fitness.warmup_tau=0.3")
    best = fittest(load_runs(tmp_path / "s").runs)
    assert best is not None
    out = tmp_path / "trained"
    argv = ["train", "--study", str(tmp_path / "s"), "--epochs", "1", "--seeds", "1"]
    assert main([*argv, "--out", str(out), "posttrain.device=cpu"]) == 0
    record = json.loads((out / "train.json").read_text())
    assert record["spec_digest"] == best.individual.spec_hash


def test_the_study_figure_marks_only_weighted_hrs_generations_that_ran() -> None:
    from neronet.reports.study_data import RunSet
    from neronet.reports.study_report import hrs_switches

    def switched_at(name: str, generations: int, at: int) -> RunData:
        run = _run(name, [0.5] * generations, [True] * generations)
        rows = [
            replace(
                g, row=replace(g.row, info={"warmup": True, "switched": g.row.generation == at})
            )
            for g in run.generations
        ]
        return replace(run, generations=tuple(rows))

    runs = RunSet(Path("s"), (switched_at("a", 4, 1), switched_at("b", 3, 2)), None)
    assert hrs_switches(runs) == [(runs.run_label(0), 2)]  # b switched at its last generation


def test_only_a_one_plus_lambda_runs_best_is_called_its_parent() -> None:
    run = _run("a", [0.5], [True])
    assert run.best_label == "best (parent)"
    random = replace(run, config=NeroConfig(search={"strategy": "random"}))
    assert random.best_label == "best"
