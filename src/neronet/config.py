"""Run configuration: YAML validated by pydantic.

Every setting of the method is here with the paper's value as default (Table 1
of NERO-Net; see docs/METHOD.md), so ``NeroConfig()`` *is* the paper's setup apart
from the dataset. Unknown keys and out-of-range values are rejected with a
one-line :class:`~neronet.errors.ConfigError` naming the key and the fix.
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from neronet.errors import ConfigError
from neronet.grammar import MAX_DEPTH
from neronet.limits import MAX_PARAMETERS

SEED_MODULES = ("stem", "features", "last-transition", "softmax")
"""Modules the NSGA-Net seed fills; a structure without them starts from random units."""
PACKAGE_CONFIGS = "configs"
DEFAULT_CONFIG = "quickstart.yaml"

MAX_INT = 2**31 - 1
MAX_BATCH = 10_000
"""Most candidates one generation may ask for (search.initial_size, search.offspring,
ras.initial_models x ras.children): a generation's candidates are drawn at once, so a
typo's extra digits would hang before anything is printed (10,000 draw in seconds)."""
MAX_EVALUATIONS = 1_000_000
"""Most evaluations a search may plan (the paper's: 401)."""
MAX_RAS_PARTS = 1_000
"""Most blocks per initial RAS model, and layers per initial block."""
MAX_YAML_VALUES = 100_000
"""Most values a config's YAML may hold once its aliases are expanded (billion laughs)."""


def _not_huge(value: int) -> int:
    """Refuse ints beyond 31 bits; a validator (not ``le``) so fields keep their own bounds."""
    if abs(value) > MAX_INT:
        raise ValueError(f"{value} is beyond the limit of {MAX_INT}")
    return value


def _not_bool(value: object) -> object:
    """Refuse a YAML true/false where a number is expected (pydantic reads it as 1/0)."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a boolean, not a number")
    return value


def _device(name: str) -> str:
    """Refuse a device neronet cannot train on (``mps``, ``meta``, a typo) at parse time;
    torch accepted the names and failed deep inside the first training step."""
    if name in ("auto", "cpu") or re.fullmatch(r"cuda(:\d+)?", name):
        return name
    raise ValueError(f"unknown device '{name}'; use auto, cpu or cuda[:N]")


# Field types of every settings section. A bool, a string or a float where an
# int is expected, or a number where a bool is, is surely a mistake (``seed:
# true`` silently became seed 1), and no count or seed needs more than 31 bits.
def _yaml_off(value: object) -> object:
    """YAML 1.1 reads a bare ``off`` as False; where a mode is expected, mean "off" by it."""
    return "off" if value is False else value


Int = Annotated[int, Strict(), AfterValidator(_not_huge)]
Float = Annotated[float, BeforeValidator(_not_bool)]
Bool = Annotated[bool, Strict()]
Device = Annotated[str, AfterValidator(_device)]


class StrictSection(BaseModel):
    """Base of every settings section: unknown keys are errors (typos must not pass
    silently) and settings are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    dataset: Literal["digits", "fashion-mnist", "cifar10"] = "cifar10"
    path: str | None = None
    cache_dir: str | None = None
    download: Bool = False
    # Counts (>= 1) or fractions (< 1) of the training set. Unset: the paper's
    # 43,000 / 3,500 / 3,500 of CIFAR-10's 50,000, scaled to the dataset's size.
    train: Float | None = Field(default=None, gt=0, description="evolutionary training set")
    control: Float | None = Field(default=None, gt=0, description="early-stopping set")
    fitness: Float | None = Field(default=None, gt=0, description="fitness-evaluation set")


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
        description="aging evolution: members a tournament samples (Real et al.'s S; "
        "initial_size is its population P), capped at the population",
    )
    reevaluate_duplicates: Bool = False
    reevaluate_parent: Bool = Field(
        default=True,
        description="train the parent again from scratch every generation (Fast-DENSER, "
        "NERO-Net); false keeps its first measurement while it survives",
    )

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


