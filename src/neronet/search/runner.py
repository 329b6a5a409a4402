"""The search loop: strategy + executor + run store, crash-safe and resumable.

Resume works by replay. A strategy is deterministic given the run seed and the
outcomes it is told, so the runner always starts a fresh strategy and, for each
candidate it asks for, first looks in the store: a stored individual (same key
and same genotype) is told back without training; only missing ones go to the
executor. An interrupted run therefore ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neronet.config import NeroConfig
from neronet.errors import GrammarError, InvalidArchitecture, StoreError
from neronet.evaluation.result import Outcome
from neronet.execution.base import EvalRequest, Executor, make_executor
from neronet.genotype import Structure
from neronet.grammar import Grammar
from neronet.phenotype import check_decodable
from neronet.plugins import check_plugins
from neronet.progress import Reporter
from neronet.search import replay
from neronet.search.base import Candidate, GenerationSummary, Strategy
from neronet.search.dedup import BatchDedup, cache_key
from neronet.search.health import OTHER_ADVICE, SEED_ADVICE, dead_generation_note
from neronet.search.memo import EvaluationMemo, memo_key, seed_memo
from neronet.search.recording import record_cache_hit, record_evaluated, record_undecodable
from neronet.search.resume import check_resumable, resume_changes
from neronet.search.strategies import make_strategy
from neronet.search.warm import warm_start_state
from neronet.spec import LearningSpec, NetworkSpec
from neronet.store import GenerationRow, IndividualRow, RunStore
from neronet.store.keep import prune
from neronet.transfer.run import (
    META_KEY,
    check_transfer_set,
    ensure_transfer_set,
    workers_config,
)
from neronet.versions import package_versions


def individual_seed(run_seed: int, individual_id: int) -> int:
    """Per-individual training seed derived from the run seed alone."""
    return int(np.random.SeedSequence([run_seed, individual_id]).generate_state(1)[0])


SPLITS_SEED = "splits_seed"
"""Run meta: the seed its train / control / fitness splits were drawn from (its own)."""


def check_own_splits(store: RunStore, path: Path) -> None:
    """Refuse to resume a study's run begun before runs drew their own splits (neronet
    0.2 searched every run of a study on the study seed's): continuing it on its own
    would mix two splits in one search."""
    from neronet.search.study import is_study  # here: the study module imports this one

    began_on_study_splits = store.meta(SPLITS_SEED) is None and is_study(path.parent)
    if began_on_study_splits and store.count_individuals():
        raise StoreError(
            f"{path} began on its study's splits (neronet 0.2 searched every run of a study "
            "on the study seed's, this version on each run's own): finish it with the "
            "version that began it, or start the study anew"
        )


SEARCH_POOL = "search_pool"
"""Run meta, set when a run begins (or is found to be unaffected when it searches again):
its splits leave out the images ``posttrain.holdout`` holds out of a dataset that ships no
test split (:func:`neronet.execution.worker.search_pool`). Runs begun before drew them from
every training image (a finished one is still read, reported and retrained on those)."""
HOLDOUT_LEFT_OUT = "posttrain.holdout left out"


def left_holdout_out(run_dir: str | Path) -> bool:
    """Whether the run in ``run_dir`` drew its splits without the held-out images
    (:data:`SEARCH_POOL`): every run begun by this version."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        return store.meta(SEARCH_POOL) is not None
    finally:
        store.close()


def check_search_pool(store: RunStore, config: NeroConfig) -> None:
    """Refuse to search on in a run that drew its splits from every training image of a
    dataset without a test split, held-out ones included: this version draws them from
    the rest, so continuing it would mix two splits in one search. Loads the dataset
    once, for a run begun before this version; on a dataset with a test split nothing
    changed."""
    if store.meta(SEARCH_POOL) is not None:
        return
    # the dataset is loaded for such an old run alone, and only if it has begun
    if store.count_individuals() and config.data.load().test is None:
        raise StoreError(
            f"{store.directory} drew its search splits from all of {config.data.dataset}'s "
            "training images, the held-out test images included (this version leaves "
            "posttrain.holdout out of them): finish it with the version that began it, or "
            "start it anew"
        )
    store.set_meta(SEARCH_POOL, HOLDOUT_LEFT_OUT)


