"""Settings of the ``ras`` strategy (Kotyan & Vargas): its own config section ``ras:``,
registered beside the strategy (:mod:`neronet.search.ras_niching`), which reads it as
``RasConfig.of(config.sections)``. Kept apart from the strategy so that validating a
config imports pydantic models only."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from neronet.config.core import MAX_BATCH, Bool, Float, Int
from neronet.config.sections import PluginSettings, settings_section

MAX_RAS_PARTS = 1_000
"""Most blocks per initial RAS model, and layers per initial block."""


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
    min_delta: Float = Field(
        default=0.001, ge=0, description="early stopping counts only control gains above this"
    )
    patience: Int = Field(default=15, ge=1, description="early stopping patience in epochs")
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