class MaskingConfig(StrictSection):
    """The in-search gradient-masking check (measurement ``masking``), on a subset of the
    fitness set's clean-correct images; shares are accuracies (0.1 = 10 points)."""

    subset: Int = Field(default=64, ge=1, description="clean-correct images probed")
    pgd_steps: Int = Field(default=5, ge=1, description="steps of the PGD probes")
    large_eps: Float = Field(default=0.5, gt=0, description="L-inf eps where accuracy must be ~0")
    large_eps_max_accuracy: Float = Field(default=0.1, ge=0, le=1)
    tolerance: Float = Field(default=0.1, ge=0, le=1, description="gap that counts")
    min_images: Int = Field(default=3, ge=1, description="a gap must be worth this many images")
    credit: Literal["pgd", "zero"] = Field(
        default="pgd",
        description="robustness credited to a flagged individual: its PGD accuracy on the "
        "probed images, or nothing",
    )


class ParetoTarget(StrictSection):
    """One objective of the ``pareto`` objective: a metric, its direction, and the box
    its hypervolume is measured in (``reference``: the worst value that still counts,
    ``ideal``: the best one; the hypervolume is a share of that box, 1 at the ideal)."""

    metric: str = Field(min_length=1, description="a metric a configured measurement provides")
    goal: Literal["max", "min"]
    reference: Float | None = Field(
        default=None, description="worst value counted by the hypervolume (default 0 for max)"
    )
    ideal: Float | None = Field(
        default=None, description="best value (default 1 for max, 0 for min)"
    )

    @model_validator(mode="after")
    def _box(self) -> ParetoTarget:
        if self.goal == "min" and self.reference is None:
            raise ValueError(
                f"pareto objective {self.metric!r} (goal min) needs a reference: the worst "
                "value the hypervolume counts"
            )
        reference, ideal = self.bounds
        if (ideal > reference) != (self.goal == "max"):
            raise ValueError(
                f"pareto objective {self.metric!r}: ideal {ideal} must be "
                f"{'above' if self.goal == 'max' else 'below'} reference {reference}"
            )
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """``(reference, ideal)`` with the defaults filled in."""
        default_ideal = 1.0 if self.goal == "max" else 0.0
        reference = 0.0 if self.reference is None else self.reference
        return reference, default_ideal if self.ideal is None else self.ideal


DEFAULT_PARETO = (
    ParetoTarget(metric="clean_accuracy", goal="max"),
    ParetoTarget(metric="adversarial_accuracy", goal="max"),
    # 10M parameters: three times the NSGA-Net seed; larger networks add no hypervolume
    ParetoTarget(metric="parameters", goal="min", reference=1e7),
)


class FitnessConfig(StrictSection):
    warmup_tau: Float = Field(default=0.80, ge=0, le=1)
    beta: Float = Field(default=4.0, gt=0)
    attack_eps: Float = Field(default=8 / 255, ge=0)
    attack_batch_size: Int = Field(default=128, ge=1)
    pgd_steps: Int = Field(
        default=5,
        ge=1,
        description="steps of the pgd measurement (L-inf, attack_eps, step attack_eps/4, "
        "random start): the pgd objective's A",
    )
    ill_fitted_share: Float = Field(
        default=0.5, gt=0, le=1, description="one class predicted for more than this share"
    )
    ill_fitted_penalty: Float = Field(default=0.0)
    masking: MaskingConfig = Field(default_factory=MaskingConfig)
    pareto: tuple[ParetoTarget, ...] = Field(
        default=DEFAULT_PARETO,
        min_length=1,
        description="objectives of search.objective: pareto, each {metric, goal: max|min}",
    )
    reduced_precision: Bool = Field(
        default=False,
        description="measure clean and FGSM accuracy under the training autocast dtype "
        "(faster on GPU); off = fp32, since low-precision input gradients can weaken FGSM "
        "and so reward networks whose gradients degrade in bf16",
    )


