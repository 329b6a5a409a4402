"""Settings of the ``ras`` strategy (Kotyan & Vargas): its own config section ``ras:``,
registered beside the strategy (:mod:`neronet.search.ras_niching`), which reads it as
``RasConfig.of(config.sections)``. Kept apart from the strategy so that validating a
config imports pydantic models only.

RAS trains with its own recipe, ``ras.training`` (:class:`RasTraining`), not with
NERO-Net's ``training`` section: every run whose candidates are RAS genomes
(strategy ``ras``, or ``search.encoding: ras``) uses it during the search and in
``neronet train``. Settings of the ``training`` and ``search`` sections that such a
run never reads are refused where a user wrote them (:meth:`RasConfig.foreign_keys`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from neronet.config.core import MAX_BATCH, Bool, Float, Int, StrictSection
from neronet.config.posttrain import ScheduleSettings, StandardTraining
from neronet.config.sections import PluginSettings, settings_section
from neronet.spec import LearningSpec

if TYPE_CHECKING:
    from neronet.config.root import NeroConfig

MAX_RAS_PARTS = 1_000
"""Most blocks per initial RAS model, and layers per initial block."""

LEGACY_KEYS = ("patience", "min_delta")
"""Keys of ``ras:`` before it had a ``training`` recipe (now ``ras.training.<key>``)."""

LEGACY_RECIPE: dict[str, Any] = {
    "optimizer": "adam",
    "epochs": None,
    "weight_decay": None,
    "augment": None,
    "restore_best": True,
}
"""What a run stored before ``ras.training`` existed trained with (Adam, lr 1e-3, batch
128, everything else from the ``training`` section): reading its config keeps it so."""


class RasSchedule(ScheduleSettings):
    """``neronet train``'s schedule for a RAS winner (built by
    :meth:`RasTraining.final_schedule`, never written in a config)."""

    optimizer: Literal["nadam", "adam"]
    grad_clip: Float | None = None

    def learning(self) -> LearningSpec:
        return LearningSpec(optimizer=self.optimizer, lr=self.lr, decay=0.0)


class RasTraining(StrictSection):
    """RAS's training recipe (``ras.training``), search-time and post-search. Defaults:
    the paper's where it states a value, the authors' code's where it does not
    (docs/METHOD.md marks each). ``None`` for ``epochs``, ``weight_decay`` or ``augment``
    takes the ``training`` section's value instead (how runs before this recipe trained)."""

    optimizer: Literal["nadam", "adam"] = Field(
        default="nadam", description="authors' code: Keras' Nadam (paper: none named)"
    )
    lr: Float = Field(default=1e-3, gt=0, description="constant learning rate (Keras' default)")
    batch_size: Int = Field(default=128, ge=1, le=MAX_BATCH)
    epochs: Int | None = Field(
        default=200, ge=1, description="epoch cap of a search-time training (paper: 200)"
    )
    patience: Int = Field(default=15, ge=1, description="early stopping patience in epochs")
    min_delta: Float = Field(
        default=0.001, ge=0, description="early stopping counts only control gains above this"
    )
    weight_decay: Float | None = Field(
        default=0.0, ge=0, description="L2 on conv/fc kernels (authors' code: none)"
    )
    augment: Bool | None = Field(
        default=False, description="pad-crop-flip augmentation (authors' code: off by default)"
    )
    restore_best: Bool = Field(
        default=False,
        description="end on the best-on-control weights; false keeps the last epoch's, "
        "as the authors' Keras EarlyStopping does",
    )
    final_epochs: Int = Field(
        default=50,
        ge=1,
        description="neronet train: epochs over the whole training set (paper: 50)",
    )

    def learning(self) -> LearningSpec:
        """A search-time candidate's LearningSpec under this recipe (on the full split)."""
        return LearningSpec(
            optimizer=self.optimizer,
            lr=self.lr,
            decay=0.0,
            batch_size=self.batch_size,
            early_stop=self.patience,
            min_delta=self.min_delta,
            epochs=self.epochs,
            weight_decay=self.weight_decay,
            augment=self.augment,
            restore_best=self.restore_best,
        )

    def final_schedule(self, inherited: StandardTraining) -> RasSchedule:
        """``neronet train``'s schedule for a RAS winner: this recipe for ``final_epochs``
        at a constant lr, no gradient clipping; what it leaves to the ``training`` section
        (``None``) comes from ``inherited``, the run's standard schedule."""
        return RasSchedule(
            optimizer=self.optimizer,
            epochs=self.final_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=inherited.weight_decay if self.weight_decay is None else self.weight_decay,
            augment=inherited.augment if self.augment is None else self.augment,
            augment_pad=inherited.augment_pad,
            grad_clip=None,
            schedule="step",
            milestones=(),
        )


