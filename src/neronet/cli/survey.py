"""``neronet survey``: N architectures of a grammar, each measured at search time and after
post-search training, and how well each search-time signal ranks the final robustness."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from neronet.errors import ConfigError
from neronet.logline import append_line

if TYPE_CHECKING:
    from neronet.config import NeroConfig
    from neronet.survey.store import SurveyStore

DEFAULT_COUNT = 100
MAX_COUNT = 100_000


def add_survey_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet survey``."""
    p = sub.add_parser(
        "survey",
        help="sample N architectures, measure search-time signals and final robustness, "
        "correlate them (Kendall tau, Spearman rho)",
        description="Survey a search space: N architectures from the config's grammar "
        "(random genotypes and mutants), each with training-free proxies, the search's "
        "measurements after its budget, and clean / PGD-20 / AutoAttack accuracy after the "
        "posttrain settings on held-out images; writes DIR/SURVEY.md, plots and "
        "survey.csv. Re-run the same command to resume (or a larger --count to extend).",
    )
    p.add_argument("--config", required=True, help="YAML config (data, grammar, budgets)")
    p.add_argument("--dir", required=True, help="survey directory (resumable)")
    p.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        help=f"architectures to survey (default {DEFAULT_COUNT})",
    )
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="architectures measured at once, each in its own process with its share of "
        "the cores (several share a GPU); the rows are the same (default 1)",
    )
    p.add_argument(
        "--retest",
        type=int,
        default=0,
        metavar="K",
        help="after the rows, retrain the first K architectures again from the next seed and "
        "attack them with PGD-20: how much of the ground truth is the seed's (default 0)",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="only write SURVEY.md, the plots and the dataset from the rows so far (e.g. of "
        "a copy of a survey still running elsewhere); measure nothing",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=cmd_survey)


def _command(args: argparse.Namespace) -> str:
    words = ["neronet survey", f"--config {args.config}", f"--dir {args.dir}"]
    words.append(f"--count {args.count}")
    if args.parallel != 1:
        words.append(f"--parallel {args.parallel}")
    if args.retest:
        words.append(f"--retest {args.retest}")
    return " ".join(words + [shlex.quote(o) for o in args.overrides])


def _write_report(
    args: argparse.Namespace, config: NeroConfig, directory: Path, store: SurveyStore
) -> list[Path]:
    """SURVEY.md and the rest over the rows below ``--count`` (interim while rows miss)."""
    from neronet.evaluation.objectives import NeroNetObjective
    from neronet.reports.survey import write_survey_report

    records = [r for r in store.records() if r.index < args.count]
    retests = [t for t in store.retests() if t.index < args.count]
    objective = NeroNetObjective(config)
    command = _command(args)
    notes = [] if (stale := _stale_proxies(store)) is None else [stale]
    for note in notes:
        print(note, file=sys.stderr)
    return write_survey_report(directory, records, command, args.count, retests, objective, notes)


def _stale_proxies(store: SurveyStore) -> str | None:
    """What to say of a store whose proxies an earlier version's definitions measured
    (the survey command measures them again before its next row); None when current."""
    from neronet.survey.proxies import PROXY_DEFINITIONS
    from neronet.survey.rows import stale_proxy_rows

    if not stale_proxy_rows(store):
        return None
    return (
        "The training-free proxies below follow an earlier version's definitions "
        f"({store.proxy_definitions()}, "
        f"this version's are {PROXY_DEFINITIONS}); run the survey's command without --report "
        "to measure them again (seconds per architecture)."
    )


def _report_only(args: argparse.Namespace, config: NeroConfig, directory: Path) -> int:
    """``--report``: the report of the rows so far, the store only read (a survey may be
    writing rows meanwhile; every file is replaced whole); refused for a survey of other
    settings."""
    from neronet.survey.run import stored_settings, survey_settings
    from neronet.survey.store import SurveyStore

    store = SurveyStore.read(directory)
    try:
        store.check(survey_settings(config), stored_settings)
        written = _write_report(args, config, directory, store)
    finally:
        store.close()
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    print((directory / "SURVEY.md").read_text(encoding="utf-8"))
    return 0


def cmd_survey(args: argparse.Namespace) -> int:
    from neronet.cli.common import refuse_foreign_dir
    from neronet.config import load_config
    from neronet.genotype import structure_for
    from neronet.runlock import writer_lock
    from neronet.survey.run import run_survey
    from neronet.survey.store import DB_NAME

    if not 1 <= args.count <= MAX_COUNT:
        raise ConfigError(f"--count {args.count}: survey between 1 and {MAX_COUNT:,} architectures")
    if not 1 <= args.parallel <= args.count:
        raise ConfigError(
            f"--parallel {args.parallel}: measure 1 to --count ({args.count}) architectures at once"
        )
    if not 0 <= args.retest <= args.count:
        raise ConfigError(
            f"--retest {args.retest}: retest 0 to --count ({args.count}) architectures"
        )
    if not Path(args.config).is_file():
        raise ConfigError(f"config file '{args.config}' not found; pass an existing YAML file")
    config = load_config(args.config, list(args.overrides))
    if config.posttrain.images == "all" and "images" in config.posttrain.model_fields_set:
        raise ConfigError(
            "posttrain.images=all: a survey retrains every architecture on its search train + "
            "control images (the ground truth of a search's budget); drop the setting"
        )
    structure = structure_for(config)
    directory = Path(args.dir)
    if args.report:
        return _report_only(args, config, directory)
    refuse_foreign_dir(directory, DB_NAME, "a survey")
    with writer_lock(directory, "--dir"), (directory / "survey.log").open("a") as log:

        def say(line: str) -> None:
            print(f"survey {directory}: {line}", file=sys.stderr, flush=True)
            append_line(log, line)

        def report(store: SurveyStore, final: bool = False) -> None:
            written = _write_report(args, config, directory, store)
            for path in written if final else ():
                say(f"wrote {path}")

        store = run_survey(
            config, structure, directory, args.count, say, args.parallel, report, args.retest
        )
        try:
            report(store, final=True)
        finally:
            store.close()
    print((directory / "SURVEY.md").read_text(encoding="utf-8"))
    return 0
