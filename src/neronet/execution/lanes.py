"""Jobs spread over a few spawned processes (*lanes*), each ending with the process that
started it.

The study's runs (``neronet study --parallel N``) and the survey's architectures
(``neronet survey --parallel N``) are independent jobs, each a function of its
index alone; what they need in common is the machinery: N processes that each set
up once (load data, open an executor), take job after job over a pipe, report a
result or the error that ended them, and never outlive their parent.

A lane watches its pipe: when it reads end-of-file (the parent is done, or gone:
even SIGKILL closes the parent's end) it stops, at once if in the middle of a job
(SIGTERM, which unwinds so executors close their workers), so a resumed command
never meets a stale writer. Ctrl-C is the parent's to handle.
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from neronet.errors import NeronetError, StudyError
from neronet.execution.workers import send_error

Job = TypeVar("Job")
Handler = Callable[[Any], Any]
"""What a lane does with one job: its result is sent back (it must pickle)."""


@dataclass(eq=False)
class _Lane(Generic[Job]):
    number: int
    process: BaseProcess
    conn: Connection
    job: Job | None = None


def run_in_lanes(
    jobs: Iterable[Job],
    target: Callable[..., None],
    lane_args: Sequence[tuple[Any, ...]],
    *,
    name: str,
    describe: Callable[[Job], str],
    started: Callable[[Job, int], None] = lambda job, lane: None,
) -> Iterator[tuple[Job, Any]]:
    """Run every job in one of ``len(lane_args)`` lanes; yield ``(job, result)`` as each
    finishes.

    Lane *i* is ``target(conn, *lane_args[i])``, started (spawned) when there is a job
    for it and kept for the next one; ``target`` calls :func:`serve`. ``started(job, i)``
    is told which lane took a job. The first job that fails stops the others and
    raises: a :class:`~neronet.errors.NeronetError` as a one-line StudyError naming the
    job (``describe``), anything else with the lane's traceback as a note. Closing
    the generator (an error in the caller, Ctrl-C) stops every lane.
    """
    todo = deque(jobs)
    context = multiprocessing.get_context("spawn")
    lanes: list[_Lane[Job]] = []
    idle: list[_Lane[Job]] = []
    try:
        while todo or any(lane.job is not None for lane in lanes):
            while todo and (idle or len(lanes) < len(lane_args)):
                lane = idle.pop(0) if idle else _start(context, len(lanes), target, lane_args, name)
                if lane not in lanes:
                    lanes.append(lane)
                lane.job = todo.popleft()
                started(lane.job, lane.number)
                lane.conn.send(lane.job)
            ready = wait([lane.conn for lane in lanes if lane.job is not None])
            for lane in [lane for lane in lanes if lane.conn in ready]:
                job, result = lane.job, _collect(lane, describe)
                lane.job = None
                idle.append(lane)
                yield job, result
    finally:
        for lane in lanes:
            lane.conn.close()  # an idle lane ends; a busy one stops (it resumes next time)
            if lane.job is not None:
                lane.process.terminate()
        for lane in lanes:
            lane.process.join()


def _start(
    context: multiprocessing.context.SpawnContext,
    number: int,
    target: Callable[..., None],
    lane_args: Sequence[tuple[Any, ...]],
    name: str,
) -> _Lane[Any]:
    ours, theirs = context.Pipe()
    process = context.Process(
        target=target, args=(theirs, *lane_args[number]), name=f"{name}-lane-{number + 1}"
    )
    process.start()
    theirs.close()  # only the lane holds that end: its death reads as EOF here
    return _Lane(number, process, ours)


def _collect(lane: _Lane[Job], describe: Callable[[Job], str]) -> Any:
    """The result ``lane`` reported for its job; raise what the job failed with instead."""
    assert lane.job is not None
    try:
        message = lane.conn.recv()
    except (EOFError, OSError):
        message = None
    if message is not None and message[0] == "done":
        return message[1]
    what = describe(lane.job)
    lane.job = None  # the lane ended: nothing left to stop
    if message is None:
        lane.process.join()
        raise StudyError(
            f"{what}: its process ended without a result (exit code {lane.process.exitcode}); "
            "re-run the same command to resume"
        )
    _, error, remote_traceback = message
    if isinstance(error, NeronetError):
        raise StudyError(f"{what}: {error}")
    error.add_note(f"raised while running {what}:\n{remote_traceback}")
    raise error


def serve(conn: Connection, open_handler: Callable[[], AbstractContextManager[Handler]]) -> None:
    """Body of a lane: open the handler on the first job (so a lane never given one
    sets nothing up), then handle each job sent and report, until the pipe closes.

    A failure is reported and ends the lane (the parent stops).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _exit_on_term)
    jobs: queue.Queue[Any] = queue.Queue()
    running = threading.Event()
    threading.Thread(target=_read_jobs, args=(conn, jobs, running), daemon=True).start()
    job = jobs.get()
    if job is None:
        return
    try:
        with open_handler() as handle:
            while job is not None:
                running.set()
                result = handle(job)
                running.clear()
                conn.send(("done", result))
                job = jobs.get()
    except Exception as err:
        running.clear()
        send_error(conn, err)


def _read_jobs(conn: Connection, jobs: queue.Queue[Any], running: threading.Event) -> None:
    """Pass the jobs the parent sends on to the lane; at end-of-file tell the lane to
    stop, and a lane in the middle of a job to stop now (SIGTERM)."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            jobs.put(conn.recv())
    if running.is_set():
        os.kill(os.getpid(), signal.SIGTERM)
    jobs.put(None)


def _exit_on_term(signum: int, frame: object) -> None:
    """SIGTERM: unwind (an executor closes its workers, a store closes). Once: a stop
    sends more than one (``kill`` of the process group, the parent's ``terminate``, the
    lane's own pipe reader), and one arriving while the first unwinds would cut that
    unwinding short with a traceback."""
    del frame
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(128 + signum)
