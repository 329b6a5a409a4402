"""The whole run config: neronet's own sections plus those its plug-ins register."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from neronet.config.attack import AttackSettings, TransferConfig
from neronet.config.core import Int, StrictSection
from neronet.config.fitness import EvaluationConfig, FitnessConfig
from neronet.config.messages import format_validation_error, unknown_key
from neronet.config.posttrain import PostTrainConfig
from neronet.config.search import SEED_MODULES, DataConfig, SearchConfig, StructureConfig
from neronet.config.sections import registered
from neronet.config.training import ExecutorConfig, StoreConfig, TrainingConfig
from neronet.errors import ConfigError
from neronet.threat import ThreatRecord

KEEP_FOREIGN = "keep_foreign_sections"
"""Validation context flag: keep a section no installed plug-in registers as it is
(a stored run is read where a plug-in it used is not installed)."""


class NeroConfig(StrictSection):
    """Every setting of a run. Besides the fields below, each registered plug-in section
    (:mod:`neronet.config.sections`) sits under its own top-level key: validated by its
    model, defaults filled in, read through :attr:`sections`."""

    # extra keys are plug-in sections; _plugin_sections refuses any other
    model_config = ConfigDict(extra="allow")

    seed: Int = Field(default=0, ge=0)
    structure: StructureConfig = Field(default_factory=StructureConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    search: SearchConfig = Field(default_factory=SearchConfig, validate_default=True)
    fitness: FitnessConfig = Field(default_factory=FitnessConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    posttrain: PostTrainConfig = Field(default_factory=PostTrainConfig)
    attack: AttackSettings = Field(default_factory=AttackSettings)
    transfer: TransferConfig = Field(default_factory=TransferConfig)

    @field_validator("search")
    @classmethod
    def _initial_fits_structure(cls, search: SearchConfig, info: ValidationInfo) -> SearchConfig:
        """Foreign grammars (Fast-DENSER, EvoDENSS) have no module for the NSGA-Net seed
        to fill: their runs start from random individuals unless told otherwise, and an
        explicit ``initial: seed`` is refused before anything is built."""
        structure = info.data.get("structure")
        if structure is None or search.initial != "seed":
            return search
        names = {m.name for m in structure.modules}
        missing = [m for m in SEED_MODULES if m not in names]
        if not missing:
            return search
        if "initial" not in search.model_fields_set:
            return search.model_copy(update={"initial": "random"})
        raise ValueError(
            f"initial 'seed' needs modules {', '.join(missing)} (the NSGA-Net seed fills "
            "them), which this structure lacks: use initial random"
        )

    @model_validator(mode="after")
    def _plugin_sections(self, info: ValidationInfo) -> NeroConfig:
        """Validate each extra key as the plug-in section registered under it, and add the
        registered sections not given, with their defaults.

        Raises ConfigError itself (pydantic passes it through): the section's own
        model words the problem, at the section's key."""
        context = info.context or {}
        source = context.get("source", "config")
        extra = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        sections = registered()
        if set(extra) - set(sections):
            from neronet.plugins import load_installed  # an installed plug-in's section

            load_installed()
        for key, value in list(extra.items()):
            model = sections.get(key)
            if model is None:
                if context.get(KEEP_FOREIGN):
                    continue
                known = [*type(self).model_fields, *sections]
                raise ConfigError(unknown_key(source, (key,), known))
            if isinstance(value, model):
                continue
            try:
                extra[key] = model.model_validate(value)
            except ValidationError as err:
                raise ConfigError(format_validation_error(err, source, model, (key,))) from None
        for key, model in sections.items():
            extra.setdefault(key, model())
        return self

    @property
    def sections(self) -> Mapping[str, Any]:
        """The plug-in sections by key (read one with ``ItsSettings.of(config.sections)``)."""
        return MappingProxyType(self.__pydantic_extra__ or {})

    @property
    def threat(self) -> ThreatRecord:
        """The run's threat model (:class:`~neronet.threat.ThreatRecord`), which
        ``neronet export`` and ``neronet train`` record in the model and ``neronet
        attack`` defaults to."""
        return self.fitness.threat

    @property
    def search_eps(self) -> float:
        """The L-inf radius the search measured robustness at (``fitness.attack_eps``).
        Every reader of a run's radius asks here (or :attr:`threat`)."""
        return self.threat.eps

    @property
    def search_holdout(self) -> dict[str, float | int]:
        """The hold-out settings a search's splits depend on: a dataset that ships no
        test split has ``posttrain.holdout`` of its training images held out as one,
        and the search draws its splits from the rest."""
        return {"holdout": self.posttrain.holdout, "holdout_seed": self.posttrain.holdout_seed}

    @property
    def splits_identity(self) -> dict[str, float | int]:
        """What a run's train / control / fitness splits are drawn by (besides the data
        section): its seed and :attr:`search_holdout`."""
        return {"seed": self.seed, **self.search_holdout}

    def search_relevant(self) -> dict[str, Any]:
        """The part of the config that must not change when a run is resumed.

        Where and how big it may run is not: the executor, the device, and the
        parameter cap (a memory limit of the machine; runs recorded before the
        cap existed must resume without --allow-changed); nor what happens after
        the search (post-search training and attacks) but the hold-out a dataset
        without a test split keeps out of the search's splits
        (:attr:`search_holdout`); nor how the transfer set is
        named or built: the run records its checksum instead (``neronet.transfer``);
        nor where a shared memo lives (its entries are keyed by everything that shapes
        a result, so an experiment restored under another directory resumes).
        """
        data = self.model_dump(mode="json")
        for after_search in ("executor", "posttrain", "attack", "transfer"):
            data.pop(after_search)
        data["search_holdout"] = self.search_holdout
        data["store"].pop("memo")
        data["evaluation"].pop("transfer_set")
        data["training"].pop("device")
        data["training"].pop("max_parameters")
        return data
