"""Several runs of a study at once (``neronet study --parallel N``).

The serial study (:func:`neronet.search.study.run_study`) passes one executor from
run to run. Here up to N runs go at once, each in a spawned process of its own (a
*lane*) that opens its run exactly as the serial study does
(:func:`~neronet.search.study.run_one`) and evaluates on an executor of its own:

- ``workers``: the pool the config describes is shared out, in contiguous slices
  (a GPU's workers stay together, under one memory guard), so N runs together use
  the workers one run would; N may not exceed the pool.
- ``local``: each lane evaluates in its own process, as the serial study does in
  its one process (set ``executor.threads`` so that N x threads fits the cores).
- ``ray`` is refused: one Ray pool already spreads a run over a cluster.

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
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from neronet.config import ExecutorConfig, NeroConfig, parse_config
from neronet.errors import NeronetError, StudyError
from neronet.execution.base import make_executor
from neronet.execution.scheduling import cpu_threads
from neronet.execution.workers import pool_devices, send_error
from neronet.progress import Reporter
from neronet.search.study import MAX_RUNS, Study, read_study, run_one


def check_parallel(parallel: int) -> int:
    """``parallel`` if it is a number of runs at once; else a one-line error."""
    if not 1 <= parallel <= MAX_RUNS:
        raise StudyError(f"--parallel {parallel}: pass --parallel 1..{MAX_RUNS} (runs at once)")
    return parallel


def lane_executors(executor: ExecutorConfig, parallel: int) -> list[dict[str, Any]]:
    """The executor section of each of ``parallel`` lanes (see the module doc)."""
    data = executor.model_dump(mode="json")
    if parallel == 1:
        return [data]
    if executor.kind == "ray":
        raise StudyError(
            f"--parallel {parallel} gives each run an executor of its own, but a Ray "
            "executor is one pool for the whole cluster; pass --parallel 1 (Ray already "
            "spreads each run's candidates over the cluster) or use executor.kind=workers"
        )
    if executor.kind == "local":
        return [{**data, "threads": executor.threads or cpu_threads(1)}] * parallel
    pool = pool_devices(executor)
    if parallel > len(pool):
        raise StudyError(
            f"--parallel {parallel}: the executor has {len(pool)} worker(s) to share out among "
            f"the runs; pass --parallel {len(pool)} or fewer, or raise executor.workers"
        )
    threads = executor.threads or cpu_threads(len(pool))
    return [
        {
            **data,
            "devices": [str(d) for d in share],
            "workers": len(share),
            "workers_per_device": None,
            "threads": threads,
        }
        for share in np.array_split(np.array(pool), parallel)
    ]


def run_study_parallel(
    study: Study,
    config: NeroConfig,
    parallel: int,
    *,
    announce: Callable[[str], None] = lambda line: None,
) -> None:
    """Run (or finish) every run of the study, up to ``parallel`` at once.

    ``config`` gives the executor (as the serial study's executor is made from it);
    each run keeps the study's config and seed. The first run that fails stops the
    others (they are crash-safe: the next call resumes them) and raises its error;
    Ctrl-C ends every lane and raises KeyboardInterrupt.
    """
    lanes = lane_executors(config.executor, parallel)
    data = config.model_dump(mode="json")
    todo = deque(study.unfinished(announce))
    free = list(range(len(lanes)))
    running: dict[Connection, tuple[int, int, BaseProcess]] = {}  # run, lane, process
    context = multiprocessing.get_context("spawn")
    try:
        while todo or running:
            while todo and free:
                index, lane = todo.popleft(), free.pop(0)
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_lane_main,
                    args=(theirs, str(study.directory), index, {**data, "executor": lanes[lane]}),
                    name=f"neronet-study-{study.run_name(index)}",
                )
                announce(f"{study.starting(index)} (lane {lane + 1} of {len(lanes)})")
                process.start()
                theirs.close()  # only the lane holds that end: its death reads as EOF here
                running[ours] = (index, lane, process)
            for conn in wait(list(running)):
                assert isinstance(conn, Connection)
                index, lane, process = running.pop(conn)
                free.append(lane)
                _finish_lane(study, index, process, conn, announce)
    finally:
        for conn, (_, _, process) in running.items():
            process.terminate()  # the lane closes its workers; its run resumes next time
            process.join()
            conn.close()


def _finish_lane(
    study: Study,
    index: int,
    process: BaseProcess,
    conn: Connection,
    announce: Callable[[str], None],
) -> None:
    """Collect a lane that reported (or died); raise what it failed with."""
    try:
        message = conn.recv()
    except (EOFError, OSError):
        message = None
    finally:
        conn.close()
    process.join()
    name = study.run_name(index)
    if message == ("done",):
        announce(f"{study.head(index)}: finished")
        return
    if message is None:
        raise StudyError(
            f"{name}: its process ended without a result (exit code {process.exitcode}); "
            "re-run the same command to resume it"
        )
    _, error, remote_traceback = message
    if isinstance(error, NeronetError):
        raise StudyError(f"{name}: {error}")
    error.add_note(f"raised while running {name}:\n{remote_traceback}")
    raise error


def _lane_main(conn: Connection, directory: str, index: int, config_data: dict[str, Any]) -> None:
    """Body of a lane: run (or resume) run ``index`` of the study, then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the study process's to handle
    signal.signal(signal.SIGTERM, _exit_on_term)
    reported = threading.Event()
    threading.Thread(target=_end_with_study, args=(conn, reported), daemon=True).start()
    try:
        study = read_study(directory)
        config = parse_config(config_data, "study executor")
        with make_executor(config) as executor:
            run_one(study, index, executor, Reporter.quiet())
    except Exception as err:
        reported.set()
        send_error(conn, err)
    else:
        reported.set()
        conn.send(("done",))


def _exit_on_term(signum: int, frame: object) -> None:
    """SIGTERM: unwind (the executor closes its workers, the run store closes)."""
    del frame
    sys.exit(128 + signum)


def _end_with_study(conn: Connection, reported: threading.Event) -> None:
    """Wait for end-of-file on the pipe from the study process (it never writes), then
    stop this lane unless it has reported: the study is gone, nobody would read it."""
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    if not reported.is_set():
        os.kill(os.getpid(), signal.SIGTERM)
