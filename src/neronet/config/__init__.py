"""Run configuration: YAML validated by pydantic.

Every setting of the method has the paper's value as default (Table 1 of NERO-Net; see
docs/METHOD.md), so ``NeroConfig()`` *is* the paper's setup apart from the dataset.
Unknown keys and out-of-range values are rejected with a one-line
:class:`~neronet.errors.ConfigError` naming the key and the fix.

The schema is split by concern: ``core`` (the strict base, field types, settings shared
by several sections), ``search`` (structure, data, search, mutation), ``fitness``
(fitness, evaluation), ``training`` (training, store, executor), ``posttrain``,
``attack`` (attack and its audit, transfer), ``sections`` (the sections plug-ins own,
such as ``ras:``), ``root`` (:class:`NeroConfig`), ``messages`` (one-line errors) and
``loading`` (YAML, overrides, files). The names below are the package's public ones.
"""

from neronet.config.attack import (
    TRANSFER_SOURCES,
    AttackSettings,
    AuditSettings,
    BlackBoxBudget,
    TransferConfig,
)
from neronet.config.core import (
    MAX_BATCH,
    MAX_EVALUATIONS,
    MAX_INT,
    Amp,
    Augmentation,
    Bool,
    Device,
    Float,
    Int,
    Placement,
    StrictSection,
)
from neronet.config.fitness import (
    DEFAULT_MEASUREMENTS,
    DEFAULT_PARETO,
    EvaluationConfig,
    FitnessConfig,
    MaskingConfig,
    ParetoTarget,
)
from neronet.config.loading import (
    DEFAULT_CONFIG,
    PACKAGE_CONFIGS,
    grammar_text,
    load_config,
    load_yaml,
    parse_config,
    parse_yaml,
    read_config_data,
    read_text,
    set_override,
)
from neronet.config.messages import format_validation_error, invalid_value
from neronet.config.posttrain import (
    AdversarialTraining,
    PostTrainConfig,
    ScheduleSettings,
    StandardTraining,
)
from neronet.config.root import NeroConfig
from neronet.config.search import (
    SEED_MODULES,
    DataConfig,
    ModuleConfig,
    MutationRates,
    SearchConfig,
    StructureConfig,
)
from neronet.config.sections import PluginSettings, settings_section, unregister_section
from neronet.config.training import ExecutorConfig, StoreConfig, TrainingConfig

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_MEASUREMENTS",
    "DEFAULT_PARETO",
    "MAX_BATCH",
    "MAX_EVALUATIONS",
    "MAX_INT",
    "PACKAGE_CONFIGS",
    "SEED_MODULES",
    "TRANSFER_SOURCES",
    "AdversarialTraining",
    "Amp",
    "AttackSettings",
    "AuditSettings",
    "Augmentation",
    "BlackBoxBudget",
    "Bool",
    "DataConfig",
    "Device",
    "EvaluationConfig",
    "ExecutorConfig",
    "FitnessConfig",
    "Float",
    "Int",
    "MaskingConfig",
    "ModuleConfig",
    "MutationRates",
    "NeroConfig",
    "ParetoTarget",
    "Placement",
    "PluginSettings",
    "PostTrainConfig",
    "ScheduleSettings",
    "SearchConfig",
    "StandardTraining",
    "StoreConfig",
    "StrictSection",
    "StructureConfig",
    "TrainingConfig",
    "TransferConfig",
    "format_validation_error",
    "grammar_text",
    "invalid_value",
    "load_config",
    "load_yaml",
    "parse_config",
    "parse_yaml",
    "read_config_data",
    "read_text",
    "set_override",
    "settings_section",
    "unregister_section",
]
