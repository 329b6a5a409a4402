"""A NERO-Net search computes what the 0.1.0 release computed (the refactor's proof).

``fixtures/golden-quickstart.json`` holds the individuals (genotype, status,
clean and FGSM accuracy) of two shortened quickstart runs recorded before the
pipeline became plug-ins; a fresh run with the same command must match them
exactly. Regenerate the fixture (``python tests/fixtures/make_golden.py``) only
for a change meant to alter the search, and say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
import make_golden

GOLDEN = json.loads(make_golden.OUT.read_text())


@pytest.mark.parametrize("seed", make_golden.SEEDS)
def test_search_matches_the_golden_run(tmp_path: Path, seed: int) -> None:
    assert GOLDEN["args"] == make_golden.ARGS
    run = tmp_path / "run"
    make_golden.evolve(run, seed)
    assert make_golden.record(run) == GOLDEN["runs"][str(seed)]