@dataclass
class SearchRun:
    """One search: a config, its grammar, a run directory and an executor."""

    config: NeroConfig
    grammar_text: str
    grammar_name: str
    store: RunStore
    strategy: Strategy
    reporter: Reporter
    memo: EvaluationMemo | None = None
    """The evaluation memo the run shares with others (``store.memo``), if any."""

    # ------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        config: NeroConfig,
        grammar_text: str,
        grammar_name: str,
        run_dir: str | Path,
        *,
        reporter: Reporter | None = None,
        allow_changed: bool = False,
    ) -> SearchRun:
        """Create the run directory, or reopen it to resume (refusing silent changes)."""
        check_plugins(config)
        grammar = Grammar.parse(grammar_text, source=grammar_name)
        structure = Structure.from_config(config.structure, grammar)
        check_decodable(structure)  # grammar mistakes fail before the run directory exists
        strategy = make_strategy(config, structure)  # fails early, e.g. on a bad seed
        path = Path(run_dir)
        workers = workers_config(config, path)
        transfer_sha = check_transfer_set(workers, path)  # before the run database exists
        if (path / "run.sqlite").exists():
            store = RunStore.open(path)
            store.sweep()  # files a kill left behind, before anything new is written
            changed = resume_changes(store, config, grammar_text)
            # the refusals first: --allow-changed below rewrites the stored config
            check_own_splits(store, path)
            if changed or not store.meta("finished", False):  # it will search again
                check_search_pool(store, config)
            check_resumable(store, config, grammar_text, changed, allow_changed)
            store.log_event(
                "resume", f"resumed with {store.count_individuals()} individuals stored"
            )
        else:
            store = RunStore.create(
                path,
                {
                    "config": config.model_dump(mode="json"),
                    "grammar": grammar_text,
                    "grammar_name": grammar_name,
                    "seed": config.seed,
                    SPLITS_SEED: config.seed,
                    SEARCH_POOL: HOLDOUT_LEFT_OUT,
                    "versions": package_versions(),
                    "started_at": time.time(),
                    "finished": False,
                },
            )
            store.log_event("start", f"new run, seed {config.seed}")
        reporter = reporter or Reporter.quiet()
        ensure_transfer_set(workers, store, transfer_sha, reporter.console)
        memo = (
            None if config.store.memo is None else seed_memo(Path(config.store.memo), config.seed)
        )
        return cls(workers, grammar_text, grammar_name, store, strategy, reporter, memo)

    # -------------------------------------------------------------- running
    def run(self, executor: Executor | None = None) -> None:
        """Run (or finish) the search; safe to kill at any point and open it again.

        The strategy starts fresh at :meth:`open`: outcomes already stored are
        replayed into it, so call ``run`` once per opened SearchRun.
        """
        strategy = self.strategy
        own = executor is None
        executor = executor or make_executor(self.config)
        try:
            splits = self.config.splits_identity
            if executor.data_splits not in (None, splits):
                raise ValueError(
                    f"the executor evaluates on the splits of {executor.data_splits}, this run "
                    f"draws its own by {splits}: make one from the run's config"
                )
            input_shape, num_classes = executor.describe()
            self._check_threads(executor.threads)
            self.reporter.start(
                strategy.planned,
                self.config.search.generations,
                self.store.directory,
                self.config.evaluation.measurements,
            )
            while not strategy.finished:
                batch = strategy.ask()
                outcomes = self._evaluate(strategy, batch, executor, input_shape, num_classes)
                summary = strategy.tell(outcomes)
                if summary is not None:
                    self._finish_generation(strategy, summary)
            if not self.store.meta("finished", False):  # a no-op resume keeps the record
                self.store.set_meta("finished", True)
                self.store.set_meta("finished_at", time.time())
                self.store.log_event("finish", "search finished")
            self.reporter.finish(self.store)
        finally:
            if own:
                executor.close()
            self.reporter.stop()

    def _evaluate(
        self,
        strategy: Strategy,
        batch: Sequence[Candidate],
        executor: Executor,
        input_shape: tuple[int, int, int],
        num_classes: int,
    ) -> list[Outcome]:
        rows: dict[int, IndividualRow] = {}
        requests: dict[str, tuple[Candidate, EvalRequest]] = {}
        dedup = BatchDedup(self.store, enabled=not self.config.search.reevaluate_duplicates)
        for cand in batch:
            row = replay.stored(self.store, cand)
            if row is not None:
                rows[cand.id] = row
                self.reporter.replayed(row)
                continue
            try:
                spec, learning = cand.genotype.decode(input_shape, num_classes)
            except (GrammarError, InvalidArchitecture) as err:
                # a production the start-up check never drew; a RAS model whose shapes fail
                rows[cand.id] = record_undecodable(self.store, strategy, cand, str(err))
                self.reporter.evaluated(rows[cand.id])
                continue
            cached = dedup.earlier(cand, cache_key(spec.digest(), learning.digest(), cand))
            if cached is not None:
                rows[cand.id] = record_cache_hit(self.store, strategy, cand, cached)
                self.reporter.evaluated(rows[cand.id], cached=True)
                continue
            if dedup.waits(cand):
                continue
            request = self._request(cand, spec, learning)
            key = self._memo_key(request, executor.threads)
            reused = self.memo.find(key) if self.memo and key else None
            if reused is not None:
                rows[cand.id] = record_evaluated(self.store, strategy, cand, request, reused)
                self.store.log_event("memo", f"{cand.key} (id {cand.id}) reuses memo {key}")
                self.reporter.evaluated(rows[cand.id])
                continue
            requests[cand.key] = (cand, request, key)
        if requests:
            self.reporter.batch(strategy, [c for c, _, _ in requests.values()])
            jobs = [r for _, r, _ in requests.values()]
            for request, evaluation in executor.evaluate(jobs, self.reporter.progress):
                cand, _, key = requests[request.key]
                rows[cand.id] = record_evaluated(self.store, strategy, cand, request, evaluation)
                if self.memo and key:
                    self.memo.add(key, evaluation)
                self.reporter.evaluated(rows[cand.id])
        for cand, key in dedup.twins:
            prior = self.store.individual_by_key(key)
            assert prior is not None, f"{key} was evaluated in this batch"
            rows[cand.id] = record_cache_hit(self.store, strategy, cand, prior)
            self.reporter.evaluated(rows[cand.id], cached=True)
        return [rows[c.id].outcome() for c in batch]

    def _memo_key(self, request: EvalRequest, threads: int) -> str | None:
        """``request``'s memo key, or None without a memo or where it cannot be reused."""
        if self.memo is None:
            return None
        return memo_key(self.config, request, threads, self.store.meta(META_KEY))

    def _check_threads(self, threads: int) -> None:
        """Record the torch thread count the run trains with; warn when a resume uses
        another (CPU float reductions depend on it, so the search may take other turns)."""
        stored = self.store.meta("torch_threads")
        if stored is None:
            self.store.set_meta("torch_threads", threads)
        elif stored != threads:
            note = (
                f"this run was searched with {stored} torch thread(s), this resume uses "
                f"{threads}: on the CPU the results (and so the search) may differ from an "
                f"uninterrupted run; set executor.threads={stored} to match"
            )
            self.store.log_event("threads-changed", note)
            self.reporter.warning(note)

    def _request(self, cand: Candidate, spec: NetworkSpec, learning: LearningSpec) -> EvalRequest:
        warm = warm_start_state(self.store, cand.warm_start_from)
        budget = cand.budget
        if cand.warm_start_from is not None and warm is None:
            # e.g. a cache hit whose source's state was pruned, or a damaged state
            # file: train from scratch for the whole time, not only the extra seconds
            budget = float(cand.genotype.train_time)
            self.store.log_event(
                "warm-start-missing",
                f"{cand.key}: no readable state of id {cand.warm_start_from}; full training",
            )
        return EvalRequest(
            key=cand.key,
            spec=spec,
            learning=learning,
            budget=budget,
            seed=individual_seed(self.config.seed, cand.id),
            warm_start=warm,
        )

    def _finish_generation(self, strategy: Strategy, summary: GenerationSummary) -> None:
        known = {g.generation for g in self.store.generations()}
        if summary.generation < max(known, default=-1):
            return  # replaying history: later generations' files must stay as they are
        if summary.generation not in known:
            self.store.add_generation(
                GenerationRow(
                    generation=summary.generation,
                    elites=summary.elites,
                    best_fitness=summary.best_fitness,
                    mean_fitness=summary.mean_fitness,
                    info=summary.info,
                    finished_at=time.time(),
                )
            )
            if summary.info.get("switched"):
                self.store.log_event(
                    "objective-switch",
                    f"generation {summary.generation}: mean fitness {summary.mean_fitness:.4f}; "
                    f"fitness is now: {strategy.objective.describe()}",
                )
            self.reporter.generation(summary, strategy)
            search = self.config.search
            random_seed = search.initial == "seed" and search.seed_learning == "random"
            note = dead_generation_note(
                summary.generation,
                self.store.individuals(summary.generation),
                SEED_ADVICE if random_seed else OTHER_ADVICE,
            )
            if note is not None:
                self.store.log_event("dead-generation", note)
                self.reporter.warning(note)
        prune(
            self.store,
            summary.generation,
            summary.elites,
            strategy.best_first,
            self.config.store.keep_best,
            summary.breeders,
        )
