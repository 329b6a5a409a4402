"""How ``neronet experiment`` runs its steps: each a neronet command, one after another in
this process (:func:`run_steps`), or as chains (a run's search, retraining and attack) in
lanes, one spawned process per lane with its share of the cores (:func:`run_chains`);
with the wall time kept per label over every start (:class:`StepLog`) and the time left
told as each run ends. Which steps and in what order is :mod:`neronet.cli.experiment`'s."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

Step = tuple[str, list[str]]
"""A step: its label and the neronet argv that does it."""


@dataclass(frozen=True)
class Search:
    """Run ``run`` of the study in ``study`` (method ``method``), searched inside a lane
    as ``neronet study --parallel`` searches it: on the lane's share of the method's
    executor, so its records are the serial study's."""

    method: str
    study: str
    run: int


@dataclass(frozen=True)
class Chain:
    """A run's best retrained, then attacked (the attack needs the retrained model); in a
    pooled round, preceded by the run's own search."""

    name: str
    """``<method>-run-<i>``: its directories' and its log's name."""
    steps: tuple[Step, ...]
    search: Search | None = None
    """The search the first of ``steps`` stands for (its step is the study command that
    resumes it), done in the lane; None: every step is a neronet command line."""


@dataclass(frozen=True)
class ChainJob:
    """A chain sent to a lane: its steps' numbers and where its output goes."""

    numbers: tuple[int, ...]
    chain: Chain
    log: str


def time_left(
    seconds: dict[str, float],
    done: int,
    total: int,
    *,
    lanes: int = 1,
    runs: Mapping[str, float] | None = None,
    remaining: Sequence[str] = (),
) -> str:
    """With ``done`` of the experiment's ``total`` runs finished: the rest at the wall time
    per run so far (", about 2h 10m 00s left at this pace"), or nothing when none is left
    or none finished. The wall time is every step's over every start (``seconds``), so a
    run finished just after a resume, most of it done before, does not make the pace
    look faster than it was.

    With ``runs`` (each pooled run's own lane seconds over every start, by
    ``<method>-run-<i>``) and the ``remaining`` runs' names, each remaining run counts
    its method's mean over the method's finished runs (a method with none: the wall pace
    times ``lanes``) less what it has spent already, and the sum is shared by ``lanes``:
    the methods' runs differ tenfold (one whose search and attacks come from the memo
    takes minutes, a random search's AutoAttack on a large network hours), so one pace
    for all errs long while the cheap ones are left."""
    from neronet.reports.summary import duration

    if done >= total or done < 1:
        return ""
    pace = sum(seconds.values()) / done
    if runs is None or not remaining:
        return f", about {duration(pace * (total - done))} left at this pace"
    finished: dict[str, list[float]] = {}
    for name, spent in runs.items():
        if name not in remaining:
            finished.setdefault(_method(name), []).append(spent)

    def cost(name: str) -> float:
        own = finished.get(_method(name))
        expected = statistics.fmean(own) if own else pace * lanes
        return max(0.0, expected - runs.get(name, 0.0))

    left = sum(cost(name) for name in remaining) / lanes
    return f", about {duration(left)} left at this pace"


def _method(name: str) -> str:
    """The method of run ``<method>-run-<i>``."""
    return name.rsplit("-run-", 1)[0]


@dataclass
class StepLog:
    """Where the steps report: their wall times (accumulated over resumes in ``seconds``),
    each pooled run's own lane time (``runs``, by chain name, likewise), both saved
    after each step and each run, progress lines, and the steps numbered so far of
    ``total``."""

    seconds: dict[str, float]
    save: Callable[[dict[str, float], dict[str, float]], None]
    say: Callable[[str], None]
    total: int
    numbered: int = 0
    runs: dict[str, float] = field(default_factory=dict)

    def number(self) -> int:
        """The next step's number."""
        self.numbered += 1
        return self.numbered

    def spent(self, label: str, seconds: float) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds
        self.save(self.seconds, self.runs)

    def ran(self, name: str, seconds: float) -> None:
        """Run ``name``'s chain took ``seconds`` more of its lane (its whole time once
        finished, or up to a stop)."""
        self.runs[name] = self.runs.get(name, 0.0) + seconds
        self.save(self.seconds, self.runs)


def run_steps(steps: list[Step], log: StepLog) -> int:
    """Run the steps with neronet's own commands; stops at the first that fails (its exit
    code: 2 for an error it printed, 130 for Ctrl-C)."""
    for label, argv in steps:
        code = run_step(log.number(), label, argv, log)
        if code != 0:
            return code
    return 0


def run_step(number: int, label: str, argv: list[str], log: StepLog) -> int:
    """One step, announced as step ``number``, with neronet's own command; its exit code."""
    from neronet.cli import main

    log.say(f"[{number}/{log.total}] {label}: neronet {' '.join(argv)}")
    began = time.monotonic()
    code = main(argv)
    log.spent(label, time.monotonic() - began)
    return code


