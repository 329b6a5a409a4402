"""How often RAS's children replace a representative, per training regime (METHOD.md).

Runs the RAS quickstart (digits) for 4 generations per seed in three regimes - subset
generations without re-scoring (``ras.rescore=false``), subset generations with it (the
default), every generation on the full split (``ras.full_training_period=1``) - against
one transfer set built once, and counts, over generations 1-3, the replacements per
generation, the share of children that trained ``ok`` and their mean fitness.

    python bench/ras_replacements.py --out bench/results/ras_replacements.json [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from neronet.store import RunStore

CONFIG = "configs/ras-quickstart.yaml"
REGIMES = {
    "subsets, rescore off": ["ras.rescore=false"],
    "subsets, rescore on (default)": [],
    "full split every generation": ["ras.full_training_period=1"],
}
GENERATIONS = 4


def neronet(*args: str) -> None:
    """One neronet command in a fresh process (as a user runs it); fails loudly."""
    subprocess.run([sys.executable, "-m", "neronet.cli", *args], check=True, capture_output=True)


def tally(run: Path) -> dict[str, Any]:
    """Replacements and children (not re-scored representatives) of generations 1-3."""
    store = RunStore.open(run, readonly=True)
    try:
        generations = [g for g in store.generations() if g.generation >= 1]
        children = [
            row
            for row in store.individuals()
            if row.generation >= 1 and "rescore" not in row.mutations
        ]
        return {
            "replacements": sum(g.info["replacements"] for g in generations),
            "generations": len(generations),
            "children": len(children),
            "children_ok": sum(row.status == "ok" for row in children),
            "child_fitness": [row.fitness or 0.0 for row in children],
        }
    finally:
        store.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ras-replacements-") as work:
        transfer = Path(work) / "transfer.safetensors"
        neronet("transfer-set", "--config", CONFIG, "--out", str(transfer))
        for name, overrides in REGIMES.items():
            runs = []
            for seed in args.seeds:
                run = Path(work) / f"{len(rows)}-{seed}"
                neronet(
                    "evolve",
                    "--config",
                    CONFIG,
                    "--run",
                    str(run),
                    "--seed",
                    str(seed),
                    f"search.generations={GENERATIONS}",
                    f"evaluation.transfer_set={transfer}",
                    *overrides,
                )
                runs.append(tally(run))
            fitness = [f for r in runs for f in r["child_fitness"]]
            children = sum(r["children"] for r in runs)
            rows[name] = {
                "overrides": overrides,
                "replacements_per_generation": sum(r["replacements"] for r in runs)
                / sum(r["generations"] for r in runs),
                "replacements": sum(r["replacements"] for r in runs),
                "children": children,
                "children_ok_share": sum(r["children_ok"] for r in runs) / children,
                "mean_child_fitness": statistics.fmean(fitness),
            }
            print(f"{name}: {json.dumps(rows[name])}", flush=True)
    result = {"config": CONFIG, "seeds": args.seeds, "generations": GENERATIONS, "rows": rows}
    args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
