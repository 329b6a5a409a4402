"""Scripts of bench/ and tools/ loaded from their paths (neither folder is a package)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str, monkeypatch: pytest.MonkeyPatch | None = None) -> ModuleType:
    """The script at ``relative`` (to the repository) as a module named after its file;
    with ``monkeypatch`` it is registered in ``sys.modules`` while loading and after (its
    dataclasses look themselves up there) until the patch is undone."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if monkeypatch is not None:
        monkeypatch.setitem(sys.modules, path.stem, module)
    spec.loader.exec_module(module)
    return module


def load_bench_script(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``bench/<name>.py``, which imports its sibling ``bench/eval_candidate.py``: bench/
    is on ``sys.path``, and that sibling in ``sys.modules``, only until the patch is undone
    (so no later test finds them)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    if "eval_candidate" not in sys.modules:  # which leaves with the test
        monkeypatch.setitem(sys.modules, "eval_candidate", None)
        monkeypatch.delitem(sys.modules, "eval_candidate")
    return load_script(f"bench/{name}.py")


def run_cpu_bench(bench: ModuleType, args: list[str], out: Path) -> dict[str, Any]:
    """The one network row of ``bench.main(args)`` run with ``--json-out out``, after
    checking that the file holds what ``main`` returned, measured on the CPU with one
    torch thread (a lane's share)."""
    returned = bench.main([*args, "--json-out", str(out)])
    result = json.loads(out.read_text())
    assert result == json.loads(json.dumps(returned))
    assert result["environment"]["device"] == "cpu" and result["environment"]["torch_threads"] == 1
    (row,) = result["networks"].values()
    return row
