"""Running a survey (``neronet survey``): the rows a directory does not hold yet, measured
one after another or in lanes (:mod:`neronet.survey.rows` measures one), each committed as
it finishes and told with the time left; the retests beside the last rows; a survey's
identity (the settings its rows depend on)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import torch

from neronet.config import NeroConfig, parse_config
from neronet.evaluation.result import OUT_OF_MEMORY
from neronet.execution.lanes import run_in_lanes, serve
from neronet.execution.scheduling import cpu_threads
from neronet.genotype import Structure, structure_for
from neronet.reports.summary import duration
from neronet.survey.rows import (
    PROGRESS_LOG,
    SharedOutOfMemory,
    SurveyData,
    load_survey_data,
    measure,
    remeasure_proxies,
    retest,
    retest_seed,
)
from neronet.survey.store import TARGET, Record, Retest, SurveyStore
from neronet.train.core import resolve_device


def retest_candidates(store: SurveyStore, count: int, wanted: int) -> list[int]:
    """The architectures a survey of ``count`` retests when ``wanted`` retests are asked:
    the first ``wanted`` by index among those with a ground truth (the draws are random,
    so the first ones are a fair sample), less those retested already."""
    measured = [r.index for r in store.records() if r.index < count and TARGET in r.metrics]
    done = {r.index for r in store.retests()}
    return [i for i in measured[:wanted] if i not in done]


SURVEY_SECTIONS = (
    "seed",
    "data",
    "structure",
    "search",
    "fitness",
    "evaluation",
    "training",
    "posttrain",
    "attack",
)
"""The config sections a survey's records depend on; the others (executor, store, RAS,
transfer, plug-in sections) never change a row, so they are not part of its identity."""


def survey_settings(config: NeroConfig) -> dict[str, Any]:
    """What a survey's records depend on: :data:`SURVEY_SECTIONS`, less the device and
    where the dataset's files lie (a survey started on a GPU machine resumes on another
    with its own ``data.path``), ``posttrain.images`` (a survey always retrains on
    its search images) and ``posttrain.test_every`` (testing changes no weight)."""
    dump = config.model_dump(mode="json")
    data = {key: dump[key] for key in SURVEY_SECTIONS}
    data["training"].pop("device")
    for key in ("device", "images", "test_every"):
        data["posttrain"].pop(key)
    data["data"].pop("path")
    return data


def stored_settings(stored: dict[str, Any]) -> dict[str, Any]:
    """A survey's stored settings read by this version: parsed (so a setting added since
    takes its default) and cut to :data:`SURVEY_SECTIONS` as :func:`survey_settings`."""
    return survey_settings(parse_config(stored, "the survey's stored settings"))


class Job(NamedTuple):
    """A survey's unit of work: ``measure`` the ``index``-th architecture, or ``retest`` it
    (``genotype``: its stored row's); ``shared``: other lanes hold the device."""

    kind: str
    index: int
    genotype: str = ""
    shared: bool = False

    def describe(self) -> str:
        return f"arch {self.index}" if self.kind == "measure" else f"retest of arch {self.index}"

    def run(
        self, config: NeroConfig, structure: Structure, data: SurveyData, models: Path
    ) -> Record | Retest | Deferred:
        try:
            if self.kind == "measure":
                return measure(config, structure, data, self.index, models, self.shared)
            return retest(config, structure, data, self.index, models, self.genotype, self.shared)
        except SharedOutOfMemory as err:
            return Deferred(self, str(err))


class Deferred(NamedTuple):
    """A job that ran out of memory beside other lanes, and why: done again alone."""

    job: Job
    reason: str


def run_survey(
    config: NeroConfig,
    structure: Structure,
    directory: Path,
    count: int,
    say: Callable[[str], None],
    parallel: int = 1,
    after: Callable[[SurveyStore], None] = lambda store: None,
    retests: int = 0,
) -> SurveyStore:
    """Measure architectures 0..count-1 that ``directory`` does not hold yet, each row
    committed as it is finished, ``parallel`` at once, and retest up to ``retests`` of
    them (:func:`retest_candidates`, :func:`retest`): beside the rows those no row still
    to measure can displace, after them the rest. ``after(store)`` is called after each
    row or retest but the last (the interim report; the caller reports the whole);
    returns the store.

    With ``parallel`` above 1 each job runs in one of that many spawned processes
    (:func:`jobs_in_lanes`); rows are the same functions of the config and their index
    either way, and come in the order they finish.
    """
    store = SurveyStore.open(directory, survey_settings(config), stored_settings)
    remeasure_proxies(store, config, structure, say)
    todo = [i for i in range(count) if i not in store.done()]
    again = retest_candidates(store, count, retests)
    if not todo and not again:
        return store
    say(f"watch it live: neronet dashboard {directory}")
    at_once = f", {parallel} at once" if parallel > 1 else ""
    models = directory / "models"
    run = _runner(config, structure, models, parallel)
    seed = retest_seed(config)
    # retests no row still to measure can displace go beside the rows: the lanes then
    # retest while the last (longest) rows finish instead of waiting for them
    early = [i for i in again if not todo or i < min(todo)]
    if todo:
        surveyed = f"{count - len(todo)} of {count} architectures surveyed"
        beside = f", and retesting {len(early)} from retraining seed {seed}" if early else ""
        say(f"{surveyed}; measuring {len(todo)}{beside}{at_once}")
        say(f"each one's progress: {models}/arch-<index>/{PROGRESS_LOG}")
    else:
        say(f"retesting {len(early)} architectures from retraining seed {seed}{at_once}")

    pending = set(todo)
    shared = parallel > 1

    def told(
        results: Iterator[Record | Retest | Deferred], total: int
    ) -> Iterator[Record | Retest | Deferred]:
        """``results``, each committed and told as it comes (a deferred one only told)."""
        with contextlib.closing(results):
            for done, result in enumerate(results, start=1):
                if isinstance(result, Deferred):
                    say(
                        f"{result.job.describe()}: {OUT_OF_MEMORY} beside other lanes "
                        f"({result.reason}); measured again alone after the rest"
                    )
                elif isinstance(result, Record):
                    store.add(result)
                    rows = store.records()
                    measured = sum(1 for r in rows if r.index in pending)
                    say(_line(result, measured, len(todo), _pace(rows, result.device) / parallel))
                else:
                    store.add_retest(result)
                    say(f"[{len(store.retests())}/{retests}] {_retest_line(result, store)}")
                if done < total:
                    after(store)
                yield result

    def work(jobs: list[Job]) -> None:
        """Do ``jobs``, each result committed and told as it comes; then, alone, those that
        ran out of memory beside other lanes (alone, running out is the network's own)."""
        deferred = [
            result.job._replace(shared=False)
            for result in told(run(jobs), len(jobs))
            if isinstance(result, Deferred)
        ]
        if deferred:
            names = ", ".join(job.describe() for job in deferred)
            say(f"measuring alone what ran out of memory beside other lanes: {names}")
            list(told(jobs_in_lanes(config, deferred, models, 1), len(deferred)))

    work([Job("measure", i, shared=shared) for i in todo] + _retest_jobs(store, early, shared))
    late = retest_candidates(store, count, retests)
    if late:
        after(store)  # the report of every row, while the retests run
        say(f"retesting {len(late)} architectures from retraining seed {seed}{at_once}")
        work(_retest_jobs(store, late, shared))
    return store


def _retest_jobs(store: SurveyStore, indices: list[int], shared: bool) -> list[Job]:
    """Retests of the stored rows ``indices``, each with its row's genotype."""
    genotypes = {r.index: r.genotype for r in store.records()}
    return [Job("retest", i, genotypes[i], shared) for i in indices]


def _runner(
    config: NeroConfig, structure: Structure, models: Path, parallel: int
) -> Callable[[list[Job]], Iterator[Record | Retest]]:
    """A function doing a list of jobs, yielding their results as they finish: here, the
    data loaded once, or in ``parallel`` lanes."""
    if parallel > 1:
        return lambda jobs: jobs_in_lanes(config, jobs, models, parallel)
    data = load_survey_data(config, resolve_device(config.training.device))

    def run(jobs: list[Job]) -> Iterator[Record | Retest]:
        for job in jobs:
            yield job.run(config, structure, data, models)

    return run


def jobs_in_lanes(
    config: NeroConfig, jobs: list[Job], models: Path, parallel: int
) -> Iterator[Record | Retest]:
    """Each of ``jobs`` in one of ``parallel`` spawned processes, each loading the data
    once onto the config's device (several share a GPU) with ``executor.threads`` torch
    threads, or its share of the CPU cores
    (:func:`~neronet.execution.scheduling.cpu_threads`); yields the results as they are
    finished."""
    if not jobs:
        return
    lane_args = [(config.model_dump(mode="json"), str(models), parallel)] * parallel
    finished = run_in_lanes(
        jobs, _survey_lane, lane_args, name="neronet-survey", describe=Job.describe
    )
    with contextlib.closing(finished):  # closing this generator stops the lanes
        for _, result in finished:
            yield result


def _survey_lane(conn: Connection, config_data: dict[str, Any], models: str, lanes: int) -> None:
    """A lane of the survey: the config, grammar and data are set up once."""

    @contextlib.contextmanager
    def measurer() -> Iterator[Callable[[Job], Record | Retest]]:
        config = parse_config(config_data, "survey config")
        torch.set_num_threads(config.executor.threads or cpu_threads(lanes))
        structure = structure_for(config)
        data = load_survey_data(config, resolve_device(config.training.device))
        yield lambda job: job.run(config, structure, data, Path(models))

    serve(conn, measurer)


def _retest_line(result: Retest, store: SurveyStore) -> str:
    """A finished retest beside the architecture's first ground truth."""
    first = next(r.metrics for r in store.records() if r.index == result.index)
    if not result.metrics:
        return (
            f"retest of arch {result.index}: no ground truth, its retraining diverged or did "
            f"not fit in memory alone (its {PROGRESS_LOG} says which; {result.seconds:.0f} s)"
        )
    return (
        f"retest of arch {result.index} (seed {result.seed}): clean "
        f"{first['final_clean']:.3f} -> {result.metrics['final_clean']:.3f}, PGD-20 "
        f"{first['final_pgd20']:.3f} -> {result.metrics['final_pgd20']:.3f} "
        f"({result.seconds:.0f} s)"
    )


def _pace(records: list[Record], device: str | None) -> float:
    """The mean measuring time of the stored rows measured where the newest was
    (``device``), in seconds: a survey begun on a GPU and continued on a CPU would
    otherwise promise the GPU's pace. Not this call's wall time per row: after a resume
    the first rows to finish are those the killed call had half done, and one robust
    architecture can take an hour."""
    times = [sum(r.seconds.values()) for r in records if r.device == device]
    return sum(times) / len(times)


def _line(rec: Record, done: int, total: int, pace: float) -> str:
    """A finished row, how long it took, and when the rest should be done at ``pace``
    seconds a row (:func:`_pace` over the lanes)."""
    m = rec.metrics

    def show(key: str) -> str:
        return f"{m[key]:.3f}" if key in m else "-"

    left = (total - done) * pace
    eta = f", about {duration(left)} left" if done < total else ""
    return (
        f"[{done}/{total}] arch {rec.index} ({rec.origin}) {rec.status}: "
        f"clean {show('clean_accuracy')} FGSM {show('adversarial_accuracy')} "
        f"PGD {show('pgd_accuracy')} -> final clean {show('final_clean')} "
        f"AutoAttack {show('final_autoattack')} ({sum(rec.seconds.values()):.0f} s{eta})"
    )
