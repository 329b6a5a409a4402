"""``neronet survey``: a tiny survey end to end, resume after a kill, in parallel lanes,
bad input."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from neronet.cli import main
from neronet.config import load_config
from neronet.errors import StoreError, StudyError
from neronet.survey.clock import CLOCK_FILE, EARLIER, AttemptClock
from neronet.survey.rows import PROGRESS_LOG, SEARCH_TIME, SearchTime
from neronet.survey.run import stored_settings, survey_settings
from neronet.survey.store import DB_NAME, Record, Retest, SurveyStore

T = TypeVar("T")

TINY = """\
seed: 0
data: {dataset: digits, train: 100, control: 30, fitness: 30}
structure:
  grammar: nero-net-quick.grammar
  modules:
    - {name: stem, min: 0, max: 1, skip: false}
    - {name: features, min: 1, max: 2, skip: true, levels_back: 2, init_max: 1}
    - {name: last-transition, min: 0, max: 1, skip: false}
    - {name: classification, min: 0, max: 1, skip: false}
    - {name: softmax, min: 1, max: 1, skip: false}
search: {initial: random, budget: epochs, default_train_time: 1, max_train_time: 2}
fitness: {attack_eps: 0.1, pgd_steps: 2, masking: {subset: 4}}
training: {device: cpu}
posttrain: {seeds: 1, device: cpu, standard: {epochs: 1, batch_size: 64}}
attack: {linf_eps: 0.1, limit: 6, steps: 3}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _records(directory: Path) -> list[tuple]:
    return [(r.index, r.genotype, r.status, r.metrics) for r in _stored(directory)]


