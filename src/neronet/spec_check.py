"""A NetworkSpec read from an untrusted source (a model file, a run database), checked.

Such a spec is checked as strictly as one neronet builds: JSON types exact (no ``"3"``
for 3, no ``true`` for 1), no unknown keys, the shape a (C, H, W) triple. The
architecture itself (layer parameters, wiring, shapes) is then the planner's to check
(:mod:`neronet.nn`) before anything is allocated. No torch here: the run store's
readers use it too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neronet.spec import MERGES, NetworkSpec, ParamValue


class _Exact(BaseModel):
    """Schema base: exact JSON types, no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid")


class _Layer(_Exact):
    kind: str
    params: dict[str, ParamValue] = {}


class _Node(_Exact):
    block: str
    module: str = ""
    inputs: list[int]
    layers: list[_Layer]
    merge: Literal[MERGES] = "concat"  # type: ignore[valid-type]


class _Spec(_Exact):
    input_shape: list[int] = Field(min_length=3, max_length=3)
    num_classes: int
    nodes: list[_Node]


def spec_from_data(data: Any) -> NetworkSpec:
    """The NetworkSpec in decoded JSON ``data``; ValueError saying where it is invalid."""
    try:
        _Spec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise ValueError(f"invalid at {where} ({first['msg']})") from None
    return NetworkSpec.from_dict(data)