DEFAULT_MEASUREMENTS = ("clean", "fgsm", "masking", "parameters")


class EvaluationConfig(StrictSection):
    """What is measured of every trained individual (registered measurement names)."""

    measurements: tuple[str, ...] = Field(default=DEFAULT_MEASUREMENTS, min_length=1)
    transfer_set: str | None = Field(
        default=None,
        description="the stored adversarial set of the transfer measurement (neronet "
        "transfer-set); unset: evolve builds one into the run from the transfer section",
    )

    @field_validator("measurements")
    @classmethod
    def _once(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != len(names):
            raise ValueError("a measurement is listed twice; list each once")
        return names


class TrainingConfig(StrictSection):
    device: Device = "auto"
    max_epochs: Int | None = Field(default=None, ge=1, description="epoch cap on top of time")
    # PyTorch convention: grad += w * theta. Keras' kernel_regularizer=l2(lam) adds
    # lam * sum(theta^2) to the loss, i.e. w = 2 * lam. The paper's value is lost; its
    # source of truth is Fast-DENSER's Keras l2(5e-4) on conv/fc kernels, so w = 1e-3.
    weight_decay: Float = Field(
        default=1e-3,
        ge=0,
        description="L2 on conv/fc kernels as PyTorch weight_decay w (= 2 x Keras l2 lambda)",
    )
    augment: Bool = True
    augment_pad: Int | None = Field(
        default=None, ge=0, description="crop padding in pixels (default: round(H/8), 4 on 32x32)"
    )
    channels_last: Bool = True
    amp: Annotated[Literal["auto", "off", "bf16", "fp16"], BeforeValidator(_yaml_off)] = "auto"
    compile: Annotated[Literal["auto", "off", "graphs", "compile"], BeforeValidator(_yaml_off)] = (
        Field(
            default="auto",
            description="how a training step reaches the device: graphs = forward and backward "
            "replayed as one CUDA graph, compile = torch.compile, off = eager; auto: graphs on "
            "CUDA, off on the CPU",
        )
    )
    eval_batch_size: Int = Field(default=512, ge=1)
    max_parameters: Int = Field(
        default=MAX_PARAMETERS,
        ge=1,
        description="architectures with more trainable parameters are invalid, never allocated",
    )


class StoreConfig(StrictSection):
    keep_best: Int = Field(default=5, ge=1, description="weights kept besides generation parents")


class ExecutorConfig(StrictSection):
    kind: Literal["local", "workers", "ray"] = "local"
    devices: list[str] = Field(default_factory=list, description="worker devices (workers)")
    address: str | None = None
    num_gpus: Float = Field(default=1.0, ge=0)
    num_cpus: Float = Field(default=1.0, gt=0)
    workers: Int | None = Field(
        default=None,
        ge=1,
        description="worker processes / Ray actors (default: one per device or GPU; 2 on CPU)",
    )
    workers_per_device: Int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="workers: candidates evaluated at once on each device (several share a "
        "GPU under a memory guard; see docs/DISTRIBUTED.md)",
    )
    threads: Int | None = Field(
        default=None,
        ge=1,
        description="torch CPU threads per worker (default: cores shared out; Ray: num_cpus)",
    )
    max_retries: Int = Field(
        default=1, ge=0, description="re-queues of an individual whose worker died"
    )
    ship_data: Bool = Field(
        default=False,
        description="Ray: load data in the search process, share it via the object store",
    )

    @model_validator(mode="after")
    def _one_count(self) -> ExecutorConfig:
        if self.workers is not None and self.workers_per_device is not None:
            raise ValueError(
                "executor.workers and executor.workers_per_device both set; set one: the "
                "total number of workers, or how many share each device"
            )
        return self


