"""The facts about a finished experiment that docs/EXPERIMENTS.md's Part 2 quotes beside
the experiment's own report: what ``EXPERIMENT.md`` does not tabulate, read from its
``experiment.csv`` and its run stores, so every number in that text has a command.

    python tools/experiment_numbers.py EXPERIMENT_DIR [--reference nero-net] [--without RUN]

Per method: how far FGSM overrates its bests (FGSM minus PGD-20 accuracy after
retraining, and how many of its bests the attack audit noted for it), the median of
its bests' search-time NERO-Net fitness, and its runs whose every candidate came from the
memo; per method against the reference: the runs that ended on the reference's
architecture and those whose searches were the reference's candidate for candidate,
and the mean AutoAttack lead with one run left out (``--without``: is one pair all of
it?); per run of every method: whether the search left NERO-Net's warm-up and whether
the weighted HRS would pick the network clean accuracy picks (in the warm-up a
run's best is the cleanest; with the paper's beta the two rarely differ).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from neronet.config import NeroConfig
from neronet.errors import NeronetError
from neronet.evaluation.objectives import nero_net_fitness
from neronet.store import IndividualRow, RunStore
from neronet.train.training_dir import META_FILE

Row = dict[str, str]
"""One row of ``experiment.csv``: one run of one method."""


def read_rows(directory: Path) -> list[Row]:
    with (directory / "experiment.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def methods_of(rows: Sequence[Row]) -> list[str]:
    """The methods in the report's order."""
    return list(dict.fromkeys(r["method"] for r in rows))


def fgsm_overrating(rows: Sequence[Row], without: int | None = None) -> dict[str, float]:
    """Per method, the mean of FGSM minus PGD-20 accuracy of its retrained bests, in
    points (``without``: that run left out; a method with no other run is left out);
    empty when the experiment ran either attack not."""
    gaps: dict[str, list[float]] = {}
    for r in rows:
        if int(r["run"]) != without and r.get("FGSM") and r.get("PGD-20"):
            gaps.setdefault(r["method"], []).append(100 * (float(r["FGSM"]) - float(r["PGD-20"])))
    return {m: statistics.fmean(v) for m, v in gaps.items()}


def audit_fgsm_notes(rows: Sequence[Row]) -> dict[str, int]:
    """Per method, its bests whose audit noted FGSM as an optimistic estimate."""
    return {
        m: sum(r["method"] == m and "FGSM:" in r["notes"] for r in rows) for m in methods_of(rows)
    }


def median_yardstick(rows: Sequence[Row]) -> dict[str, float]:
    """Per method, the median of its bests' NERO-Net fitness at search time."""
    return {
        m: statistics.median(float(r["search_nero_net_fitness"]) for r in rows if r["method"] == m)
        for m in methods_of(rows)
    }


def memo_only(rows: Sequence[Row]) -> dict[str, list[int]]:
    """Per method, its runs whose every candidate was read from the memo."""
    return {
        m: [
            int(r["run"])
            for r in rows
            if r["method"] == m and r["individuals_from_memo"] == r["individuals_trained"]
        ]
        for m in methods_of(rows)
    }


def lead_without(rows: Sequence[Row], reference: str, run: int, column: str) -> dict[str, float]:
    """Per other method, its mean paired lead over ``reference`` on ``column`` in points
    over the runs both have, ``run`` left out (a method with no other pair is left out;
    empty when the experiment has no such column)."""
    values = {(r["method"], int(r["run"])): float(r[column]) for r in rows if r.get(column)}
    leads = {}
    for m in methods_of(rows):
        if m == reference:
            continue
        pairs = [
            100 * (v - values[reference, i])
            for (method, i), v in values.items()
            if method == m and i != run and (reference, i) in values
        ]
        if pairs:
            leads[m] = statistics.fmean(pairs)
    return leads


def architecture(directory: Path, method: str, run: int) -> str:
    """The digest of the network run ``run`` of ``method`` retrained, as its training
    recorded it (the digest the report tells distinct bests by)."""
    meta = directory / "trained" / f"{method}-run-{run}" / META_FILE
    return str(json.loads(meta.read_text(encoding="utf-8"))["spec_digest"])


def _store(
    directory: Path, method: str, run: int
) -> tuple[list[IndividualRow], list[bool], NeroConfig]:
    """A run's individuals, whether each generation was in the warm-up, and its config."""
    store = RunStore.open(directory / method / f"run-{run}", readonly=True)
    try:
        warmup = [bool(g.info.get("warmup", False)) for g in store.generations()]
        return store.individuals(), warmup, store.config()
    finally:
        store.close()


