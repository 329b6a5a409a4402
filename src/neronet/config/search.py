"""The search's own settings: the outer structure and grammar, the data splits, the
strategy's budget and the variation operators (``structure``, ``data``, ``search``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from neronet.config.core import MAX_BATCH, MAX_EVALUATIONS, Bool, Float, Int, StrictSection
from neronet.grammar import MAX_DEPTH

if TYPE_CHECKING:
    from neronet.data import Dataset

SEED_MODULES = ("stem", "features", "last-transition", "softmax")
"""Modules the NSGA-Net seed fills; a structure without them starts from random units."""


class ModuleConfig(StrictSection):
    """One outer-level module: the (type, min, max, skip) tuple plus levels back."""

    name: str = Field(min_length=1)
    min: Int = Field(ge=0)
    max: Int = Field(ge=1)
    skip: Bool = False
    levels_back: Int = Field(default=1, ge=1)
    init_max: Int | None = Field(
        default=None, ge=1, description="most units at random initialisation (default: max)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> ModuleConfig:
        if self.min > self.max:
            raise ValueError(f"module {self.name!r}: min {self.min} > max {self.max}")
        return self


def _nero_modules() -> list[ModuleConfig]:
    return [
        ModuleConfig(name="stem", min=0, max=1, skip=False),
        ModuleConfig(name="features", min=1, max=30, skip=True, levels_back=5, init_max=10),
        ModuleConfig(name="last-transition", min=0, max=1, skip=False),
        ModuleConfig(name="classification", min=0, max=5, skip=False),
        ModuleConfig(name="softmax", min=1, max=1, skip=False),
    ]


class StructureConfig(StrictSection):
    """Outer structure: NERO-Net's `[(stem,0,1,false),(features,1,30,true),...]`."""

    grammar: str = "nero-net.grammar"
    modules: list[ModuleConfig] = Field(default_factory=_nero_modules, min_length=1)
    learning: str = "learning"
    max_depth: Int = Field(
        default=10, ge=1, le=MAX_DEPTH, description="DSGE recursion limit (bounds the stack)"
    )
    head: Literal["grammar", "fc", "gpool-fc"] = Field(
        default="grammar",
        description="the output layer: grammar (the last module's last unit ends in an fc), "
        "or neronet's own appended after the last module, for a grammar whose modules are "
        "all feature extractors (EvoDENSS's features_1..5): fc (flatten, fc) or gpool-fc "
        "(global average pooling, fc)",
    )


class DataConfig(StrictSection):
    dataset: str = Field(
        default="cifar10",
        description="a registered dataset (neronet.data.DATASETS: digits, fashion-mnist, "
        "cifar10, or an installed plug-in's; checked by check_plugins)",
    )
    path: str | None = None
    cache_dir: str | None = None
    download: Bool = False
    # Counts (>= 1) or fractions (< 1) of the training set. Unset: the paper's
    # 43,000 / 3,500 / 3,500 of CIFAR-10's 50,000, scaled to the dataset's size.
    train: Float | None = Field(default=None, gt=0, description="evolutionary training set")
    control: Float | None = Field(default=None, gt=0, description="early-stopping set")
    fitness: Float | None = Field(default=None, gt=0, description="fitness-evaluation set")

    def load(self) -> Dataset:
        """The dataset this section names, read as every command reads it."""
        from neronet.data import load_dataset  # numpy and the loaders: not at config import

        return load_dataset(
            self.dataset, path=self.path, cache_dir=self.cache_dir, download=self.download
        )


class MutationRates(StrictSection):
    """Table 1 of NERO-Net, with Fast-DENSER's semantics (see neronet.mutation): add and
    remove are each attempted randint(1, 2) times per module, and replicate is the share
    of added units that copy an existing one (Fast-DENSER's "reuse"), not an operator
    of its own."""

    add_unit: Float = Field(default=0.25, ge=0, le=1, description="per add attempt")
    replicate_unit: Float = Field(
        default=0.35, ge=0, le=1, description="probability that an added unit is a copy"
    )
    remove_unit: Float = Field(default=0.25, ge=0, le=1, description="per remove attempt")
    add_connection: Float = Field(default=0.15, ge=0, le=1)
    remove_connection: Float = Field(default=0.15, ge=0, le=1)
    dsge_layer: Float = Field(default=0.15, ge=0, le=1)
    dsge_learning: Float = Field(default=0.30, ge=0, le=1)
    train_longer: Float = Field(default=0.10, ge=0, le=1)
    float_sigma: Float = Field(default=0.15, gt=0, description="Gaussian sigma of float steps")
    scheme: Literal["fast-denser", "neronet-0.1"] = Field(
        default="fast-denser",
        description="fast-denser: replicate on add, add/remove tried 1-2 times, integers "
        "redrawn; neronet-0.1: the operators of neronet 0.1 (runs made by it resume so)",
    )
    float_sigma_mode: Literal["absolute", "range"] = Field(
        default="absolute",
        description="absolute: sigma in the terminal's own units (Fast-DENSER); "
        "range: sigma x (max - min) of the terminal",
    )


