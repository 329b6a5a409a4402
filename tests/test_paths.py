"""Paths read from a run database stay inside the run directory (neronet.paths)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neronet.errors import StoreError
from neronet.paths import confined

WEIGHTS = re.compile(r"\d+\.safetensors")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "weights" / "3.safetensors").write_bytes(b"w")
    (tmp_path / "victim.txt").write_text("keep me")
    return run


def refused(root: Path, rel: str) -> str:
    with pytest.raises(StoreError) as info:
        confined(root, rel, "weights", WEIGHTS, "individual 3 weights_path")
    message = str(info.value)
    assert message.startswith(f"individual 3 weights_path in the run database is {rel!r}")
    assert "\n" not in message and "nothing was touched" in message
    return message


def test_a_stored_path_inside_the_run_is_returned(root: Path) -> None:
    path = confined(root, "weights/3.safetensors", "weights", WEIGHTS, "individual 3")
    assert path == root / "weights" / "3.safetensors" and path.read_bytes() == b"w"
    # a missing file is the caller's business (pruned weights), not a confinement error
    assert confined(root, "weights/9.safetensors", "weights", WEIGHTS, "x").parent == path.parent


@pytest.mark.parametrize(
    ("rel", "problem"),
    [
        ("../victim.txt", "with '..'"),
        ("weights/../../victim.txt", "with '..'"),
        ("weights/../weights/3.safetensors", "with '..'"),
        ("/etc/passwd", "absolute path"),
        ("C:/victim.txt", "absolute path"),
        ("\\\\server\\share\\x", "absolute path"),
        ("", "not a file name"),
        ("weights/3.safetensors\0", "not a file name"),
        ("states/3.safetensors", "not a file directly in weights/"),
        ("weights/sub/3.safetensors", "not a file directly in weights/"),
        ("weights", "not a file directly in weights/"),
        ("weights/run.sqlite", "not a weights/ file name"),
        ("weights/.3.safetensors.tmp77", "not a weights/ file name"),
    ],
)
def test_paths_leaving_the_expected_place_are_refused(root: Path, rel: str, problem: str) -> None:
    assert problem in refused(root, rel)
    assert (root.parent / "victim.txt").read_text() == "keep me"


def test_symlinks_leaving_the_run_are_refused(root: Path) -> None:
    victim = root.parent / "victim.txt"
    (root / "weights" / "4.safetensors").symlink_to(victim)
    assert "through a symbolic link" in refused(root, "weights/4.safetensors")
    (root / "weights" / "4.safetensors").unlink()  # removes the link, not the victim
    moved = root.parent / "outside-weights"
    (root / "weights").rename(moved)
    (root / "weights").symlink_to(moved)  # the whole sub-folder points outside
    assert "through a symbolic link" in refused(root, "weights/3.safetensors")
    assert victim.read_text() == "keep me" and (moved / "3.safetensors").exists()


def test_symlinks_within_the_run_and_a_linked_root_are_accepted(root: Path) -> None:
    (root / "weights" / "5.safetensors").symlink_to(root / "weights" / "3.safetensors")
    assert confined(root, "weights/5.safetensors", "weights", WEIGHTS, "x").read_bytes() == b"w"
    link = root.parent / "link-to-run"
    link.symlink_to(root)
    assert confined(link, "weights/3.safetensors", "weights", WEIGHTS, "x").read_bytes() == b"w"
