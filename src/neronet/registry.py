"""``Registry[T]``: named plug-ins (strategies, objectives, measurements, attacks, ...).

One small helper serves every kind of plug-in, in the manner of timm's
``register_model`` / ``create_model`` / ``list_models``: a new method is a
registered piece, found by the name a config gives, and an unknown name is a
one-line error that lists the names that exist. ``neronet.plugins.check_plugins``
reads the names from here instead of the config repeating them in ``Literal[...]`` types.

A registry may name the modules of its built-in plug-ins: they are imported on the
registry's first lookup, not by the registry's module, so a plug-in module imports its
registry without the registry importing it back (no import cycle). The first lookup of
any registry also loads the installed plug-ins (``neronet.plugins.load_installed``), in
whichever process it happens.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

from neronet.errors import ConfigError
from neronet.plugins import load_installed

T = TypeVar("T")


class UnknownName(ConfigError):
    """A name that no plug-in of a registry is registered under."""


class Registry(Generic[T]):
    """Plug-ins of one kind (``what``, e.g. "measurement") by name."""

    def __init__(self, what: str, builtins: Sequence[str] = ()) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        self._builtins = list(builtins)

    def _loaded(self) -> dict[str, T]:
        """The plug-ins, once the built-in modules (which register themselves) are imported."""
        while self._builtins:
            importlib.import_module(self._builtins.pop(0))
        load_installed()
        return self._items

    def register(self, name: str, item: T | None = None, *, replace: bool = False) -> Any:
        """Register ``item`` under ``name`` and return it; without ``item``, a decorator.

        Registering a taken name is a bug (two plug-ins would silently shadow
        each other) unless ``replace`` says it is meant, e.g. in a test.
        """

        def add(value: T) -> T:
            if name in self._items and not replace:
                raise ValueError(f"{self.what} {name!r} is registered already")
            self._items[name] = value
            return value

        return add if item is None else add(item)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (plug-ins registered by a test clean up after themselves)."""
        self._loaded().pop(name, None)

    def get(self, name: str) -> T:
        """The plug-in called ``name``; an unknown name is a one-line error listing the known."""
        try:
            return self._loaded()[name]
        except KeyError:
            raise UnknownName(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """The error for an unknown ``name``: the known ones sorted, since the registration
        order depends on which module a process happened to import first."""
        return f"unknown {self.what} {name!r}; choose one of {', '.join(sorted(self.names()))}"

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._loaded())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())