def _candidates(directory: Path, method: str, run: int) -> list[tuple[int, str]]:
    """A run's candidates in the order it trained them: generation and genotype."""
    individuals, _, _ = _store(directory, method, run)
    return [(r.generation, r.genotype) for r in individuals]


def same_as(
    directory: Path, rows: Sequence[Row], method: str, reference: str
) -> tuple[list[int], list[int]]:
    """The runs of ``method`` that retrained the reference's architecture, and those
    whose searches trained the reference's candidates in the same order."""
    runs = sorted(int(r["run"]) for r in rows if r["method"] == method)
    theirs = {int(r["run"]) for r in rows if r["method"] == reference}
    best, search = [], []
    for i in runs:
        if i not in theirs:
            continue
        if architecture(directory, method, i) == architecture(directory, reference, i):
            best.append(i)
        if _candidates(directory, method, i) == _candidates(directory, reference, i):
            search.append(i)
    return best, search


def same_pick(config: NeroConfig, individuals: Sequence[IndividualRow]) -> bool:
    """Whether the weighted HRS (NERO-Net's fitness after warm-up) and clean accuracy
    pick the same network among the evaluated ``individuals`` (first found on ties)."""
    scored = [r for r in individuals if r.fitness is not None]
    clean = max(scored, key=lambda r: r.metrics.get("clean_accuracy", 0.0))
    hrs = max(scored, key=lambda r: nero_net_fitness(config, r.status, r.metrics))
    return clean.genotype == hrs.genotype


def warmup_and_pick(
    directory: Path, rows: Sequence[Row], method: str
) -> tuple[list[int], list[int]]:
    """The runs of ``method`` whose search left the warm-up (searched a generation after
    it), and those where the weighted HRS and clean accuracy pick the same network."""
    left, same = [], []
    for i in sorted(int(r["run"]) for r in rows if r["method"] == method):
        individuals, warmup, config = _store(directory, method, i)
        if not all(warmup):
            left.append(i)
        if same_pick(config, individuals):
            same.append(i)
    return left, same


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(directory: Path, reference: str, without: int | None) -> list[str]:
    """The command's lines: per method, against ``reference``, then per run's warm-up."""
    rows = read_rows(directory)
    methods = methods_of(rows)
    if reference not in methods:
        raise ValueError(
            f"no method {reference!r} in {directory / 'experiment.csv'}: pick one of {methods}"
        )
    count = {m: sum(r["method"] == m for r in rows) for m in methods}
    overrating, notes = fgsm_overrating(rows), audit_fgsm_notes(rows)
    yardstick, memo = median_yardstick(rows), memo_only(rows)
    lines = [
        "method: runs; FGSM - PGD-20 (points); audit FGSM notes; "
        "median search-time NERO-Net fitness; runs all from the memo"
    ]
    for m in methods:
        lines.append(
            f"{m}: {count[m]}; {_points(overrating.get(m))}; {notes[m]} of {count[m]}; "
            f"{yardstick[m]:.3f}; {memo[m]}"
        )
    if without is not None:
        lines.append(f"without run {without}: FGSM - PGD-20 (points)")
        lines += [f"{m}: {v:.1f}" for m, v in fgsm_overrating(rows, without).items()]
        lines.append(f"without run {without}: mean AutoAttack lead over {reference} (points)")
        lines += [
            f"{m}: {v:+.1f}"
            for m, v in lead_without(rows, reference, without, "AutoAttack").items()
        ]
    lines.append(
        f"against {reference}: runs ending on its architecture; runs whose search was its search"
    )
    for m in methods:
        if m != reference:
            best, search = same_as(directory, rows, m, reference)
            lines.append(f"{m}: {len(best)} {best}; {len(search)} {search}")
    lines.append(
        "runs that left the warm-up; "
        "runs where the weighted HRS and clean accuracy pick the same network"
    )
    for m in methods:
        left, same = warmup_and_pick(directory, rows, m)
        lines.append(f"{m}: {len(left)} {left}; {len(same)} {same}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "directory", type=Path, help="a finished experiment's directory (neronet experiment --dir)"
    )
    parser.add_argument(
        "--reference", default="nero-net", help="the method the others are held against"
    )
    parser.add_argument("--without", type=int, help="also the leads with this run left out")
    args = parser.parse_args(argv)
    try:
        lines = report(args.directory, args.reference, args.without)
    except (OSError, KeyError, NeronetError) as err:
        print(
            f"error: {args.directory}: {err} (give a finished experiment's directory: "
            "its experiment.csv, run stores and trained/)",
            file=sys.stderr,
        )
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
