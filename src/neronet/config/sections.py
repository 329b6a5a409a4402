"""Config sections that plug-ins own: a plug-in with settings declares them beside itself.

A strategy, objective, measurement or attack with settings of its own subclasses
:class:`PluginSettings` in (or beside) its module and registers it under a top-level
config key::

    @settings_section("toy-depth")
    class ToyDepthSettings(PluginSettings):
        scale: Float = Field(default=1.0, gt=0)

and reads it with ``ToyDepthSettings.of(config.sections)``. The schema
(:class:`~neronet.config.NeroConfig`) validates every registered section from the key
of that name (a bad value is the usual one-line error naming ``toy-depth.scale``),
fills in its defaults when the key is absent, and writes it back with the rest, so
adding a plug-in with settings outside neronet touches no module of neronet (neronet's
own are named in ``_BUILTINS``). A section whose key is
not registered yet makes the schema load the installed plug-ins
(:func:`neronet.plugins.load_installed`) first; a stored run read where the plug-in
that owned a section is not installed keeps that section as it was written.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Self

from neronet.config.core import StrictSection

SECTIONS: dict[str, type[PluginSettings]] = {}
"""Registered plug-in sections by config key (what :func:`settings_section` added)."""
_BUILTINS = ["neronet.search.ras_settings", "neronet.attacks.blackbox_settings"]
"""Modules of neronet's own plug-in sections, imported on the first :func:`registered`
(not here: each imports this module to register itself)."""


def registered() -> dict[str, type[PluginSettings]]:
    """Every registered plug-in section by key, neronet's own imported first."""
    while _BUILTINS:
        importlib.import_module(_BUILTINS.pop(0))
    return SECTIONS


class PluginSettings(StrictSection):
    """Base of a plug-in's own settings section."""

    @classmethod
    def key(cls) -> str:
        """The config key this section is registered under."""
        for key, model in registered().items():
            if model is cls:
                return key
        raise LookupError(f"{cls.__name__} is not a registered settings section")

    @classmethod
    def of(cls, sections: Mapping[str, Any]) -> Self:
        """This plug-in's validated settings among a config's ``sections`` (its defaults
        where they hold none, e.g. settings built by hand in a test)."""
        value = sections.get(cls.key())
        if value is None:
            return cls()
        if not isinstance(value, cls):
            raise TypeError(f"config section {cls.key()!r} is not {cls.__name__}")
        return value


def settings_section(key: str, *, replace: bool = False) -> Callable[[type[Any]], type[Any]]:
    """Class decorator: register a :class:`PluginSettings` subclass under config key ``key``.

    Taking a key that is registered already, or one of the schema's own sections, is a
    bug (two plug-ins would read each other's settings) unless ``replace`` says it is
    meant, e.g. in a test."""

    def register(model: type[Any]) -> type[Any]:
        from neronet.config.root import NeroConfig

        if not (isinstance(model, type) and issubclass(model, PluginSettings)):
            raise TypeError(f"settings section {key!r} must subclass PluginSettings")
        if key in NeroConfig.model_fields or (key in SECTIONS and not replace):
            raise ValueError(f"config section {key!r} is taken; choose another key")
        SECTIONS[key] = model
        return model

    return register


def unregister_section(key: str) -> None:
    """Remove section ``key`` (a test's plug-in cleans up after itself)."""
    SECTIONS.pop(key, None)