# ---------------------------------------------------------------- post-search training
class ScheduleSettings(StrictSection):
    """Settings shared by both schedules (defaults overridden per schedule)."""

    epochs: Int = Field(ge=1)
    batch_size: Int = Field(ge=1)
    lr: Float = Field(gt=0)
    momentum: Float = Field(default=0.9, ge=0, lt=1)
    weight_decay: Float = Field(ge=0, description="L2 on conv/fc kernels only")
    grad_clip: Float = Field(default=5.0, gt=0, description="max global gradient L2 norm")
    schedule: Literal["cosine", "step"]
    milestones: tuple[float, ...] = Field(
        default=(), description="step schedule: lr x gamma after these fractions of the epochs"
    )
    gamma: Float = Field(default=0.1, gt=0, le=1)
    augment: Bool = True
    augment_pad: Int | None = Field(
        default=None, ge=0, description="crop padding (default: round(H/8), 4 on 32x32)"
    )

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, milestones: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < m < 1 for m in milestones):
            raise ValueError("milestones are fractions of the epochs, each in (0, 1)")
        return milestones


class StandardTraining(ScheduleSettings):
    """Paper section 6, standard training (weight decay chosen: NSGA-Net's 3e-4)."""

    epochs: Int = Field(default=350, ge=1)
    batch_size: Int = Field(default=128, ge=1)
    lr: Float = Field(default=0.025, gt=0)
    weight_decay: Float = Field(default=3e-4, ge=0)
    schedule: Literal["cosine", "step"] = "cosine"


class AdversarialTraining(ScheduleSettings):
    """Paper section 6, Madry PGD-7 adversarial training (weight decay chosen: 5e-4)."""

    epochs: Int = Field(default=200, ge=1)
    batch_size: Int = Field(default=64, ge=1)
    lr: Float = Field(default=0.1, gt=0)
    weight_decay: Float = Field(default=5e-4, ge=0)
    schedule: Literal["cosine", "step"] = "step"
    milestones: tuple[float, ...] = (0.5, 0.75)
    eps: Float = Field(default=8 / 255, gt=0, description="L-inf radius of the PGD examples")
    alpha: Float = Field(default=2 / 255, gt=0, description="PGD step size")
    steps: Int = Field(default=7, ge=1, description="PGD iterations per batch")
    random_start: Bool = True


class PostTrainConfig(StrictSection):
    """Everything ``neronet train`` needs besides the architecture and the data."""

    mode: Literal["standard", "adversarial"] = "standard"
    seeds: Int = Field(default=10, ge=1, description="number of seeds (the paper uses 10)")
    first_seed: Int = Field(default=0, ge=0, description="seeds are first_seed, first_seed+1, ...")
    device: Device = "auto"
    amp: Annotated[Literal["auto", "off", "bf16", "fp16"], BeforeValidator(_yaml_off)] = "auto"
    channels_last: Bool = Field(default=True, description="channels-last memory (faster on GPU)")
    eval_batch_size: Int = Field(default=512, ge=1)
    holdout: Float = Field(
        default=0.2,
        gt=0,
        description="dataset without a test split: the fraction (or count) of its training "
        "images held out as one (0.2 = 10,000 of CIFAR-10's 50,000)",
    )
    holdout_seed: Int = Field(default=0, ge=0, description="seed of the held-out draw")
    search_eps: Float | None = Field(
        default=None,
        gt=0,
        description="L-inf eps of the search the architecture came from (train --run sets "
        "it); recorded in the model so neronet attack defaults to that threat model",
    )
    standard: StandardTraining = Field(default_factory=StandardTraining)
    adversarial: AdversarialTraining = Field(default_factory=AdversarialTraining)

    @property
    def schedule(self) -> StandardTraining | AdversarialTraining:
        """The settings of the selected mode."""
        return self.standard if self.mode == "standard" else self.adversarial

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