def test_a_tiny_survey_end_to_end_and_resumed_after_a_kill(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = tmp_path / "whole"
    assert main(["survey", "--config", str(config), "--dir", str(whole), "--count", "2"]) == 0
    out = capsys.readouterr()
    assert "| NERO-Net fitness" in out.out and "[2/2] arch 1" in out.err
    rows = _records(whole)
    assert [r[0] for r in rows] == [0, 1]
    for _, genotype, status, metrics in rows:
        assert genotype.startswith("{") and status in ("ok", "ill-fitted", "diverged")
        assert {"proxy_grad_norm", "proxy_curvature", "proxy_croze", "clean_accuracy"} <= set(
            metrics
        )
        assert 0.0 <= metrics["final_autoattack"] <= metrics["final_clean"] <= 1.0
    csv = (whole / "survey.csv").read_text().splitlines()
    assert csv[0].startswith("index,origin,mutations,status,reason,device,") and len(csv) == 3
    assert csv[1].split(",")[5] == _device(whole, 0) and _device(whole, 0).startswith("cpu (")
    assert (whole / "plots" / "scatter-nero_net_fitness.png").stat().st_size > 0
    assert (whole / "survey.parquet").is_file()
    assert "measuring 2" in (whole / "survey.log").read_text()
    progress = (whole / "models" / "arch-1" / "progress.log").read_text()  # a row's stages
    for stage in ("search-time training (1 epochs)", "epoch 1/1", "PGD-3 (L-inf): ", "robust"):
        assert stage in progress, stage
    # --report: the rows so far reported as an interim report of a larger survey, none measured
    argv = ["survey", "--config", str(config), "--dir", str(whole), "--count", "5", "--report"]
    assert main(argv) == 0
    assert "Interim report: 2 of 5 architectures measured." in capsys.readouterr().out
    assert "--count 5`" in (whole / "SURVEY.md").read_text() and _records(whole) == rows
    assert "measuring 3" not in (whole / "survey.log").read_text()
    # --retest: the first architectures retrained again from the next seed, PGD-20 alone
    again = ["survey", "--config", str(config), "--dir", str(whole), "--count", "2"]
    assert main([*again, "--retest", "2"]) == 0
    err = capsys.readouterr().err
    assert "retesting 2 architectures from retraining seed 1" in err
    assert "[2/2] retest of arch 1 (seed 1): clean " in err
    retests = _retests(whole)
    assert [(t.index, t.seed, sorted(t.metrics)) for t in retests] == [
        (i, 1, ["final_clean", "final_pgd20"]) for i in (0, 1)
    ]
    assert (whole / "models" / "arch-0" / "retest" / "seed-1").is_dir() and _records(whole) == rows
    report = (whole / "SURVEY.md").read_text()
    assert "The ground truth across retraining seeds: 2 architectures" in report
    assert "--retest 2`" in report
    assert main([*again, "--retest", "2"]) == 0  # nothing left to retest
    assert "retesting" not in capsys.readouterr().err and _retests(whole) == retests

    # the same survey, killed (SIGKILL) once its first row is committed, then resumed
    killed = tmp_path / "killed"
    argv = [sys.executable, "-m", "neronet.cli", "survey", "--config", str(config)]
    argv += ["--dir", str(killed), "--count", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not _committed(killed / DB_NAME):
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [r[0] for r in _records(killed)] == [0]  # killed between the rows
    # as a killed attempt would leave arch 1: 1000 s on its clock, of which 10 s measured
    # its search-time numbers (the whole survey's, with those times), kept for the next one
    arch = killed / "models" / "arch-1"
    arch.mkdir(parents=True, exist_ok=True)
    (arch / CLOCK_FILE).write_text('{"seconds": 1000.0}')
    kept = json.loads((whole / "models" / "arch-1" / SEARCH_TIME).read_text())
    (arch / SEARCH_TIME).write_text(json.dumps({**kept, "seconds": {"proxies": 1, "search": 9}}))
    # and the attacks it finished on its retrained model, kept by the weights' digest (one
    # kept for other weights: measured again)
    for name in ("seed-0-autoattack.json", "seed-0-pgd-linf.json"):
        shutil.copy(whole / "models" / "arch-1" / name, arch / name)
    other = json.loads((arch / "seed-0-pgd-linf.json").read_text())
    (arch / "seed-0-pgd-linf.json").write_text(json.dumps({**other, "weights": "other"}))
    autoattack = (arch / "seed-0-autoattack.json").stat().st_mtime_ns
    # `neronet status`: the row measured, and arch 1 under way (no writer: stopped)
    assert main(["status", str(killed)]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].startswith(f"survey {killed}: 1 architectures measured (1 ")
    assert status[0].endswith(", 0 retests, stopped (re-run its command to resume)")
    assert status[1].startswith("  arch 1 under way: ") and status[2].startswith("  last: ")
    assert main(["survey", "--config", str(config), "--dir", str(killed), "--count", "2"]) == 0
    assert "1 of 2 architectures surveyed; measuring 1" in capsys.readouterr().err
    assert main(["status", str(killed), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["rows"], info["retests"], info["under_way"], info["writer_pid"]) == (
        2,
        0,
        {},
        None,
    )
    assert main(["status", str(whole)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert ": 2 architectures measured (" in first and first.endswith(", 2 retests, idle")
    (killed / "models" / "arch-0" / "retest").mkdir()  # as a retest cut short leaves it
    assert main(["status", str(killed)]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].endswith(", 0 retests, stopped (re-run its command to resume)")
    assert status[1].startswith("  arch 0 retest under way: ")
    shutil.rmtree(killed / "models" / "arch-0" / "retest")
    assert _records(killed) == rows
    assert "search-time: " in (arch / PROGRESS_LOG).read_text()
    assert "measured by an earlier attempt" in (arch / PROGRESS_LOG).read_text()
    assert (arch / "seed-0-autoattack.json").stat().st_mtime_ns == autoattack  # read
    assert json.loads((arch / "seed-0-pgd-linf.json").read_text())["weights"] != "other"
    row = _stored(killed)[1]
    assert (row.seconds["proxies"], row.seconds["search"]) == (1.0, 9.0)  # not measured again
    assert row.seconds[EARLIER] == 990.0 and EARLIER not in _stored(killed)[0].seconds

    # two lanes, one architecture each: the same rows (one torch thread, as here), an ETA
    argv = ["survey", "--config", str(config), "--count", "2", "--parallel", "2"]
    lanes = ["--dir", str(tmp_path / "lanes"), "--retest", "1", "executor.threads=1"]
    assert main([*argv, *lanes]) == 0
    err = capsys.readouterr().err
    assert "measuring 2, 2 at once" in err and "left)" in err and "[2/2]" in err
    assert _records(tmp_path / "lanes") == rows
    in_lane = [(t.index, t.seed, t.metrics) for t in _retests(tmp_path / "lanes")]
    assert in_lane == [(0, 1, retests[0].metrics)]  # a retest in a lane is the same
    assert "--parallel 2" in (tmp_path / "lanes" / "SURVEY.md").read_text()
    assert _device(tmp_path / "lanes", 1) == "cpu (1 thread)"  # where each row was measured
    # grown by a row: the retest no new row can displace (arch 1) runs beside it
    grown = ["survey", "--config", str(config), "--count", "3", "--parallel", "2"]
    assert (
        main([*grown, "--dir", str(tmp_path / "lanes"), "--retest", "2", "executor.threads=1"]) == 0
    )
    err = capsys.readouterr().err
    assert "2 of 3 architectures surveyed; measuring 1, and retesting 1 from retraining " in err
    assert "retesting 1 architectures" not in err and "[2/2] retest of arch 1" in err
    in_lane = [(t.index, t.metrics) for t in _retests(tmp_path / "lanes")]
    assert in_lane == [(0, retests[0].metrics), (1, retests[1].metrics)]
    assert [r[0] for r in _records(tmp_path / "lanes")] == [0, 1, 2]
    # a lane that cannot load its data: one line naming the architecture; no row written
    broken = ["--dir", str(tmp_path / "broken"), "data.dataset=fashion-mnist"]
    assert main([*argv, *broken, f"data.path={tmp_path / 'nowhere'}", "data.download=false"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("neronet: error: arch ") and "Fashion-MNIST directory" in error
    assert _records(tmp_path / "broken") == []


def _reading(directory: Path, read: Callable[[SurveyStore], T]) -> T:
    store = SurveyStore.read(directory)
    try:
        return read(store)
    finally:
        store.close()


def _stored(directory: Path) -> list[Record]:
    return _reading(directory, SurveyStore.records)


def _device(directory: Path, index: int) -> str | None:
    return next(r.device for r in _stored(directory) if r.index == index)


def _retests(directory: Path) -> list[Retest]:
    return _reading(directory, SurveyStore.retests)


def _committed(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM architectures").fetchone()[0] >= 1
    except sqlite3.Error:  # not created yet
        return False


def test_bad_input_is_one_line(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def error(*argv: str) -> str:
        assert main(["survey", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("neronet: error: ") and err.count("\n") == 1, err
        return err

    assert "--count 0" in error(
        "--config", str(config), "--dir", str(tmp_path / "a"), "--count", "0"
    )
    assert "not found" in error("--config", str(tmp_path / "no.yaml"), "--dir", str(tmp_path / "b"))
    assert "search.objectiv" in error(
        "--config", str(config), "--dir", str(tmp_path / "c"), "search.objectiv=x"
    )
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert "foreign" in error("--config", str(config), "--dir", str(foreign))
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()
    # a survey directory started with other settings is refused, naming the key
    other = survey_settings(load_config(str(config), ["seed=1"]))
    SurveyStore.open(tmp_path / "other", other).close()
    assert "seed" in error("--config", str(config), "--dir", str(tmp_path / "other"))
    assert "seed" in error("--config", str(config), "--dir", str(tmp_path / "other"), "--report")
    assert "holds no survey" in error("--config", str(config), "--dir", str(foreign), "--report")
    # a survey's ground truth always trains on its search images: "all" is refused, not ignored
    assert "drop the setting" in error(
        "--config", str(config), "--dir", str(tmp_path / "d"), "posttrain.images=all"
    )
    assert not (tmp_path / "d").exists()
    retest = ["--config", str(config), "--dir", str(tmp_path / "e"), "--count", "2"]
    assert "--retest 3: retest 0 to --count (2)" in error(*retest, "--retest", "3")
    assert not (tmp_path / "e").exists()


def test_a_retest_retrains_the_stored_network_from_a_seed_the_survey_did_not_use(
    tmp_path: Path, config: Path
) -> None:
    """A retest may run versions after its row, so it retrains the row's stored genotype,
    not a new draw of its index; and from the first seed after the survey's own, never
    one of the trainings it is compared with."""
    import torch

    from neronet.genotype import Genotype, structure_for
    from neronet.survey.rows import load_survey_data, retest, retest_seed, sample

    settings = load_config(str(config), ["posttrain.seeds=2", "posttrain.first_seed=3"])
    assert retest_seed(settings) == 5  # seeds 3 and 4 are the survey's
    assert retest_seed(load_config(str(config))) == 1  # one seed: the next, as ever
    structure = structure_for(settings)
    data = load_survey_data(settings, torch.device("cpu"))
    _, other, _ = sample(settings, structure, 1)  # stored for arch 0, say by an older draw
    assert other.to_json() != sample(settings, structure, 0)[1].to_json()
    done = retest(settings, structure, data, 0, tmp_path, other.to_json())
    assert done.index == 0 and done.seed == 5 and done.seconds > 0
    kept = json.loads((tmp_path / "arch-0" / "retest" / "train.json").read_text())
    stored = Genotype.from_json(other.to_json(), structure)
    spec, _ = stored.decode(data.input_shape, data.num_classes)
    assert kept["spec_digest"] == spec.digest()
    assert (tmp_path / "arch-0" / "retest" / "seed-5").is_dir()


def test_a_survey_written_before_retests_and_devices_reads_as_having_none(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as db:  # the tables as an older version made them
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE architectures (idx INTEGER PRIMARY KEY, origin TEXT, mutations TEXT,"
            " genotype TEXT, status TEXT, reason TEXT, metrics TEXT, seconds TEXT);"
            """INSERT INTO architectures VALUES (1, 'random', '[]', '{}', 'ok', NULL, '{}',"""
            """ '{"search": 2.0}');"""
        )
    db.close()
    assert _retests(tmp_path) == [] and _device(tmp_path, 1) is None  # read-only: as it is
    # a writer adds the retests table and the device column; the old row says no device
    store = SurveyStore(tmp_path / DB_NAME)
    store.add(Record(0, "random", (), "{}", "ok", None, {}, {}, "cpu (2 threads)"))
    assert [(r.index, r.device, r.seconds) for r in store.records()] == [
        (0, "cpu (2 threads)", {}),
        (1, None, {"search": 2.0}),
    ]
    SurveyStore(tmp_path / DB_NAME).close()  # opened again: nothing to add
    # a damaged row or retest: a one-line error naming the file, not a traceback
    store.add_retest(Retest(0, 1, {"final_pgd20": 0.5}, 1.0))
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE architectures SET metrics = 'x'")
        db.execute("UPDATE retests SET metrics = '[1]'")
    db.close()
    for read, what in ((store.records, "row"), (store.retests, "retest")):
        with pytest.raises(StoreError, match=f"holds a damaged {what}; restore the file"):
            read()
    store.close()


def test_the_report_says_how_far_the_ground_truth_is_the_seeds() -> None:
    """Retests equal to the first retraining: tau 1 and no gap; a diverged one left out."""
    from neronet.reports.survey import correlations, markdown
    from neronet.survey.store import Record

    def row(i: int) -> Record:
        metrics = {
            "final_autoattack": 0.03 * i,
            "final_pgd20": 0.04 * i,
            "final_clean": 0.5 + i / 50,
        }
        return Record(i, "random", (), "{}", "ok", None, metrics, {"search": 1.0})

    records = [row(i) for i in range(12)]
    retests = [
        Retest(i, 1, {k: records[i].metrics[k] for k in ("final_pgd20", "final_clean")}, 2.0)
        for i in range(11)
    ] + [Retest(11, 1, {}, 3.0)]
    text = markdown(records, correlations(records), "cmd", retests=retests)
    section = text.split("The ground truth across retraining seeds: 11 architectures")[1]
    first = section.split("\n")[0]
    assert "1 retest(s) have none (the retraining diverged or did not fit in memory)" in first
    assert "| PGD-20 accuracy | 11 | 1.00 [1.00, 1.00] | 0.0 |" in section
    assert "| clean accuracy | 11 | 1.00 [1.00, 1.00] | 0.0 |" in section
    assert "across retraining seeds" not in markdown(records, correlations(records), "cmd")


def test_a_survey_resumes_across_versions_and_machines_but_not_other_settings(
    config: Path, tmp_path: Path
) -> None:
    """What a survey's rows depend on is its identity: an older version's stored settings
    (a setting since added, a plug-in section since reshaped), another machine's
    data.path or device and a test curve still match; a changed measurement setting does not."""
    current = survey_settings(load_config(str(config)))
    older = {**current, "ras": {"patience": 15}, "executor": {"kind": "local"}}
    older["training"] = {k: v for k, v in current["training"].items() if k != "schedule"}
    SurveyStore.open(tmp_path / "s", older).close()
    elsewhere = load_config(
        str(config),
        [
            "data.path=/elsewhere",
            "training.device=cpu",
            "posttrain.images=search",
            "posttrain.test_every=1",  # a test curve changes no weight
        ],
    )
    assert survey_settings(elsewhere) == current
    SurveyStore.open(tmp_path / "s", current, stored_settings).close()  # resumes
    with pytest.raises(StudyError, match=r"fitness\.pgd_steps"):
        other = survey_settings(load_config(str(config), ["fitness.pgd_steps=7"]))
        SurveyStore.open(tmp_path / "s", other, stored_settings)


def test_parallel_is_checked_before_anything_is_written(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("0", "4"):
        argv = ["survey", "--config", str(config), "--dir", str(tmp_path / bad)]
        assert main([*argv, "--count", "3", "--parallel", bad]) == 2
        err = capsys.readouterr().err
        assert f"--parallel {bad}: measure 1 to --count (3)" in err and err.count("\n") == 1
        assert not (tmp_path / bad).exists()


def test_the_report_says_interim_and_ranks_the_healthy_ones_apart() -> None:
    """SURVEY.md: an interim line while rows are missing; the correlations again over the
    architectures the search left healthy (ill-fitted ones all score 0); the spread of the
    ground truth and the plots' links."""
    from neronet.reports.survey import correlations, markdown
    from neronet.survey.store import Record

    def row(index: int, status: str, fitness: float, final: float) -> Record:
        metrics = {"nero_net_fitness": fitness, "final_autoattack": final, "final_clean": 0.8}
        return Record(index, "random", (), "{}", status, None, metrics, {"search": 2.0})

    # healthy ones ranked exactly by fitness, backwards by FGSM; ill-fitted ones anywhere
    records = [row(i, "ok", 0.1 * i, 0.1 * i) for i in range(1, 13)]
    for r in records:
        r.metrics["adversarial_accuracy"] = 1.0 - r.metrics["final_autoattack"]
    records += [row(20 + i, "ill-fitted", 0.0, final) for i, final in enumerate((0.9, 0.05, 0.6))]
    text = markdown(records, correlations(records), "neronet survey ...", planned=100)
    assert "Interim report: 15 of 100 architectures measured." in text
    overall, healthy = text.split("| NERO-Net fitness")[1:3]
    assert not overall.split("|")[2].strip().startswith("1.00")
    assert healthy.split("|")[1].strip() == "12" and healthy.split("|")[2].startswith(" 1.00 [1.00")
    assert "AutoAttack 60.0 [" in text and "(plots/scatter-nero_net_fitness.png)" in text
    # the ground truth by the search's verdict: what the ill-fitted ones (fitness 0) became
    assert "| ill-fitted | 3 | 80.0 [80.0, 80.0] | - | 60.0 [32.5, 75.0] | - |" in text
    assert "| ok | 12 | 80.0 [80.0, 80.0] | - | 65.0 [37.5, 92.5] | - |" in text
    # and their gap: 60 - 65 points; equal clean medians; no PGD-20 at all; three ill-fitted
    # are too few for an interval (the bootstrap median of three takes three values)
    gap = text.split("The ill-fitted minus the ok")[1].split("\n")[0]
    assert "clean 0.0 [no interval], PGD-20 -, AutoAttack -5.0 [no interval]" in gap
    # the fitness they got, by name: the configured penalty where the objective is known
    assert "fitness is the ill-fitted penalty (fitness.ill_fitted_penalty)" in text
    healthy_only = markdown(records[:12], correlations(records[:12]), "cmd")
    assert "| ok | 12 |" in healthy_only and "The ill-fitted minus" not in healthy_only
    for i, r in enumerate(records):
        r.metrics["parameters"] = 1000.0 * (i + 1)  # 1k..15k: ok 1-12k, ill-fitted 13-15k
    text = markdown(records, correlations(records), "cmd")
    assert "| ill-fitted | 3 | 80.0 [80.0, 80.0] | - | 60.0 [32.5, 75.0] | 14 [14, 14] |" in text
    # against FGSM, on the 12 rows with both: +1 - (-1) = 2, clearly better
    assert "| NERO-Net fitness (weighted HRS, after warm-up) | 12 | 2.00 [2.00, 2.00] |" in text
    assert "Clearly better than FGSM (interval above 0): NERO-Net fitness" in text
    assert "Interim" not in markdown(records, correlations(records), "cmd", planned=15)
    records[4].seconds["ground_truth"] = 600.0  # the heavy tail: one long architecture
    text = markdown(records, correlations(records), "cmd")
    assert "(medians per architecture: ground truth 600 s, search 2 s; the longest, " in text
    assert "arch 5, 602 s)" in text


def test_the_fitness_is_scored_again_at_each_beta_as_the_objective_scores_it(
    config: Path, tmp_path: Path
) -> None:
    """The beta sweep: attack accuracy ranks the final robustness exactly and clean accuracy
    backwards, so the tau goes from 1 (beta 0) to -1 (clean alone); at the configured beta
    every row gets the fitness the survey recorded (masking rule, ill-fitted penalty)."""
    from neronet.evaluation.objectives import NeroNetObjective, nero_net_fitness
    from neronet.reports.survey import correlations, markdown, write_survey_report
    from neronet.reports.survey_weight import BETAS, beta_sweep, fitness_at, rescored

    settings = load_config(str(config), ["fitness.masking.credit=pgd"])
    fitness = NeroNetObjective(settings)

    def row(i: int, status: str = "ok", flagged: bool = False) -> Record:
        metrics = {
            "clean_accuracy": 0.9 - 0.02 * i,
            "adversarial_accuracy": 0.05 * i if not flagged else 0.99,
            "masking_flag": float(flagged),
            "masking_pgd_accuracy": 0.05 * i,  # a flagged one is credited its PGD accuracy
            "final_autoattack": 0.03 * i,
        }
        metrics["nero_net_fitness"] = nero_net_fitness(settings, status, metrics)
        return Record(i, "random", (), "{}", status, None, metrics, {"search": 1.0})

    records = [row(i, flagged=i == 5) for i in range(1, 13)] + [row(13, "ill-fitted")]
    for r in records:
        assert fitness_at(fitness, r, fitness.beta) == r.metrics["nero_net_fitness"]
    assert fitness_at(fitness, records[-1], 0.0) == fitness.penalty
    assert fitness_at(fitness, records[4], 0.0) == pytest.approx(0.25)  # PGD, not 0.99
    sweep = {s.beta: s for s in beta_sweep(records, fitness)}
    assert list(sweep) == list(BETAS) and sweep[0.0].healthy.value == pytest.approx(1.0)
    assert sweep[math.inf].healthy.value == pytest.approx(-1.0) and sweep[0.0].every.n == 13
    taus = [s.healthy.value for s in sweep.values()]
    assert taus == sorted(taus, reverse=True)  # the more clean weighs, the worse it ranks
    for s in sweep.values():  # every row, paired against the configured beta
        assert s.gain.value == pytest.approx(s.every.value - sweep[4.0].every.value)
    assert sweep[0.0].gain.low > 0 and sweep[4.0].gain.value == 0.0
    text = markdown(records, correlations(records), "cmd", objective=fitness)
    configured = text.split("| 4 (this survey's) | ")[1].split("\n")[0]
    assert configured.split(" | ")[1] == "-"  # no difference with itself
    assert "| 0 (attack accuracy alone) | " in text and "| inf (clean alone) | " in text
    assert "healthy (n = 12)" in text and "minus this survey's beta" in text
    assert f"fitness.ill_fitted_penalty, {fitness.penalty:g} here)" in text
    assert "The fitness's weight" not in markdown(records, correlations(records), "cmd")
    # rows measured under an older rule (here: a stored fitness the objective no longer
    # gives) are scored again by this version's, in the report and the dataset alike
    stale = [
        dataclasses.replace(records[0], metrics={**records[0].metrics, "nero_net_fitness": 0.99})
    ]
    assert rescored(stale, fitness) == records[:1] and rescored(records, fitness) == records
    write_survey_report(tmp_path, stale + records[1:], "cmd", objective=fitness)
    row = next(csv.DictReader((tmp_path / "survey.csv").read_text().splitlines()))
    assert float(row["nero_net_fitness"]) == pytest.approx(records[0].metrics["nero_net_fitness"])
    assert (
        "scored from each row's stored search-time numbers" in (tmp_path / "SURVEY.md").read_text()
    )


def test_the_time_left_is_the_rows_to_go_at_the_mean_row_time_over_the_lanes() -> None:
    """The pace is the mean time of the rows measured where the newest one was: a survey
    begun on a GPU and continued on one CPU thread is not promised the GPU's pace."""
    from neronet.survey.run import _line, _pace
    from neronet.survey.store import Record

    rec = Record(7, "random", (), "{}", "ok", None, {}, {"search": 30.0, "ground_truth": 60.0})
    assert _line(rec, 2, 5, 100.0).endswith("(90 s, about 5m 00s left)")
    assert "left" not in _line(rec, 5, 5, 100.0)

    def row(seconds: float, device: str | None) -> Record:
        return Record(0, "random", (), "{}", "ok", None, {}, {"search": seconds}, device)

    rows = [row(10.0, "cuda (H200)"), row(20.0, None), row(300.0, "cpu"), row(500.0, "cpu")]
    assert (_pace(rows, "cpu"), _pace(rows, "cuda (H200)"), _pace(rows, None)) == (
        400.0,
        10.0,
        20.0,
    )


def test_the_cost_is_told_per_device_the_rows_were_measured_on() -> None:
    from neronet.reports.survey import _cost
    from neronet.survey.store import Record

    def row(i: int, seconds: float, device: str | None) -> Record:
        return Record(i, "random", (), "{}", "ok", None, {}, {"ground_truth": seconds}, device)

    text = _cost(
        [row(0, 30, "cuda (H200)"), row(1, 900, "cpu"), row(2, 20, None), row(3, 700, "cpu")]
    )
    assert text.split(". ") == [
        "Measuring 2 architecture(s) on cpu took 26m 40s in all (medians per architecture: "
        "ground truth 800 s; the longest, arch 1, 900 s)",
        "Measuring 1 architecture(s) on cuda (H200) took 30.0s in all (medians per architecture: "
        "ground truth 30 s; the longest, arch 0, 30 s)",
        "Measuring 1 architecture(s) where not recorded took 20.0s in all (medians per "
        "architecture: ground truth 20 s; the longest, arch 2, 20 s)",
        "Rows measured under different loads are mixed, so this is no benchmark.",
    ]


def test_the_report_scales_the_signals_by_the_ground_truths_own_numbers() -> None:
    """A reference table: the retrained clean and PGD-20 accuracies against AutoAttack."""
    from neronet.reports.survey import correlations, markdown
    from neronet.survey.store import Record

    def row(i: int) -> Record:
        aa = 0.05 * i  # PGD-20 orders them alike, the clean accuracy backwards
        metrics = {"final_autoattack": aa, "final_pgd20": aa + 0.1, "final_clean": 1 - aa}
        return Record(i, "random", (), "{}", "ok", None, metrics, {"search": 1.0})

    records = [row(i) for i in range(12)]
    text = markdown(records, correlations(records), "cmd")
    scale = text.split("For scale")[1].split("The ground truth by")[0]
    assert "| clean accuracy after retraining | 12 | -1.00 [-1.00, -1.00] |" in scale
    assert "| PGD-20 accuracy after retraining | 12 | 1.00 [1.00, 1.00] |" in scale
    assert "NERO-Net fitness" not in scale


def test_the_report_ranks_the_signals_against_the_final_clean_accuracy_too() -> None:
    """The search's clean accuracy ranking the final clean accuracy exactly but the final
    robustness backwards shows as tau 1 in the clean table and -1 in the robustness one."""
    from neronet.reports.survey import correlations, markdown
    from neronet.survey.store import Record

    def row(i: int) -> Record:
        metrics = {"clean_accuracy": 0.05 * i, "final_clean": 0.5 + 0.01 * i}
        metrics["final_autoattack"] = 0.6 - 0.05 * i
        return Record(i, "random", (), "{}", "ok", None, metrics, {"search": 1.0})

    records = [row(i) for i in range(12)]
    text = markdown(records, correlations(records), "cmd")
    robustness, clean = text.split("Each signal against the final clean accuracy instead")
    row_start = "| search-time clean accuracy | 12 |"
    assert f"{row_start} -1.00 [-1.00, -1.00]" in robustness
    assert f"{row_start} 1.00 [1.00, 1.00]" in clean.split("Measuring 12 architecture(s)")[0]


def test_the_report_holds_size_fixed_to_tell_a_signal_from_a_proxy_of_size() -> None:
    """A signal that agrees with the robustness only through the network's size keeps
    little of its rho once size is held fixed; one with a share of its own keeps it."""
    from neronet.reports.statistics import spearman_partial
    from neronet.reports.survey import beyond_size, correlations, markdown
    from neronet.survey.store import Record

    rng = np.random.default_rng(11)
    size = rng.normal(size=60)
    robust = size + rng.normal(size=60)
    tracks_size, own = size + rng.normal(size=60), robust + 0.3 * rng.normal(size=60)

    def row(i: int) -> Record:
        metrics = {
            "final_autoattack": float(robust[i]),
            "parameters": float(np.exp(size[i])),  # ranks as size: any monotone scale
            "proxy_croze": float(tracks_size[i]),
            "pgd_accuracy": float(own[i]),
        }
        return Record(i, "random", (), "{}", "ok", None, metrics, {"search": 1.0})

    records = [row(i) for i in range(60)]
    found, partials = correlations(records), beyond_size(records)
    assert "parameters" not in partials
    rho, partial = found["proxy_croze"][1], partials["proxy_croze"]
    assert rho.value > 0.4 and abs(partial.value) < 0.5 * rho.value
    assert partial == spearman_partial(tracks_size, robust, size)
    own_share = partials["pgd_accuracy"]
    assert own_share.value > 0.7 and own_share.low > 0
    table = markdown(records, found, "cmd").split("Beyond size")[1]
    assert f"| CRoZe consistency at init | 60 | {rho.text()} | {partial.text()} |" in table


def test_a_proxy_where_lower_means_robust_is_judged_negated_against_fgsm() -> None:
    """The input-gradient norm falling exactly as the robustness rises ranks it perfectly
    (tau -1 in the table); against FGSM (here unrelated) it is judged negated: +1 minus
    FGSM's tau, clearly better. The CRoZe score (higher: robust) is not negated."""
    from neronet.reports.survey import (
        CHALLENGER_LEVEL,
        SIGNALS,
        against_baseline,
        correlations,
        markdown,
    )
    from neronet.survey.store import Record

    fgsm = [0.3, 0.9, 0.1, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6, 0.0, 0.95, 0.05]

    def row(i: int) -> Record:
        metrics = {
            "final_autoattack": 0.05 * i,
            "proxy_grad_norm": 10.0 - i,
            "proxy_croze": 10.0 - i,
            "adversarial_accuracy": fgsm[i],
        }
        return Record(i, "random", (), "{}", "ok", None, metrics, {"search": 1.0})

    records = [row(i) for i in range(12)]
    found = correlations(records)
    assert found["proxy_grad_norm"][0].value == pytest.approx(-1.0)
    differences = against_baseline(records)
    fgsm_tau = found["adversarial_accuracy"][0].value
    assert differences["proxy_grad_norm"].value == pytest.approx(1.0 - fgsm_tau)
    assert differences["proxy_croze"].value == pytest.approx(-1.0 - fgsm_tau)
    text = markdown(records, found, "cmd")
    assert "Clearly better than FGSM (interval above 0): input-gradient norm at init" in text
    assert "CRoZe" not in text.split("Clearly better than FGSM")[1].split("\n")[0]
    # the bar holds for the whole table: every challenger's interval at 1 - 0.05 / their
    # number (Bonferroni), wider than its own 95 % one
    level = CHALLENGER_LEVEL
    assert level == pytest.approx(1 - 0.05 / (len(SIGNALS) - 1))
    bar = against_baseline(records, level=level)["proxy_grad_norm"]
    own = differences["proxy_grad_norm"]
    assert bar.low < own.low and bar.high >= own.high
    assert "| signal | n | tau minus FGSM's [simultaneous 95 % CI] |" in text
    assert "intervals are simultaneous (each at 99.44 %, Bonferroni" in text


def test_an_attempts_clock_carries_the_time_of_those_before_it(tmp_path: Path) -> None:
    """The total so far lands in the file while the attempt runs; the next attempt reads
    it back as ``earlier``; a missing, damaged or negative file counts as nothing."""
    path = tmp_path / CLOCK_FILE
    with AttemptClock(path, every=0.001) as first:
        assert first.earlier == 0.0
        deadline = time.monotonic() + 60.0  # a bound for a broken clock, not the check
        while not path.is_file():  # the clock's own thread writes it
            assert time.monotonic() < deadline, "the clock never wrote its file"
            time.sleep(0.001)
    assert AttemptClock(path).earlier > 0.0
    path.write_text('{"seconds": 1000.0}')
    second = AttemptClock(path)
    assert second.earlier == 1000.0
    second.save()
    assert 1000.0 <= AttemptClock(path).earlier < 1000.0 + 60.0
    for damaged in ("{", '{"seconds": "x"}', "[]", '{"seconds": -5}'):
        path.write_text(damaged)
        assert AttemptClock(path).earlier == 0.0, damaged


def test_kept_search_time_numbers_that_cannot_be_read_are_measured_again(tmp_path: Path) -> None:
    path = tmp_path / SEARCH_TIME
    kept = SearchTime("ok", None, {"clean_accuracy": 0.5}, {"search": 3.0}, "abc")
    kept.save(path)
    assert SearchTime.load(path) == kept == SearchTime.load(path, "abc")
    assert SearchTime.load(path, "other") is None  # another network's: measured again
    older = SearchTime("ok", None, {"clean_accuracy": 0.5}, {"search": 3.0})
    older.save(path)  # written before the digest was kept: taken as it is
    assert SearchTime.load(path, "abc") == older
    kept.save(path)
    damaged = (
        "{",
        "[]",
        '{"status": "ok"}',
        json.dumps({**json.loads(path.read_text()), "metrics": [1]}),
    )
    for text in damaged:
        path.write_text(text)
        assert SearchTime.load(path) is None, text
    assert SearchTime.load(tmp_path / "none.json") is None


def test_the_dataset_says_what_each_column_holds_and_exports_the_retests(tmp_path: Path) -> None:
    """Every column of survey.csv is described in SURVEY.md (by name or its family), each
    part's seconds is a column, a diverged row keeps its search-time verdict in its
    reason, and the retests are a CSV of their own."""
    import fnmatch

    from neronet.reports.survey import write_survey_report
    from neronet.reports.survey_dataset import COLUMNS

    rows = [
        Record(i, "random", ("random",), "{}", "ok", None, {
            "clean_accuracy": 0.5 + i / 100, "proxy_croze": float(i), "masking_flag": 0.0,
            "final_clean": 0.8, "final_pgd20": 0.3 + i / 100, "final_autoattack": 0.2 + i / 100,
        }, {"proxies": 1.0, "search": 2.0, "ground_truth": 30.0 + i}, "cpu (1 thread)")
        for i in range(6)
    ]  # fmt: skip
    reason = "post-search training: loss nan; at search time ill-fitted (one class)"
    rows.append(Record(6, "random", ("random",), "{}", "diverged", reason, {}, {"search": 2.0}))
    retests = [Retest(0, 1, {"final_clean": 0.7, "final_pgd20": 0.25}, 12.5), Retest(1, 1, {}, 3.0)]
    write_survey_report(tmp_path, rows, "cmd", retests=retests)
    table = list(csv.DictReader((tmp_path / "survey.csv").read_text().splitlines()))
    assert table[0]["seconds_ground_truth"] == "30.0" and table[6]["seconds_ground_truth"] == ""
    assert table[6]["reason"].endswith("at search time ill-fitted (one class)")
    described = [name for key in COLUMNS for name in key.split(" / ")]
    for column in table[0]:
        assert any(fnmatch.fnmatch(column, pattern) for pattern in described), column
    report = (tmp_path / "SURVEY.md").read_text()
    assert "| seconds_* | seconds measuring each part" in report and "retests.csv" in report
    assert (tmp_path / "retests.csv").read_text().splitlines() == [
        "index,seed,final_clean,final_pgd20,seconds",
        "0,1,0.7,0.25,12.5",
        "1,1,,,3.0",
    ]
