"""``Registry[T]``: named plug-ins (strategies, objectives, measurements, attacks, ...).

One small helper serves every kind of plug-in, in the manner of timm's
``register_model`` / ``create_model`` / ``list_models``: a new method is a
registered piece, found by the name a config gives, and an unknown name is a
one-line error that lists the names that exist. Config validation reads the
names from here instead of repeating them in ``Literal[...]`` types.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from neronet.errors import ConfigError

T = TypeVar("T")


class UnknownName(ConfigError):
    """A name that no plug-in of a registry is registered under."""


class Registry(Generic[T]):
    """Plug-ins of one kind (``what``, e.g. "measurement") by name."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

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
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        """The plug-in called ``name``; an unknown name is a one-line error listing the known."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(
                f"unknown {self.what} {name!r}; choose one of {', '.join(self.names())}"
            ) from None

    def check(self, name: str) -> str:
        """``name`` if it is registered; else ``ValueError`` (config validators turn it
        into a one-line error naming the config key)."""
        if name not in self._items:
            raise ValueError(
                f"unknown {self.what} {name!r}; choose one of {', '.join(self.names())}"
            )
        return name

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
