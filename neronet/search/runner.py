"""The search loop: strategy + executor + run store, crash-safe and resumable.

Resume works by replay. A strategy is deterministic given the run seed and the
outcomes it is told, so the runner always starts a fresh strategy and, for each
candidate it asks for, first looks in the store: a stored individual (same key
and same genotype) is told back without training; only missing ones go to the
executor. An interrupted run therefore ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from neronet import __version__
from neronet.config import NeroConfig, parse_config
from neronet.errors import GrammarError, StoreError
from neronet.evaluation.result import Evaluation, Outcome
from neronet.execution.base import EvalRequest, Executor, make_executor
from neronet.genotype import Structure
from neronet.grammar import Grammar
from neronet.phenotype import check_decodable, to_learning, to_spec
from neronet.progress import Reporter
from neronet.search import replay
from neronet.search.base import Candidate, GenerationSummary, Strategy
from neronet.search.dedup import BatchDedup, cache_key
from neronet.search.strategies import make_strategy
from neronet.search.warm import warm_start_state
from neronet.spec import LearningSpec, NetworkSpec
from neronet.store import GenerationRow, IndividualRow, RunStore
from neronet.store.keep import prune

COPIED = ("status", "reason", "metrics", "epochs", "train_seconds", "history")
"""Fields of a stored row that a cache hit copies from the row it reuses."""


def package_versions() -> dict[str, str]:
    """Versions recorded with every run, for reproducibility."""
    versions = {
        "neronet": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for name in ("torch", "numpy", "pydantic", "safetensors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def individual_seed(run_seed: int, individual_id: int) -> int:
    """Per-individual training seed derived from the run seed alone."""
    return int(np.random.SeedSequence([run_seed, individual_id]).generate_state(1)[0])


@dataclass
class SearchRun:
    """One search: a config, its grammar, a run directory and an executor."""

    config: NeroConfig
    grammar_text: str
    grammar_name: str
    store: RunStore
    strategy: Strategy
    reporter: Reporter

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
        grammar = Grammar.parse(grammar_text, source=grammar_name)
        structure = Structure.from_config(config.structure, grammar)
        check_decodable(structure)  # grammar mistakes fail before the run directory exists
        strategy = make_strategy(config, structure)  # fails early, e.g. on a bad seed
        path = Path(run_dir)
        if (path / "run.sqlite").exists():
            store = RunStore.open(path)
            cls._check_resumable(store, config, grammar_text, allow_changed)
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
                    "versions": package_versions(),
                    "started_at": time.time(),
                    "finished": False,
                },
            )
            store.log_event("start", f"new run, seed {config.seed}")
        return cls(
            config, grammar_text, grammar_name, store, strategy, reporter or Reporter.quiet()
        )

    @staticmethod
    def _check_resumable(
        store: RunStore, config: NeroConfig, grammar_text: str, allow_changed: bool
    ) -> None:
        changed = []
        if store.meta("grammar") != grammar_text:
            changed.append("the grammar")
        # the stored config under today's schema: settings added since it was written
        # take their defaults, which reproduce what the older release did
        stored = parse_config(store.meta("config"), "the run's stored config").search_relevant()
        stored = json.loads(json.dumps(stored))
        current = json.loads(json.dumps(config.search_relevant()))
        if stored != current:
            keys = sorted(_diff_keys(stored, current))
            changed.append("config keys " + ", ".join(keys[:5]))
        if not changed:
            return
        what = " and ".join(changed)
        if not allow_changed:
            raise StoreError(
                f"cannot resume '{store.directory}': {what} changed since the run started; "
                "restore them or pass --allow-changed to continue anyway"
            )
        store.log_event("resume-changed", f"resumed although {what} changed (--allow-changed)")
        # From now on the run is the changed one: status, resume checks and reports see it.
        store.set_meta("config", config.model_dump(mode="json"))
        store.set_meta("grammar", grammar_text)
        store.set_meta("finished", False)

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
            input_shape, num_classes = executor.describe()
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
                spec = to_spec(cand.genotype, input_shape=input_shape, num_classes=num_classes)
                learning = to_learning(cand.genotype)
            except GrammarError as err:  # a production the start-up check never drew
                rows[cand.id] = self._add(strategy, cand, _undecodable(str(err)))
                self.reporter.evaluated(rows[cand.id])
                continue
            cached = dedup.earlier(cand, cache_key(spec.digest(), learning.digest(), cand))
            if cached is not None:
                rows[cand.id] = self._add_cache_hit(strategy, cand, cached)
                continue
            if dedup.waits(cand):
                continue
            requests[cand.key] = (cand, self._request(cand, spec, learning))
        if requests:
            self.reporter.batch(strategy, [c for c, _ in requests.values()])
            jobs = [r for _, r in requests.values()]
            for request, evaluation in executor.evaluate(jobs, self.reporter.progress):
                cand = requests[request.key][0]
                rows[cand.id] = self._add_evaluated(strategy, cand, request, evaluation)
                self.reporter.evaluated(rows[cand.id])
        for cand, key in dedup.twins:
            prior = self.store.individual_by_key(key)
            assert prior is not None, f"{key} was evaluated in this batch"
            rows[cand.id] = self._add_cache_hit(strategy, cand, prior)
        return [rows[c.id].outcome() for c in batch]

    def _request(self, cand: Candidate, spec: NetworkSpec, learning: LearningSpec) -> EvalRequest:
        warm = warm_start_state(self.store, cand.warm_start_from)
        budget = cand.budget_s
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
            budget_s=budget,
            seed=individual_seed(self.config.seed, cand.id),
            warm_start=warm,
        )

    def _add(self, strategy: Strategy, cand: Candidate, fields: dict[str, Any]) -> IndividualRow:
        """Commit ``cand``'s row (``fields`` from the evaluation) with its fitness."""
        row = {
            "id": cand.id,
            "key": cand.key,
            "generation": cand.generation,
            "parent_id": cand.parent_id,
            "mutations": list(cand.mutations),
            "genotype": cand.genotype.to_json(),
            "train_time": float(cand.genotype.train_time),
            "warm_start_from": cand.warm_start_from,
            **fields,
        }
        outcome = Outcome(cand.id, row["status"], row["metrics"])
        row["fitness"] = strategy.fitness(outcome)
        self.store.add_individual(row)
        return self.store.individual(cand.id)

    def _add_evaluated(
        self, strategy: Strategy, cand: Candidate, request: EvalRequest, ev: Evaluation
    ) -> IndividualRow:
        weights = state = None
        if ev.weights is not None:  # ill-fitted networks are trained too: keep them inspectable
            weights = self.store.save_blob(self.store.weights_file(cand.id), ev.weights)
        if ev.status == "ok" and ev.train_state is not None:
            state = self.store.save_blob(self.store.state_file(cand.id), ev.train_state)
        record = ev.to_record()
        record.update(
            spec=request.spec.to_dict(),
            learning=request.learning.to_dict(),
            budget_s=request.budget_s,
            seed=request.seed,
        )
        return self._add(
            strategy,
            cand,
            {
                "status": ev.status,
                "reason": ev.reason,
                "metrics": record["metrics"],
                "epochs": ev.epochs,
                "train_seconds": ev.train_seconds,
                "history": record["history"],
                "warm_start_from": cand.warm_start_from if request.warm_start else None,
                "spec_hash": request.spec.digest(),
                "learning_hash": request.learning.digest(),
                "record": record,
                "cache_of": None,
                "weights_path": weights,
                "state_path": state,
            },
        )

    def _add_cache_hit(
        self, strategy: Strategy, cand: Candidate, prior: IndividualRow
    ) -> IndividualRow:
        fields = {name: getattr(prior, name) for name in COPIED}
        fields.update(
            spec_hash=prior.spec_hash,
            learning_hash=prior.learning_hash,
            epochs=0,  # nothing was trained for this row
            train_seconds=0.0,
            record={**prior.record, "cache_hit": True},
            cache_of=prior.id,
            weights_path=None,
            state_path=None,
        )
        row = self._add(strategy, cand, fields)
        self.store.log_event("cache-hit", f"{cand.key} (id {cand.id}) reuses id {prior.id}")
        self.reporter.evaluated(row, cached=True)
        return row

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
        prune(
            self.store,
            summary.generation,
            summary.elites,
            strategy.best_first,
            self.config.store.keep_best,
        )


def _undecodable(reason: str) -> dict[str, Any]:
    """The row of an individual whose genotype does not decode: invalid, never trained."""
    return {
        "status": "invalid",
        "reason": f"does not decode: {reason}",
        "metrics": {},
        "epochs": 0,
        "train_seconds": None,
        "history": [],
        "spec_hash": None,
        "learning_hash": None,
        "record": {},
        "cache_of": None,
        "weights_path": None,
        "state_path": None,
    }


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like trees."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(root)"]
