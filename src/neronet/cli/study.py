"""``neronet study`` (N runs of one config, resumable as a whole) and ``neronet compare``."""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

DEFAULT_RUNS = 5  # the paper's number of evolutionary runs


def add_study_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet study`` and ``neronet compare``."""
    p = sub.add_parser(
        "study",
        help="N independent runs of one config (the paper's 5), resumable as a whole",
        description="Run a study: N searches of one config with seeds derived from the "
        "config seed, in DIR/run-0 ..., one after another or --parallel N at once (the same "
        "records either way). Re-running it with --dir resumes it.",
    )
    p.add_argument("--config", help="YAML config (default: quickstart, or the study's own)")
    p.add_argument(
        "--runs", type=int, help=f"number of runs (default {DEFAULT_RUNS}; more grows it)"
    )
    p.add_argument("--dir", help="study directory (default: studies/<time>-seed<N>)")
    p.add_argument("--seed", type=int, help="study seed (overrides the config)")
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="runs at once, each in its own process with its share of the executor's "
        "workers (default 1: one after another)",
    )
    p.add_argument(
        "--executor", help="where to evaluate: local, workers, ray or a plug-in's executor"
    )
    p.add_argument("--address", help="Ray cluster address HOST:PORT (with --executor ray)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=cmd_study)
    c = sub.add_parser(
        "compare",
        help="studies or runs side by side: curves, final-parent mean ± std, a table",
    )
    c.add_argument("sets", nargs="+", metavar="DIR", help="study or run directories")
    c.add_argument("--out", default="compare", help="output directory (default: compare)")
    c.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help="each study's first N runs (default: all; for studies still growing, whose "
        "later runs are not searched yet); a run directory is one run either way",
    )
    c.set_defaults(func=cmd_compare)


def cmd_study(args: argparse.Namespace) -> int:
    from neronet.cli.common import refuse_foreign_dir
    from neronet.config import DEFAULT_CONFIG, grammar_text, load_config, parse_config, set_override
    from neronet.plugins import check_plugins
    from neronet.progress import Reporter
    from neronet.runlock import writer_lock
    from neronet.search.parallel import check_parallel, lane_executors, run_study_parallel
    from neronet.search.study import (
        STUDY_FILE,
        check_run_count,
        check_shared_transfer_set,
        is_study,
        open_study,
        read_study,
        run_study,
    )

    overrides = list(args.overrides)
    for flag, key in (
        (args.seed, "seed"),
        (args.executor, "executor.kind"),
        (args.address, "executor.address"),
    ):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    if args.dir is not None:
        refuse_foreign_dir(Path(args.dir), STUDY_FILE, "a study")
    if args.dir is not None and is_study(args.dir) and args.config is None:
        stored = read_study(args.dir)
        data = copy.deepcopy(stored.config)  # overrides write into nested sections
        for assignment in overrides:
            set_override(data, assignment)
        source = f"{args.dir} (study config)"
        config = parse_config(data, source)
        text, name = stored.grammar, stored.grammar_name
    else:
        source = args.config or DEFAULT_CONFIG
        config = load_config(args.config, overrides)
        text, name = grammar_text(config, Path(args.config).parent if args.config else None)
    check_plugins(config, source)
    directory = Path(args.dir or f"studies/{time.strftime('%Y%m%d-%H%M%S')}-seed{config.seed}")
    check_shared_transfer_set(config)
    runs = args.runs if args.runs is not None or is_study(directory) else DEFAULT_RUNS
    if runs is not None:
        check_run_count(runs)  # before the lock creates the directory
    lane_executors(config.executor, check_parallel(args.parallel))  # refusals before the lock

    def announce(line: str) -> None:
        print(f"study {directory}: {line}", file=sys.stderr)

    with writer_lock(directory, "--dir"):
        study = open_study(directory, config, text, name, runs)
        announce(f"{study.runs} runs, seeds {', '.join(map(str, study.seeds))}")
        announce(f"watch it live: neronet dashboard {directory}")
        try:
            if args.parallel > 1:
                announce(f"{args.parallel} runs at once; each one's progress: its run.log")
                run_study_parallel(study, config, args.parallel, announce=announce)
            else:
                run_study(study, reporter=Reporter.terminal, announce=announce)
        except KeyboardInterrupt:
            print(
                f"\ninterrupted; finished runs and every individual evaluated so far are "
                f"stored. Resume with: neronet study --dir {directory}",
                file=sys.stderr,
            )
            return 130
    _print_fittest(directory)
    return 0


def _print_fittest(directory: Path) -> None:
    from neronet.reports.study_data import fittest, load_runs

    runs = load_runs(directory)
    best = fittest(runs.runs)
    if best is None:
        print(f"study done: {directory}, no run finished a generation")
        return
    print(
        f"study done: {len(runs.runs)} runs; fittest: {runs.run_label(best.run)} individual "
        f"{best.individual.id}, fitness {best.fitness:.4f}"
        f"{'' if best.post_warmup else ' (warm-up)'}"
    )
    print(
        f"next: neronet report {directory} | neronet train --study {directory} | "
        f"neronet dashboard {directory}"
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from neronet.reports.compare import compare, write_comparison
    from neronet.reports.document import md_block

    comparison = compare(args.sets, args.runs)
    for warning in comparison.warnings:
        print(f"neronet: warning: {warning}", file=sys.stderr)
    written = write_comparison(comparison, Path(args.out))
    print(md_block(comparison.table()))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0
