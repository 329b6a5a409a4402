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
from neronet.config import NeroConfig
from neronet.errors import GrammarError, StoreError
from neronet.evaluator import Evaluation
from neronet.execution.base import EvalRequest, Executor, make_executor
from neronet.genotype import Structure
from neronet.grammar import Grammar
from neronet.phenotype import check_decodable, to_learning, to_spec
from neronet.progress import Reporter
from neronet.search import make_strategy
from neronet.search.base import Candidate, GenerationSummary, Outcome, Strategy
from neronet.store import GenerationRow, IndividualRow, RunStore
from neronet.train.search import TrainState

MEASURED = (
    "status",
    "reason",
    "clean_accuracy",
    "adversarial_accuracy",
    "overall_adversarial_accuracy",
    "parameters",
    "epochs",
    "train_seconds",
    "attack_seconds",
    "history",
)
"""Columns of an individual that an Evaluation (and a stored row) carry under the same name."""


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


def _outcome(row: IndividualRow) -> Outcome:
    return Outcome(
        id=row.id,
        status=row.status,
        clean_accuracy=row.clean_accuracy or 0.0,
        adversarial_accuracy=row.adversarial_accuracy or 0.0,
    )


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
                    "search_config": config.search_relevant(),
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
        stored = store.meta("search_config")
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
        store.set_meta("search_config", config.search_relevant())
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
            total = (
                self.config.search.initial_size
                + (self.config.search.generations - 1) * self.config.search.offspring
            )
            self.reporter.start(total, self.config.search.generations, self.store.directory)
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
        outcomes: dict[int, Outcome] = {}
        requests: dict[str, tuple[Candidate, EvalRequest]] = {}
        twins: list[tuple[Candidate, str]] = []  # duplicates of an earlier candidate in the batch
        first_of: dict[tuple[str, str, float], str] = {}
        for cand in batch:
            stored = self.store.individual_by_key(cand.key)
            if stored is not None:
                if stored.genotype != cand.genotype.to_json() or stored.id != cand.id:
                    raise StoreError(
                        f"stored individual {cand.key} differs from the one the search "
                        "regenerates: the code, config or grammar changed the search's history; "
                        "resume with what started the run (only changes such as more "
                        "search.generations keep the history)"
                    )
                outcomes[cand.id] = _outcome(stored)
                self.reporter.replayed(stored)
                continue
            try:
                spec = to_spec(cand.genotype, input_shape=input_shape, num_classes=num_classes)
                learning = to_learning(cand.genotype)
            except GrammarError as err:  # a production the start-up check never drew
                row = self._record_undecodable(strategy, cand, str(err))
                outcomes[cand.id] = _outcome(row)
                self.reporter.evaluated(row)
                continue
            if cand.warm_start_from is None and not self.config.search.reevaluate_duplicates:
                same = (spec.digest(), learning.digest(), float(cand.genotype.train_time))
                cached = self.store.find_evaluated(*same, cand.id)
                if cached is not None:
                    row = self._record_cache_hit(strategy, cand, cached)
                    outcomes[cand.id] = _outcome(row)
                    self.reporter.evaluated(row, cached=True)
                    continue
                if same in first_of:
                    twins.append((cand, first_of[same]))
                    continue
                first_of[same] = cand.key
            warm = self._warm_start(cand.warm_start_from)
            budget = cand.budget_s
            if cand.warm_start_from is not None and warm is None:
                # e.g. a cache hit whose source's state was pruned, or a damaged state
                # file: train from scratch for the whole time, not only the extra seconds
                budget = float(cand.genotype.train_time)
                self.store.log_event(
                    "warm-start-missing",
                    f"{cand.key}: no readable state of id {cand.warm_start_from}; full training",
                )
            request = EvalRequest(
                key=cand.key,
                spec=spec,
                learning=learning,
                budget_s=budget,
                seed=individual_seed(self.config.seed, cand.id),
                warmup=strategy.warmup,
                warm_start=warm,
            )
            requests[cand.key] = (cand, request)
        if requests:
            self.reporter.batch(strategy, [c for c, _ in requests.values()])
            jobs = [r for _, r in requests.values()]
            for request, evaluation in executor.evaluate(jobs, self.reporter.progress):
                cand = requests[request.key][0]
                row = self._record(strategy, cand, request, evaluation)
                outcomes[cand.id] = _outcome(row)
                self.reporter.evaluated(row)
        for cand, key in twins:
            prior = self.store.individual_by_key(key)
            assert prior is not None, f"{key} was evaluated in this batch"
            row = self._record_cache_hit(strategy, cand, prior)
            outcomes[cand.id] = _outcome(row)
            self.reporter.evaluated(row, cached=True)
        return [outcomes[c.id] for c in batch]

    def _warm_start(self, individual_id: int | None) -> bytes | None:
        """The stored training state a train-longer child continues from."""
        if individual_id is None:
            return None
        row = self.store.individual(individual_id)
        if row.cache_of is not None:
            row = self.store.individual(row.cache_of)
        if row.state_path is None:
            return None
        path = self.store.directory / row.state_path
        if not path.is_file():
            return None
        data = path.read_bytes()
        try:
            TrainState.from_bytes(data)  # an unreadable state is treated as a missing one
        except StoreError:
            return None
        return data

    def _base_row(
        self, strategy: Strategy, cand: Candidate, outcome: Outcome, learning_hash: str | None
    ) -> dict[str, Any]:
        return {
            "id": cand.id,
            "key": cand.key,
            "generation": cand.generation,
            "parent_id": cand.parent_id,
            "mutations": list(cand.mutations),
            "genotype": cand.genotype.to_json(),
            "learning_hash": learning_hash,
            "train_time": float(cand.genotype.train_time),
            "warm_start_from": cand.warm_start_from,
            "fitness": strategy.fitness(outcome),
        }

    def _record(
        self, strategy: Strategy, cand: Candidate, request: EvalRequest, ev: Evaluation
    ) -> IndividualRow:
        outcome = Outcome(cand.id, ev.status, ev.clean_accuracy, ev.adversarial_accuracy)
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
            warmup=request.warmup,
        )
        row = self._base_row(strategy, cand, outcome, request.learning.digest())
        row.update({name: getattr(ev, name) for name in MEASURED})
        row.update(
            warm_start_from=cand.warm_start_from if request.warm_start is not None else None,
            spec_hash=request.spec.digest(),
            record=record,
            cache_of=None,
            weights_path=weights,
            state_path=state,
        )
        self.store.add_individual(row)
        return self.store.individual(cand.id)

    def _record_cache_hit(
        self, strategy: Strategy, cand: Candidate, prior: IndividualRow
    ) -> IndividualRow:
        outcome = _outcome(prior)
        row = self._base_row(strategy, cand, outcome, prior.learning_hash)
        row.update({name: getattr(prior, name) for name in MEASURED})
        row.update(
            spec_hash=prior.spec_hash,
            epochs=0,  # nothing was trained for this row
            train_seconds=0.0,
            attack_seconds=0.0,
            record={**prior.record, "cache_hit": True},
            cache_of=prior.id,
            weights_path=None,
            state_path=None,
        )
        self.store.add_individual(row)
        self.store.log_event("cache-hit", f"{cand.key} (id {cand.id}) reuses id {prior.id}")
        return self.store.individual(cand.id)

    def _record_undecodable(
        self, strategy: Strategy, cand: Candidate, reason: str
    ) -> IndividualRow:
        """An individual whose genotype does not decode: invalid, never trained."""
        outcome = Outcome(cand.id, "invalid", 0.0, 0.0)
        row = self._base_row(strategy, cand, outcome, None)
        row.update({name: None for name in MEASURED})
        row.update(
            status="invalid",
            reason=f"does not decode: {reason}",
            epochs=0,
            history=[],
            spec_hash=None,
            record={},
            cache_of=None,
            weights_path=None,
            state_path=None,
        )
        self.store.add_individual(row)
        return self.store.individual(cand.id)

    def _finish_generation(self, strategy: Strategy, summary: GenerationSummary) -> None:
        known = {g.generation for g in self.store.generations()}
        if summary.generation < max(known, default=-1):
            return  # replaying history: later generations' files must stay as they are
        if summary.generation not in known:
            self.store.add_generation(
                GenerationRow(
                    generation=summary.generation,
                    parent_id=summary.parent_id,
                    best_fitness=summary.best_fitness,
                    mean_fitness=summary.mean_fitness,
                    warmup=summary.warmup,
                    switched=summary.switched,
                    finished_at=time.time(),
                )
            )
            if summary.switched:
                self.store.log_event(
                    "warmup-switch",
                    f"generation {summary.generation}: mean fitness {summary.mean_fitness:.4f} >= "
                    f"tau {self.config.fitness.warmup_tau}; fitness is now the weighted HRS",
                )
            self.reporter.generation(summary)
        self.prune(strategy, summary)

    def prune(self, strategy: Strategy, summary: GenerationSummary) -> None:
        """Apply the keep policy once ``summary``'s generation is final: weights of every
        generation's parent and of the best ``store.keep_best`` (ranked under the current
        objective), and only the new parent's training state.

        Rows of later generations (stored before a kill, met again on resume) are left
        alone: an uninterrupted run pruned this generation before they existed.
        """
        store = self.store
        parents = {g.parent_id for g in store.generations()} | {summary.parent_id}
        rows = [r for r in store.individuals() if r.generation <= summary.generation]
        ranked = sorted(
            (r for r in rows if r.status == "ok" and r.cache_of is None),
            key=lambda r: (-strategy.fitness(_outcome(r)), r.id),
        )
        keep_weights = parents | {r.id for r in ranked[: self.config.store.keep_best]}
        keep_weights |= {
            r.cache_of for r in rows if r.id in keep_weights and r.cache_of is not None
        }
        parent_row = store.individual(summary.parent_id)
        keep_state = {parent_row.cache_of if parent_row.cache_of is not None else parent_row.id}
        for r in rows:
            drop_weights = r.weights_path is not None and r.id not in keep_weights
            drop_state = r.state_path is not None and r.id not in keep_state
            if not (drop_weights or drop_state):
                continue
            weights = None if drop_weights else r.weights_path
            state = None if drop_state else r.state_path
            store.set_paths(r.id, weights=weights, state=state)
            for rel in (
                r.weights_path if drop_weights else None,
                r.state_path if drop_state else None,
            ):
                if rel is not None:
                    (store.directory / rel).unlink(missing_ok=True)


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like trees."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(root)"]
