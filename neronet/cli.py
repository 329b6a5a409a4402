"""The ``neronet`` command.

Every user-caused problem ends as one line ``neronet: error: ...`` on stderr and
exit code 2 (no traceback); an interrupted search says how to resume it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from neronet import __version__
from neronet.cli_eval import add_attack_command, add_train_command
from neronet.cli_table import add_table_command, pareto_front, show_front
from neronet.errors import InvalidArchitecture, NeronetError, StoreError

EXIT_USAGE = 2


def _add_evolve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolve",
        help="run (or resume) a NERO-Net search",
        description="Run a NERO-Net search. With no --config it runs configs/quickstart.yaml "
        "(digits, ~2 minutes on 2 CPU cores). An existing --run DIR is resumed.",
    )
    p.add_argument("--config", help="YAML config (default: quickstart, or the run's own on resume)")
    p.add_argument("--run", help="run directory (default: runs/<time>-seed<N>)")
    p.add_argument("--seed", type=int, help="run seed (overrides the config)")
    p.add_argument("--executor", choices=["local", "workers", "ray"], help="where to evaluate")
    p.add_argument("--address", help="Ray cluster address HOST:PORT (with --executor ray)")
    p.add_argument(
        "--allow-changed",
        action="store_true",
        help="resume even though the grammar or search config changed",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=cmd_evolve)


def _check_run_dir(run_dir: Path, config_given: bool) -> None:
    """Refuse a --run directory that is not a run, before anything is read or written.

    A directory holding other files would get the run's files mixed into it. One
    holding only what an interrupted start-up leaves (the lock file, the store's
    staging database) has no stored config, so resuming it without --config
    would silently start the quickstart config instead of the user's.
    """
    from neronet.runlock import LOCK_NAME
    from neronet.store import DB_NAME

    if not run_dir.exists() or (run_dir / DB_NAME).exists():
        return
    if not run_dir.is_dir():
        raise StoreError(f"--run '{run_dir}' is a file, not a directory; choose another path")
    # what RunStore.create and the writer lock put there before the config is stored
    startup = {LOCK_NAME, f".{DB_NAME}.creating"}
    names = {p.name for p in run_dir.iterdir()}
    if names - startup:
        raise StoreError(
            f"--run '{run_dir}' is a non-empty directory that holds no neronet run; "
            "choose a new or empty --run directory"
        )
    if names and not config_given:
        raise StoreError(
            f"--run '{run_dir}' holds a start-up that was interrupted before its config was "
            "stored; pass --config (and overrides) to start it again, or remove the directory"
        )


def cmd_evolve(args: argparse.Namespace) -> int:
    from neronet.config import grammar_text, load_config, parse_config, set_override
    from neronet.execution import make_executor
    from neronet.progress import Reporter
    from neronet.runlock import writer_lock
    from neronet.search.runner import SearchRun
    from neronet.store import DB_NAME, RunStore

    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.executor:
        overrides.append(f"executor.kind={args.executor}")
    if args.address:
        overrides.append(f"executor.address={args.address}")
    if args.run is not None:
        _check_run_dir(Path(args.run), args.config is not None)
    resuming = args.run is not None and (Path(args.run) / DB_NAME).exists()
    if resuming and args.config is None:
        stored = RunStore.open(args.run, readonly=True)
        data = stored.meta("config")
        text, name = stored.meta("grammar"), stored.meta("grammar_name")
        stored.close()
        for assignment in overrides:
            set_override(data, assignment)
        config = parse_config(data, f"{args.run} (stored config)")
    else:
        config = load_config(args.config, overrides)
        base = Path(args.config).parent if args.config else None
        text, name = grammar_text(config, base)
    run_dir = Path(args.run or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-seed{config.seed}")
    # Everything that can fail on bad input (data, grammar, seed) fails before
    # SearchRun.open creates the run database; the lock, taken first so that a
    # second writer is refused before it touches anything, removes the directory
    # again when it created it and the start fails.
    with writer_lock(run_dir, "--run"), make_executor(config) as executor:
        run = SearchRun.open(
            config,
            text,
            name,
            run_dir,
            reporter=Reporter.terminal(),
            allow_changed=args.allow_changed,
        )
        try:
            run.run(executor)
        except KeyboardInterrupt:
            print(
                "\ninterrupted; nothing evaluated is lost. Resume with: "
                f"neronet evolve --run {run_dir}",
                file=sys.stderr,
            )
            return 130
        finally:
            run.store.close()
    return 0


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


def run_status(run_dir: str) -> dict[str, object]:
    """The facts `neronet status` prints, as a dict (also the --json output)."""
    from neronet.runlock import lock_holder
    from neronet.store import RunStore

    store = RunStore.open(run_dir, readonly=True)
    try:
        gens = store.generations()
        rows = store.individuals()
        best = store.best()
        config = store.meta("config") or {}
        started = store.meta("started_at") or time.time()
        last_time = store.meta("finished_at") or max([g.finished_at for g in gens], default=started)
        return {
            "run": str(run_dir),
            "generation": len(gens),
            "generations_total": config.get("search", {}).get("generations"),
            "individuals": len(rows),
            "invalid": sum(r.status == "invalid" for r in rows),
            "ill_fitted": sum(r.status == "ill-fitted" for r in rows),
            "cache_hits": sum(r.cache_of is not None for r in rows),
            "objective": config.get("search", {}).get("objective", "nero-net"),
            "warmup": _in_warmup(gens[-1].info) if gens else True,
            "best_id": None if best is None else best.id,
            "best_fitness": store.best_fitness(),
            "best_metrics": {} if best is None else best.metrics,
            "train_seconds": sum(r.train_seconds or 0.0 for r in rows),
            "elapsed_seconds": max(last_time - started, 0.0),
            "finished": bool(store.meta("finished", False)),
            "writer_pid": lock_holder(run_dir),
            "seed": store.meta("seed"),
        }
    finally:
        store.close()


def _in_warmup(info: dict[str, object]) -> bool:
    """Whether fitness after this generation is still NERO-Net's warm-up objective."""
    return bool(info.get("warmup")) and not info.get("switched")


def cmd_status(args: argparse.Namespace) -> int:
    from neronet.reports.metrics import metrics_line
    from neronet.summary import fmt_metric

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
    from neronet.reports.metrics import metrics_line
    from neronet.store import RunStore
    from neronet.summary import describe_learning, describe_spec, fmt_metric

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
    from neronet.reports import write_report

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
    from neronet.seeds import nsga_net
    from neronet.summary import describe_spec, spec_units

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


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_evolve,
    _add_status,
    _add_best,
    _add_export,
    _add_report,
    _add_show_seed,
    add_train_command,
    add_attack_command,
    add_table_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neronet", description="Evolve adversarially robust CNNs (NERO-Net)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except NeronetError as err:
        print(f"neronet: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidArchitecture as err:
        print(
            f"neronet: error: the architecture cannot be built ({err}); "
            "check the spec or model file",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except sqlite3.DatabaseError as err:
        print(
            f"neronet: error: run database error ({err}); check the run directory "
            "is intact and not used by another neronet process",
            file=sys.stderr,
        )
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
