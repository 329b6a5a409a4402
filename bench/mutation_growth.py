"""Mean growth of the features module per mutation of the NSGA-Net seed, before and after.

Mutates the NSGA-Net seed (default structure, ``nero-net.grammar``, the paper's
rates of ``SearchConfig``) ``--mutations`` times, each time from the seed with
one seeded RNG, and prints the mean change in the number of ``features`` units
per child, for the operators at ``--baseline`` (read with ``git show``, so the
old figure is measured, not quoted) and for the operators in this checkout.
Issue 10: the old operators fired replicate independently of add and grew the
seed by about +0.3 units per mutation.

    python bench/mutation_growth.py --mutations 1000 --baseline a306695
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

import neronet.mutation
from neronet.config import SearchConfig
from neronet.genotype import default_structure
from neronet.seeds import nsga_net

Mutate = Callable[..., tuple]


def _path(revision: str) -> str:
    """Where ``mutation.py`` was at ``revision``: under src/ since the src layout."""
    for path in ("src/neronet/mutation.py", "neronet/mutation.py"):
        found = subprocess.run(
            ["git", "cat-file", "-e", f"{revision}:{path}"],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
        )
        if found.returncode == 0:
            return path
    raise SystemExit(f"no mutation.py at {revision}")


def baseline_mutate(revision: str) -> Mutate:
    """``mutate`` of ``neronet/mutation.py`` as it was at ``revision``."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{revision}:{_path(revision)}"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"mutation_at_{revision}")
    sys.modules[module.__name__] = module  # dataclasses resolve annotations through it
    exec(compile(source, f"{revision}:{_path(revision)}", "exec"), module.__dict__)
    return module.mutate


def mean_growth(mutate: Mutate, mutations: int, seed: int) -> float:
    """Mean change in feature units over ``mutations`` children of the seed."""
    structure = default_structure()
    parent = nsga_net(structure)
    search = SearchConfig()
    features = [m.name for m in structure.modules].index("features")
    rng = np.random.default_rng(seed)
    before = len(parent.modules[features])
    total = 0
    for _ in range(mutations):
        child, _ = mutate(
            parent,
            structure,
            search.mutation,
            rng,
            default_train_time=search.default_train_time,
            max_train_time=search.max_train_time,
        )
        total += len(child.modules[features]) - before
    return total / mutations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", default="a306695", help="git revision of the old operators")
    args = parser.parse_args()
    old = mean_growth(baseline_mutate(args.baseline), args.mutations, args.seed)
    new = mean_growth(neronet.mutation.mutate, args.mutations, args.seed)
    print(f"features units per mutation of the NSGA-Net seed ({args.mutations} mutations):")
    print(f"  before ({args.baseline}): {old:+.3f}")
    print(f"  after  (this checkout): {new:+.3f}")


if __name__ == "__main__":
    main()
