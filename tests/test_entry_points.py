"""A plug-in package outside neronet reaches every process through its entry point.

``fixtures/plugin`` holds a module and its ``*.dist-info`` (``entry_points.txt`` in
the ``neronet.plugins`` group), as ``pip install`` would leave them; putting the folder
on ``PYTHONPATH`` installs it for a fresh interpreter. The strategy, the measurement,
the attack and the dataset it registers are then used by name: a search with the
``workers`` executor (the dataset is loaded and the measurement runs in a spawned worker,
which loads the plug-in itself and reads the measurement's own settings section) and
``neronet attack`` (on the model's dataset, found by its name). Everything runs in
subprocesses, so this process's registries stay as they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers_executors import OVERRIDES

from neronet.store import RunStore

PLUGIN = Path(__file__).parent / "fixtures" / "plugin"
NAMES = (
    "from neronet.attacks import ATTACKS; from neronet.search.strategies import STRATEGIES; "
    "from neronet.evaluation.measurements import MEASUREMENTS; "
    "print(*STRATEGIES.names(), *MEASUREMENTS.names(), *ATTACKS.names())"
)


def _run(*args: str, plugin: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PLUGIN) if plugin else ""}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=False
    )


def test_an_installed_plugin_registers_in_a_fresh_process() -> None:
    names = _run("-c", NAMES).stdout.split()
    assert {"toy-es", "toy-depth", "toy-fgsm"} <= set(names)
    assert {"one-plus-lambda", "clean", "fgsm"} <= set(names)  # beside the built-ins
    without = _run("-c", NAMES, plugin=False).stdout.split()
    assert "one-plus-lambda" in without and "toy-es" not in without


def test_a_plugin_that_fails_to_load_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken-0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (broken / "entry_points.txt").write_text("[neronet.plugins]\nbroken = no_such_module\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "neronet.cli", "evolve", "--run", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode != 0
    assert "plug-in 'broken' (no_such_module) failed to load" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r").exists()


def test_a_plugins_settings_section_is_validated_by_its_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = _run("-m", "neronet.cli", "evolve", "--run", str(run), "toy-depth.weight=0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    error = done.stderr.strip()
    assert "\n" not in error and "invalid value for 'toy-depth.weight'" in error
    assert "greater than 0" in error and not run.exists()
    done = _run(
        "-m", "neronet.cli", "evolve", "--run", str(run), "toy-depth.weight=0", plugin=False
    )
    assert "unknown key 'toy-depth'" in done.stderr  # not installed: nothing reads it


def test_evolve_with_workers_and_attack_use_the_plugin_by_name(tmp_path: Path) -> None:
    run = tmp_path / "run"
    search = [
        "search.strategy=toy-es",
        "evaluation.measurements=[clean, fgsm, toy-depth]",
        "executor.kind=workers",
        "executor.workers=1",
        "search.generations=1",
        "data.dataset=toy-digits",  # five classes, loaded in the worker
        "toy-depth.weight=1000",  # the measurement's own section, validated by its model
    ]
    done = _run("-m", "neronet.cli", "evolve", "--run", str(run), *OVERRIDES, *search)
    assert done.returncode == 0, done.stderr
    store = RunStore.open(run, readonly=True)
    try:
        rows = [r for r in store.individuals() if r.status != "invalid"]
        assert store.config().search.strategy == "toy-es"
        assert store.config().data.dataset == "toy-digits"
        assert store.config_data()["toy-depth"] == {"weight": 1000.0}
    finally:
        store.close()
    # measured in the worker with the section's weight (no network has 1000 nodes)
    assert rows and all(r.metrics["toy_depth"] >= 1000 for r in rows)
    assert {r.record["spec"]["num_classes"] for r in rows} == {5}
    out = tmp_path / "attack"
    args = ["--attacks", "toy-fgsm", "--no-audit", "--limit", "40", "--out", str(out)]
    bad = _run("-m", "neronet.cli", "attack", str(run), "toy-fgsm.fraction=2", *args)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "invalid value for 'toy-fgsm.fraction'" in bad.stderr and not out.exists()
    done = _run("-m", "neronet.cli", "attack", str(run), "toy-fgsm.fraction=0.25", *args)
    assert done.returncode == 0, done.stderr
    assert "Scaled FGSM" in done.stdout  # the attack's own setting reached it:
    assert "toy-fgsm {'fraction': 0.25}" in (out / "attack.log").read_text()
