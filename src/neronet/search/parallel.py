"""Several runs of a study at once (``neronet study --parallel N``).

The serial study (:func:`neronet.search.study.run_study`) passes one executor from
run to run. Here up to N runs go at once, each in a spawned process of its own (a
*lane*) that opens its run exactly as the serial study does
(:func:`~neronet.search.study.run_one`) and evaluates on an executor of its own:

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

A lane ends with its study process: it watches its pipe to it, and when that reads
end-of-file (the study was killed, even by SIGKILL) it stops as on SIGTERM, closing
its executor's workers, so a resumed study never meets a stale writer.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from neronet.config import ExecutorConfig, NeroConfig, parse_config
from neronet.errors import NeronetError, StudyError
from neronet.execution.base import EXECUTORS, make_executor
from neronet.execution.workers import send_error
from neronet.progress import Reporter
from neronet.search.study import MAX_RUNS, Study, read_study, run_one


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


@dataclass(eq=False)
class _Lane:
    """A process that runs the study's runs it is sent, one at a time, on its executor."""

    number: int
    process: BaseProcess
    conn: Connection
    run: int | None = None


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
    executors = lane_executors(config.executor, parallel)
    data = config.model_dump(mode="json")
    todo = deque(study.unfinished(announce))
    context = multiprocessing.get_context("spawn")
    lanes: list[_Lane] = []
    idle: list[_Lane] = []
    try:
        while todo or any(lane.run is not None for lane in lanes):
            while todo and (idle or len(lanes) < len(executors)):
                if idle:
                    lane = idle.pop(0)
                else:
                    number = len(lanes)
                    lane = _start_lane(
                        context, number, study, {**data, "executor": executors[number]}
                    )
                    lanes.append(lane)
                lane.run = todo.popleft()
                announce(f"{study.starting(lane.run)} (lane {lane.number + 1} of {len(executors)})")
                lane.conn.send(lane.run)
            ready = wait([lane.conn for lane in lanes if lane.run is not None])
            for lane in [lane for lane in lanes if lane.conn in ready]:
                announce(f"{study.head(_collect(study, lane))}: finished")
                lane.run = None
                idle.append(lane)
    finally:
        for lane in lanes:
            lane.conn.close()  # an idle lane ends; a busy one stops (it resumes next time)
            if lane.run is not None:
                lane.process.terminate()
        for lane in lanes:
            lane.process.join()


def _start_lane(
    context: multiprocessing.context.SpawnContext,
    number: int,
    study: Study,
    config_data: dict[str, Any],
) -> _Lane:
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_lane_main,
        args=(theirs, str(study.directory), config_data),
        name=f"neronet-study-lane-{number + 1}",
    )
    process.start()
    theirs.close()  # only the lane holds that end: its death reads as EOF here
    return _Lane(number, process, ours)


def _collect(study: Study, lane: _Lane) -> int:
    """The run ``lane`` reported finished; raise what it failed with instead."""
    assert lane.run is not None
    try:
        message = lane.conn.recv()
    except (EOFError, OSError):
        message = None
    if message == ("done",):
        return lane.run
    name = study.run_name(lane.run)
    if message is None:
        lane.process.join()
        lane.run = None  # nothing left to stop
        raise StudyError(
            f"{name}: its process ended without a result (exit code {lane.process.exitcode}); "
            "re-run the same command to resume it"
        )
    lane.run = None  # the lane ended after reporting
    _, error, remote_traceback = message
    if isinstance(error, NeronetError):
        raise StudyError(f"{name}: {error}")
    error.add_note(f"raised while running {name}:\n{remote_traceback}")
    raise error


def _lane_main(conn: Connection, directory: str, config_data: dict[str, Any]) -> None:
    """Body of a lane: run each run index it is sent and report, until the pipe closes.

    The executor is made on the first run and kept; a failure is reported and ends
    the lane (the study stops).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the study process's to handle
    signal.signal(signal.SIGTERM, _exit_on_term)
    runs: queue.Queue[int | None] = queue.Queue()
    running = threading.Event()
    threading.Thread(target=_read_commands, args=(conn, runs, running), daemon=True).start()
    index = runs.get()
    if index is None:
        return
    try:
        study = read_study(directory)
        with make_executor(parse_config(config_data, "study executor")) as executor:
            while index is not None:
                running.set()
                run_one(study, index, executor, Reporter.quiet())
                running.clear()
                conn.send(("done",))
                index = runs.get()
    except Exception as err:
        running.clear()
        send_error(conn, err)


def _read_commands(
    conn: Connection, runs: queue.Queue[int | None], running: threading.Event
) -> None:
    """Pass the run indices the study sends on to the lane; at end-of-file (the study is
    done, or gone: even SIGKILL closes its end) tell the lane to stop, and a lane in the
    middle of a run to stop now (SIGTERM)."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            runs.put(conn.recv())
    if running.is_set():
        os.kill(os.getpid(), signal.SIGTERM)
    runs.put(None)


def _exit_on_term(signum: int, frame: object) -> None:
    """SIGTERM: unwind (the executor closes its workers, the run store closes)."""
    del frame
    sys.exit(128 + signum)
