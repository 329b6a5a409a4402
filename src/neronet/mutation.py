"""Variation operators of NERO-Net (Table 1), applied as in Fast-DENSER.

``mutate`` first draws the training-time mutation. If it fires and the parent is
below the cap, the child is the parent with ``default_train_time`` more seconds
and nothing else changes, so it can resume from the parent's weights. If it
fires at the cap it is short-circuited: the time resets to the default and the
other operators apply. Otherwise the child gets the default time (it trains
from scratch) and, per module, as in Fast-DENSER and EvoDENSS:

* add a unit is attempted ``randint(1, 2)`` times, each attempt firing with
  ``add_unit``; a unit so added is a copy of an existing unit of the module
  with probability ``replicate_unit`` (their "reuse" rate), else a fresh random
  one. Replicate is therefore not an operator of its own: firing it
  independently at 35 % grew the seed by about +0.3 units per mutation and
  drove runs towards the module's cap (``bench/mutation_growth.py``);
* remove a unit is attempted ``randint(1, 2)`` times, each firing with
  ``remove_unit``;
* per unit, the grammatical mutation fires with ``dsge_layer`` and, in skip
  modules, add / remove connection with theirs.

The learning unit mutates with ``dsge_learning``. A child identical to its
parent gets one more randomly chosen operator, so offspring always differ.

A grammatical (DSGE) mutation picks uniformly among the derivation's mutation
sites: a non-terminal occurrence with another usable production (switching it
re-derives the subtree below), or one real-valued terminal. Floats move by a
Gaussian, clipped to the range, whose sigma is ``float_sigma`` in the
terminal's own units (Fast-DENSER's default, ``float_sigma_mode: absolute``)
or ``float_sigma * (max - min)`` (``range``); integer and power genes are
redrawn uniformly in their range, as Fast-DENSER redraws integers.

``search.mutation.scheme: neronet-0.1`` keeps the operators of neronet 0.1
(replicate as an operator of its own, one attempt each, integer genes stepped
by one or redrawn to another value): a run made by 0.1 gets it when its store
is migrated, so it resumes with the search it started.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neronet.config import MutationRates
from neronet.genotype import (
    MODULE_INPUT,
    Genotype,
    Structure,
    Unit,
    random_inputs,
    repair_module,
)
from neronet.grammar import Codon, Derivation, Grammar, Number, RealTerminal


def mutate(
    genotype: Genotype,
    structure: Structure,
    rates: MutationRates,
    rng: np.random.Generator,
    *,
    default_train_time: float,
    max_train_time: float,
) -> tuple[Genotype, list[str]]:
    """A mutated copy of ``genotype`` and the names of the operators applied."""
    child = genotype.copy()
    child.structure = structure
    if rng.random() < rates.train_longer and genotype.train_time < max_train_time:
        child.train_time = min(genotype.train_time + default_train_time, max_train_time)
        return child, ["train_longer"]
    child.train_time = default_train_time
    names: list[str] = []
    for m, mod in enumerate(structure.modules):
        if rates.scheme == "fast-denser":
            for _ in range(int(rng.integers(1, 3))):
                if rng.random() < rates.add_unit:
                    names.extend(_grow(child, m, rng, rates.replicate_unit))
            for _ in range(int(rng.integers(1, 3))):
                if rng.random() < rates.remove_unit and remove_unit(child, m, rng):
                    names.append("remove_unit")
        else:  # neronet 0.1: each of add, replicate, remove once, as operators of their own
            for name in ("add_unit", "replicate_unit", "remove_unit"):
                if rng.random() < getattr(rates, name) and _MODULE_OPS[name](child, m, rng):
                    names.append(name)
        for unit_index in range(len(child.modules[m])):
            if rng.random() < rates.dsge_layer and dsge_layer(child, m, unit_index, rng, rates):
                names.append("dsge_layer")
            for name, rate in (
                ("add_connection", rates.add_connection),
                ("remove_connection", rates.remove_connection),
            ):
                if mod.skip and rng.random() < rate and _UNIT_OPS[name](child, m, unit_index, rng):
                    names.append(name)
    if rng.random() < rates.dsge_learning and dsge_learning(child, rng, rates):
        names.append("dsge_learning")
    if child.canonical() == genotype.canonical():
        names.extend(_force_change(child, rng, rates))
    return child, list(dict.fromkeys(names))


# ---------------------------------------------------------------- structure
def add_unit(genotype: Genotype, m: int, rng: np.random.Generator) -> bool:
    """Insert a new random unit at a random position of module ``m`` (below max)."""
    mod = genotype.structure.modules[m]
    if len(genotype.modules[m]) >= mod.max:
        return False
    _insert(genotype, m, genotype.new_unit(mod.name, rng), rng)
    return True


def replicate_unit(genotype: Genotype, m: int, rng: np.random.Generator) -> bool:
    """Insert a copy (own derivation, new id) of a random unit at a random position."""
    units = genotype.modules[m]
    if not units or len(units) >= genotype.structure.modules[m].max:
        return False
    source = units[int(rng.integers(len(units)))]
    _insert(genotype, m, Unit(genotype.take_id(), copy.deepcopy(source.derivation)), rng)
    return True


def _grow(genotype: Genotype, m: int, rng: np.random.Generator, reuse: float) -> list[str]:
    """One fired add: a copy of an existing unit with probability ``reuse``, else a new one.

    Returns the name of the operator that changed the module ([] at its max).
    """
    if genotype.modules[m] and rng.random() < reuse:
        return ["replicate_unit"] if replicate_unit(genotype, m, rng) else []
    return ["add_unit"] if add_unit(genotype, m, rng) else []


def remove_unit(genotype: Genotype, m: int, rng: np.random.Generator) -> bool:
    """Delete a random unit of module ``m`` (above min) and repair the wiring."""
    mod, units = genotype.structure.modules[m], genotype.modules[m]
    if len(units) <= mod.min:
        return False
    gone = units.pop(int(rng.integers(len(units))))
    for unit in units:
        unit.inputs = [i for i in unit.inputs if i != gone.id]
    repair_module(mod, units, rng)
    return True


def _insert(genotype: Genotype, m: int, unit: Unit, rng: np.random.Generator) -> None:
    mod, units = genotype.structure.modules[m], genotype.modules[m]
    position = int(rng.integers(len(units) + 1))
    unit.inputs = random_inputs(mod, units, position, rng)
    units.insert(position, unit)
    repair_module(mod, units, rng)


# ---------------------------------------------------------------- connections
def add_connection(genotype: Genotype, m: int, i: int, rng: np.random.Generator) -> bool:
    """Give unit ``i`` one more input among the predecessors within reach."""
    mod, units = genotype.structure.modules[m], genotype.modules[m]
    reachable = [MODULE_INPUT if p < 0 else units[p].id for p in range(max(-1, i - mod.reach), i)]
    missing = [x for x in reachable if x not in units[i].inputs]
    if not missing:
        return False
    new = missing[int(rng.integers(len(missing)))]
    units[i].inputs = [x for x in reachable if x in units[i].inputs or x == new]
    return True


def remove_connection(genotype: Genotype, m: int, i: int, rng: np.random.Generator) -> bool:
    """Drop one input of unit ``i`` if it keeps an input and the source another consumer."""
    units = genotype.modules[m]
    inputs = units[i].inputs
    if len(inputs) < 2:
        return False
    consumers = [x for u in units for x in u.inputs]
    removable = [x for x in inputs if x == MODULE_INPUT or consumers.count(x) > 1]
    if not removable:
        return False
    gone = removable[int(rng.integers(len(removable)))]
    units[i].inputs = [x for x in inputs if x != gone]
    return True


# ---------------------------------------------------------------- grammatical
def dsge_layer(
    genotype: Genotype, m: int, i: int, rng: np.random.Generator, rates: MutationRates
) -> bool:
    """Grammatical mutation of unit ``i`` of module ``m``."""
    structure = genotype.structure
    unit = genotype.modules[m][i]
    new = mutate_derivation(
        structure.grammar,
        structure.modules[m].name,
        unit.derivation,
        rng,
        structure.max_depth,
        rates,
    )
    changed = new is not None and new != unit.derivation
    if new is not None:
        unit.derivation = new
    return changed


def dsge_learning(genotype: Genotype, rng: np.random.Generator, rates: MutationRates) -> bool:
    """Grammatical mutation of the learning unit."""
    structure = genotype.structure
    new = mutate_derivation(
        structure.grammar,
        structure.learning,
        genotype.learning,
        rng,
        structure.max_depth,
        rates,
    )
    changed = new is not None and new != genotype.learning
    if new is not None:
        genotype.learning = new
    return changed


@dataclass(frozen=True)
class _Site:
    occurrence: int
    alternatives: tuple[int, ...] = ()
    real: int = -1


def mutate_derivation(
    grammar: Grammar,
    start: str,
    derivation: Derivation,
    rng: np.random.Generator,
    max_depth: int,
    rates: MutationRates,
) -> Derivation | None:
    """One DSGE mutation of ``derivation``; None when it has nothing that can change."""
    occurrences = grammar.occurrences(start, derivation)
    sites = []
    for k, occ in enumerate(occurrences):
        codon = derivation.codon(occ.nt, occ.index)
        current = grammar.rules[occ.nt][codon.choice]
        other = tuple(
            i
            for i in grammar.allowed(occ.nt, occ.depth, max_depth)
            if grammar.rules[occ.nt][i] != current
        )
        if other:
            sites.append(_Site(k, alternatives=other))
        for r, term in enumerate(grammar.reals(occ.nt, codon.choice)):
            if term.min < term.max:
                sites.append(_Site(k, real=r))
    if not sites:
        return None
    site = sites[int(rng.integers(len(sites)))]
    occ = occurrences[site.occurrence]
    if site.alternatives:
        choice = site.alternatives[int(rng.integers(len(site.alternatives)))]
        return grammar.regrow(start, derivation, occ, choice, rng, max_depth)
    codon = derivation.codon(occ.nt, occ.index)
    term = grammar.reals(occ.nt, codon.choice)[site.real]
    genes = list(codon.values[site.real])
    j = int(rng.integers(len(genes)))
    legacy = rates.scheme == "neronet-0.1"
    genes[j] = perturb(term, genes[j], rng, float_step_sigma(term, rates), legacy)
    values = list(codon.values)
    values[site.real] = tuple(genes)
    return derivation.replace(occ.nt, occ.index, Codon(codon.choice, tuple(values)))


def float_step_sigma(term: RealTerminal, rates: MutationRates) -> float:
    """Sigma of a float gene's Gaussian step under ``rates.float_sigma_mode``."""
    if rates.float_sigma_mode == "range":
        return rates.float_sigma * (float(term.max) - float(term.min))
    return rates.float_sigma