class SearchConfig(StrictSection):
    strategy: str = Field(default="one-plus-lambda", description="a registered strategy")
    objective: str = Field(default="nero-net", description="a registered objective")
    encoding: str | None = Field(
        default=None,
        description="a registered encoding (grammar, ras); unset: the strategy's own "
        "(ras for ras, grammar for the others)",
    )
    generations: Int = Field(default=100, ge=1, le=MAX_EVALUATIONS)
    offspring: Int = Field(
        default=4,
        ge=1,
        le=MAX_BATCH,
        description="lambda: children per generation ((1+lambda)-ES, nsga2)",
    )
    initial: Literal["seed", "random"] = Field(
        default="seed",
        description="seed: the NSGA-Net seed plus mutants (needs NERO-Net's modules); "
        "unset on a structure without them, random",
    )
    initial_size: Int = Field(
        default=5,
        ge=1,
        le=MAX_BATCH,
        description="individuals in generation 0; nsga2: the population size",
    )
    seed_learning: Literal["random", "fixed"] = Field(
        default="random",
        description="the NSGA-Net seed's learning unit: drawn at random per run (the paper "
        "keeps the random initialisation of the other outer-level units) or SGD 0.1 "
        "(neronet 0.1)",
    )
    mutation: MutationRates = Field(default_factory=MutationRates)
    budget: Literal["seconds", "epochs", "images"] = Field(
        default="seconds",
        description="what default_train_time and max_train_time count: wall-clock seconds "
        "(the paper's; shrinks on a slower or shared device), epochs, or training images "
        "seen (the same work on any machine)",
    )
    default_train_time: Float = Field(
        default=600.0, gt=0, description="training per candidate, in search.budget's unit"
    )
    max_train_time: Float = Field(
        default=1800.0, gt=0, description="most training after train-longer mutations (same unit)"
    )
    sample_size: Int = Field(
        default=3,
        ge=1,
        le=MAX_BATCH,
        description="aging evolution: members a tournament samples (Real et al.'s S), "
        "capped at the population",
    )
    population: Int | None = Field(
        default=None,
        ge=2,
        le=MAX_EVALUATIONS,
        description="aging evolution: the population P, whose oldest member leaves as each "
        "child joins once it is full; unset: initial_size plus a generation's children, so "
        "each member outlives the generation after it. Must exceed a generation's children "
        "(offspring, plus one with reevaluate_parent), or every generation replaces it whole",
    )
    reevaluate_duplicates: Bool = False
    reevaluate_parent: Bool = Field(
        default=True,
        description="train the parent again from scratch every generation (Fast-DENSER, "
        "NERO-Net); false keeps its first measurement while it survives",
    )

    @property
    def children(self) -> int:
        """What a generation after the first evaluates in the (1+lambda): the offspring,
        and the parent trained again (``reevaluate_parent``); the strategies that share
        its budget (random search, aging evolution) ask as many."""
        return self.offspring + int(self.reevaluate_parent)

    @property
    def evaluations(self) -> int:
        """The (1+lambda)'s planned evaluations: generation 0, then :attr:`children` each."""
        return self.initial_size + (self.generations - 1) * self.children

    @model_validator(mode="after")
    def _times(self) -> SearchConfig:
        if self.max_train_time < self.default_train_time:
            raise ValueError("max_train_time must be >= default_train_time")
        planned = self.initial_size + self.generations * (self.offspring + 1)
        if planned > MAX_EVALUATIONS:
            raise ValueError(
                f"initial_size + generations x (offspring + 1) plans {planned:,} evaluations, "
                f"more than {MAX_EVALUATIONS:,}; choose fewer generations or offspring"
            )
        children = self.children
        if self.population is not None and self.population <= children:
            raise ValueError(
                f"population={self.population}: aging evolution's population must exceed a "
                f"generation's {children} children (offspring"
                f"{' + 1 for reevaluate_parent' if self.reevaluate_parent else ''}), or every "
                "generation replaces it whole; raise search.population (or leave it unset)"
            )
        if self.budget != "seconds":
            unset = {"default_train_time", "max_train_time"} - self.model_fields_set
            if unset:
                raise ValueError(
                    f"search.budget={self.budget} counts {self.budget}, so the defaults in "
                    f"seconds do not apply: set search.{' and search.'.join(sorted(unset))} "
                    f"in {self.budget}"
                )
        if self.budget == "epochs" and not all(
            float(v).is_integer() for v in (self.default_train_time, self.max_train_time)
        ):
            raise ValueError("with search.budget=epochs the train times are whole epochs")
        return self
