"""Run configuration: YAML validated by pydantic.

Every setting of the method is here with the paper's value as default (Table 1
of NERO-Net; see PROTOCOL.md), so ``NeroConfig()`` *is* the paper's setup apart
from the dataset. Unknown keys and out-of-range values are rejected with a
one-line :class:`~neronet.errors.ConfigError` naming the key and the fix.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from neronet.errors import ConfigError

SEED_MODULES = ("stem", "features", "last-transition", "softmax")
"""Modules the NSGA-Net seed fills; a structure without them starts from random units."""
PACKAGE_CONFIGS = "configs"
DEFAULT_CONFIG = "quickstart.yaml"


class StrictSection(BaseModel):
    """Base of every settings section: unknown keys are errors (typos must not pass
    silently) and settings are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModuleConfig(StrictSection):
    """One outer-level module: the (type, min, max, skip) tuple plus levels back."""

    name: str = Field(min_length=1)
    min: int = Field(ge=0)
    max: int = Field(ge=1)
    skip: bool = False
    levels_back: int = Field(default=1, ge=1)
    init_max: int | None = Field(
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
    max_depth: int = Field(default=10, ge=1, description="DSGE recursion limit")


class DataConfig(StrictSection):
    dataset: Literal["digits", "fashion-mnist", "cifar10"] = "cifar10"
    path: str | None = None
    cache_dir: str | None = None
    download: bool = False
    # Counts (>= 1) or fractions (< 1) of the training set. Unset: the paper's
    # 43,000 / 3,500 / 3,500 of CIFAR-10's 50,000, scaled to the dataset's size.
    train: float | None = Field(default=None, gt=0, description="evolutionary training set")
    control: float | None = Field(default=None, gt=0, description="early-stopping set")
    fitness: float | None = Field(default=None, gt=0, description="fitness-evaluation set")


class MutationRates(StrictSection):
    """Table 1 of NERO-Net, with Fast-DENSER's semantics (see neronet.mutation): add and
    remove are each attempted randint(1, 2) times per module, and replicate is the share
    of added units that copy an existing one (Fast-DENSER's "reuse"), not an operator
    of its own."""

    add_unit: float = Field(default=0.25, ge=0, le=1, description="per add attempt")
    replicate_unit: float = Field(
        default=0.35, ge=0, le=1, description="probability that an added unit is a copy"
    )
    remove_unit: float = Field(default=0.25, ge=0, le=1, description="per remove attempt")
    add_connection: float = Field(default=0.15, ge=0, le=1)
    remove_connection: float = Field(default=0.15, ge=0, le=1)
    dsge_layer: float = Field(default=0.15, ge=0, le=1)
    dsge_learning: float = Field(default=0.30, ge=0, le=1)
    train_longer: float = Field(default=0.10, ge=0, le=1)
    float_sigma: float = Field(default=0.15, gt=0, description="Gaussian sigma of float steps")
    float_sigma_mode: Literal["absolute", "range"] = Field(
        default="absolute",
        description="absolute: sigma in the terminal's own units (Fast-DENSER); "
        "range: sigma x (max - min) of the terminal",
    )


class SearchConfig(StrictSection):
    strategy: Literal["one-plus-lambda"] = "one-plus-lambda"
    generations: int = Field(default=100, ge=1)
    offspring: int = Field(default=4, ge=1, description="lambda of the (1+lambda)-ES")
    initial: Literal["seed", "random"] = Field(
        default="seed",
        description="seed: the NSGA-Net seed plus mutants (needs NERO-Net's modules); "
        "unset on a structure without them, random",
    )
    initial_size: int = Field(default=5, ge=1, description="individuals in generation 0")
    mutation: MutationRates = Field(default_factory=MutationRates)
    default_train_time: float = Field(default=600.0, gt=0, description="seconds")
    max_train_time: float = Field(default=1800.0, gt=0, description="seconds")
    reevaluate_duplicates: bool = False

    @model_validator(mode="after")
    def _times(self) -> SearchConfig:
        if self.max_train_time < self.default_train_time:
            raise ValueError("max_train_time must be >= default_train_time")
        return self


class FitnessConfig(StrictSection):
    warmup_tau: float = Field(default=0.80, ge=0, le=1)
    beta: float = Field(default=4.0, gt=0)
    attack_eps: float = Field(default=8 / 255, ge=0)
    attack_batch_size: int = Field(default=128, ge=1)
    ill_fitted_share: float = Field(
        default=0.5, gt=0, le=1, description="one class predicted for more than this share"
    )
    ill_fitted_penalty: float = Field(default=0.0)
    reduced_precision: bool = Field(
        default=False,
        description="measure clean and FGSM accuracy under the training autocast dtype "
        "(faster on GPU); off = fp32, since low-precision input gradients can weaken FGSM "
        "and so reward networks whose gradients degrade in bf16",
    )


class TrainingConfig(StrictSection):
    device: str = "auto"
    max_epochs: int | None = Field(default=None, ge=1, description="epoch cap on top of time")
    # PyTorch convention: grad += w * theta. Keras' kernel_regularizer=l2(lam) adds
    # lam * sum(theta^2) to the loss, i.e. w = 2 * lam. The paper's value is lost; its
    # source of truth is Fast-DENSER's Keras l2(5e-4) on conv/fc kernels, so w = 1e-3.
    weight_decay: float = Field(
        default=1e-3,
        ge=0,
        description="L2 on conv/fc kernels as PyTorch weight_decay w (= 2 x Keras l2 lambda)",
    )
    augment: bool = True
    augment_pad: int | None = Field(
        default=None, ge=0, description="crop padding in pixels (default: round(H/8), 4 on 32x32)"
    )
    channels_last: bool = True
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    eval_batch_size: int = Field(default=512, ge=1)


class StoreConfig(StrictSection):
    keep_best: int = Field(default=5, ge=1, description="weights kept besides generation parents")


class ExecutorConfig(StrictSection):
    kind: Literal["local", "workers", "ray"] = "local"
    devices: list[str] = Field(default_factory=list, description="worker devices (workers)")
    address: str | None = None
    num_gpus: float = Field(default=1.0, ge=0)
    num_cpus: float = Field(default=1.0, gt=0)
    workers: int | None = Field(
        default=None,
        ge=1,
        description="worker processes / Ray actors (default: one per device or GPU; 2 on CPU)",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description="torch CPU threads per worker (default: cores shared out; Ray: num_cpus)",
    )
    max_retries: int = Field(
        default=1, ge=0, description="re-queues of an individual whose worker died"
    )
    ship_data: bool = Field(
        default=False,
        description="Ray: load data in the search process, share it via the object store",
    )


class NeroConfig(StrictSection):
    seed: int = Field(default=0, ge=0)
    structure: StructureConfig = Field(default_factory=StructureConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    search: SearchConfig = Field(default_factory=SearchConfig, validate_default=True)
    fitness: FitnessConfig = Field(default_factory=FitnessConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)

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

    def search_relevant(self) -> dict[str, Any]:
        """The part of the config that must not change when a run is resumed."""
        data = self.model_dump(mode="json")
        data.pop("executor")
        data["training"].pop("device")
        return data


def format_validation_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'; remove it or check its spelling"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{source}: invalid value for '{key}': {msg}; fix it in the config or override"


def parse_config(data: dict[str, Any], source: str = "config") -> NeroConfig:
    """Validate a mapping into a NeroConfig, raising a one-line ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of settings")
    try:
        return NeroConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def set_override(data: dict[str, Any], assignment: str) -> None:
    """Apply a ``dotted.key=value`` override (value parsed as YAML) in place."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}' must look like key.sub=value")
    key, _, raw = assignment.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{assignment}' has an empty key")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{assignment}': '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def read_text(path: Path, what: str) -> str:
    """A user's text file, with a one-line error when it is unreadable or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} file '{path}' is not UTF-8 text; save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} file '{path}' ({err.strerror}); check it") from None


def read_config_data(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """Read a YAML file (or the packaged quickstart when ``path`` is None)."""
    if path is None:
        ref = resources.files("neronet").joinpath(PACKAGE_CONFIGS, DEFAULT_CONFIG)
        return yaml.safe_load(ref.read_text()) or {}, DEFAULT_CONFIG
    file = Path(path)
    if not file.is_file():
        packaged = resources.files("neronet").joinpath(PACKAGE_CONFIGS, str(path))
        if not packaged.is_file():
            raise ConfigError(f"config file '{path}' not found; pass an existing YAML file")
        return yaml.safe_load(packaged.read_text()) or {}, str(path)
    try:
        data = yaml.safe_load(read_text(file, "config"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML; fix the syntax") from None
    return data or {}, str(path)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> NeroConfig:
    """Load, apply ``key=value`` overrides and validate a run config."""
    data, source = read_config_data(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of settings")
    for assignment in overrides or []:
        set_override(data, assignment)
    return parse_config(data, source)


def grammar_text(config: NeroConfig, base_dir: Path | None = None) -> tuple[str, str]:
    """Return (text, name) of the grammar: a path, or a grammar shipped with neronet."""
    name = config.structure.grammar
    candidates = [Path(name)]
    if base_dir is not None:
        candidates.insert(0, base_dir / name)
    for cand in candidates:
        if cand.is_file():
            return read_text(cand, "grammar"), str(cand)
    packaged = resources.files("neronet").joinpath("grammars", name)
    if packaged.is_file():
        return packaged.read_text(), name
    raise ConfigError(
        f"grammar '{name}' not found; set structure.grammar to a file path or a shipped grammar"
    )