def chain_jobs(chains: list[Chain], log_dir: Path, log: StepLog) -> list[ChainJob]:
    """The chains as lane jobs: their steps numbered in order, output to
    ``log_dir/<chain>.log``."""
    return [
        ChainJob(tuple(log.number() for _ in c.steps), c, str(log_dir / f"{c.name}.log"))
        for c in chains
    ]


def run_chains(
    jobs: list[ChainJob],
    lanes: int,
    log: StepLog,
    label: Callable[[], str],
    configs: Sequence[dict[str, dict[str, Any]]] = (),
    ended: Callable[[ChainJob], int] = lambda job: 0,
    earlier: int = 0,
) -> int:
    """Each job's chain of steps in order, up to ``lanes`` chains at once, each in a
    spawned process with its share of the cores, its output in its log. Returns the
    first non-zero exit code (the other chains are stopped; every step resumes), or 0.
    As each chain ends, its wall time is spent under ``label()`` (a kill loses only the
    time since) and its own lane time under its name (:meth:`StepLog.ran`; a chain
    stopped unfinished keeps what it ran), the runs done (``earlier`` of them before
    these chains) and the time left (:func:`time_left`, per method over ``lanes``) are
    told, and then ``ended(job)`` is told: its non-zero exit code stops the chains as a
    failed chain's does. A chain's search runs on its lane's ``configs[lane][method]``
    (:func:`_open_studies`)."""
    from neronet.execution.lanes import run_in_lanes
    from neronet.execution.scheduling import cpu_threads

    running: dict[str, float] = {}  # the chains in the lanes, by name: when each began

    def started(job: ChainJob, lane: int) -> None:
        running[job.chain.name] = time.monotonic()
        for number, (name, argv) in zip(job.numbers, job.chain.steps, strict=True):
            log.say(
                f"[{number}/{log.total}] {name} (lane {lane + 1} of {lanes}, output: "
                f"{job.log}): neronet {' '.join(argv)}"
            )

    for job in jobs:
        Path(job.log).parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    finished = run_in_lanes(
        jobs,
        _chain_lane,
        [(cpu_threads(lanes), configs[lane] if configs else {}) for lane in range(lanes)],
        name="neronet-experiment",
        describe=lambda job: job.chain.steps[0][0],
        started=started,
    )
    code = 0

    def spend() -> None:  # saved as each chain ends: a kill loses the time since the last
        nonlocal began
        now = time.monotonic()
        log.spent(label(), now - began)
        began = now

    def ran(name: str) -> None:
        log.ran(name, time.monotonic() - running.pop(name))

    remaining = [job.chain.name for job in jobs]
    try:
        with contextlib.closing(finished):
            total = earlier + len(jobs)
            for done, (job, code) in enumerate(finished, start=earlier + 1):
                spend()
                ran(job.chain.name)
                remaining.remove(job.chain.name)
                names = " and ".join(name for name, _ in job.chain.steps)
                if code != 0:
                    log.say(f"{names}: failed (exit code {code})")
                else:
                    left = time_left(
                        log.seconds, done, total, lanes=lanes, runs=log.runs, remaining=remaining
                    )
                    log.say(f"{names}: done ({done} of {total} runs{left})")
                code = code or ended(job)
                if code != 0:
                    break
    finally:
        spend()
        for name in list(running):
            ran(name)
    return code


def _chain_lane(conn: Connection, threads: int, configs: dict[str, dict[str, Any]]) -> None:
    """A lane of the experiment: runs chains of neronet commands (and searches, on this
    lane's share of each method's executor: ``configs``), output to their logs."""
    from neronet.execution.lanes import serve

    @contextlib.contextmanager
    def runner() -> Iterator[Callable[[ChainJob], int]]:
        import torch

        torch.set_num_threads(threads)
        yield lambda job: _run_chain(job, configs)

    serve(conn, runner)


def _run_chain(job: ChainJob, configs: dict[str, dict[str, Any]]) -> int:
    from neronet.cli import main

    steps = job.chain.steps
    with (
        open(job.log, "a", encoding="utf-8") as out,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        if job.chain.search is not None:
            _search(job.chain.search, configs[job.chain.search.method])
            steps = steps[1:]
        for _, argv in steps:
            code = main(argv)
            if code != 0:
                return code
    return 0


def _search(search: Search, config: dict[str, Any]) -> None:
    """Search (or resume, or find finished) run ``search.run`` of its study on the executor
    ``config`` describes, as a lane of ``neronet study --parallel`` does; the run's
    progress goes to its own ``run.log``."""
    from neronet.config import parse_config
    from neronet.progress import Reporter
    from neronet.search.study import executors_on, read_study, run_one

    study = read_study(search.study)
    if not study.finished(search.run):
        log = study.run_dir(search.run) / "run.log"
        print(f"search: {study.starting(search.run)}; its progress: {log}")
        lane = parse_config(config, "the experiment's lane config").executor
        run_one(study, search.run, executors_on(lane), Reporter.quiet())
    print(f"search: {study.head(search.run)}: finished")
