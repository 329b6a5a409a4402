"""Tabular commands: ``neronet table RUN`` and the Pareto front that ``neronet best`` prints.

Kept apart from ``cli.py`` so the commands move as a unit; each is a parser
function plus a command function, like the others.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neronet.evaluation.objectives import stored_components
from neronet.table import FORMATS, load_run


def add_table_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table",
        help="a run's individuals as a table (CSV, JSON or Parquet)",
        description="One row per individual: id, key, generation, status, reason, parent, "
        "mutations, fitness (per objective for a Pareto search), every metric, training.",
    )
    p.add_argument("run", help="run directory")
    p.add_argument("--format", choices=FORMATS, default="csv", help="output format (csv)")
    p.add_argument("--out", help="output file (default: stdout; required for parquet)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_table)


def cmd_table(args: argparse.Namespace) -> int:
    from neronet.outputs import check_output

    out = None if args.out is None else check_output(Path(args.out), force=args.force)
    load_run(args.run).write(args.format, out)
    return 0


def pareto_front(run_dir: str) -> list[dict[str, Any]] | None:
    """The last generation's elites of a vector-objective run, one dict each (id, key,
    generation, then each objective's metric as measured); None for a scalar run."""
    from neronet.errors import NeronetError
    from neronet.store import RunStore

    store = RunStore.open(run_dir, readonly=True)
    try:
        names = stored_components(store.config())
        if names is None:
            return None
        elites = store.elites()
        if not elites:
            raise NeronetError(f"'{run_dir}' has no finished generation yet; let the search run")
        return [
            {
                "id": row.id,
                "key": row.key,
                "generation": row.generation,
                **{name: row.metric(name) for name in names},
            }
            for row in elites
        ]
    finally:
        store.close()


def show_front(front: list[dict[str, Any]], as_json: bool) -> None:
    """Print the front as a table (or its JSON list), a row per member, best first."""
    from neronet.reports.metrics import view

    if as_json:
        print(json.dumps(front, indent=2))
        return
    names = [k for k in front[0] if k not in ("id", "key", "generation")]
    views = [view(n) for n in names]
    widths = [max(len(v.header), v.width) for v in views]
    header = "".join(f"{v.header:>{w}}  " for v, w in zip(views, widths, strict=True))
    print(f"Pareto front of {len(front)} (last generation's elites; export one with --id N):")
    print(f"  {'id':<5} {'key':<8} {'gen':>3}  {header}")
    for member in front:
        cells = "".join(
            f"{v.fmt(member[v.name]):>{w}}  " for v, w in zip(views, widths, strict=True)
        )
        print(f"  {member['id']:<5} {member['key']:<8} {member['generation']:>3}  {cells}")