def perturb(
    term: RealTerminal,
    gene: Number,
    rng: np.random.Generator,
    sigma: float,
    legacy: bool = False,
) -> Number:
    """A new gene for ``term``: a Gaussian step of ``sigma`` for floats, clipped to the
    range; integer and power genes redrawn uniformly in range (which may give the same
    value back, as in Fast-DENSER; ``mutate`` then forces another change if needed)."""
    if term.type == "float":
        return term.clip(gene + rng.normal(0.0, sigma))
    if not legacy:
        return term.sample(rng)
    if rng.random() < 0.5:  # neronet 0.1: a +-1 step, or a redraw that skips the current value
        step = 1 if rng.random() < 0.5 else -1
        return gene + step if term.contains(gene + step) else gene - step
    drawn = int(rng.integers(term.min, term.max))
    return drawn + 1 if drawn >= gene else drawn


# ---------------------------------------------------------------- fallback
_MODULE_OPS: dict[str, Callable[[Genotype, int, np.random.Generator], bool]] = {
    "add_unit": add_unit,
    "replicate_unit": replicate_unit,
    "remove_unit": remove_unit,
}
_UNIT_OPS: dict[str, Callable[[Genotype, int, int, np.random.Generator], bool]] = {
    "add_connection": add_connection,
    "remove_connection": remove_connection,
}


def _force_change(child: Genotype, rng: np.random.Generator, rates: MutationRates) -> list[str]:
    """Apply one random operator that changes ``child``; [] if none can."""
    modules = child.structure.modules
    names = [*_MODULE_OPS, *_UNIT_OPS, "dsge_layer", "dsge_learning"]
    for k in rng.permutation(len(names)):
        name = names[k]
        if name == "dsge_learning":
            if dsge_learning(child, rng, rates):
                return [name]
            continue
        for m in rng.permutation(len(modules)):
            if name in _MODULE_OPS:
                if _MODULE_OPS[name](child, int(m), rng):
                    return [name]
                continue
            if name in _UNIT_OPS and not modules[m].skip:
                continue
            for i in rng.permutation(len(child.modules[m])):
                if name == "dsge_layer":
                    done = dsge_layer(child, int(m), int(i), rng, rates)
                else:
                    done = _UNIT_OPS[name](child, int(m), int(i), rng)
                if done:
                    return [name]
    return []
