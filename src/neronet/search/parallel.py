"""Several runs of a study at once (``neronet study --parallel N``).

The serial study (:func:`neronet.search.study.run_study`) runs one run after another,
each on an executor made from its config (its own splits). Here up to N runs go at
once, each in a spawned process of its own (a *lane*) that opens its run exactly as the
serial study does (:func:`~neronet.search.study.run_one`) and evaluates on an executor
of its own, made per run on the lane's share of the study's executor:

- ``workers``: the pool the config describes is shared out, in contiguous slices
  (a GPU's workers stay together, under one memory guard, when N divides the devices
  evenly), so N runs together use the workers one run would; N may not exceed the pool.
- ``local``: each lane evaluates in its own process, as the serial study does in
  its one process (set ``executor.threads`` so that N x threads fits the cores).
- ``ray`` is refused: one Ray pool already spreads a run over a cluster.

Each executor says how it is shared out (``Executor.lanes``); a plug-in's executor
that does not say is refused with ``--parallel`` above 1.

Every lane trains with the torch thread count the serial study would use (the
pool's, fixed explicitly), and a run's records depend only on its config, its seed
and that count, never on which worker evaluated what or when: parallel and serial
studies hold the same records, and so does one killed and resumed.

A lane ends with its study process (:mod:`neronet.execution.lanes`): when the study
is killed, even by SIGKILL, it stops as on SIGTERM, closing its executor's workers,
so a resumed study never meets a stale writer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from neronet.config import ExecutorConfig, NeroConfig, parse_config
from neronet.errors import StudyError
from neronet.execution.base import EXECUTORS
from neronet.execution.lanes import run_in_lanes, serve
from neronet.progress import Reporter
from neronet.search.study import MAX_RUNS, Study, executors_on, read_study, run_one


def check_parallel(parallel: int) -> int:
    """``parallel`` if it is a number of runs at once; else a one-line error."""
    if not 1 <= parallel <= MAX_RUNS:
        raise StudyError(f"--parallel {parallel}: pass --parallel 1..{MAX_RUNS} (runs at once)")
    return parallel


def lane_executors(executor: ExecutorConfig, parallel: int) -> list[dict[str, Any]]:
    """The executor section of each of ``parallel`` lanes: the executor's own share-out
    (:meth:`~neronet.execution.base.Executor.lanes`; see the module doc)."""
    if parallel == 1:
        return [executor.model_dump(mode="json")]
    return EXECUTORS.get(executor.kind).lanes(executor, parallel)


def lane_configs(config: NeroConfig, parallel: int) -> list[dict[str, Any]]:
    """The config of each of ``parallel`` lanes: ``config`` with the lane's share of its
    executor (:func:`lane_executors`), as the lane rebuilds it."""
    data = config.model_dump(mode="json")
    return [{**data, "executor": lane} for lane in lane_executors(config.executor, parallel)]


def run_study_parallel(
    study: Study,
    config: NeroConfig,
    parallel: int,
    *,
    announce: Callable[[str], None] = lambda line: None,
) -> None:
    """Run (or finish) every run of the study, up to ``parallel`` at once.

    ``config`` gives the executor (as the serial study's executor is made from it);
    each run keeps the study's config and seed. A lane takes the next run when its
    run ends, keeping its executor (workers, data on their devices) as the serial
    study does. The first run that fails stops the others (they are crash-safe: the
    next call resumes them) and raises its error; Ctrl-C stops every lane.
    """
    lane_args = [(str(study.directory), lane) for lane in lane_configs(config, parallel)]

    def started(run: int, lane: int) -> None:
        announce(f"{study.starting(run)} (lane {lane + 1} of {len(lane_args)})")

    finished = run_in_lanes(
        study.unfinished(announce),
        _study_lane,
        lane_args,
        name="neronet-study",
        describe=study.run_name,
        started=started,
    )
    with contextlib.closing(finished):
        for run, _ in finished:
            announce(f"{study.head(run)}: finished")


def _study_lane(conn: Connection, directory: str, config_data: dict[str, Any]) -> None:
    """A lane of the study: each run evaluates on an executor made for it (its splits),
    on the lane's share of the study's executor."""

    @contextlib.contextmanager
    def runner() -> Iterator[Callable[[int], None]]:
        study = read_study(directory)
        executors = executors_on(parse_config(config_data, "study executor").executor)
        yield lambda index: run_one(study, index, executors, Reporter.quiet())

    serve(conn, runner)
