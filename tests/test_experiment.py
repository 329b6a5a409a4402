"""``neronet experiment``: the per-method table against numbers worked by hand, the
method syntax and refusals, and one tiny end-to-end experiment that resumes to itself."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from helpers_store import size_survey, store_fingerprint

from neronet.cli import main
from neronet.cli.experiment import (
    MANIFEST,
    Method,
    MethodStudy,
    Round,
    _memo,
    _rounds,
    _sharers_last,
    begun_in,
    parse_method,
)
from neronet.cli.experiment_chains import Chain, Search, StepLog, chain_jobs, run_chains, time_left
from neronet.config import load_config
from neronet.dashboard.view import SourceView
from neronet.errors import ConfigError, StudyError
from neronet.evaluation.objectives import nero_net_fitness
from neronet.nn.plan import count_parameters
from neronet.reports.anytime import (
    Final,
    Step,
    Trajectory,
    anytime_figure,
    band,
    best_within,
    trajectory,
)
from neronet.reports.experiment import (
    RunResult,
    SearchRecord,
    _finals,
    method_table,
    read_run_result,
    search_record,
    write_experiment,
)
from neronet.reports.status import experiment_status, latest_estimate
from neronet.reports.summary import duration, parse_duration
from neronet.search.study import open_study
from neronet.spec import NetworkSpec
from neronet.store import IndividualRow, RunStore

CONFIG = Path(__file__).parents[1] / "src" / "neronet" / "configs" / "experiment-digits.yaml"
TINY = [
    "search.generations=1",
    "search.initial_size=2",
    "search.offspring=1",
    "training.max_epochs=1",
    "executor.kind=local",
    "posttrain.standard.epochs=1",
    "attack.limit=24",
    "attack.audit.subset=8",
    "attack.audit.square_queries=10",
    "attack.audit.convergence_steps=3",
]
HEADER = ["model", "threat", "attack", "clean", "conditional", "overall", "flags"]


def tiny_experiment(directory: Path, methods: list[str], *overrides: str) -> list[str]:
    """The argv of a one-run experiment of ``methods`` on the digits config at
    :data:`TINY`'s size, attacked with FGSM alone."""
    argv = ["experiment", "--config", str(CONFIG), "--dir", str(directory), "--runs", "1"]
    for method in methods:
        argv += ["--method", method]
    return [*argv, "--attacks", "fgsm", *TINY, *overrides]


