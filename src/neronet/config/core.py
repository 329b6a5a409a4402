"""What every settings section is built from: the strict base, the field types, and the
settings that several sections share (one definition each).

A bool, a string or a float where an int is expected, or a number where a bool is, is
surely a mistake (``seed: true`` silently became seed 1), and no count or seed needs
more than 31 bits; the types below refuse them in every section alike.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

MAX_INT = 2**31 - 1
MAX_BATCH = 10_000
"""Most candidates one generation may ask for (search.initial_size, search.offspring,
ras.initial_models x ras.children): a generation's candidates are drawn at once, so a
typo's extra digits would hang before anything is printed (10,000 draw in seconds)."""
MAX_EVALUATIONS = 1_000_000
"""Most evaluations a search may plan (the paper's: 401)."""


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


def _yaml_off(value: object) -> object:
    """YAML 1.1 reads a bare ``off`` as False; where a mode is expected, mean "off" by it."""
    return "off" if value is False else value


def distinct(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A list setting that names each value once."""
    if len(set(values)) != len(values):
        raise ValueError("a value is listed twice; list each once")
    return values


Int = Annotated[int, Strict(), AfterValidator(_not_huge)]
Float = Annotated[float, BeforeValidator(_not_bool)]
Bool = Annotated[bool, Strict()]
Device = Annotated[str, AfterValidator(_device)]
Amp = Annotated[Literal["auto", "off", "bf16", "fp16"], BeforeValidator(_yaml_off)]
"""Autocast mode: auto (bf16 where the GPU has it, else fp16 on CUDA, off on the CPU)."""
Mode = Annotated[Literal["auto", "off", "graphs", "compile"], BeforeValidator(_yaml_off)]
"""How a training step reaches the device (``training.compile``)."""

# The masking check of the search and the audit of ``neronet attack`` probe the same
# things with their own defaults (the audit has more images, so it may be stricter).
Share = Annotated[Float, Field(ge=0, le=1)]
"""An accuracy share (0.1 = 10 points)."""
ProbeImages = Annotated[Int, Field(ge=1, description="clean-correct images probed")]
Tolerance = Annotated[
    Float, Field(ge=0, le=1, description="accuracy gap beyond which a check fires")
]
MinImages = Annotated[
    Int, Field(ge=1, description="a gap of fewer images never fires (small-subset noise)")
]
LargeEps = Annotated[Float, Field(gt=0, description="L-inf eps where accuracy must be ~0")]


class StrictSection(BaseModel):
    """Base of every settings section: unknown keys are errors (typos must not pass
    silently) and settings are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Placement(StrictSection):
    """Where and how a network runs: shared by search-time training (``training``) and
    post-search training (``posttrain``), so each setting means the same in both."""

    device: Device = "auto"
    amp: Amp = "auto"
    channels_last: Bool = Field(default=True, description="channels-last memory (faster on GPU)")
    eval_batch_size: Int = Field(default=512, ge=1)


class Augmentation(StrictSection):
    """The on-device augmentation of every training (pad, random crop, flip)."""

    augment: Bool = True
    augment_pad: Int | None = Field(
        default=None, ge=0, description="crop padding in pixels (default: round(H/8), 4 on 32x32)"
    )
