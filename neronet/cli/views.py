"""Read-only commands on a run: ``status``, ``best``, ``report``, ``export``, and
``show-seed``; they open the store read-only, so they work while a search runs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from neronet.errors import NeronetError


def _add_run_view(
    sub: argparse._SubParsersAction, name: str, help_text: str, func: Callable[..., int]
) -> None:
    """A read-only command on a run directory, with ``--json`` for scripts."""
    p = sub.add_parser(name, help=help_text)
    p.add_argument("run", help="run directory")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=func)


def _add_status(sub: argparse._SubParsersAction) -> None:
    _add_run_view(
        sub, "status", "progress of a run: generation, best so far, time spent", cmd_status
    )


def cmd_status(args: argparse.Namespace) -> int:
    from neronet.reports.describe import fmt_metric
    from neronet.reports.metrics import metrics_line
    from neronet.reports.status import run_status

    info = run_status(args.run)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    if info["writer_pid"] is not None:
        state = f"running (pid {info['writer_pid']})"
    elif info["finished"]:
        state = "finished"
    else:
        state = "in progress (resume with neronet evolve --run DIR)"
    print(f"run {info['run']}: {state}")
    print(
        f"  generations {info['generation']}/{info['generations_total']}, "
        f"individuals {info['individuals']} (invalid {info['invalid']}, "
        f"ill-fitted {info['ill_fitted']}, cache hits {info['cache_hits']})"
    )
    phase = ""
    if info["objective"] == "nero-net":
        phase = ": warm-up (clean accuracy)" if info["warmup"] else ": weighted HRS"
    print(f"  objective: {info['objective']}{phase}")
    if info["best_id"] is not None:
        print(
            f"  best: id {info['best_id']} fitness {fmt_metric(info['best_fitness'], 4)}, "
            f"{metrics_line(info['best_metrics'])}"
        )
    print(
        f"  time: {info['elapsed_seconds']:.0f} s elapsed, {info['train_seconds']:.0f} s training"
    )
    return 0


def _add_best(sub: argparse._SubParsersAction) -> None:
    _add_run_view(
        sub,
        "best",
        "the best individual's metrics and architecture (a Pareto search: its front)",
        cmd_best,
    )


def cmd_best(args: argparse.Namespace) -> int:
    from neronet.cli.table import pareto_front, show_front
    from neronet.reports.describe import describe_learning, describe_spec, fmt_metric
    from neronet.reports.metrics import metrics_line
    from neronet.store import RunStore

    front = pareto_front(args.run)
    if front is not None:
        show_front(front, args.json)
        return 0
    store = RunStore.open(args.run, readonly=True)
    try:
        best = store.best()
        if best is None:
            raise NeronetError(f"'{args.run}' has no finished generation yet; let the search run")
        spec_dict = best.record.get("spec")
        info = {
            "id": best.id,
            "generation": best.generation,
            "fitness": store.best_fitness(),
            "metrics": best.metrics,
            "train_time": best.train_time,
            "learning": best.record.get("learning"),
            "spec": spec_dict,
        }
    finally:
        store.close()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"best individual {info['id']} (generation {info['generation']}): fitness "
        f"{fmt_metric(info['fitness'], 4)}, {metrics_line(info['metrics'])}"
    )
    print(f"learning: {describe_learning(info['learning'])}")
    if spec_dict is not None:
        from neronet.spec import NetworkSpec

        print(describe_spec(NetworkSpec.from_dict(spec_dict)))
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export an individual as model.py, .safetensors or .onnx")
    p.add_argument("run", help="run directory")
    p.add_argument("--id", type=int, help="individual id (default: the best)")
    p.add_argument("--out", required=True, help="output file: *.py, *.safetensors or *.onnx")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from neronet.export import export_individual

    written = export_individual(args.run, args.id, Path(args.out))
    for path in written:
        print(f"wrote {path}")
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="plots and a summary of a run (PNG + markdown/HTML)")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", help="output directory (default: RUN/report)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from neronet.reports.run_report import write_report

    out = write_report(args.run, args.out)
    print(f"report written to {out}")
    return 0


def _add_show_seed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show-seed", help="print the NSGA-Net seed architecture")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_show_seed)


def cmd_show_seed(args: argparse.Namespace) -> int:
    from neronet.nn import count_parameters, estimate_flops
    from neronet.phenotype import to_spec
    from neronet.reports.describe import describe_spec, spec_units
    from neronet.seeds import nsga_net

    spec = to_spec(nsga_net())
    if args.json:
        info = {
            "name": "nsga-net-macro",
            "parameters": count_parameters(spec),
            "flops": estimate_flops(spec),
            "units": spec_units(spec),
            "spec": spec.to_dict(),
        }
        print(json.dumps(info, indent=2))
        return 0
    print("NSGA-Net macro model (the NERO-Net seed), 3x32x32 input, 10 classes")
    print(describe_spec(spec))
    return 0


def add_view_commands(sub: argparse._SubParsersAction) -> None:
    """Register the read-only commands."""
    for add in (_add_status, _add_best, _add_export, _add_report, _add_show_seed):
        add(sub)
