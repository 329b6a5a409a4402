"""A survey architecture that runs out of memory: beside other lanes it is measured again
alone after the rest (the others may have held the memory); alone, the want is its own
and its row says so, and the survey goes on. Any other failure still stops the survey."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from test_survey import TINY, _stored

from neronet.config import NeroConfig, load_config
from neronet.evaluation.result import OUT_OF_MEMORY, Evaluation
from neronet.genotype import structure_for
from neronet.survey import rows, run
from neronet.survey.clock import CLOCK_FILE
from neronet.survey.rows import PROGRESS_LOG, SEARCH_TIME, SurveyData, load_survey_data, measure
from neronet.survey.run import Deferred, Job, run_survey
from neronet.survey.store import TARGET, Record, Retest

CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


@pytest.fixture
def config(tmp_path: Path) -> NeroConfig:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return load_config(path)


@pytest.fixture
def data(config: NeroConfig) -> SurveyData:
    return load_survey_data(config, torch.device("cpu"))


def _no_room(*_args: object, **_kwargs: object) -> dict[str, float]:
    raise torch.OutOfMemoryError(CUDA_OOM)


def test_alone_the_want_is_the_rows_own_and_keeps_its_search_time_verdict(
    config: NeroConfig, data: SurveyData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "_ground_truth", _no_room)
    record = measure(config, structure_for(config), data, 0, tmp_path / "models")
    kept = json.loads((tmp_path / "models" / "arch-0" / SEARCH_TIME).read_text())
    verdict = kept["status"] + (f" ({kept['reason']})" if kept["reason"] else "")
    assert record.status == OUT_OF_MEMORY
    assert record.reason == (
        f"post-search training or attack: {OUT_OF_MEMORY}, alone ({CUDA_OOM}); "
        f"at search time {verdict}"
    )
    assert "clean_accuracy" in record.metrics and TARGET not in record.metrics
    assert OUT_OF_MEMORY in (tmp_path / "models" / "arch-0" / PROGRESS_LOG).read_text()


def test_beside_other_lanes_the_job_is_deferred_keeping_what_it_measured(
    config: NeroConfig, data: SurveyData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferred, not recorded: the search-time numbers stay for the attempt alone, and
    the clock file holds the deferred attempt's time (the row's seconds count it)."""
    models = tmp_path / "models"
    monkeypatch.setattr(rows, "_ground_truth", _no_room)
    job = Job("measure", 0, shared=True)
    deferred = job.run(config, structure_for(config), data, models)
    assert deferred == Deferred(job, CUDA_OOM)
    assert (models / "arch-0" / SEARCH_TIME).is_file()
    spent = json.loads((models / "arch-0" / CLOCK_FILE).read_text())["seconds"]
    assert spent > 0.0
    monkeypatch.undo()
    record = deferred.job._replace(shared=False).run(config, structure_for(config), data, models)
    assert isinstance(record, Record) and record.status in ("ok", "ill-fitted")
    assert TARGET in record.metrics
    assert "measured by an earlier attempt" in (models / "arch-0" / PROGRESS_LOG).read_text()


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("where", ["training", "proxies"])
def test_out_of_memory_at_search_time_is_deferred_beside_others_and_invalid_alone(
    config: NeroConfig,
    data: SurveyData,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shared: bool,
    where: str,
) -> None:
    """The search's training reports it as an invalid evaluation; the proxies raise."""
    reason = f"{OUT_OF_MEMORY}: {CUDA_OOM}"

    def full(*_args: object, **_kwargs: object) -> Evaluation:
        if where == "proxies":
            raise torch.OutOfMemoryError(CUDA_OOM)
        return Evaluation(status="invalid", reason=reason)

    monkeypatch.setattr(
        rows, "evaluate_individual" if where == "training" else "timed_proxies", full
    )
    result = Job("measure", 0, shared=shared).run(
        config, structure_for(config), data, tmp_path / "models"
    )
    if shared:
        assert isinstance(result, Deferred) and result.reason == reason
    else:
        assert isinstance(result, Record)
        assert (result.status, result.reason) == ("invalid", reason)


def test_a_retest_alone_that_does_not_fit_has_no_ground_truth(
    config: NeroConfig, data: SurveyData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "_ground_truth", _no_room)
    structure = structure_for(config)
    genotype = rows.sample(config, structure, 0)[1].to_json()
    models = tmp_path / "models"
    beside = Job("retest", 0, genotype, shared=True).run(config, structure, data, models)
    assert isinstance(beside, Deferred)
    alone = Job("retest", 0, genotype).run(config, structure, data, models)
    assert isinstance(alone, Retest) and alone.metrics == {}


def test_any_other_failure_still_stops_the_survey(
    config: NeroConfig, data: SurveyData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> dict[str, float]:
        raise RuntimeError("shape mismatch")  # a fault to see, not a want of memory

    monkeypatch.setattr(rows, "_ground_truth", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        Job("measure", 0, shared=True).run(config, structure_for(config), data, tmp_path)


def test_the_survey_measures_alone_after_the_rest_what_did_not_fit_beside_them(
    config: NeroConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two lanes where every ground truth runs out of memory while two share the device:
    each row and retest is told deferred, then measured alone (one lane) to its full
    numbers, and the survey ends complete."""
    lanes: list[int] = []
    real = rows._ground_truth

    def in_process(
        config: NeroConfig, jobs: list[Job], models: Path, parallel: int
    ) -> Iterator[Record | Retest | Deferred]:
        data = load_survey_data(config, torch.device("cpu"))
        for job in jobs:
            lanes.append(parallel)
            yield job.run(config, structure_for(config), data, models)

    def crowded(*args: Any, **kwargs: Any) -> dict[str, float]:
        if lanes[-1] > 1:
            raise torch.OutOfMemoryError(CUDA_OOM)
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "jobs_in_lanes", in_process)
    monkeypatch.setattr(rows, "_ground_truth", crowded)
    said: list[str] = []
    directory = tmp_path / "survey"
    run_survey(
        config, structure_for(config), directory, 2, said.append, parallel=2, retests=1
    ).close()
    stored = _stored(directory)
    assert [r.index for r in sorted(stored, key=lambda r: r.index)] == [0, 1]
    assert all(TARGET in r.metrics or r.status == "invalid" for r in stored)
    assert lanes == [2, 2, 1, 1, 2, 1]  # two rows beside each other, then alone; the retest
    told = "\n".join(said)
    assert f"arch 0: {OUT_OF_MEMORY} beside other lanes ({CUDA_OOM})" in told
    assert "measuring alone what ran out of memory beside other lanes: arch 0, arch 1" in told
    assert "measuring alone what ran out of memory beside other lanes: retest of arch" in told
