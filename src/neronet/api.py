"""The Python API: what the CLI does, from a notebook (in the manner of Optuna's
``create_study`` / ``load_study``).

    import neronet

    run = neronet.create_run("runs/demo", config={"search": {"generations": 2}})
    run.optimize()                      # runs, or resumes exactly where it stopped
    run.status()["best_fitness"], run.best().metrics
    model = run.model()                 # the best individual, trained weights loaded
    report = neronet.evaluate(model, x, y, suite="fast")   # any nn.Module, inputs in [0, 1]

A run is a directory (the same the CLI writes); ``optimize`` holds the run's
writer lock while it runs, readers (``status``, ``best``, ``rows``) never lock.
Every user mistake raises :class:`neronet.errors.NeronetError` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neronet.config import (
    DEFAULT_CONFIG,
    NeroConfig,
    grammar_text,
    load_config,
    parse_config,
    set_override,
)
from neronet.errors import ConfigError, InputError
from neronet.plugins import check_plugins
from neronet.store import DB_NAME, IndividualRow, RunStore

if TYPE_CHECKING:
    import torch
    from torch import nn

    from neronet.execution.base import Executor
    from neronet.robustness.tables import SuiteReport

ConfigLike = str | Path | Mapping[str, Any] | NeroConfig | None
"""A YAML file, a mapping of settings, a validated config, or None (the quickstart)."""


def _config(config: ConfigLike, overrides: Sequence[str]) -> tuple[NeroConfig, Path | None]:
    """Validate ``config`` with ``key.sub=value`` overrides; also the base directory for
    a grammar named relative to a config file."""
    if config is None or isinstance(config, str | Path):
        base = None if config is None else Path(config).parent
        source = DEFAULT_CONFIG if config is None else str(config)
        return check_plugins(load_config(config, list(overrides)), source), base
    if not isinstance(config, NeroConfig | Mapping):
        raise InputError(
            f"config must be a YAML file path, a mapping of settings, a NeroConfig or None; "
            f"got {type(config).__name__}"
        )
    data = config.model_dump(mode="json") if isinstance(config, NeroConfig) else dict(config)
    for assignment in overrides:
        set_override(data, assignment)
    return check_plugins(parse_config(data, "the config given"), "the config given"), None


@dataclass
class Run:
    """A run directory: search it, read it, take its models."""

    directory: Path
    config: NeroConfig
    grammar: str
    grammar_name: str

    def optimize(self, executor: Executor | None = None, *, allow_changed: bool = False) -> Run:
        """Run the search (or resume it by replay); returns the run. ``executor`` defaults
        to the one the config names (``executor.kind``)."""
        from neronet.runlock import writer_lock
        from neronet.search.runner import SearchRun
        from neronet.store import STARTUP_FILES, check_run_directory

        check_run_directory(self.directory, "the run directory")
        with writer_lock(self.directory, "the run directory", STARTUP_FILES):
            search = SearchRun.open(
                self.config,
                self.grammar,
                self.grammar_name,
                self.directory,
                allow_changed=allow_changed,
            )
            try:
                search.run(executor)
            finally:
                search.store.close()
        return self

    def status(self) -> dict[str, object]:
        """What ``neronet status --json`` prints."""
        from neronet.reports.status import run_status

        return run_status(str(self.directory))

    def _read(self) -> RunStore:
        return RunStore.open(self.directory, readonly=True)

    def best(self) -> IndividualRow | None:
        """The strategy's best individual (None before the first generation ends)."""
        store = self._read()
        try:
            return store.best()
        finally:
            store.close()

    def rows(self) -> list[IndividualRow]:
        """Every individual as stored (``metrics`` by name, ``fitness``, genotype, ...)."""
        store = self._read()
        try:
            return store.individuals()
        finally:
            store.close()

    def model(self, individual_id: int | None = None) -> nn.Module:
        """An individual's network (default: the best) with its trained weights, eval mode."""
        from neronet.export import fitted_model, load_individual

        row, spec, weights = load_individual(self.directory, individual_id)
        return fitted_model(spec, weights, f"individual {row.id} of '{self.directory}'")


def create_run(
    directory: str | Path, config: ConfigLike = None, overrides: Sequence[str] = ()
) -> Run:
    """A run in ``directory``: a new one from ``config``, or the existing one there (its
    stored config, with ``overrides``; pass ``config`` too to resume under a changed one)."""
    path = Path(directory)
    if (path / DB_NAME).is_file() and config is None:
        return open_run(path, overrides)
    settings, base = _config(config, overrides)
    text, name = grammar_text(settings, base)
    return Run(path, settings, text, name)


def open_run(directory: str | Path, overrides: Sequence[str] = ()) -> Run:
    """The run in ``directory`` with the config and grammar it was started with."""
    store = RunStore.open(directory, readonly=True)
    try:
        data = store.config_data()
        text, name = store.grammar()
    finally:
        store.close()
    if not data:
        raise ConfigError(f"'{directory}' holds no stored config; pass config= to start it")
    config, _ = _config(data, overrides)
    return Run(Path(directory), config, text, name)


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    suite: str | None = "fast",
    attacks: Sequence[str] = (),
    **settings: Any,
) -> SuiteReport:
    """RobustBench-style robustness of any ``nn.Module`` taking inputs in [0, 1]: clean,
    conditional and overall adversarial accuracy under ``suite`` (``paper``, ``linf``,
    ``l2``, ``fast``) and/or named ``attacks``, with the gradient-masking audit.
    ``settings`` are those of the config's ``attack`` section (``linf_eps``, ``steps``,
    ``limit``, ``audit={"enabled": False}``, ...) and, by their config key, an attack's
    own section (``blackbox={"iterations": 50}``)."""
    import torch
    from pydantic import BaseModel, ValidationError

    from neronet.config import AttackSettings, format_validation_error
    from neronet.config.sections import registered
    from neronet.robustness import evaluate as run_suite
    from neronet.robustness import select_attacks
    from neronet.robustness.inputs import check_inputs

    def parsed(schema: type[BaseModel], value: Any, prefix: tuple[str, ...]) -> Any:
        try:
            return schema.model_validate(value)
        except ValidationError as err:
            message = format_validation_error(err, "evaluate()", schema, prefix)
            fixed = message.replace("fix it in the config or override", "pass another value")
            raise ConfigError(fixed) from None

    chosen = select_attacks(suite, list(attacks))  # loads the installed plug-ins' sections
    sections = registered()
    own = {
        key: parsed(sections[key], settings.pop(key), (key,))
        for key in list(settings)
        if key in sections
    }
    attack_settings = parsed(AttackSettings, settings, ()).with_sections(own)
    limit = attack_settings.limit
    if limit is not None and isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        x, y = x[:limit], y[:limit]  # only the images evaluated are checked
    check_inputs(model, x, y, attack_settings.batch_size)
    return run_suite([("model", model.eval())], x, y, chosen, attack_settings)
