"""RAS's search (Kotyan & Vargas): niching over representatives by spectrum.

Generation 0 evaluates ``ras.initial_models`` random models; each becomes the
representative of a cluster. Every later generation gives each representative,
in cluster order, ``ras.children`` children of ``ras.mutations`` random
mutations each (:func:`neronet.ras.mutate`), evaluates them all, and then lets
each child, taken in the order they were asked in, challenge the representative
closest to it by spectrum: it replaces that representative when it is ``ok`` and
strictly fitter under the objective (ties keep the representative; invalid and
ill-fitted children never replace). An invalid initial model or child (one that
cannot be built: too many parameters, ...) is drawn again, up to ``ras.redraws``
times, in a further batch of the same generation under a key ``<slot>-<n>``, as
the authors' code retries until a model trains; the redraw takes the slot's
place in the order. Ill-fitted ones are trained models with fitness 0 and stay.
Distances use :func:`neronet.ras.closest`: spectra scaled by their standard
deviation over the child and the CURRENT representatives, i.e. after the
replacements of children earlier in the order. So two children nearest one
representative both work: the second is compared with whichever of the old
representative and the first child holds the cluster by then.

After a generation, layers and blocks that no representative uses are pruned
from the shared populations (children that lost are gone with them).

Training data follows the paper's schedule: generation ``g`` trains on the full
training split when ``g % ras.full_training_period == 0`` (generation 0
included) and on ``ras.train_subset`` images otherwise; the subset is part of
the candidate's LearningSpec, so its digest (and the evaluation cache key)
differs between the two. Fitness is the configured objective's, recomputed
under its current state at every comparison, as the (1+lambda) does.

Like with like (``ras.rescore``, default on): a generation whose regime differs
from the one a representative was scored under (the first subset generation
after a full one, and back) first trains that representative again under the
generation's regime (key ``g<g>/r<cluster>``, mutations ``rescore``, never served
from the cache), and its children meet that score. Without it a subset-trained
child meets a fully trained representative and almost never wins, which froze
the search between full generations (docs/METHOD.md has the measurement).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from neronet.config import NeroConfig
from neronet.evaluation.objectives import Objective
from neronet.genotype import Structure
from neronet.ras import (
    Model,
    RasGenotype,
    RasPopulation,
    closest,
    initial_population,
    mutate,
    sizes_of,
)
from neronet.search.base import Candidate, GenerationSummary, Member, Strategy
from neronet.search.ras_settings import RasConfig
from neronet.search.strategies import STRATEGIES
from neronet.spec import LearningSpec

RESCORE = "rescore"
"""The mutations entry of a representative trained again under a new regime."""


@dataclass(frozen=True, eq=False)
class _Member(Member):
    """An evaluated candidate with its model (ids into the shared population)."""

    model: Model

    @property
    def genome(self) -> RasGenotype:
        genotype = self.candidate.genotype
        assert isinstance(genotype, RasGenotype)
        return genotype


@STRATEGIES.register("ras")
class RasNiching(Strategy):
    """RAS's niching search, deterministic given the seed and the outcomes told.

    RAS genomes only: its clusters share RAS's layer and block populations, which it
    mutates and prunes itself (the ``ras`` encoding's variation is for the other
    strategies). ``structure`` is ignored: RAS evolves its own representation.
    """

    salt = 0x5A5
    encodings = ("ras",)
    default_encoding = "ras"

    def __init__(self, config: NeroConfig, structure: Structure, objective: Objective) -> None:
        super().__init__(config, structure, objective)
        self._ras = RasConfig.of(config.sections)
        self._train_time = config.search.default_train_time
        self._population, self._initial_models = initial_population(
            self._rng,
            self._ras.initial_models,
            self._ras.blocks_per_model,
            self._ras.layers_per_block,
        )
        # The caps restrict growth beyond where the search started: the paper's own
        # initial population (about 300 layers at its sizes) would exceed its cap of 100.
        layers, blocks = sizes_of(self._population)
        self.caps = (max(self._ras.layer_cap, layers), max(self._ras.block_cap, blocks))
        self._models: dict[int, Model] = {}  # pending candidate id -> its model
        self._representatives: list[_Member] = []
        self._rescoring: dict[int, int] = {}  # candidate id -> the cluster it re-scores
        # The generation so far: every member told (redrawn invalid ones included), and
        # each slot's latest attempt, in the order the slots were asked.
        self._told: list[_Member] = []
        self._slots: dict[str, _Member] = {}
        self._sizes = sizes_of(self._population)

    # ------------------------------------------------------------------ state
    @property
    def planned(self) -> int:
        models = self._ras.initial_models
        generations = self._search.generations
        switches = sum(self._switches(g) for g in range(1, generations))
        return models + (generations - 1) * models * self._ras.children + switches * models

    def _switches(self, generation: int) -> bool:
        """Whether ``generation`` re-scores every representative (its regime is new)."""
        return self._ras.rescore and self.learning(generation) != self.learning(generation - 1)

    @property
    def representatives(self) -> list[_Member]:
        """The clusters' representatives, in cluster order (for tests and reports)."""
        return list(self._representatives)

    @property
    def population(self) -> RasPopulation:
        """The shared layer and block populations (pruned after every generation)."""
        return self._population

    def learning(self, generation: int) -> LearningSpec:
        """The training recipe of ``generation``'s candidates: full split or subset."""
        full = generation % self._ras.full_training_period == 0
        return replace(
            self._ras.training.learning(), train_subset=None if full else self._ras.train_subset
        )

    # -------------------------------------------------------------------- ask
    def _propose(self) -> list[Candidate]:
        if self._generation == 0:
            return self._initial_batch()
        return self._rescores() + self._children()

    def _ras_candidate(
        self,
        key: str,
        model: Model,
        parent: Member | None,
        names: list[str],
        cacheable: bool = True,
    ) -> Candidate:
        learning = self.learning(self._generation)
        ras = self._ras
        genotype = RasGenotype.resolve(
            model, self._population, self._train_time, learning, ras.dense, ras.head
        )
        candidate = self._candidate(key, genotype, parent, names, cacheable=cacheable)
        self._models[candidate.id] = model
        return candidate

    def _initial_batch(self) -> list[Candidate]:
        return [
            self._ras_candidate(f"i{slot}", m, None, [])
            for slot, m in enumerate(self._initial_models)
        ]

    def _rescores(self) -> list[Candidate]:
        """Representatives scored under another regime, trained again under this one."""
        out = []
        learning = self.learning(self._generation)
        for cluster, rep in enumerate(self._representatives):
            if self._ras.rescore and rep.genome.learning != learning:
                cand = self._ras_candidate(
                    f"r{cluster}", rep.model, rep, [RESCORE], cacheable=False
                )
                self._rescoring[cand.id] = cluster
                out.append(cand)
        return out

    def _children(self) -> list[Candidate]:
        self._sizes = sizes_of(self._population)  # the caps see the generation's population
        return [
            self._child(f"c{cluster}.{slot}", parent)
            for cluster, parent in enumerate(self._representatives)
            for slot in range(self._ras.children)
        ]

    def _child(self, key: str, parent: _Member) -> Candidate:
        child, names = mutate(
            parent.model,
            self._population,
            self._rng,
            self._ras.mutations,
            layer_cap=self.caps[0],
            block_cap=self.caps[1],
            sizes=self._sizes,
        )
        return self._ras_candidate(key, child, parent, names)

    def _redraw(self, member: _Member) -> Candidate | None:
        """Another attempt at an invalid member's slot (a new random model, or the same
        parent mutated again), as the authors' code retries; None once the slot has had
        ``ras.redraws`` redraws, or for a re-scored representative."""
        if member.candidate.id in self._rescoring:
            return None
        slot, _, tries = member.candidate.key.split("/")[1].partition("-")
        attempt = int(tries or 0) + 1
        if attempt > self._ras.redraws:
            return None
        key = f"{slot}-{attempt}"
        if member.candidate.parent_id is None:
            model = self._population.random_model(
                self._rng, self._ras.blocks_per_model, self._ras.layers_per_block
            )
            return self._ras_candidate(key, model, None, [])
        parent = next(
            r for r in self._representatives if r.candidate.id == member.candidate.parent_id
        )
        return self._child(key, parent)

    # ------------------------------------------------------------------- tell
    def _select(self, batch: list[Member]) -> GenerationSummary | None:
        """Invalid members are redrawn in a further batch of the same generation (None is
        returned); the generation is decided once no slot is waiting for a redraw."""
        told = [_Member(m.candidate, m.outcome, self._models.pop(m.id)) for m in batch]
        self._told.extend(told)
        for member in told:
            self._slots[member.candidate.key.partition("-")[0]] = member
        redraws = [self._redraw(m) for m in told if m.outcome.status == "invalid"]
        self._pending = [cand for cand in redraws if cand is not None]
        if self._pending:
            return None
        latest = list(self._slots.values())
        if self._generation == 0:
            self._representatives = latest
            replacements = 0
        else:
            for member in latest:  # re-scored representatives first: children meet them
                if member.candidate.id in self._rescoring:
                    self._representatives[self._rescoring[member.candidate.id]] = member
            replacements = self._niche([m for m in latest if m.candidate.id not in self._rescoring])
        redrawn = sum("-" in m.candidate.key for m in self._told)
        summary = self._finish_generation(
            self._told, replacements, {"rescored": len(self._rescoring), "redrawn": redrawn}
        )
        self._rescoring, self._told, self._slots = {}, [], {}
        return summary

    def _fitter(self, child: Member, representative: Member) -> bool:
        """Whether ``child`` takes the cluster: valid and strictly fitter (ties keep it)."""
        if child.outcome.status != "ok":
            return False
        return float(self.fitness(child.outcome)) > float(self.fitness(representative.outcome))

    def _niche(self, children: list[_Member]) -> int:
        """Each child, in the order its slot was asked, against its closest current
        representative; returns how many replacements happened."""
        replacements = 0
        spectra = [r.genome.spectrum() for r in self._representatives]
        for child in children:
            spectrum = child.genome.spectrum()
            cluster = closest(spectrum, spectra)
            if self._fitter(child, self._representatives[cluster]):
                self._representatives[cluster] = child
                spectra[cluster] = spectrum  # the next child meets the cluster as it is now
                replacements += 1
        return replacements

    def _finish_generation(
        self, batch: list[_Member], replacements: int, extra: dict[str, int]
    ) -> GenerationSummary:
        representatives = self._representatives
        self._population.prune(r.model for r in representatives)
        elites = self.best_first([r.outcome for r in representatives])
        fitness = {m.candidate.id: self.fitness(m.outcome) for m in [*batch, *representatives]}
        members = [m.candidate.id for m in batch]
        best, mean = self.objective.summary(
            [fitness[i] for i in elites], [fitness[i] for i in members]
        )
        info = {
            "replacements": replacements,
            **extra,
            "train_subset": self.learning(self._generation).train_subset,
            "representatives": [r.candidate.id for r in representatives],
            "spectra": [list(r.genome.spectrum()) for r in representatives],
            "layers": len(self._population.layers),
            "blocks": len(self._population.blocks),
            # after scoring: the objective may switch state (NERO-Net's warm-up)
            **self.objective.end_generation([fitness[i] for i in members]),
        }
        return GenerationSummary(
            generation=self._generation,
            elites=tuple(elites),
            best_fitness=best,
            mean_fitness=mean,
            info=info,
            members=tuple(members + [i for i in elites if i not in members]),
        )