# ------------------------------------------------------------------------- attacks
class AuditSettings(StrictSection):
    """The gradient-masking audit; thresholds are accuracy shares (0.02 = 2 points)."""

    enabled: Bool = True
    subset: Int = Field(default=200, ge=1, description="clean-correct images the audit attacks")
    tolerance: Float = Field(
        default=0.02, ge=0, le=1, description="accuracy gap beyond which a check fires"
    )
    min_images: Int = Field(
        default=3, ge=1, description="a gap of fewer images never fires (small-subset noise)"
    )
    square_queries: Int = Field(default=1000, ge=1, description="Square attack query budget")
    large_eps: Float = Field(default=0.5, gt=0, description="L-inf eps where accuracy must be ~0")
    large_eps_max_accuracy: Float = Field(default=0.05, ge=0, le=1)
    convergence_steps: Int = Field(default=100, ge=1, description="PGD steps of the strong run")
    convergence_restarts: Int = Field(default=5, ge=1, description="random restarts of it")
    fgsm_gap: Float = Field(
        default=0.10, ge=0, le=1, description="FGSM above PGD by more: FGSM is optimistic"
    )
    single_step_probe_steps: Int = Field(
        default=10, ge=1, description="PGD steps of the single-step row's masking probes"
    )


class AttackSettings(StrictSection):
    """Settings of ``neronet attack``, defaults from the paper (or chosen where it lost them)."""

    linf_eps: Float = Field(
        default=8 / 255, gt=0, le=1, description="L-inf radius (images in [0, 1])"
    )
    l2_eps: Float = Field(default=0.5, gt=0)
    linf_step: Float | None = Field(
        default=None, gt=0, description="PGD L-inf step (default eps/4: 2/255 at 8/255)"
    )
    l2_step: Float | None = Field(default=None, gt=0, description="PGD L2 step (default eps/4)")
    steps: Int = Field(default=20, ge=1, description="PGD iterations")
    random_start: Bool = True
    batch_size: Int = Field(default=32, ge=1, description="attack batch size (paper: 32)")
    limit: Int | None = Field(default=None, ge=1, description="attack only the first N test images")
    seed: Int = Field(default=0, ge=0, description="seeds PGD random starts and AutoAttack")
    autoattack_restarts: Int = Field(
        default=1,
        ge=1,
        description="APGD-CE restarts of the L2 APGD-CE + APGD-T run (L-inf AutoAttack is "
        "always the standard version)",
    )
    audit: AuditSettings = Field(default_factory=AuditSettings)

    def eps(self, threat: str) -> float:
        return self.linf_eps if threat == "linf" else self.l2_eps

    def step(self, threat: str) -> float:
        """PGD step size: the explicit one, else a quarter of the radius."""
        step = self.linf_step if threat == "linf" else self.l2_step
        return step if step is not None else self.eps(threat) / 4


# ------------------------------------------------------------------ transfer set
TRANSFER_SOURCES = ("capsnet", "resnet", "adversarial", "feature-squeezing")
"""The paper's Table 1 sources, in its order (neronet.transfer.sources); nsga-net is extra."""


