"""What ``neronet train`` and ``neronet attack`` share: the one config tree for a command,
the run a model came from, data and logging helpers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

from neronet.config import NeroConfig, parse_config, read_config_data, set_override
from neronet.config.loading import leaf_keys
from neronet.data import DATASETS, Dataset, load_dataset
from neronet.errors import ConfigError, InvalidArchitecture, NeronetError, StudyError
from neronet.spec import NetworkSpec


def command_config(
    path: str | None,
    overrides: list[str],
    base: NeroConfig | None,
    flags: dict[str, Any],
    flag_names: dict[str, str] | None = None,
) -> tuple[NeroConfig, set[str]]:
    """The one config tree for ``train`` / ``attack``: ``--config`` (a neronet config YAML,
    the same file ``evolve`` reads), else ``base`` (the source run's stored config), else the
    defaults; then ``key.sub=value`` overrides and the command's flags (dotted keys).

    Also returns the dotted keys the user set explicitly (file, overrides, flags), so a
    default that carries over from the run (its threat model) never overrides a choice.
    """
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"config file '{path}' not found; pass an existing YAML file")
        data, source = read_config_data(path)
        explicit = leaf_keys(data)
    else:
        data = base.model_dump(mode="json") if base is not None else {}
        source = "the run's stored config" if base is not None else "defaults"
        explicit = set()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of settings")
    assignments = [*overrides, *(f"{key}={value}" for key, value in flags.items())]
    for assignment in assignments:
        set_override(data, assignment)
        explicit.add(assignment.partition("=")[0].strip())
    try:
        # a run's section of a plug-in not installed here stays as the run wrote it
        return parse_config(data, source, keep_foreign=base is not None), explicit
    except ConfigError as err:
        raise ConfigError(_name_the_flag(str(err), flags, flag_names or {})) from None


def _name_the_flag(message: str, flags: dict[str, Any], names: dict[str, str]) -> str:
    """An error about a setting the user gave as a flag names the flag (``--epochs``),
    not the config key behind it."""
    for key, flag in names.items():
        if key in flags and f"'{key}'" in message:
            message = message.replace(f"'{key}'", f"{flag} ({key})")
            return message.replace("fix it in the config or override", f"pass a valid {flag}")
    return message


@contextmanager
def logged(path: Path, name: str) -> Iterator[logging.Logger]:
    """A logger writing to ``path`` (appending, so a resumed job keeps its history)."""
    out = path.parent
    if out.exists() and not out.is_dir():
        raise NeronetError(f"--out '{out}' is a file; pass --out a new or existing directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
    except OSError as err:
        raise NeronetError(
            f"cannot write '{path}' ({err.strerror or type(err).__name__}); pass --out a "
            "directory that can be created and written to"
        ) from None
    logger = logging.getLogger(f"neronet.{name}.{path.resolve()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


@contextmanager
def routed(name: str, log: logging.Logger, console: Console | None = None) -> Iterator[None]:
    """Library logger ``name`` writes to the command's log (and ``console``), not bare stderr."""
    library = logging.getLogger(name)
    handlers = [*log.handlers]
    if console is not None:
        handlers.append(RichHandler(console=console, show_time=False, show_path=False))
    propagate, library.propagate = library.propagate, False
    for handler in handlers:
        library.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            library.removeHandler(handler)
        library.propagate = propagate


WIDE = 10_000
"""Console width off a terminal: a table is as wide as its cells, never cut at 80."""


def results_console() -> Console:
    """Where a command's result goes: stdout (``> out.txt`` captures it), at the terminal's
    width on a terminal, uncut in a file or a pipe."""
    import sys

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else WIDE)


def buildable(spec: NetworkSpec, origin: str) -> NetworkSpec:
    """``spec`` if it can be built within the parameter cap (planning only, no
    allocation, so nothing is written first); else a one-line error."""
    from neronet.nn import check_size

    try:
        check_size(spec)
    except InvalidArchitecture as err:
        raise NeronetError(
            f"the architecture of {origin} cannot be built ({err}); pass a valid architecture"
        ) from None
    return spec


def run_spec(run_dir: str, individual_id: int | None) -> tuple[NetworkSpec, NeroConfig]:
    """An individual's spec (default: the best) and the run's stored config; no weights."""
    from neronet.store import RunStore

    store = RunStore.open(run_dir, readonly=True)
    try:
        row = store.best() if individual_id is None else store.individual(individual_id)
        config = store.config()
    finally:
        store.close()
    if row is None:
        raise NeronetError(f"'{run_dir}' has no finished generation yet; pass --id or let it run")
    if "spec" not in row.record:
        raise NeronetError(
            f"individual {row.id} has no network spec (status {row.status}); pick another --id"
        )
    return NetworkSpec.from_dict(row.record["spec"]), config


def load_data(name: str | None, path: str | None, hint: dict[str, Any]) -> Dataset:
    """``--dataset``/``--data-path``, else what the model's source says."""
    name = name or hint.get("dataset")
    if name is None:
        raise NeronetError(
            f"the dataset is unknown for this model; pass --dataset ({', '.join(DATASETS.names())})"
        )
    return load_dataset(name, path if path is not None else hint.get("path"))


def refuse_foreign_dir(
    path: Path, marker: str, what: str, *, flag: str = "--dir", scratch: tuple[str, ...] = ()
) -> None:
    """Refuse a directory that holds something else than a ``what`` directory (no
    ``marker`` file, other files than a lock and the ``scratch`` files an interrupted
    start leaves), before anything, the lock included, is written into it: a study's,
    an experiment's or a training's files would mix with what is there."""
    from neronet.runlock import LOCK_NAME

    if not path.exists() or (path / marker).is_file():
        return
    if not path.is_dir() or {p.name for p in path.iterdir()} - {LOCK_NAME, *scratch}:
        raise StudyError(
            f"{flag} '{path}' is not {what} directory (no {marker}); pass {flag} a new or "
            "empty directory"
        )
