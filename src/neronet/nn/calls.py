"""A torch.nn constructor call kept as data.

The builder and the source exporter must create exactly the same modules in
the same order (otherwise state_dict keys of a built model and an exported
class drift apart). Planning therefore emits :class:`Call` records once; the
builder instantiates them and the exporter prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import nn

Arg = int | float | bool | str | tuple[int, ...]


def literal(value: Arg) -> str:
    """Python source for a constructor argument (``repr`` except for infinities)."""
    if isinstance(value, float) and math.isinf(value):
        return f"float('{'-' if value < 0 else ''}inf')"
    return repr(value)


@dataclass(frozen=True)
class Call:
    """``torch.nn.<name>(**kwargs)``."""

    name: str
    kwargs: dict[str, Arg] = field(default_factory=dict)

    def make(self) -> nn.Module:
        return getattr(nn, self.name)(**self.kwargs)

    def source(self) -> str:
        args = ", ".join(f"{key}={literal(value)}" for key, value in self.kwargs.items())
        return f"nn.{self.name}({args})"


def call(name: str, **kwargs: Arg) -> Call:
    """Shorthand for ``Call(name, kwargs)``."""
    return Call(name, kwargs)