def _distinct(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise ValueError("a value is listed twice; list each once")
    return values


class BlackBoxBudget(StrictSection):
    """One optimiser's budget per attacked image (the run stops at the first success)."""

    popsize: Int = Field(
        default=400, ge=5, description="candidates per generation (DE: see docs/METHOD.md)"
    )
    iterations: Int = Field(default=100, ge=1, description="generations at most")


class TransferConfig(StrictSection):
    """How ``neronet transfer-set`` (and a run without ``evaluation.transfer_set``) builds
    RAS's stored adversarial set: black-box attacks on source models (paper, Table 1).

    Thresholds, attacks, optimisers and sources (CapsNet, ResNet, adversarial training,
    feature squeezing defending the ResNet) are the paper's, the ResNet a ResNet-style
    net; the NSGA-Net seed may be added. Budgets and squeezers are the authors' code's;
    images per source and epochs are not in the paper (chosen)."""

    sources: Annotated[
        tuple[Literal["capsnet", "resnet", "adversarial", "feature-squeezing", "nsga-net"], ...],
        AfterValidator(_distinct),
    ] = Field(default=TRANSFER_SOURCES, min_length=1)
    attacks: Annotated[tuple[Literal["l0", "linf"], ...], AfterValidator(_distinct)] = Field(
        default=("l0", "linf"), min_length=1
    )
    thresholds: Annotated[
        tuple[Annotated[Int, Field(ge=1, le=255)], ...], AfterValidator(_distinct)
    ] = Field(default=(1, 3, 5, 10), min_length=1, description="pixels (l0) or grey levels")
    optimisers: Annotated[tuple[Literal["de", "cmaes"], ...], AfterValidator(_distinct)] = Field(
        default=("de", "cmaes"), min_length=1
    )
    images: Int = Field(
        default=100, ge=1, description="test images attacked per source (correctly classified)"
    )
    de: BlackBoxBudget = Field(default_factory=BlackBoxBudget)
    cmaes: BlackBoxBudget = Field(default_factory=BlackBoxBudget)
    epochs: Int = Field(default=30, ge=1, description="standard training of the sources")
    adversarial_epochs: Int = Field(default=30, ge=1, description="PGD training of 'adversarial'")
    squeeze_bits: Int = Field(default=5, ge=1, le=8, description="feature squeezing's bit depth")
    squeeze_median: Int = Field(
        default=1, ge=1, description="feature squeezing's median window side (1: none)"
    )
    whitebox: Bool = Field(
        default=False,
        description="also PGD (L-inf, each threshold) against the sources: faster, white-box, "
        "recorded as optimiser 'pgd'",
    )
    pgd_steps: Int = Field(default=10, ge=1)
    seed: Int = Field(default=0, ge=0, description="source training seed and attack seeds")
    device: Device = "auto"
    batch_size: Int = Field(default=1024, ge=1, description="images per forward pass")


class RasConfig(StrictSection):
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


class NeroConfig(StrictSection):
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
    ras: RasConfig = Field(default_factory=RasConfig)

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
        """The part of the config that must not change when a run is resumed.

        Where and how big it may run is not: the executor, the device, and the
        parameter cap (a memory limit of the machine; runs recorded before the
        cap existed must resume without --allow-changed); nor what happens after
        the search (post-search training and attacks); nor how the transfer set is
        named or built: the run records its checksum instead (``neronet.transfer``).
        """
        data = self.model_dump(mode="json")
        for after_search in ("executor", "posttrain", "attack", "transfer"):
            data.pop(after_search)
        data["evaluation"].pop("transfer_set")
        data["training"].pop("device")
        data["training"].pop("max_parameters")
        return data


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The setting names valid where ``loc`` (a validation error's path) points."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        inner = field.annotation
        candidates = [inner, *getattr(inner, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def format_validation_error(
    err: ValidationError, source: str, model: type[BaseModel] | None = None
) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        known = _keys_at(model or NeroConfig, tuple(first["loc"]))
        close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
        near = ".".join([*(str(p) for p in first["loc"][:-1]), close[0]]) if close else ""
        hint = f"did you mean '{near}'?" if close else "remove it or check its spelling"
        return f"{source}: unknown key '{key}'; {hint}"
    return invalid_value(source, key, first["msg"].removeprefix("Value error, "))


def invalid_value(source: str, key: str, problem: str) -> str:
    """The one-line form of a setting's bad value (schema and plug-in checks alike)."""
    return f"{source}: invalid value for '{key}': {problem}; fix it in the config or override"


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
        value = load_yaml(raw, f"override '{key.strip()}'")
    except yaml.YAMLError:
        value = raw  # not YAML: the value is the literal text
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


def _too_deep(source: str) -> ConfigError:
    """PyYAML composes nested lists by recursion, so deep nesting ends in RecursionError."""
    return ConfigError(
        f"{source}: the YAML is nested too deeply to be a config; write settings as a "
        "mapping of sections"
    )


def load_yaml(text: str, source: str) -> Any:
    """The package's one YAML loader: ``yaml.safe_load`` (no Python objects), refusing a
    document too deep or too big once its aliases are expanded, and one that contains
    itself. PyYAML builds an alias as a shared reference, so a "billion laughs" of nine
    anchors loads at once and hangs whatever walks it next (validation, a copy, JSON);
    the expanded size is counted here, each shared value once. Raises ``yaml.YAMLError``
    for text that is not YAML (the caller words that) and ConfigError for the rest."""
    try:
        data = yaml.safe_load(text)
        _expanded_size(data, {}, set(), source)
    except RecursionError:
        raise _too_deep(source) from None
    return data


def _expanded_size(value: Any, sizes: dict[int, int], open_: set[int], source: str) -> int:
    """How many values ``value`` holds with every alias written out (refused beyond
    :data:`MAX_YAML_VALUES`); ``sizes`` remembers shared values, ``open_`` the path."""
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise ConfigError(
            f"{source}: the YAML contains itself through an alias (*name inside its own "
            "&name); write the values out"
        )
    open_.add(key)
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1 + sum(_expanded_size(item, sizes, open_, source) for item in items)
    open_.discard(key)
    if total > MAX_YAML_VALUES:
        raise ConfigError(
            f"{source}: the YAML expands to more than {MAX_YAML_VALUES:,} values through its "
            "aliases (&name / *name); a config is small: write the values out"
        )
    sizes[key] = total
    return total


def parse_yaml(text: str, source: str) -> Any:
    """:func:`load_yaml` with a one-line error that says what was wrong.

    Safe loading refuses tags that construct Python objects (``!!python/object``
    and the like); that is a refusal, not a syntax error, so say so.
    """
    try:
        return load_yaml(text, source)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}: line {mark.line + 1}" if mark is not None else source
        tag = re.search(r"tag '([^']+)'", str(getattr(err, "problem", "")))
        if isinstance(err, yaml.constructor.ConstructorError) and tag is not None:
            name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
            raise ConfigError(
                f"{where}: the tag '{name}' is refused: configs are plain YAML (mappings, "
                "lists, numbers, strings), never Python objects; remove the tag"
            ) from None
        raise ConfigError(f"{where} is not valid YAML; fix the syntax") from None


def read_config_data(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """Read a YAML file (or the packaged quickstart when ``path`` is None)."""
    if path is None:
        ref = resources.files("neronet").joinpath(PACKAGE_CONFIGS, DEFAULT_CONFIG)
        return parse_yaml(ref.read_text(), DEFAULT_CONFIG) or {}, DEFAULT_CONFIG
    file = Path(path)
    if not file.is_file():
        packaged = _packaged(PACKAGE_CONFIGS, str(path))
        if packaged is None:
            raise ConfigError(f"config file '{path}' not found; pass an existing YAML file")
        return parse_yaml(packaged.read_text(), str(path)) or {}, str(path)
    return parse_yaml(read_text(file, "config"), str(path)) or {}, str(path)


def _packaged(folder: str, name: str) -> Traversable | None:
    """A file shipped in ``neronet/<folder>`` named by its bare file name; None for
    anything else (a path such as ``../cli/__init__.py`` never reaches into the package)."""
    if not name or name != Path(name).name or name in (".", ".."):
        return None
    ref = resources.files("neronet").joinpath(folder, name)
    return ref if ref.is_file() else None


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
    packaged = _packaged("grammars", name)
    if packaged is not None:
        return packaged.read_text(), name
    raise ConfigError(
        f"grammar '{name}' not found; set structure.grammar to a file path or a shipped grammar"
    )
