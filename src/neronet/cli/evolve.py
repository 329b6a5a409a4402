"""``neronet evolve``: run or resume a search in a run directory (one writer per run)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from neronet.config import NeroConfig


def add_evolve_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet evolve``."""
    p = sub.add_parser(
        "evolve",
        help="run (or resume) a search: NERO-Net, RAS, NSGA-II or random (search.strategy)",
        description="Run a search. With no --config it runs configs/quickstart.yaml "
        "(NERO-Net on digits, about 2 minutes on 2 CPU cores); configs/ras-quickstart.yaml "
        "runs RAS. An existing --run DIR is resumed.",
    )
    p.add_argument("--config", help="YAML config (default: quickstart, or the run's own on resume)")
    p.add_argument("--run", help="run directory (default: runs/<time>-seed<N>)")
    p.add_argument("--seed", type=int, help="run seed (overrides the config)")
    p.add_argument(
        "--executor", help="where to evaluate: local, workers, ray or a plug-in's executor"
    )
    p.add_argument("--address", help="Ray cluster address HOST:PORT (with --executor ray)")
    p.add_argument(
        "--allow-changed",
        action="store_true",
        help="resume even though the grammar or search config changed",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=cmd_evolve)


def cmd_evolve(args: argparse.Namespace) -> int:
    from neronet.config import DEFAULT_CONFIG, grammar_text, load_config, parse_config, set_override
    from neronet.execution import make_executor
    from neronet.grammar import Grammar
    from neronet.plugins import check_plugins
    from neronet.progress import Reporter, search_plan
    from neronet.runlock import writer_lock
    from neronet.search.runner import SearchRun
    from neronet.store import DB_NAME, STARTUP_FILES, RunStore, check_run_directory
    from neronet.transfer.run import workers_config

    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.executor:
        overrides.append(f"executor.kind={args.executor}")
    if args.address:
        overrides.append(f"executor.address={args.address}")
    if args.run is not None and check_run_directory(Path(args.run), "--run"):
        print(
            f"--run '{args.run}': its start-up was interrupted before the run was stored; "
            "starting it again",
            file=sys.stderr,
        )
    resuming = args.run is not None and (Path(args.run) / DB_NAME).exists()
    if resuming and args.config is None:
        stored = RunStore.open(args.run, readonly=True)
        try:
            data = stored.config_data()
            text, name = stored.grammar()
        finally:
            stored.close()
        for assignment in overrides:
            set_override(data, assignment)
        source = f"{args.run} (stored config)"
        config = parse_config(data, source)
    else:
        source = args.config or DEFAULT_CONFIG
        config = load_config(args.config, overrides)
        base = Path(args.config).parent if args.config else None
        text, name = grammar_text(config, base)
    check_plugins(config, source)
    run_dir = Path(args.run or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-seed{config.seed}")
    workers = workers_config(config, run_dir)  # the run's own transfer set, if it needs one
    # Everything that can fail on bad input (data, grammar, seed) fails before
    # SearchRun.open creates the run database; the lock, taken first so that a
    # second writer is refused before it touches anything, removes the directory
    # again when it created it and the start fails.
    with writer_lock(run_dir, "--run", STARTUP_FILES), make_executor(workers) as executor:
        run = SearchRun.open(
            config,
            text,
            name,
            run_dir,
            reporter=Reporter.terminal(),
            allow_changed=args.allow_changed,
        )
        if not run.store.meta("finished", False):  # a finished run only reprints its result
            own_epochs = Grammar.parse(text, name).writes("epochs")
            planned = run.strategy.planned
            for line in search_plan(config, planned, _where(config), own_epochs, executor.threads):
                print(line, file=sys.stderr)
            print(f"watch it live: neronet dashboard {run_dir}", file=sys.stderr)
        try:
            run.run(executor)
        except KeyboardInterrupt:
            stored = run.store.count_individuals()
            print(
                f"\ninterrupted; the {stored} individuals evaluated so far are stored, the "
                "ones in training when you stopped are lost and will be trained again. "
                f"Resume with: neronet evolve --run {run_dir}",
                file=sys.stderr,
            )
            return 130
        finally:
            run.store.close()
    return 0


def _where(config: NeroConfig) -> str:
    """The device a local search trains on (``cpu``, ``cuda``), else the executor kind."""
    if config.executor.kind != "local":
        return f"the {config.executor.kind} executor's devices"
    from neronet.train.core import resolve_device

    return resolve_device(config.training.device).type