def _per_model(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def _run(tmp_path: Path, name: str, seeds: list[tuple[float, float, str]]) -> Path:
    """A per_model.csv of one run: per seed (clean, PGD overall, audit flag)."""
    rows = []
    for i, (clean, pgd, flag) in enumerate(seeds):
        rows.append([f"seed-{i}", "clean", "clean", str(clean), "", "", ""])
        rows.append([f"seed-{i}", "linf", "PGD-20", str(clean), "0.5", str(pgd), flag])
    return _per_model(tmp_path / name / "per_model.csv", rows)


def test_a_run_is_the_mean_of_its_seeds_and_a_method_the_mean_and_std_of_its_runs(
    tmp_path: Path,
) -> None:
    runs = [
        read_run_result("a", 0, _run(tmp_path, "a0", [(0.9, 0.2, ""), (0.8, 0.4, "")])),
        read_run_result("a", 1, _run(tmp_path, "a1", [(0.7, 0.6, "masking: Square wins")])),
        read_run_result("b", 0, _run(tmp_path, "b0", [(0.5, 0.1, "note: FGSM high")])),
    ]
    assert runs[0].accuracy == pytest.approx({"clean": 0.85, "PGD-20": 0.3})
    table = method_table(["a", "b"], runs)
    mean, std, n = table.stats("a", "PGD-20")
    assert (mean, n) == (pytest.approx(0.45), 2)
    assert std == pytest.approx(((0.3 - 0.45) ** 2 + (0.6 - 0.45) ** 2) ** 0.5)  # n - 1 = 1
    assert table.stats("b", "clean") == (pytest.approx(0.5), 0.0, 1)
    rows = table.table().rows
    assert rows[0] == ("a", "2", "77.50 ± 10.61", "45.00 ± 21.21", "1/2 runs")
    assert rows[1][-1] == "0/1 runs"  # a note qualifies a number, it does not flag it
    lines = list(csv.reader(table.csv().splitlines()))
    assert lines[0] == ["method", "run", "parameters", "clean", "PGD-20", "masking flags", "notes"]
    assert lines[2] == ["a", "1", "", "0.700000", "0.600000", "PGD-20: Square wins", ""]
    assert lines[3][-2:] == ["", "PGD-20: FGSM high"]
    # the bests' sizes, where known: median (min-max) in thousands beside the accuracies
    sized = method_table(
        ["a", "b"],
        [
            dataclasses.replace(runs[0], parameters=120_000),
            dataclasses.replace(runs[1], parameters=8_944_020),
            runs[2],
        ],
    )
    assert sized.table().headers[4] == "parameters (k): median (min-max)"
    assert [row[4] for row in sized.table().rows] == ["4,532 (120-8,944)", "-"]
    assert list(csv.reader(sized.csv().splitlines()))[2][2] == "8944020"


def test_one_label_in_two_threats_is_two_columns(tmp_path: Path) -> None:
    """PGD-20 in L-inf and in L2 share a label: two columns, never one averaged number."""
    rows = [
        ["seed-0", "clean", "clean", "0.9", "", "", ""],
        ["seed-0", "linf", "PGD-20", "0.9", "0.5", "0.45", ""],
        ["seed-0", "l2", "PGD-20", "0.9", "0.8", "0.72", ""],
    ]
    result = read_run_result("a", 0, _per_model(tmp_path / "per_model.csv", rows))
    assert result.accuracy == pytest.approx(
        {"clean": 0.9, "PGD-20 (linf)": 0.45, "PGD-20 (l2)": 0.72}
    )


def test_a_table_that_is_not_an_attack_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "per_model.csv"
    cut = "model,threat,attack,clean,conditional,overall,flags\nseed-0,linf,PGD-20,0.9"
    path.write_text(cut)  # cut short mid-row by a kill: refused, not a traceback
    with pytest.raises(StudyError, match="is not a neronet attack table"):
        read_run_result("a", 0, path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(StudyError, match="not a neronet attack table"):
        read_run_result("a", 0, path)


def test_method_syntax() -> None:
    assert parse_method("nero-net").overrides == ()
    m = parse_method("wide:search.offspring=8, fitness.beta=2")
    assert m.name == "wide" and m.overrides == ("search.offspring=8", "fitness.beta=2")
    for bad, match in (("a b", "the name must be"), ("x:search.offspring", "is not key=value")):
        with pytest.raises(ConfigError, match=match):
            parse_method(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs", "0"], "pass --runs 1..1000"),
        (["--runs", "1000000000"], "pass --runs 1..1000"),
        (["--parallel", "0"], "pass --parallel 1..1000"),
        (["--parallel", "2", "executor.kind=ray"], "--method nero-net: --parallel 2"),
        (["--method", "a", "--method", "a"], "--method names repeat"),
        (["--method", "a:search.offspring"], "is not key=value"),
        (["--method", "a:search.offsprng=3"], "--method a: "),  # wrote the manifest first
        (["--survey", "/nowhere/survey"], "'/nowhere/survey' holds no survey"),
        (["--survey", "/nowhere/survey", "--attacks", "fgsm"], "add autoattack to --attacks"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["experiment", "--config", str(CONFIG), "--dir", str(tmp_path / "e"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "e" / MANIFEST).exists()


def test_a_directory_of_something_else_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("mine")
    assert main(["experiment", "--config", str(CONFIG), "--dir", str(tmp_path / "e")]) == 2
    assert "not an experiment directory" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2]", '{"runs": 1, "seconds": [3]}', '{"seconds": {"a": "x"}}']
)
def test_an_unreadable_manifest_is_a_one_line_error_and_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / MANIFEST).write_text(text)
    args = ["experiment", "--config", str(CONFIG), "--dir", str(tmp_path / "e"), "--runs", "1"]
    assert main([*args, *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert "experiment.json' is unreadable; restore it" in err and "\n" not in err
    assert (tmp_path / "e" / MANIFEST).read_text() == text
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [MANIFEST]


def test_a_tiny_experiment_tabulates_every_method_and_resumes_to_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "e"
    argv = [
        "experiment",
        "--config",
        str(CONFIG),
        "--dir",
        str(directory),
        "--runs",
        "1",
        "--method",
        "nero-net",
        "--method",
        "random:search.strategy=random",
        "--attacks",
        "fgsm,pgd-linf",
        *TINY,
    ]
    assert main(argv) == 0
    report = (directory / "EXPERIMENT.md").read_text()
    view = SourceView(directory).state()  # the dashboard's page of the experiment
    assert [r["label"] for r in view["runs"]] == ["nero-net/run-0", "random/run-0"]
    progress, retrained, summary, each = view["tables"]
    assert progress["rows"] == [["nero-net", "1 of 1 done", "-"], ["random", "1 of 1 done", "-"]]
    assert [row[:2] for row in retrained["rows"]] == [["nero-net", "run-0"], ["random", "run-0"]]
    assert [row[0] for row in summary["rows"]] == ["nero-net", "random"]
    assert each["headers"][2:4] == ["clean (%)", "FGSM (%)"]
    per_run = list(csv.DictReader((directory / "experiment.csv").open()))
    assert [r["method"] for r in per_run] == ["nero-net", "random"]
    for r in per_run:  # the table's numbers are the attack steps' own
        rows = list(
            csv.DictReader(
                (directory / "attacked" / f"{r['method']}-run-0" / "per_model.csv").open()
            )
        )
        pgd = next(row for row in rows if row["attack"] == "PGD-20")
        assert float(r["PGD-20"]) == pytest.approx(float(pgd["overall"]))
        assert f"| {r['method']} | 1 |" in report
    assert (directory / "robustness.png").stat().st_size > 0
    assert (directory / "compare" / "compare.md").is_file()
    assert "--method random:search.strategy=random" in report
    assert "Retraining: standard, 1 epochs x 1 seed(s) from scratch on all training images" in (
        report
    )
    store = RunStore.open(directory / "random" / "run-0", readonly=True)
    rows, seed, best = store.individuals(), store.meta("seed"), store.best_fitness()
    store.close()
    epochs = [r.epochs for r in rows if r.cache_of is None and r.epochs]
    record = search_record(directory / "random" / "run-0")
    assert (record.seed, record.trained, record.epochs) == (seed, len(epochs), sum(epochs))
    assert f"| random | {len(epochs):.1f} ± 0.0 | {sum(epochs):.1f} ± 0.0 |" in report
    spent = f"{sum(epochs):.1f} ± 0.0 ({sum(epochs)}-{sum(epochs)})"
    assert "search epochs per run" in report and spent in report  # the main table's column
    random_run = per_run[1]
    assert (random_run["seed"], random_run["epochs_trained"]) == (str(seed), str(sum(epochs)))
    assert float(random_run["search_fitness"]) == pytest.approx(best)
    assert float(random_run["individuals_trained"]) == len(epochs)
    # each best's size, from the spec its retraining recorded
    spec = json.loads((directory / "trained" / "random-run-0" / "train.json").read_text())["spec"]
    assert random_run["parameters"] == str(count_parameters(NetworkSpec.from_dict(spec)))
    assert "| parameters (k): median (min-max) |" in report
    # the anytime curves' data: every individual of every run, its best so far
    curves = list(csv.DictReader((directory / "anytime.csv").open()))
    mine = [c for c in curves if c["method"] == "random"]
    assert [int(c["individual"]) for c in mine] == sorted(r.id for r in rows)
    assert int(mine[-1]["epochs_trained"]) == sum(epochs)
    config = RunStore.open(directory / "random" / "run-0", readonly=True).config()
    scores = [nero_net_fitness(config, r.status, r.metrics) for r in sorted(rows, key=_id)]
    expected = [max(scores[: i + 1]) for i in range(len(scores))]  # on NERO-Net's yardstick
    assert [float(c["best_fitness"]) for c in mine] == pytest.approx(expected, abs=1e-6)
    assert [s.best for s in trajectory("random", 0, directory / "random" / "run-0").steps] == (
        pytest.approx(expected)
    )
    for name in ("anytime.png", "runs.png"):
        assert (directory / name).stat().st_size > 0 and f"]({name})" in report
    seconds = json.loads((directory / MANIFEST).read_text())["seconds"]
    assert set(seconds) >= {
        "search nero-net run 1",
        "retrain random run-0",
        "attack nero-net run-0",
    }
    capsys.readouterr()
    # the same command again: every run finished earlier, the table is the same
    assert main(argv) == 0
    assert "finished earlier" in capsys.readouterr().err
    again = (directory / "EXPERIMENT.md").read_text()
    assert again.split("## The searches")[0] == report.split("## The searches")[0]
    # the same directory with another method list is another experiment
    assert main([*argv[:7], "--method", "nero-net", *argv[11:]]) == 2
    assert "other methods" in capsys.readouterr().err
    # a report over fewer runs than planned says it is an interim one
    write_experiment(directory, ["nero-net", "random"], 1, seconds, "cmd", planned=3)
    interim = (directory / "EXPERIMENT.md").read_text()
    assert "Interim report: 1 of the 3 runs of every method are finished" in interim
    assert "Interim" not in report
    # `neronet status` of the experiment: each run's stage, read from what its steps wrote,
    # and the time left as the log last estimated it (a pooled run's end tells it, and the
    # next chain's announcement follows); none once every run is done
    with (directory / "experiment.log").open("a", encoding="utf-8") as log:
        log.write("2026-12-06 13:12:04 search a: done (1 of 2 runs, about 1h 00m 00s left")
        log.write(" at this pace)\n2026-12-06 13:12:05 [5/9] attack random run-0 (lane 1)\n")
    capsys.readouterr()
    assert main(["status", str(directory)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"experiment {directory}: 2 of 2 runs done, finished"
    assert lines[1:3] == ["  nero-net  1 of 1 done", "  random    1 of 1 done"]
    assert lines[3:] == ["  last: 2026-12-06 13:12:05 [5/9] attack random run-0 (lane 1)"]
    attacked, trained = (
        directory / "attacked" / "random-run-0",
        directory / "trained" / "random-run-0",
    )
    run = directory / "random" / "run-0"

    def stage() -> str:
        assert main(["status", str(directory), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["done"] == 1 and info["writer_pid"] is None
        assert info["stages"]["nero-net"] == [{"stage": "done"}]
        (random_run,) = info["stages"]["random"]
        return random_run["stage"] + str(random_run.get("generation", ""))

    (attacked / "per_model.csv").unlink()
    assert stage() == "attacking"
    shutil.rmtree(attacked)
    assert stage() == "retrained"
    (trained / "train_results.csv").unlink()
    assert stage() == "retraining"
    shutil.rmtree(trained)
    assert stage() == "searched"
    store = RunStore.open(run)
    store.set_meta("finished", False)
    store.close()
    assert stage() == "searching1"  # the generations it finished
    progress = SourceView(directory).state()["tables"][0]  # the dashboard says it too
    assert progress["rows"][1] == ["random", "0 of 1 done", "run-0 searching (generations 1/1)"]
    left = "about 1h 00m 00s, estimated 2026-12-06 13:12:04"
    assert progress["title"] == f"progress (neronet status): time left {left}"
    assert main(["status", str(directory)]) == 0
    out = capsys.readouterr().out
    assert ": 1 of 2 runs done, stopped (re-run its command to resume)" in out
    assert "  random    0 of 1 done; run-0 searching (generations 1/1)" in out
    assert f"  time left: {left}\n  last: 2026-12-06 13:12:05 [5/9]" in out
    # while a writer holds the experiment, the estimate counts down to the clock
    monkeypatch.setattr("neronet.runlock.lock_holder", lambda _: 4242)
    running = experiment_status(directory, now=datetime(2026, 12, 6, 13, 42, 4))
    assert running["time_left"] == (
        "about 30m 00s from now, of 1h 00m 00s estimated 2026-12-06 13:12:04"
    )
    monkeypatch.undo()
    shutil.rmtree(run)
    assert stage() == "not started"


def test_a_survey_given_holds_the_methods_autoattack_at_equal_size(tmp_path: Path) -> None:
    """``--survey``: the report compares AutoAttack at equal size along the survey's size
    line too (the survey is not part of the experiment: its command says it, the manifest
    does not)."""
    rows = [(10 ** (3 + i / 3), 0.02 * i) for i in range(10)]
    survey = size_survey(tmp_path / "s", load_config(str(CONFIG), TINY), rows)
    directory = tmp_path / "e"
    argv = ["experiment", "--config", str(CONFIG), "--dir", str(directory), "--runs", "2"]
    argv += ["--method", "nero-net", "--method", "accuracy:search.objective=accuracy"]  # memo
    argv += ["--attacks", "autoattack", "--survey", str(survey), *TINY, "attack.limit=8"]
    assert main(argv) == 0
    report = (directory / "EXPERIMENT.md").read_text()
    section = report.split("## AutoAttack at equal size, against nero-net")[1]
    assert "The survey in " + str(survey) + " (10 architectures" in section
    assert "| accuracy | 2 | ×" in section
    assert f"--survey {survey}" in report  # how to reproduce it
    assert "survey" not in json.loads((directory / MANIFEST).read_text())


def test_an_experiment_goes_round_by_round(tmp_path: Path) -> None:
    """Each round searches the next --parallel runs of every method, retrains and attacks
    their bests and compares the searches on their first runs, so the finished runs are
    paired after every round; with --parallel above 1 each run's chain begins with its
    own search (the lanes take runs of any method as they free) and the study command
    names every run (the pool grows the studies at once); a study already grown further
    keeps its run count."""
    import argparse

    args = argparse.Namespace(
        config="c.yaml", runs=5, parallel=2, attacks="fgsm", overrides=["seed=3"]
    )
    methods = [parse_method("a"), parse_method("b:search.strategy=random")]
    directory = tmp_path / "e"
    memo = directory / "memo"
    rounds = _rounds(args, methods, directory, memo)
    assert [r.finished for r in rounds] == [2, 4, 5]
    labels = [[label for label, _ in r.steps()] for r in rounds]
    assert labels[0] == [
        *(f"{step} {m} run-{i}" for m in "ab" for i in (0, 1) for step in STEPS),
        "compare the searches",
    ]
    assert [len(r.chains) for r in rounds] == [4, 4, 2]
    assert [c.name for c in rounds[0].chains] == ["a-run-0", "a-run-1", "b-run-0", "b-run-1"]
    assert [c.search for c in rounds[1].chains[2:]] == [
        Search("b", str(directory / "b"), run) for run in (2, 3)
    ]
    assert labels[2][:3] == ["search a run-4", "retrain a run-4", "attack a run-4"]
    study_b = rounds[1].chains[3].steps[0][1]  # the study command that resumes the search
    assert study_b[:7] == [
        "study",
        "--config",
        "c.yaml",
        "--runs",
        "5",
        "--dir",
        str(directory / "b"),
    ]
    compares = [r.compare[1] for r in rounds]
    assert [c[c.index("--runs") + 1] for c in compares] == ["2", "4", "5"]
    # the shared memo first: the command line's overrides win over it
    memo_setting = f"store.memo={memo / 'evaluations'}"
    assert study_b[7:] == ["--parallel", "2", memo_setting, "seed=3", "search.strategy=random"]
    # one run at a time: a round's searches are one study command per method
    serial_args = argparse.Namespace(**{**vars(args), "parallel": 1})
    serial = _rounds(serial_args, methods, directory, memo)
    assert [label for label, _ in serial[0].steps()] == [
        "search a run 1",
        "search b run 1",
        *(f"{step} {m} run-0" for m in "ab" for step in STEPS[1:]),
        "compare the searches",
    ]
    assert all(c.search is None for r in serial for c in r.chains)
    assert [r.searches[0][1][4] for r in serial] == ["1", "2", "3", "4", "5"]
    # a study grown further (e.g. by an earlier start with more runs) keeps its runs
    config = load_config(str(CONFIG), TINY)
    open_study(directory / "a", config, "grammar", "g", 7)
    grown = _rounds(args, methods, directory, memo)
    assert [r.chains[0].steps[0][1][4] for r in grown] == ["7", "7", "7"]
    assert [r.chains[-1].steps[0][1][4] for r in grown] == ["5", "5", "5"]
    assert [r.searches[0][1][4] for r in _rounds(serial_args, methods, directory, memo)] == [
        "7"
    ] * 5


def test_the_time_left_is_the_runs_to_go_at_the_wall_time_per_run_over_every_start() -> None:
    """Every step's time counts, whichever start and way (serial or pooled) spent it, so
    a run finished just after a resume (most of it done before) does not speed the pace."""
    spent = {"search a runs 1-2": 100.0, "retrain+attack runs 1-2": 50.0, "compare": 10.0}
    spent |= {"search+retrain+attack runs 3-4": 240.0}
    assert time_left(spent, 4, 10) == ", about 10m 00s left at this pace"  # 100 s a run
    assert time_left(spent, 10, 10) == "" and time_left(spent, 0, 10) == ""


def test_the_time_left_weighs_each_remaining_run_by_its_methods_own_runs() -> None:
    """Pooled runs' lane times: a remaining run costs its method's mean over its finished
    runs, less what it has run already; a method with none finished, the wall pace times
    the lanes; the sum shared by the lanes."""
    spent = {"search+retrain+attack runs 1-2": 1200.0}  # 4 runs done: 300 s of wall a run
    runs = {"es-run-0": 1000.0, "es-run-1": 3000.0, "memo-run-0": 60.0, "memo-run-1": 60.0}
    runs |= {"es-run-2": 500.0}  # stopped part-way: 1,500 s of its 2,000 to go
    remaining = ["es-run-2", "memo-run-2", "random-run-0"]
    # (1,500 + 60 + 300 x 2) / 2 lanes = 1,080 s
    assert time_left(spent, 4, 7, lanes=2, runs=runs, remaining=remaining) == (
        ", about 18m 00s left at this pace"
    )
    # one pace for all would say 900 s; without lane times it still does
    assert time_left(spent, 4, 7) == ", about 15m 00s left at this pace"
    assert time_left(spent, 4, 7, lanes=2, runs={}, remaining=remaining) == (
        ", about 15m 00s left at this pace"  # (600 x 3) / 2: every method at the wall pace
    )
    overrun = {**runs, "es-run-2": 9000.0}  # past its method's mean: nothing more counted
    assert time_left(spent, 4, 7, lanes=2, runs=overrun, remaining=remaining) == (
        ", about 5m 30s left at this pace"  # (0 + 60 + 600) / 2
    )


def test_status_counts_the_logs_last_estimate_down_to_now() -> None:
    """An estimate is told when a run ends, and runs take hours: read later, it is counted
    down to ``now`` (past it: overdue by how much); without ``now`` (nobody running the
    experiment, so no clock runs on it) it is told as written."""
    lines = [
        "2026-12-06 13:12:04 search a: done (1 of 2 runs, about 1h 00m 00s left at this pace)",
        "2026-12-06 13:12:05 [5/9] attack random run-0 (lane 1)",
    ]
    assert latest_estimate(lines) == "about 1h 00m 00s, estimated 2026-12-06 13:12:04"
    assert latest_estimate(lines, datetime(2026, 12, 6, 13, 57, 4)) == (
        "about 15m 00s from now, of 1h 00m 00s estimated 2026-12-06 13:12:04"
    )
    assert latest_estimate(lines, datetime(2026, 12, 6, 14, 17, 4)) == (
        "overdue by 5m 00s: 1h 00m 00s estimated 2026-12-06 13:12:04"
    )
    assert latest_estimate(lines[1:], datetime(2026, 12, 6, 14, 17, 4)) is None
    unstamped = ["search a: done (1 of 2 runs, about 1h 00m 00s left at this pace)"]
    assert latest_estimate(unstamped, datetime(2026, 12, 6, 14, 17, 4)).startswith(
        "about 1h 00m 00s, estimated"  # no time to count from: told as written
    )
    for seconds in (0.5, 59.5, 61.0, 3725.0, 93784.0):
        assert parse_duration(duration(seconds)) == pytest.approx(seconds, abs=0.05)
    assert parse_duration("a while") is None


STEPS = ("search", "retrain", "attack")


def test_chains_run_in_lanes_with_their_output_in_logs_and_stop_at_a_failure(
    tmp_path: Path,
) -> None:
    """A round's retrain-then-attack chains, two at once: each chain's steps in order in
    a lane, its output in its log; a failing step's exit code is the result."""
    lines: list[str] = []
    saved: list[dict[str, float]] = []
    seconds: dict[str, float] = {}
    seed = ["show-seed"]
    chains = [
        Chain("a-run-0", (("retrain a run-0", seed), ("attack a run-0", seed))),
        Chain(
            "b-run-0",
            (("retrain b run-0", seed), ("attack b run-0", ["status", str(tmp_path / "none")])),
        ),
    ]
    logs = tmp_path / "logs"
    log = StepLog(seconds, lambda values, runs: saved.append(values), lines.append, 9, 2)
    code = run_chains(chain_jobs(chains, logs, log), 2, log, lambda: "retrain+attack run 1")
    assert code == 2
    assert any("failed (exit code 2)" in line for line in lines)
    started = [line for line in lines if line.startswith("[")]
    assert {line.split("]")[0] for line in started} <= {"[3/9", "[4/9", "[5/9", "[6/9"}
    assert any("[5/9] retrain b run-0 (lane " in line for line in started)
    assert "is not a neronet run directory" in (logs / "b-run-0.log").read_text()
    assert set(saved[-1]) == {"retrain+attack run 1"} and log.numbered == 6
    assert set(log.runs) == {"a-run-0", "b-run-0"} and min(log.runs.values()) > 0
    assert len(saved) >= 2  # saved as each chain ends, not once after the round
    # each chain's end tells the runs done and, while some are left, the time left
    # (counting the experiment's runs finished before these chains)
    lines.clear()
    ok = [Chain(f"{m}-run-0", ((f"retrain {m} run-0", seed),)) for m in "ab"]
    assert run_chains(chain_jobs(ok, logs, log), 2, log, lambda: "run 2", earlier=3) == 0
    ends = sorted(line.split(": ", 1)[1] for line in lines if not line.startswith("["))
    assert ends[0].startswith("done (4 of 5 runs, about ") and ends[0].endswith(
        " left at this pace)"
    )
    assert ends[1] == "done (5 of 5 runs)"


def test_the_pool_runs_every_rounds_chains_and_compares_each_round_once_it_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--parallel above 1: one pool of lanes takes every round's chains in round order, so
    a lane whose chain ended takes the next round's while a round's slowest chain runs;
    a round is compared and reported when its last chain ends, rounds in order (here the
    second round ends first and waits for the first), each round's time spent under its
    own label."""
    from neronet.cli import experiment

    def chain(name: str) -> Chain:
        return Chain(name, ((f"search {name}", ["show-seed"]),))

    rounds = [
        Round(
            2,
            f"runs {i}",
            [],
            [chain(f"m-run-{i}"), chain(f"n-run-{i}")],
            (f"cmp {i}", ["show-seed"]),
            first=i,
        )
        for i in (0, 1)
    ]
    lines: list[str] = []
    seconds: dict[str, float] = {}
    log = StepLog(seconds, lambda values, runs: None, lines.append, total=6)
    reported: list[str] = []
    pooled: list[list[str]] = []
    spent: list[str] = []

    def lanes(jobs, lanes, log, label, configs, ended, earlier):  # type: ignore[no-untyped-def]
        assert earlier == 0  # no run finished before this start
        pooled.append([job.chain.name for job in jobs])
        by_name = {job.chain.name: job for job in jobs}
        for name in ("m-run-1", "n-run-1", "m-run-0", "n-run-0"):
            spent.append(label())
            assert ended(by_name[name]) == 0
            lines.append(f"ended {name}")
        return 0

    monkeypatch.setattr(experiment, "run_chains", lanes)
    code = experiment._run_pooled(rounds, 2, tmp_path, log, [], lambda r: reported.append(r.span))
    assert code == 0
    assert pooled == [["m-run-0", "n-run-0", "m-run-1", "n-run-1"]]  # one pool, round order
    assert reported == ["runs 0", "runs 1"]
    told = [line.split(":")[0] for line in lines if line.startswith(("[", "ended"))]
    assert told == [
        "ended m-run-1",
        "ended n-run-1",
        "ended m-run-0",
        "[3/6] cmp 0",  # the steps numbered round by round: chains, then the comparison
        "[6/6] cmp 1",
        "ended n-run-0",
    ]
    assert spent == [rounds[0].chains_label] * 4
    assert set(seconds) == {"cmp 0", "cmp 1"}  # the chains' time is run_chains' to spend


def test_a_pooled_experiment_searches_each_run_in_a_lane_as_the_serial_study_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--parallel 2: every run's search, retraining and attack go through the lanes as one
    chain (here both methods' runs at once: a lane takes the next run of any method), on
    the lane's share of the executor, so a run holds the records a serial study of its
    method holds; a resume finds every search finished."""
    directory = tmp_path / "e"
    tiny = [*TINY, "executor.threads=1"]
    argv = ["experiment", "--config", str(CONFIG), "--dir", str(directory), "--runs", "1"]
    argv += ["--parallel", "2", "--method", "nero-net", "--method", "random:search.strategy=random"]
    argv += ["--attacks", "fgsm", *tiny]
    assert main(argv) == 0
    err = capsys.readouterr().err
    lanes = {line.split("(lane ")[1][0] for line in err.splitlines() if "] search " in line}
    assert lanes == {"1", "2"} and "neronet study --config" in err
    for method in ("nero-net", "random"):
        log = (directory / "logs" / f"{method}-run-0.log").read_text()
        assert "search: run 1 of 1 (run-0, seed" in log and "): finished" in log
    serial = tmp_path / "serial"
    study = ["study", "--config", str(CONFIG), "--runs", "1", "--dir", str(serial), *tiny]
    assert main([*study, "search.strategy=random"]) == 0
    assert store_fingerprint(directory / "random" / "run-0") == store_fingerprint(serial / "run-0")
    assert "| random | 1 |" in (directory / "EXPERIMENT.md").read_text()
    lane_times = json.loads((directory / MANIFEST).read_text())["run_seconds"]
    assert set(lane_times) == {"nero-net-run-0", "random-run-0"}  # each run's own, kept
    assert min(lane_times.values()) > 0
    capsys.readouterr()
    model = directory / "trained" / "random-run-0" / "seed-0" / "model.safetensors"
    model.unlink()  # the records kept without the weights (e.g. copied to another machine)
    assert main(argv) == 0  # resumed: every run finished earlier, none is run again
    assert capsys.readouterr().err.count(": finished earlier") == 6
    log = (directory / "logs" / "random-run-0.log").read_text()
    assert log.count(": starting;") == 1 and log.count("): finished") == 1
    assert not model.exists()  # not retrained for nothing
    # a run whose attack suite is unfinished runs its chain again
    suite = directory / "attacked" / "nero-net-run-0" / "pairs" / "manifest.json"
    suite.write_text(suite.read_text().replace('"complete": true', '"complete": false'))
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count(": finished earlier") == 3 and "attack nero-net run-0 (lane 1 of 2" in err
    assert "attack nero-net run-0: done (2 of 2 runs)" in err  # the run finished earlier counts
    # weights at hand that are not the ones attacked: the run is not taken as finished
    report = (directory / "EXPERIMENT.md").read_text().split("## The searches")[0]
    ours = directory / "trained" / "nero-net-run-0" / "seed-0" / "model.safetensors"
    shutil.copy(tmp_path / "serial" / "run-0" / "weights" / "0.safetensors", ours)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count(": finished earlier") == 3 and "retrain nero-net run-0 (lane 1 of 2" in err
    assert (directory / "EXPERIMENT.md").read_text().split("## The searches")[0] == report


def test_a_kill_in_a_later_round_resumes_past_the_earlier_rounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pool grows the studies to all their runs before its lanes search them, so a
    kill in the second round leaves a study that declares a run not searched yet; the
    resume compares the first round on its own runs at once (finished earlier) and
    finishes the second."""
    directory = tmp_path / "e"
    argv = ["experiment", "--config", str(CONFIG), "--dir", str(directory), "--runs", "3"]
    argv += ["--parallel", "2", "--attacks", "fgsm", *TINY, "executor.threads=1"]
    assert main(argv) == 0
    for path in ("nero-net/run-2", "trained/nero-net-run-2", "attacked/nero-net-run-2"):
        shutil.rmtree(directory / path)  # as a kill before run 3's search began leaves it
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    compared = [line for line in err.splitlines() if "compare the searches: neronet" in line]
    assert len(compared) == 2 and "--runs 2 " in compared[0] and "--runs 3 " in compared[1]
    assert err.index("--runs 2 ") < err.index("search nero-net run-2 (lane")
    assert "| nero-net | 3 |" in (directory / "EXPERIMENT.md").read_text()


def test_methods_that_would_train_alike_share_the_memo_to_the_same_numbers(
    tmp_path: Path,
) -> None:
    """The methods' searches share DIR/memo: a method whose candidates another already
    trained the same way (here one differing only in a setting no evaluation reads)
    trains none of them and ends with the same records and numbers; an experiment begun
    before the memo resumes without it (its studies' settings stay as they were)."""
    directory = tmp_path / "e"
    argv = ["experiment", "--config", str(CONFIG), "--dir", str(directory), "--runs", "1"]
    argv += ["--method", "nero-net", "--method", "twin:store.keep_best=4", "--attacks", "fgsm"]
    argv += [*TINY, "search.budget=epochs", "search.default_train_time=1"]
    assert main(argv) == 0
    memo: dict[str, list[str | None]] = {}
    for method in ("nero-net", "twin"):
        store = RunStore.open(directory / method / "run-0", readonly=True)
        memo[method] = [row.record.get("memo") for row in store.individuals()]
        store.close()
    assert memo["nero-net"] and not any(memo["nero-net"]) and all(memo["twin"])
    # the round over, its runs' entries (weights and states: megabytes each) are gone
    assert list((directory / "memo" / "evaluations").iterdir()) == []
    # the twin's retrained best has the first's weights: its attacks were read, not run
    attacks = sorted((directory / "memo" / "attacks").iterdir())
    pairs = [
        sorted((directory / "attacked" / f"{m}-run-0" / "pairs").glob("pair-*"))
        for m in ("nero-net", "twin")
    ]
    assert len(attacks) == len(pairs[0]) == len(pairs[1]) > 0
    assert [p.read_text() for p in pairs[0]] == [p.read_text() for p in pairs[1]]
    log = (directory / "attacked" / "twin-run-0" / "attack.log").read_text()
    assert log.count("finished before (loaded") == len(attacks)
    # nor retrained: its retraining copied the first's (one entry, the same weights)
    (entry,) = (directory / "memo" / "trained").iterdir()
    models = [
        directory / "trained" / f"{m}-run-0" / "seed-0" / "model.safetensors"
        for m in ("nero-net", "twin")
    ]
    assert (
        models[0].read_bytes()
        == models[1].read_bytes()
        == (entry / "model.safetensors").read_bytes()
    )
    assert "epoch 1/1" in (directory / "trained" / "nero-net-run-0" / "train.log").read_text()
    assert "epoch 1/1" not in (directory / "trained" / "twin-run-0" / "train.log").read_text()
    twin, first = (store_fingerprint(directory / m / "run-0") for m in ("twin", "nero-net"))
    assert twin == first
    rows = list(csv.DictReader((directory / "experiment.csv").open()))
    assert [r.pop("method") for r in rows] == ["nero-net", "twin"]
    trained = int(rows[0]["individuals_trained"])
    assert [int(r.pop("individuals_from_memo")) for r in rows] == [0, trained]
    assert rows[0] == rows[1]  # the same budget spent, the same numbers
    report = (directory / "EXPERIMENT.md").read_text()
    assert f"| twin | {trained:.1f} ± 0.0 |" in report and f"| {trained:.1f} ± 0.0 |\n" in report
    assert json.loads((directory / MANIFEST).read_text())["memo"] is True
    assert _memo(directory, begun_in(directory)) == directory / "memo"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / MANIFEST).write_text(json.dumps({"runs": 1}))
    assert _memo(tmp_path / "old", begun_in(tmp_path / "old")) is None
    assert _memo(tmp_path / "new", begun_in(tmp_path / "new")) == tmp_path / "new" / "memo"


def test_methods_that_repeat_an_earlier_ones_search_take_the_lanes_last() -> None:
    """In the lanes the ES-based contenders under other objectives start after the other
    strategies' runs, by when NERO-Net's runs have filled the memo they would repeat."""

    def study(name: str, *overrides: str) -> MethodStudy:
        config = load_config(str(CONFIG), [*TINY, *overrides])
        return MethodStudy(Method(name, overrides), config, ("", ""))

    studies = [
        study("nero-net"),
        study("accuracy", "search.objective=accuracy"),
        study("random", "search.strategy=random"),
        study("aging", "search.strategy=aging"),
        study("pgd", "search.objective=pgd"),
    ]
    chains = [Chain(f"{s.method.name}-run-{i}", ()) for s in studies for i in (2, 3)]
    order = [c.name.removesuffix("-run-2") for c in _sharers_last(chains, studies)[::2]]
    assert order == ["nero-net", "random", "aging", "accuracy", "pgd"]
    distinct = [studies[3], studies[0], studies[2]]  # three strategies: the order stays
    ours = [c for c in chains if not c.name.startswith(("accuracy", "pgd"))][::-1]
    assert _sharers_last(ours, distinct) == ours


def _id(row: IndividualRow) -> int:
    return row.id


def test_methods_are_compared_run_by_run_with_the_first(tmp_path: Path) -> None:
    """Per column: the pairs and how many differ, the paired difference and its interval,
    the Wilcoxon p, Holm over the methods compared on that column (each accuracy its own
    family), and the detectable difference at Holm's strictest level."""
    from neronet.reports.statistics import (
        detectable_difference,
        holm,
        paired_difference,
        wilcoxon,
    )

    pgd = {
        "a": [0.30, 0.40, 0.20, 0.50, 0.25, 0.45, 0.33, 0.41],
        "b": [0.35, 0.38, 0.30, 0.52, 0.31, 0.44, 0.33, 0.49],  # run 6 ties
        "c": [0.1, 0.2],
    }
    runs = [
        read_run_result(m, i, _run(tmp_path, f"{m}{i}", [(0.9, value, "")]))
        for m, values in pgd.items()
        for i, value in enumerate(values)
    ]
    table = method_table(["a", "b", "c"], runs)
    assert table.paired("PGD-20", "c") == ([0.1, 0.2], [0.30, 0.40])  # runs both have
    rows = table.comparison().rows
    assert [r[:2] for r in rows] == [
        ("b", "clean"),
        ("b", "PGD-20"),
        ("c", "clean"),
        ("c", "PGD-20"),
    ]
    found = {(r[0], r[1]): r for r in rows}
    diff = paired_difference(pgd["b"], pgd["a"])
    test = wilcoxon(pgd["b"], pgd["a"])
    row = found[("b", "PGD-20")]
    assert row[2:6] == (
        "8 (7 differ)",
        f"{100 * diff.value:+.2f}",
        f"[{100 * diff.low:+.2f}, {100 * diff.high:+.2f}]",
        f"{test.pvalue:.3g}",
    )
    family = [wilcoxon(*table.paired("PGD-20", method)).pvalue for method in ("b", "c")]
    assert row[6] == f"{holm(family)[0]:.3g}"  # over the two methods, not the four cells
    assert row[7] == f"{100 * detectable_difference(pgd['b'], pgd['a'], alpha=0.025):.1f}"
    assert found[("c", "PGD-20")][4] == "too few pairs"  # 2 pairs: no interval
    assert found[("c", "PGD-20")][7] == "too few pairs"  # nor a p below 0.025
    assert found[("b", "clean")][2] == "8 (0 differ)" and found[("b", "clean")][5] == "1"


def test_anytime_bands_against_numbers_worked_by_hand() -> None:
    def run(index: int, steps: list[tuple[int, int, float]]) -> Trajectory:
        return Trajectory("m", index, tuple(Step(i, g, e, b) for i, (g, e, b) in enumerate(steps)))

    runs = [
        run(0, [(0, 2, 0.1), (0, 4, 0.3), (1, 7, 0.3), (1, 8, 0.6)]),
        run(1, [(0, 3, 0.2), (1, 5, 0.5)]),
        run(2, [(0, 2, 0.4), (0, 6, 0.4), (1, 9, 0.7)]),
    ]
    assert best_within(runs[0], "epochs", 1) != best_within(runs[0], "epochs", 1)  # NaN
    assert best_within(runs[1], "epochs", 100) == 0.5  # spent less: keeps its final best
    b = band(runs, "epochs")
    assert b.x == (2, 3, 4, 5, 6, 7, 8, 9)
    assert b.runs == (2, 3, 3, 3, 3, 3, 3, 3)  # run 1 had finished nothing at 2 epochs
    assert b.median[0] == pytest.approx(0.25) and b.median[1] == pytest.approx(0.2)
    # at 5 epochs: 0.3, 0.5, 0.4 -> quartiles by linear interpolation 0.35 / 0.45
    i = b.x.index(5)
    assert (b.median[i], b.low[i], b.high[i]) == pytest.approx((0.4, 0.35, 0.45))
    by_generation = band(runs, "generation")
    assert by_generation.x == (0, 1) and by_generation.median == pytest.approx((0.3, 0.6))


def test_the_anytime_figure_ends_with_each_runs_retrained_best() -> None:
    """The third panel: each run's retrained best under the strongest attack run, at the
    epochs its search spent, and per method the median with its quartiles."""
    table = method_table(
        ["a", "b"],
        [
            RunResult("a", 0, {"clean": 0.8, "PGD-20": 0.3, "AutoAttack": 0.2}, ()),
            RunResult("a", 1, {"clean": 0.7, "PGD-20": 0.5, "AutoAttack": 0.4}, ()),
            RunResult("b", 0, {"clean": 0.6, "PGD-20": 0.1, "AutoAttack": 0.1}, ()),
        ],
    )
    searches = {
        ("a", 0): SearchRecord(1, 0.5, 0.5, 30, 90),
        ("a", 1): SearchRecord(2, 0.5, 0.5, 31, 94),
        ("b", 0): SearchRecord(1, 0.4, 0.4, 30, 88),
    }
    finals, attack = _finals(table, searches)
    assert attack == "AutoAttack"
    assert finals == [Final("a", 90, 0.2), Final("a", 94, 0.4), Final("b", 88, 0.1)]
    curves = [Trajectory(m, 0, (Step(0, 0, 3, 0.5),)) for m in "ab"]
    fig = anytime_figure(["a", "b"], curves, finals, attack)
    panel = fig.axes[2]
    assert len(fig.axes) == 3 and "AutoAttack" in panel.get_ylabel()
    runs = [line for line in panel.lines if line.get_marker() == "o"]
    medians = [line for line in panel.lines if line.get_marker() == "s"]
    assert [list(p.get_xdata()) for p in runs] == [[90, 94], [88]]
    assert [y for p in runs for y in p.get_ydata()] == pytest.approx([20, 40, 10])
    centres = [v for m in medians for v in (m.get_xdata()[0], m.get_ydata()[0])]
    assert centres == pytest.approx([92, 30, 88, 10])
    assert len(anytime_figure(["a"], curves[:1]).axes) == 2  # nothing retrained yet
    # the strongest attack is the one that leaves the least, whatever order they ran in
    weaker_last = [
        RunResult(
            r.method,
            r.run,
            {"clean": r.accuracy["clean"], "AutoAttack": r.accuracy["AutoAttack"], "FGSM": 0.6},
            (),
        )
        for r in table.results
    ]
    assert _finals(method_table(["a", "b"], weaker_last), searches)[1] == "AutoAttack"


def test_the_report_says_how_the_bests_were_retrained(tmp_path: Path) -> None:
    """From the first retraining recorded (a run not retrained yet is skipped)."""
    from neronet.reports.experiment import retraining_note

    pairs = [("nero-net", 0), ("nero-net", 1)]
    assert retraining_note(tmp_path, pairs) == ""
    record = {"mode": "standard", "schedule": {"epochs": 10}, "config": {"seeds": 1}}
    trained = tmp_path / "trained" / "nero-net-run-1"
    trained.mkdir(parents=True)
    (trained / "train.json").write_text(json.dumps({**record, "images": "ab12"}))
    note = retraining_note(tmp_path, pairs)
    assert note == (
        " Retraining: standard, 10 epochs x 1 seed(s) from scratch on that run's search "
        "train + control images."
    )
