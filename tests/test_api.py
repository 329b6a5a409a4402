"""The Python API: the README's example runs as written, and the API's pieces."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import neronet
from neronet.errors import ConfigError, NeronetError

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quickstart_run: Path
) -> None:
    """The example's search is the CLI quickstart at 2 generations: the session's copy
    stands in for it, so ``optimize`` takes the example's own "run it again and it
    resumes" path (create_run + optimize from scratch: test_open_run_reads_...)."""
    code = re.search(r"## Python API.*?```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    assert 'create_run("runs/api-demo", overrides=["search.generations=2"])' in code.group(1)
    shutil.copytree(quickstart_run, tmp_path / "runs" / "api-demo")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    run = namespace["run"]
    assert isinstance(run, neronet.Run) and run.status()["finished"] is True
    assert run.config == neronet.open_run(quickstart_run).config  # the same search
    printed = str(namespace["report"]).splitlines()  # print(report): a table, not a repr
    assert printed[0].startswith("robustness over 1 model(s)") and "FGSM" in "\n".join(printed)
    assert printed[1].split()[:3] == ["threat", "attack", "eps"]


def test_open_run_reads_what_create_run_wrote(tmp_path: Path) -> None:
    tiny = ["search.generations=1", "search.initial_size=2", "data.train=200", "data.control=60"]
    run = neronet.create_run(tmp_path / "r", overrides=[*tiny, "data.fitness=60"]).optimize()
    again = neronet.open_run(tmp_path / "r")
    assert again.config == run.config and again.best() == run.best()
    assert [r.id for r in again.rows()] == [0, 1]
    assert neronet.create_run(tmp_path / "r").config == run.config  # an existing run opens


def test_api_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"search\.generations"):
        neronet.create_run(tmp_path / "x", config={"search": {"generations": 0}})
    with pytest.raises(NeronetError, match="not a neronet run directory"):
        neronet.open_run(tmp_path / "missing")
    assert not (tmp_path / "x").exists()
