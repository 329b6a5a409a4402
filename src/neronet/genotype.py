"""Outer level of the genotype: modules of units, their connections, init and repair.

A :class:`Structure` is the fixed frame of a search: the ordered modules
``(name, min, max, skip, levels_back)`` of NERO-Net (each name a grammar
non-terminal), the learning unit's non-terminal and the grammar. A
:class:`Genotype` fills it: per module a list of :class:`Unit` (stable integer
id, DSGE derivation, inputs) plus the learning derivation and the training time.

Connections live inside a module. Unit inputs are unit ids of the same module
or :data:`MODULE_INPUT`, the previous module's output (the position just before
the module's first unit). A non-skip module is a chain. In a skip module a unit
takes 1..n inputs among the ``levels_back`` positions before it; unlike
Fast-DENSER, NERO-Net does not force the link to the previous unit. Repair keeps
the graph a DAG from input to output without dead ends, after initialisation
and after every mutation.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neronet.config import NeroConfig, StructureConfig, grammar_text
from neronet.errors import ConfigError
from neronet.grammar import Derivation, Grammar

if TYPE_CHECKING:
    from neronet.spec import LearningSpec, NetworkSpec

MODULE_INPUT = -1


@dataclass(frozen=True)
class ModuleDef:
    """One outer-level module; ``reach`` is how far back a unit may take inputs."""

    name: str
    min: int
    max: int
    skip: bool
    levels_back: int
    init_max: int

    @property
    def reach(self) -> int:
        return self.levels_back if self.skip else 1


@dataclass(frozen=True)
class Structure:
    """Modules, learning unit and grammar: everything a genotype needs to be read."""

    grammar: Grammar
    modules: tuple[ModuleDef, ...]
    learning: str
    max_depth: int
    head: str = "grammar"  # StructureConfig.head: who makes the output layer

    @classmethod
    def from_config(cls, cfg: StructureConfig, grammar: Grammar) -> Structure:
        """Build from the config, checking every module name against the grammar."""
        modules = []
        for m in cfg.modules:
            grammar.check_start(m.name)
            init_max = min(m.max, m.init_max if m.init_max is not None else m.max)
            modules.append(
                ModuleDef(m.name, m.min, m.max, m.skip, m.levels_back, max(init_max, m.min))
            )
        grammar.check_start(cfg.learning)
        if cfg.head == "grammar" and modules[-1].min < 1:
            raise ConfigError(
                f"structure.modules: the last module '{modules[-1].name}' has min 0; "
                "give it min >= 1 so that every network ends in its output layer"
            )
        return cls(grammar, tuple(modules), cfg.learning, cfg.max_depth, cfg.head)

    def derive(self, name: str, rng: np.random.Generator) -> Derivation:
        return self.grammar.derive(name, rng, self.max_depth)


def structure_for(config: NeroConfig, base_dir: Path | None = None) -> Structure:
    """The Structure of a run config, with its grammar file read and parsed."""
    text, source = grammar_text(config, base_dir)
    return Structure.from_config(config.structure, Grammar.parse(text, source))


def default_structure() -> Structure:
    """NERO-Net's structure (the config default) with the shipped nero-net grammar."""
    return structure_for(NeroConfig())


@dataclass
class Unit:
    id: int
    derivation: Derivation
    inputs: list[int] = field(default_factory=list)