@settings_section("ras")
class RasConfig(PluginSettings):
    """RAS's search (``search.strategy: ras``), the paper's settings as defaults (Kotyan &
    Vargas, section 6). ``search.generations`` counts generations as for every strategy;
    the other ``search`` settings (offspring, initial_size, ...) are not RAS's."""

    initial_models: Int = Field(
        default=25,
        ge=1,
        le=MAX_BATCH,
        description="random models of generation 0, one cluster each",
    )
    blocks_per_model: tuple[Int, Int] = Field(
        default=(2, 5), description="[min, max] blocks of an initial model"
    )
    layers_per_block: tuple[Int, Int] = Field(
        default=(2, 5), description="[min, max] layers of an initial block"
    )
    children: Int = Field(default=2, ge=1, le=MAX_BATCH, description="children per representative")
    mutations: Int = Field(default=5, ge=1, le=MAX_BATCH, description="random mutations per child")
    layer_cap: Int = Field(
        default=100, ge=1, description="above this many layers only swap_layer is offered"
    )
    block_cap: Int = Field(
        default=100, ge=1, description="above this many blocks only swap_block is offered"
    )
    train_subset: Int = Field(
        default=1000, ge=1, description="training images per candidate between full trainings"
    )
    full_training_period: Int = Field(
        default=10, ge=1, description="generations g with g % period == 0 train on the full split"
    )
    training: RasTraining = Field(default_factory=RasTraining)
    dense: Literal["flatten", "per_pixel"] = Field(
        default="flatten",
        description="a dense layer on a feature map: flatten it (neronet), or act on each "
        "pixel's channels, i.e. a 1x1 conv (the authors' Keras code)",
    )
    head: Literal["flatten", "gpool"] = Field(
        default="flatten",
        description="before the logits layer: flatten (neronet), or global average pooling "
        "(the authors' Keras code)",
    )
    redraws: Int = Field(
        default=10,
        ge=0,
        description="an invalid (unbuildable) initial model or child is drawn again up to "
        "this many times in the same generation, as the authors' code retries",
    )
    rescore: Bool = Field(
        default=True,
        description="train a representative again under the generation's regime (full "
        "split or subset) when it was scored under the other, so children compete with "
        "fitness measured alike; false: compare across regimes",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """A ``ras:`` section written before ``ras.training`` (a stored run's) keeps the
        recipe that run trained with; its early-stopping keys move into the recipe."""
        if not isinstance(data, dict) or not any(key in data for key in LEGACY_KEYS):
            return data
        if "training" in data:
            moved = [key for key in LEGACY_KEYS if key in data]
            raise ValueError(f"{', '.join(moved)} moved to ras.training; write it there")
        data = dict(data)
        moved = {key: data.pop(key) for key in LEGACY_KEYS if key in data}
        data["training"] = {**LEGACY_RECIPE, **moved}
        return data

    @classmethod
    def foreign_keys(cls, config: NeroConfig) -> dict[str, str]:
        """NERO-Net's settings that a run searching RAS genomes never reads, each with
        why and what to set instead (refused where a user wrote them)."""
        if not applies(config):
            return {}
        recipe = cls.of(config.sections).training
        keys = {f"ras.{key}": f"it moved: set ras.training.{key}" for key in LEGACY_KEYS}
        keys["training.schedule"] = "RAS genomes train at ras.training.lr, constant"
        keys["search.mutation"] = "RAS genomes take the paper's 13 mutations (ras.mutations)"
        keys["structure"] = "RAS genomes come from no grammar; the ras section shapes them"
        for key, own in (("max_epochs", "epochs"), ("weight_decay", None), ("augment", None)):
            if getattr(recipe, own or key) is not None:
                keys[f"training.{key}"] = f"RAS genomes train with ras.training.{own or key}"
        if config.search.strategy == "ras":
            sizes = "the ras strategy's sizes are ras.initial_models and ras.children"
            sizes_of = ("offspring", "initial", "initial_size", "seed_learning", "sample_size")
            for key in (*sizes_of, "population"):
                keys[f"search.{key}"] = sizes
            keys["search.reevaluate_parent"] = "the ras strategy re-trains by ras.rescore"
        if config.search.objective == "ras":
            for key in ("warmup_tau", "beta"):
                keys[f"fitness.{key}"] = "the ras objective is clean + transfer accuracy"
        return keys

    @field_validator("blocks_per_model", "layers_per_block")
    @classmethod
    def _range(cls, bounds: tuple[int, int]) -> tuple[int, int]:
        low, high = bounds
        if low < 1 or low > high or high > MAX_RAS_PARTS:
            raise ValueError(
                f"[{low}, {high}] must be [min, max] with 1 <= min <= max <= {MAX_RAS_PARTS}"
            )
        return bounds

    @model_validator(mode="after")
    def _batch(self) -> RasConfig:
        if self.initial_models * self.children > MAX_BATCH:
            raise ValueError(
                f"initial_models x children asks for {self.initial_models * self.children:,} "
                f"candidates per generation, more than {MAX_BATCH:,}; choose fewer"
            )
        return self


def applies(config: NeroConfig) -> bool:
    """Whether ``config``'s candidates are RAS genomes, which train with ``ras.training``."""
    from neronet.search.strategies import STRATEGIES

    search = config.search
    if search.strategy not in STRATEGIES:  # check_plugins words that error
        return search.encoding == "ras"
    return bool(STRATEGIES.get(search.strategy).encoding_for(search) == "ras")


def ras_recipe(config: NeroConfig) -> RasTraining | None:
    """``ras.training`` when ``config`` searches RAS genomes, else None (NERO-Net's recipe)."""
    return RasConfig.of(config.sections).training if applies(config) else None
