"""Reading a config: the one YAML loader, ``key=value`` overrides, packaged configs and
grammars, and validation into a :class:`~neronet.config.NeroConfig` with a one-line error."""

from __future__ import annotations

import re
from collections.abc import Collection
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from neronet.config.messages import format_validation_error
from neronet.config.root import KEEP_FOREIGN, NeroConfig
from neronet.config.sections import registered
from neronet.errors import ConfigError

PACKAGE_CONFIGS = "configs"
DEFAULT_CONFIG = "quickstart.yaml"
MAX_YAML_VALUES = 100_000
"""Most values a config's YAML may hold once its aliases are expanded (billion laughs)."""


def parse_config(
    data: dict[str, Any],
    source: str = "config",
    *,
    keep_foreign: bool = False,
    written: Collection[str] = (),
) -> NeroConfig:
    """Validate a mapping into a NeroConfig, raising a one-line ConfigError.

    ``keep_foreign``: a top-level section no installed plug-in registers is kept as
    written instead of refused (how a stored run is read). ``written``: the dotted keys
    of ``data`` a user wrote (their YAML file and overrides), of which one the run would
    never read is refused (:func:`refuse_unread`); none for a stored run's config,
    which holds every setting, or the packaged quickstart nobody wrote."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of settings")
    try:
        config = NeroConfig.model_validate(
            data, context={"source": source, KEEP_FOREIGN: keep_foreign}
        )
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
    if written:
        refuse_unread(config, written, source)
    return config


def leaf_keys(data: Any, prefix: str = "") -> set[str]:
    """Dotted keys of every leaf value of a nested mapping."""
    if not isinstance(data, dict):
        return {prefix.rstrip(".")} if prefix else set()
    return {k for key, value in data.items() for k in leaf_keys(value, f"{prefix}{key}.")}


def refuse_unread(config: NeroConfig, written: Collection[str], source: str) -> None:
    """One-line error for the first of the ``written`` keys that ``config``'s run never
    reads, as the plug-in sections say (:meth:`PluginSettings.foreign_keys`): a
    NERO-Net setting in a RAS config would otherwise be silently ignored."""
    for model in registered().values():
        unread = model.foreign_keys(config)
        for key in sorted(unread):
            hit = sorted(k for k in written if k == key or k.startswith(f"{key}."))
            if hit:
                raise ConfigError(
                    f"{source}: this run never reads {hit[0]} ({unread[key]}); remove it"
                )


def set_override(data: dict[str, Any], assignment: str) -> None:
    """Apply a ``dotted.key=value`` override (value parsed as YAML) in place."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}' must look like key.sub=value")
    key, _, raw = assignment.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{assignment}' has an empty key")
    try:
        value = load_yaml(raw, f"override '{key.strip()}'")
    except yaml.YAMLError:
        value = raw  # not YAML: the value is the literal text
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{assignment}': '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def read_text(path: Path, what: str) -> str:
    """A user's text file, with a one-line error when it is unreadable or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} file '{path}' is not UTF-8 text; save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} file '{path}' ({err.strerror}); check it") from None


def _too_deep(source: str) -> ConfigError:
    """PyYAML composes nested lists by recursion, so deep nesting ends in RecursionError."""
    return ConfigError(
        f"{source}: the YAML is nested too deeply to be a config; write settings as a "
        "mapping of sections"
    )


def load_yaml(text: str, source: str) -> Any:
    """The package's one YAML loader: ``yaml.safe_load`` (no Python objects), refusing a
    document too deep or too big once its aliases are expanded, and one that contains
    itself. PyYAML builds an alias as a shared reference, so a "billion laughs" of nine
    anchors loads at once and hangs whatever walks it next (validation, a copy, JSON);
    the expanded size is counted here, each shared value once. Raises ``yaml.YAMLError``
    for text that is not YAML (the caller words that) and ConfigError for the rest."""
    try:
        data = yaml.safe_load(text)
        _expanded_size(data, {}, set(), source)
    except RecursionError:
        raise _too_deep(source) from None
    return data


def _expanded_size(value: Any, sizes: dict[int, int], open_: set[int], source: str) -> int:
    """How many values ``value`` holds with every alias written out (refused beyond
    :data:`MAX_YAML_VALUES`); ``sizes`` remembers shared values, ``open_`` the path."""
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise ConfigError(
            f"{source}: the YAML contains itself through an alias (*name inside its own "
            "&name); write the values out"
        )
    open_.add(key)
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1 + sum(_expanded_size(item, sizes, open_, source) for item in items)
    open_.discard(key)
    if total > MAX_YAML_VALUES:
        raise ConfigError(
            f"{source}: the YAML expands to more than {MAX_YAML_VALUES:,} values through its "
            "aliases (&name / *name); a config is small: write the values out"
        )
    sizes[key] = total
    return total


def parse_yaml(text: str, source: str) -> Any:
    """:func:`load_yaml` with a one-line error that says what was wrong.

    Safe loading refuses tags that construct Python objects (``!!python/object``
    and the like); that is a refusal, not a syntax error, so say so.
    """
    try:
        return load_yaml(text, source)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}: line {mark.line + 1}" if mark is not None else source
        tag = re.search(r"tag '([^']+)'", str(getattr(err, "problem", "")))
        if isinstance(err, yaml.constructor.ConstructorError) and tag is not None:
            name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
            raise ConfigError(
                f"{where}: the tag '{name}' is refused: configs are plain YAML (mappings, "
                "lists, numbers, strings), never Python objects; remove the tag"
            ) from None
        raise ConfigError(f"{where} is not valid YAML; fix the syntax") from None


def read_config_data(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """Read a YAML file (or the packaged quickstart when ``path`` is None)."""
    if path is None:
        ref = resources.files("neronet").joinpath(PACKAGE_CONFIGS, DEFAULT_CONFIG)
        return parse_yaml(ref.read_text(), DEFAULT_CONFIG) or {}, DEFAULT_CONFIG
    file = Path(path)
    if not file.is_file():
        packaged = _packaged(PACKAGE_CONFIGS, str(path))
        if packaged is None:
            raise ConfigError(f"config file '{path}' not found; pass an existing YAML file")
        return parse_yaml(packaged.read_text(), str(path)) or {}, str(path)
    return parse_yaml(read_text(file, "config"), str(path)) or {}, str(path)


def _packaged(folder: str, name: str) -> Traversable | None:
    """A file shipped in ``neronet/<folder>`` named by its bare file name; None for
    anything else (a path such as ``../cli/__init__.py`` never reaches into the package)."""
    if not name or name != Path(name).name or name in (".", ".."):
        return None
    ref = resources.files("neronet").joinpath(folder, name)
    return ref if ref.is_file() else None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> NeroConfig:
    """Load, apply ``key=value`` overrides and validate a run config."""
    data, source = read_config_data(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of settings")
    written = leaf_keys(data) if path is not None else set()
    for assignment in overrides or []:
        set_override(data, assignment)
        written.add(assignment.partition("=")[0].strip())
    return parse_config(data, source, written=written)


def grammar_text(config: NeroConfig, base_dir: Path | None = None) -> tuple[str, str]:
    """Return (text, name) of the grammar: a path, or a grammar shipped with neronet."""
    name = config.structure.grammar
    candidates = [Path(name)]
    if base_dir is not None:
        candidates.insert(0, base_dir / name)
    for cand in candidates:
        if cand.is_file():
            return read_text(cand, "grammar"), str(cand)
    packaged = _packaged("grammars", name)
    if packaged is not None:
        return packaged.read_text(), name
    raise ConfigError(
        f"grammar '{name}' not found; set structure.grammar to a file path or a shipped grammar"
    )
