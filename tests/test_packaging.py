"""What a user sees of the package itself: version, distribution name, install hints, docs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import neronet
from neronet.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DISTRIBUTION = PYPROJECT["project"]["name"]
USER_FILES = [
    *(ROOT / "src" / "neronet").rglob("*.py"),
    *(ROOT / "src" / "neronet").rglob("*.yaml"),
    *(ROOT / "src" / "neronet").rglob("*.grammar"),
    *(ROOT / "docs").glob("*.md"),
    *(ROOT / "bench").glob("*.py"),
    ROOT / "README.md",
    ROOT / "BENCHMARKS.md",
]
# Owned by the executor rewrite; its two hints move to the distribution name there.


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"neronet {neronet.__version__}"


def test_distribution_name_is_ours_and_python_matches_the_code() -> None:
    # 'neronet' on PyPI is an unrelated 2016 project; the code uses 3.11's add_note.
    assert DISTRIBUTION == "neronet-evo"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"


def test_install_hints_name_the_distribution() -> None:
    """An extra outside a checkout must be requested from our distribution, not 'neronet'."""
    wrong = re.compile(r"pip install [\"']?neronet\[")
    offenders = [
        str(path.relative_to(ROOT)) for path in USER_FILES if wrong.search(path.read_text())
    ]
    assert offenders == []


def test_docs_refer_to_no_file_a_user_lacks() -> None:
    """The method is documented in docs/METHOD.md, not in the maintainers' notes."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in USER_FILES
        if re.search(r"PROTOCOL\.md|DESIGN\.md|shared/datasets|\.\./shared", path.read_text())
    ]
    assert offenders == []
    assert (ROOT / "docs" / "METHOD.md").is_file()


def test_the_checkouts_shortcuts_lead_somewhere() -> None:
    """``configs`` and ``grammars`` at the root are links into the package that the docs
    use as paths (``grammars/nero-net.grammar``); the src/ move left one dangling."""
    links = [path for path in ROOT.iterdir() if path.is_symlink()]
    assert {path.name for path in links} >= {"configs", "grammars"}
    assert [path.name for path in links if not path.resolve().is_dir()] == []


def test_a_checkout_named_neronet_in_the_working_directory_does_not_shadow_the_package(
    tmp_path: Path,
) -> None:
    """git clones into a folder named ``neronet``; Python run beside it imported that folder
    as a namespace package (no ``create_run``) until the src/ layout."""
    (tmp_path / "neronet").symlink_to(ROOT, target_is_directory=True)
    code = "import neronet, neronet.seeds; neronet.create_run; print(neronet.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == ROOT / "src" / "neronet" / "__init__.py"
