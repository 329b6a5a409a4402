"""A study: N independent runs of one config (the paper reports 5), resumable as a whole.

Layout: ``STUDY/study.json`` (the config, the grammar, the run seeds; written
atomically) and ``STUDY/run-0`` ... ``STUDY/run-{N-1}``, each a normal run
directory, so every run command (``status``, ``best``, ``export``, ``evolve
--run``) works on a single run too.

Seeds: run ``i`` gets ``SeedSequence(study_seed, spawn_key=(i,))``, which is
``np.random.SeedSequence(study_seed).spawn(N)[i]``, reduced to the 31 bits a
config seed holds. NumPy documents spawned sequences as independent and stable,
and child ``i`` does not depend on N, so a study grown from 3 to 5 runs keeps
its first three runs.

Runs go one after another, or several at once (``--parallel``,
:mod:`neronet.search.parallel`), each on an executor made from its own config: a run
draws its train / control / fitness splits from its own seed, so its data is its own
(and ``posttrain.images: search`` retrains on exactly them); each run has its own seed
and directory either way, so the records are the same.
Re-running the study resumes it: a finished run is skipped, an interrupted one
resumes by replay (:mod:`neronet.search.runner`), a missing one starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neronet.config import ExecutorConfig, NeroConfig, parse_config
from neronet.errors import ConfigError, StudyError
from neronet.execution.base import Executor, make_executor
from neronet.progress import Reporter
from neronet.runlock import writer_lock
from neronet.search.resume import diff_keys
from neronet.search.runner import SearchRun
from neronet.store import DB_NAME, RunStore, atomic_write

STUDY_FILE = "study.json"
FORMAT = 1
SEED_BITS = 0x7FFF_FFFF  # config seeds are 31-bit (neronet.config.MAX_INT)
MAX_RUNS = 1000
"""Most runs of a study (the paper's: 5): its seeds are spawned at once, so a typo's extra
digits would hang before anything is printed."""


def check_run_count(count: int) -> int:
    """``count`` if it is a number of runs a study can hold; else a one-line error."""
    if not 1 <= count <= MAX_RUNS:
        raise StudyError(f"--runs {count}: pass --runs 1..{MAX_RUNS} (the paper uses 5)")
    return count


def run_seeds(study_seed: int, runs: int) -> list[int]:
    """The seeds of runs 0..runs-1: spawned children of the study seed (see module doc)."""
    return [
        int(np.random.SeedSequence(study_seed, spawn_key=(i,)).generate_state(1)[0]) & SEED_BITS
        for i in range(runs)
    ]


def is_study(path: str | Path) -> bool:
    """Whether ``path`` is a study directory (it holds ``study.json``)."""
    return (Path(path) / STUDY_FILE).is_file()


@dataclass(frozen=True)
class Study:
    """What ``study.json`` records: the study config (with the study seed), the grammar,
    and one seed per run."""

    directory: Path
    config: dict[str, Any]
    grammar: str
    grammar_name: str
    seeds: tuple[int, ...]

    @property
    def runs(self) -> int:
        return len(self.seeds)

    def run_name(self, index: int) -> str:
        return f"run-{index}"

    def run_dir(self, index: int) -> Path:
        return self.directory / self.run_name(index)

    def run_config(self, index: int) -> NeroConfig:
        """The config of run ``index``: the study's, with the run's own seed."""
        return parse_config({**self.config, "seed": self.seeds[index]}, STUDY_FILE)

    def present(self, index: int) -> bool:
        return (self.run_dir(index) / DB_NAME).is_file()

    def head(self, index: int) -> str:
        """How progress lines name run ``index``."""
        return f"run {index + 1} of {self.runs} ({self.run_name(index)}, seed {self.seeds[index]})"

    def finished(self, index: int) -> bool:
        """Whether run ``index`` has run to its end."""
        return self.present(index) and run_finished(self.run_dir(index))

    def unfinished(self, announce: Callable[[str], None]) -> list[int]:
        """The runs still to run (or finish), in order; finished ones are announced as such."""
        todo = []
        for index in range(self.runs):
            if self.finished(index):
                announce(f"{self.head(index)}: finished")
            else:
                todo.append(index)
        return todo

    def starting(self, index: int) -> str:
        """The progress line of a run about to (re)start."""
        return f"{self.head(index)}: {'resuming' if self.present(index) else 'starting'}"

    def resume_hint(self) -> str:
        """How missing runs come into being."""
        return f"re-running `neronet study --dir {self.directory}` creates missing runs"

    def write(self) -> None:
        data = {
            "format": FORMAT,
            "config": self.config,
            "grammar": self.grammar,
            "grammar_name": self.grammar_name,
            "runs": self.runs,
            "seeds": list(self.seeds),
            "seed_rule": "SeedSequence(seed).spawn(runs)[i].generate_state(1)[0] & 0x7fffffff",
            "written_at": time.time(),
        }
        atomic_write(self.directory / STUDY_FILE, json.dumps(data, indent=2).encode())


def read_study(directory: str | Path) -> Study:
    """The study in ``directory``; a one-line error when it is not one."""
    path = Path(directory)
    try:
        data = json.loads((path / STUDY_FILE).read_text(encoding="utf-8"))
        return Study(
            path, data["config"], data["grammar"], data["grammar_name"], tuple(data["seeds"])
        )
    except FileNotFoundError:
        raise StudyError(
            f"'{path}' is not a study directory (no {STUDY_FILE}); check the path"
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise StudyError(f"'{path / STUDY_FILE}' is unreadable or damaged; restore it") from None


def open_study(
    directory: str | Path,
    config: NeroConfig,
    grammar_text: str,
    grammar_name: str,
    runs: int | None,
) -> Study:
    """Create the study, or reopen it (refusing another config); ``runs`` may grow it.

    Every existing run is checked against the study before anything runs, so a
    wrong run is found at the start, not after hours of the runs before it.
    """
    path = Path(directory)
    if is_study(path):
        stored = read_study(path)
        changed = _changed_keys(parse_config(stored.config, STUDY_FILE), config)
        if changed:
            raise StudyError(
                f"study '{path}' was made with another config (keys {', '.join(changed[:5])}); "
                "resume it without --config or overrides, or choose a new --dir"
            )
        if runs is not None and runs < stored.runs:
            raise StudyError(
                f"study '{path}' has {stored.runs} runs; pass --runs {stored.runs} or more"
            )
        study = stored
    else:
        study = Study(path, config.model_dump(mode="json"), grammar_text, grammar_name, ())
    count = check_run_count(study.runs if runs is None else runs)
    if count != study.runs:
        seed = int(study.config["seed"])
        study = Study(
            path, study.config, study.grammar, study.grammar_name, (*run_seeds(seed, count),)
        )
        study.write()
    check_runs(study)
    return study


def check_shared_transfer_set(config: NeroConfig) -> None:
    """A study's runs measure transfer attacks on one set (a run of a study is one sample
    of the same experiment), so a config measuring them must name it."""
    from neronet.transfer.run import measured

    if measured(config) and config.evaluation.transfer_set is None:
        raise ConfigError(
            "a study's runs are one experiment's samples, so they must share one transfer "
            "set: build "
            "it with neronet transfer-set and set evaluation.transfer_set"
        )


def _changed_keys(stored: NeroConfig, current: NeroConfig) -> list[str]:
    """Dotted keys of the search-relevant settings that differ (where it runs may change)."""
    a = json.loads(json.dumps(stored.search_relevant()))
    b = json.loads(json.dumps(current.search_relevant()))
    return sorted(diff_keys(a, b))


def check_runs(study: Study) -> None:
    """Refuse a study holding a run made with another config than the study gives it."""
    for index in range(study.runs):
        if not study.present(index):
            continue
        store = RunStore.open(study.run_dir(index), readonly=True)
        try:
            stored = store.config()
        finally:
            store.close()
        changed = _changed_keys(stored, study.run_config(index))
        if changed:
            raise StudyError(
                f"study '{study.directory}': {study.run_name(index)} was made with another "
                f"config (keys {', '.join(changed[:5])}); move it out of the study and re-run"
            )


def run_finished(run_dir: Path) -> bool:
    store = RunStore.open(run_dir, readonly=True)
    try:
        return bool(store.meta("finished", False))
    finally:
        store.close()


ExecutorFactory = Callable[[NeroConfig], Executor]
"""Makes the executor a run evaluates on from the run's config (its splits: the run's)."""


def executors_on(section: ExecutorConfig) -> ExecutorFactory:
    """Executors for each run's own splits on ``section`` (e.g. a lane's share of the
    study's executor) in place of the run config's."""
    return lambda config: make_executor(config.model_copy(update={"executor": section}))


def run_study(
    study: Study,
    executors: ExecutorFactory | None = None,
    *,
    reporter: Callable[[], Reporter] = Reporter.quiet,
    announce: Callable[[str], None] = lambda line: None,
) -> None:
    """Run (or finish) every run of the study in order, each on an executor
    ``executors`` makes for it (default :func:`make_executor`): a run draws its own
    splits from its seed, so one executor cannot serve them all.

    Safe to interrupt anywhere: each run is crash-safe on its own, so the next
    call skips finished runs and resumes the interrupted one by replay. Each run
    holds its own writer lock too, so ``neronet evolve --run STUDY/run-i`` cannot
    write it at the same time. :mod:`neronet.search.parallel` runs several at once.
    """
    for index in study.unfinished(announce):
        announce(study.starting(index))
        run_one(study, index, executors or make_executor, reporter())


def run_one(study: Study, index: int, executors: ExecutorFactory, reporter: Reporter) -> None:
    """Run (or resume) run ``index`` of the study on an executor ``executors`` makes from
    its config, under its writer lock."""
    run_dir = study.run_dir(index)
    config = study.run_config(index)
    with writer_lock(run_dir, "study run"):
        run = SearchRun.open(config, study.grammar, study.grammar_name, run_dir, reporter=reporter)
        try:
            with executors(config) as executor:
                run.run(executor)
        finally:
            run.store.close()
