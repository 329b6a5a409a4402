"""The one-line form of a config mistake: which key, what is wrong, how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError


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


def unknown_key(source: str, loc: tuple[Any, ...], known: Iterable[str]) -> str:
    """A key nothing reads, with the closest known one at its place as the fix."""
    key = ".".join(str(p) for p in loc)
    close = difflib.get_close_matches(str(loc[-1]), list(known), n=1)
    near = ".".join([*(str(p) for p in loc[:-1]), close[0]]) if close else ""
    hint = f"did you mean '{near}'?" if close else "remove it or check its spelling"
    return f"{source}: unknown key '{key}'; {hint}"


def format_validation_error(
    err: ValidationError,
    source: str,
    model: type[BaseModel] | None = None,
    prefix: tuple[str, ...] = (),
) -> str:
    """The first problem of ``err`` (raised by ``model``, the whole config by default, at
    the config path ``prefix``) as one line."""
    if model is None:
        from neronet.config.root import NeroConfig

        model = NeroConfig
    first = err.errors()[0]
    loc = (*prefix, *first["loc"])
    if first["type"] == "extra_forbidden":
        return unknown_key(source, loc, _keys_at(model, tuple(first["loc"])))
    key = ".".join(str(p) for p in loc) or "(top level)"
    return invalid_value(source, key, first["msg"].removeprefix("Value error, "))


def invalid_value(source: str, key: str, problem: str) -> str:
    """The one-line form of a setting's bad value (schema and plug-in checks alike)."""
    return f"{source}: invalid value for '{key}': {problem}; fix it in the config or override"