@dataclass
class Genotype:
    """An individual; carries (but never serialises) its Structure."""

    structure: Structure = field(compare=False, repr=False)
    modules: list[list[Unit]]
    learning: Derivation
    train_time: float
    next_id: int

    # ---------------------------------------------------------------- creation
    @classmethod
    def random(cls, structure: Structure, rng: np.random.Generator, train_time: float) -> Genotype:
        """A random individual: each module gets min..init_max units, randomly wired."""
        genotype = cls(structure, [], structure.derive(structure.learning, rng), train_time, 0)
        for mod in structure.modules:
            units: list[Unit] = []
            for position in range(int(rng.integers(mod.min, mod.init_max + 1))):
                unit = genotype.new_unit(mod.name, rng)
                unit.inputs = random_inputs(mod, units, position, rng)
                units.append(unit)
            genotype.modules.append(units)
        genotype.repair(rng)
        return genotype

    def new_unit(self, name: str, rng: np.random.Generator) -> Unit:
        """A unit with a fresh random derivation and a new id (not yet placed)."""
        return Unit(self.take_id(), self.structure.derive(name, rng))

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def copy(self) -> Genotype:
        """A deep copy sharing only the (immutable) Structure."""
        return copy.deepcopy(self, memo={id(self.structure): self.structure})

    # ---------------------------------------------------------------- invariants
    def repair(self, rng: np.random.Generator) -> None:
        for mod, units in zip(self.structure.modules, self.modules, strict=True):
            repair_module(mod, units, rng)

    def check(self) -> None:
        """Raise AssertionError unless this is a valid DAG without dead ends."""
        _require(len(self.modules) == len(self.structure.modules), "wrong number of modules")
        ids = [u.id for units in self.modules for u in units]
        _require(len(ids) == len(set(ids)), "duplicate unit ids")
        _require(all(0 <= i < self.next_id for i in ids), "unit id outside [0, next_id)")
        _require(self.train_time > 0, "train_time must be positive")
        for mod, units in zip(self.structure.modules, self.modules, strict=True):
            _require(mod.min <= len(units) <= mod.max, f"{mod.name}: {len(units)} units")
            _check_wiring(mod, units)
            for unit in units:
                _check_decodes(self.structure.grammar, mod.name, unit.derivation)
        _check_decodes(self.structure.grammar, self.structure.learning, self.learning)

    def canonical(self) -> dict[str, Any]:
        """The genotype's content without ids or training time (what a mutation changes)."""
        modules = []
        for units in self.modules:
            position = {u.id: i for i, u in enumerate(units)} | {MODULE_INPUT: -1}
            modules.append(
                [(u.derivation.to_dict(), [position[i] for i in u.inputs]) for u in units]
            )
        return {"modules": modules, "learning": self.learning.to_dict()}

    def decode(
        self, input_shape: tuple[int, int, int], num_classes: int
    ) -> tuple[NetworkSpec, LearningSpec]:
        """The network and training hyper-parameters this genotype encodes (the runner's
        :class:`~neronet.search.encodings.Genome` call); GrammarError if a derivation does not
        map."""
        from neronet.phenotype import to_learning, to_spec  # phenotype imports this module

        return to_spec(self, input_shape, num_classes), to_learning(self)

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "modules": [
                {
                    "name": mod.name,
                    "units": [
                        {"id": u.id, "inputs": list(u.inputs), "derivation": u.derivation.to_dict()}
                        for u in units
                    ],
                }
                for mod, units in zip(self.structure.modules, self.modules, strict=True)
            ],
            "learning": self.learning.to_dict(),
            "train_time": self.train_time,
            "next_id": self.next_id,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], structure: Structure) -> Genotype:
        """Rebuild a genotype; ConfigError if it does not fit ``structure``."""
        names = [m["name"] for m in data["modules"]]
        expected = [m.name for m in structure.modules]
        if names != expected:
            raise ConfigError(
                f"genotype has modules {names} but the structure has {expected}; "
                "load it with the structure config it was created with"
            )
        genotype = cls(
            structure,
            [
                [
                    Unit(int(u["id"]), Derivation.from_dict(u["derivation"]), list(u["inputs"]))
                    for u in m["units"]
                ]
                for m in data["modules"]
            ],
            Derivation.from_dict(data["learning"]),
            float(data["train_time"]),
            int(data["next_id"]),
        )
        try:
            genotype.check()
        except AssertionError as err:
            raise ConfigError(
                f"genotype does not fit the structure or grammar ({err}); "
                "load it with the config it was created with"
            ) from None
        return genotype

    @classmethod
    def from_json(cls, text: str, structure: Structure) -> Genotype:
        return cls.from_dict(json.loads(text), structure)


def random_inputs(
    mod: ModuleDef, units: list[Unit], position: int, rng: np.random.Generator
) -> list[int]:
    """Inputs for a unit placed at ``position``: 1..n random predecessors within reach.

    ``units`` is the module's unit list without the new unit; a non-skip unit
    simply takes its predecessor.
    """
    candidates = [_id_at(units, p) for p in range(max(-1, position - mod.reach), position)]
    if not mod.skip:
        return candidates[-1:]
    count = int(rng.integers(1, len(candidates) + 1))
    picked = rng.choice(len(candidates), size=count, replace=False)
    return [candidates[i] for i in sorted(picked)]


def repair_module(mod: ModuleDef, units: list[Unit], rng: np.random.Generator) -> None:
    """Make a module's wiring valid in place.

    Inputs out of reach (or to removed units) are dropped; a unit left without
    input takes a random predecessor within reach; a unit other than the last
    that nobody consumes is linked to a random successor within reach.
    """
    position = {u.id: i for i, u in enumerate(units)} | {MODULE_INPUT: -1}
    for i, unit in enumerate(units):
        low = max(-1, i - mod.reach)
        kept = sorted(
            {position[x] for x in unit.inputs if x in position and low <= position[x] < i}
        )
        if not mod.skip:
            kept = [i - 1]
        elif not kept:
            kept = [int(rng.integers(low, i))]
        unit.inputs = [_id_at(units, p) for p in kept]
    consumed = {x for u in units for x in u.inputs}
    for i, unit in enumerate(units[:-1]):
        if unit.id not in consumed:
            target = units[int(rng.integers(i + 1, min(len(units) - 1, i + mod.reach) + 1))]
            target.inputs = sorted([*target.inputs, unit.id], key=position.__getitem__)
            consumed.add(unit.id)


def _id_at(units: list[Unit], position: int) -> int:
    return MODULE_INPUT if position < 0 else units[position].id


def _require(ok: bool, message: str) -> None:
    """An invariant check that, unlike ``assert``, also runs under ``python -O``."""
    if not ok:
        raise AssertionError(message)


def _check_wiring(mod: ModuleDef, units: list[Unit]) -> None:
    position = {u.id: i for i, u in enumerate(units)} | {MODULE_INPUT: -1}
    for i, unit in enumerate(units):
        where = f"{mod.name}[{i}]"
        _require(bool(unit.inputs), f"{where} has no input")
        _require(all(x in position for x in unit.inputs), f"{where} takes an unknown unit")
        spots = [position[x] for x in unit.inputs]
        _require(spots == sorted(set(spots)), f"{where} inputs not sorted / unique")
        _require(all(max(-1, i - mod.reach) <= p < i for p in spots), f"{where} input out of reach")
    consumed = {x for u in units for x in u.inputs}
    dead = [u.id for u in units[:-1] if u.id not in consumed]
    _require(not dead, f"{mod.name}: units {dead} have no consumer")


def _check_decodes(grammar: Grammar, start: str, derivation: Derivation) -> None:
    try:
        grammar.decode(start, derivation)
    except ValueError as err:
        raise AssertionError(str(err)) from None
