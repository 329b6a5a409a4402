"""Plug-ins from elsewhere, and whether the ones a config names exist and fit together.

Installed plug-ins are found through the entry-point group ``neronet.plugins``: each
entry point names a module (importing it registers its strategies, objectives,
measurements, attacks, datasets, executors) or a function to call.
:func:`load_installed` imports them once per process, on the first lookup of any
registry, so the main process and every worker of the ``workers`` / ``ray`` executors
(whose first lookup is the dataset's, as they load their data) know the same names
without a line of neronet changed. A package declares one in its ``pyproject.toml``::

    [project.entry-points."neronet.plugins"]
    my_plugins = "my_package.neronet_plugins"

``check_plugins(config)`` is the other half.

The config schema (``neronet.config``) validates settings only; which strategies,
encodings, objectives, measurements, datasets and executors exist is the registries'
business. Keeping the two
apart means the schema imports no plug-in (so no plug-in module, which reads its
settings from the schema, sits in an import cycle with it), and a stored run's
config can be read even where a plug-in it names is not installed. Whatever runs a
search (the runner, the API, the ``evolve`` and ``study`` commands before they
create a directory) calls :func:`check_plugins` first.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING

from neronet.config import NeroConfig, invalid_value
from neronet.errors import ConfigError, NeronetError

if TYPE_CHECKING:
    from neronet.registry import Registry


ENTRY_POINTS = "neronet.plugins"
_installed: list[str] | None = None


def load_installed() -> list[str]:
    """Import (or call) every ``neronet.plugins`` entry point, once per process; returns
    their names. A plug-in that fails to load is a one-line error naming it: a search
    must not run with part of the methods it was configured with missing."""
    global _installed
    if _installed is not None:
        return _installed
    _installed = []  # set first: a plug-in that looks up a registry must not recurse
    for point in sorted(entry_points(group=ENTRY_POINTS), key=lambda p: p.name):
        try:
            target = point.load()
            if callable(target) and not isinstance(target, ModuleType):
                target()
        except Exception as err:
            raise NeronetError(
                f"plug-in {point.name!r} ({point.value}) failed to load: "
                f"{type(err).__name__}: {err}; fix or uninstall it"
            ) from None
        _installed.append(point.name)
    return _installed


def check_plugins(config: NeroConfig, source: str = "config") -> NeroConfig:
    """``config`` if every plug-in it names is registered and they fit together; else a
    one-line ConfigError naming the setting, the unknown name and the known ones.

    Imports the registries here: the measurements' registry brings torch, and the
    runner, which calls this, must stay importable without it.
    """
    from neronet.evaluation.measurements import MEASUREMENTS, provided
    from neronet.evaluation.objectives import OBJECTIVES
    from neronet.execution.base import EXECUTORS
    from neronet.search.strategies import STRATEGIES
    from neronet.transfer.sources import SOURCES

    search = config.search
    _check_dataset(config, source)
    _known(EXECUTORS, config.executor.kind, "executor.kind", source)
    _known(STRATEGIES, search.strategy, "search.strategy", source)
    _known(OBJECTIVES, search.objective, "search.objective", source)
    for name in config.evaluation.measurements:
        _known(MEASUREMENTS, name, "evaluation.measurements", source)
    for name in config.transfer.sources:
        _known(SOURCES, name, "transfer.sources", source)
    objective = OBJECTIVES.get(search.objective)
    measured = provided(config.evaluation.measurements)
    missing = [m for m in objective.required(config) if m not in measured]
    if missing:
        _refuse(
            source,
            "evaluation.measurements",
            f"objective {search.objective!r} needs metric(s) {', '.join(missing)}, which no "
            "measurement in evaluation.measurements provides; add the measurement",
        )
    _check_encoding(config, source)
    if not objective.scalar and not STRATEGIES.get(search.strategy).vector_objectives:
        _refuse(
            source,
            "search.strategy",
            f"objective {search.objective!r} has several objectives and strategy "
            f"{search.strategy!r} ranks by one number; choose a strategy that takes a vector "
            "objective (nsga2, random)",
        )
    return config


def _check_encoding(config: NeroConfig, source: str) -> None:
    """The encoding the strategy will search exists and the strategy can search it."""
    from neronet.search.encodings import ENCODINGS
    from neronet.search.strategies import STRATEGIES

    name = config.search.strategy
    strategy = STRATEGIES.get(name)
    encoding = strategy.encoding_for(config.search)
    _known(ENCODINGS, encoding, "search.encoding", source)
    if strategy.encodings is not None and encoding not in strategy.encodings:
        _refuse(
            source,
            "search.encoding",
            f"strategy {name!r} searches only encoding(s) {', '.join(strategy.encodings)}, "
            f"not {encoding!r}; unset search.encoding or choose another strategy",
        )


def _check_dataset(config: NeroConfig, source: str) -> None:
    """The dataset exists and can read what ``data`` gives it (a path, a download)."""
    from neronet.data.registry import DATASETS, source_problem

    data = config.data
    _known(DATASETS, data.dataset, "data.dataset", source)
    problem = source_problem(data.dataset, data.path is not None, data.download)
    if problem is not None:
        _refuse(source, f"data.{problem[0]}", problem[1])


def _known(registry: Registry, name: str, key: str, source: str) -> None:
    if name not in registry:
        _refuse(source, key, registry.unknown(name))


def _refuse(source: str, key: str, problem: str) -> None:
    raise ConfigError(invalid_value(source, key, problem))
