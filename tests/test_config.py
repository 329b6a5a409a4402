"""Config loading refuses hostile or mistaken YAML with one line: deep nesting,
object-constructing tags, and values of the wrong kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from neronet.cli import main
from neronet.config import MAX_INT, load_config, parse_config
from neronet.errors import ConfigError
from neronet.search.resume import resume_changes
from neronet.store import RunStore


def config_error(path: Path | None, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message and ";" in message
    return message


def test_deeply_nested_yaml_is_one_line_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("seed: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "nested too deeply" in config_error(deep)
    assert "nested too deeply" in config_error(None, ["seed=" + "[" * 100_000])


def test_python_object_tag_is_named_as_refused(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("seed: 1\nsearch: !!python/object/apply:os.system ['true']\n")
    message = config_error(hostile)
    assert "line 2" in message and "'!!python/object/apply:os.system' is refused" in message
    assert "not valid YAML" not in message


def _laughs(levels: int) -> str:
    """A "billion laughs": each level a list of ten aliases of the level before."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_alias_bombs_are_refused_before_anything_walks_them(tmp_path: Path) -> None:
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(_laughs(9))  # 10^9 values once expanded; hung `neronet train`
    assert "expands to more than 100,000 values" in config_error(bomb)
    flow = "[" + ", ".join(f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7))
    assert "expands to more than" in config_error(None, ["seed=[&a0 [1, 1], " + flow[1:] + "]"])
    itself = tmp_path / "itself.yaml"
    itself.write_text("seed: 1\nsearch: &s {mutation: *s}\n")
    assert "contains itself" in config_error(itself)
    shared = tmp_path / "shared.yaml"  # an honest anchor still works
    shared.write_text("data: &d {dataset: digits}\nx: *d\n")
    assert "unknown key 'x'" in config_error(shared)


def test_a_config_path_never_reaches_into_the_package() -> None:
    assert "not found" in config_error(Path("../cli/__init__.py"))  # hit neronet/cli, traceback
    assert load_config("ras-quickstart.yaml").search.strategy == "ras"  # a shipped name still is


@pytest.mark.parametrize(
    ("overrides", "key"),
    [  # each hung at start-up, drawing its candidates or seeds
        (["search.initial_size=2147483647"], "'search.initial_size'"),
        (["search.offspring=2147483647", "search.generations=2"], "'search.offspring'"),
        (["search.generations=1000000"], "plans 5,000,005 evaluations"),
        (["ras.initial_models=10000"], "20,000 candidates per generation"),
        (["ras.layers_per_block=[1, 2147483647]"], "'ras.layers_per_block'"),
        (["ras.mutations=2147483647"], "'ras.mutations'"),
    ],
)
def test_absurd_counts_are_refused_at_parse_time(overrides: list[str], key: str) -> None:
    assert key in config_error(None, overrides)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("seed=true", "'seed'"),
        (f"seed={2**70}", "'seed'"),
        (f"seed={MAX_INT + 1}", "'seed'"),
        ("search.generations=false", "'search.generations'"),
        ("search.offspring=2.5", "'search.offspring'"),
        ("fitness.beta=true", "'fitness.beta'"),
        ("training.augment=1", "'training.augment'"),
        ("structure.max_depth=101", "'structure.max_depth'"),
        ("training.max_parameters=0", "'training.max_parameters'"),
    ],
)
def test_values_of_the_wrong_kind_are_refused(override: str, key: str) -> None:
    assert key in config_error(None, [override])


def test_sane_values_still_load() -> None:
    config = load_config(None, [f"seed={MAX_INT}", "fitness.beta=4", "training.augment=false"])
    assert (config.seed, config.fitness.beta, config.training.augment) == (MAX_INT, 4.0, False)


def test_cli_config_errors_exit_2_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("seed: true\n")
    run = tmp_path / "run"
    assert main(["evolve", "--config", str(cfg), "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neronet: error:") and "'seed'" in err and "\n" not in err
    assert not run.exists()


def test_runs_recorded_before_the_new_settings_still_resume() -> None:
    """Stricter types and new settings leave a 0.1.0 run resumable: its stored config
    (migrated with the settings that reproduce the old search) parses and matches."""
    store = RunStore.open(Path(__file__).parent / "fixtures" / "v1-run", readonly=True)
    try:
        config = parse_config(store.meta("config"))
        assert resume_changes(store, config, store.meta("grammar")) == []
        assert config.search.reevaluate_parent is False  # the rule the run started with
    finally:
        store.close()
