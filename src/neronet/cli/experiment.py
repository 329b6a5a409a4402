"""``neronet experiment``: does a robustness-aware search find more robust architectures?

Methods x runs at equal budget: each method is the experiment's config plus its
own overrides (by default NERO-Net's objective, the accuracy-only objective and
random search: configs that differ in one line), run as a study of N runs that
share the run seeds (a paired comparison). The best individual of every run is
then retrained from scratch with the same post-search settings (the config's
``posttrain`` section) and attacked on the held-out test split (FGSM, PGD-20 and
AutoAttack by default, with the gradient-masking audit), and the robustness is
tabulated as mean ± std per method.

Every step is one of neronet's own commands (printed as it starts, so any step
can be rerun or inspected alone) and each resumes, so the whole experiment
resumes by running the same command again. The same command scales from digits
on a laptop to CIFAR-10 on GPUs by changing the config only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neronet.cli.experiment_chains import (
    Chain,
    ChainJob,
    Search,
    Step,
    StepLog,
    chain_jobs,
    run_chains,
    run_step,
    run_steps,
    time_left,
)
from neronet.errors import ConfigError, StudyError
from neronet.logline import append_line

if TYPE_CHECKING:
    from neronet.config import NeroConfig
    from neronet.reports.at_size import SizeReference

DEFAULT_RUNS = 3
DEFAULT_METHODS = (
    "nero-net",
    "accuracy:search.objective=accuracy",
    "random:search.strategy=random",
)
DEFAULT_ATTACKS = "fgsm,pgd-linf,autoattack"
MANIFEST = "experiment.json"
RUN_SECONDS = "run_seconds"
"""The manifest's key of the pooled runs' own lane times (the time left weighs each
method's runs by them; ``seconds`` holds the steps' wall times)."""
MEMO = "memo"
"""What the methods share, in the experiment directory: ``evaluations`` (the searches'
memo, :mod:`neronet.search.memo`: a candidate two methods would train alike is trained
once), ``trained`` (``neronet train --memo``: a best another method's run ended on is
not retrained) and ``attacks`` (``neronet attack --memo``: nor attacked again)."""
EVALUATIONS = "evaluations"


@dataclass(frozen=True)
class Method:
    """A method of the comparison: a name (its study directory) and its config overrides."""

    name: str
    overrides: tuple[str, ...]


def parse_method(text: str) -> Method:
    """``NAME`` or ``NAME:key=value,key=value`` (the overrides that make the method)."""
    name, _, rest = text.partition(":")
    name = name.strip()
    overrides = tuple(o.strip() for o in rest.split(",") if o.strip())
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(
            f"--method {text!r}: the name must be letters, digits, '-' or '_'; pass "
            "NAME or NAME:key=value,... (e.g. accuracy:search.objective=accuracy)"
        )
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(
            f"--method {text!r}: {bad[0]!r} is not key=value; pass NAME:key=value,..."
        )
    return Method(name, overrides)


def add_experiment_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet experiment``."""
    p = sub.add_parser(
        "experiment",
        help="methods x runs at equal budget: search, retrain each run's best, attack it, "
        "table mean ± std per method",
        description="Compare search methods on robustness: a study per method (same run "
        "seeds), each run's best retrained with the config's posttrain settings and attacked "
        "on the held-out test split; writes DIR/EXPERIMENT.md. Re-run the same command to "
        "resume. The methods share DIR/memo: a candidate, retraining or attack another "
        "method's run did the same way is read from it, not done again.",
    )
    p.add_argument("--config", required=True, help="YAML config shared by every method")
    p.add_argument("--dir", required=True, help="experiment directory (resumable)")
    p.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help=f"runs per method (default {DEFAULT_RUNS})"
    )
    p.add_argument(
        "--method",
        action="append",
        help="NAME[:key=value,...], repeatable (default: " + "; ".join(DEFAULT_METHODS) + ")",
    )
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="runs at once: N lanes each search a run, retrain and attack its best, then "
        "take the next run of any method; every N runs of every method are compared and "
        "reported as they finish, while the lanes go on (the same records as one after "
        "another, so a resume may change it)",
    )
    p.add_argument(
        "--attacks", default=DEFAULT_ATTACKS, help=f"attacks (default {DEFAULT_ATTACKS})"
    )
    p.add_argument(
        "--survey",
        metavar="DIR",
        help="a neronet survey of the same search space, data, retraining and attack radius: "
        "the report compares AutoAttack at equal size too, the survey's size-robustness line "
        "held fixed (not part of the experiment: a resume may add or drop it)",
    )
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides for every method"
    )
    p.set_defaults(func=cmd_experiment)


def _manifest(args: argparse.Namespace, methods: list[Method]) -> dict[str, object]:
    """What the experiment directory belongs to; a resume with other settings would mix
    two experiments in one table."""
    config = Path(args.config)
    if not config.is_file():
        raise ConfigError(f"config file '{config}' not found; pass an existing YAML file")
    return {
        "config": str(config),
        "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
        "overrides": list(args.overrides),
        "methods": [{"name": m.name, "overrides": list(m.overrides)} for m in methods],
        "runs": args.runs,
        "attacks": args.attacks,
    }


@dataclass(frozen=True)
class Begun:
    """What an experiment directory was begun with: its manifest, its step times and its
    pooled runs' own lane times (:class:`~neronet.cli.experiment_chains.StepLog`)."""

    manifest: dict[str, object]
    seconds: dict[str, float]
    runs: dict[str, float]


def begun_in(directory: Path) -> Begun | None:
    """The experiment already in ``directory``, read once; None for a new one."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        seconds, runs = (
            {str(k): float(v) for k, v in stored.pop(key, {}).items()}
            for key in ("seconds", RUN_SECONDS)
        )
    except (OSError, ValueError, TypeError, AttributeError):
        raise StudyError(
            f"'{path}' is unreadable; restore it or start the experiment in a new --dir"
        ) from None
    return Begun(stored, seconds, runs)


def _memo(directory: Path, begun: Begun | None) -> Path | None:
    """The memo of the experiment in ``directory``; None for one begun without it (its
    studies' settings must not change under a resume)."""
    return None if begun is not None and MEMO not in begun.manifest else directory / MEMO


def _overrides(args: argparse.Namespace, method: Method, memo: Path | None) -> list[str]:
    """A method's search overrides: the memo first, so that the command line's win."""
    shared = [f"store.memo={memo / EVALUATIONS}"] if memo is not None else []
    return [*shared, *args.overrides, *method.overrides]


def _memo_flag(memo: Path | None, part: str) -> list[str]:
    """``--memo`` for a step's command (``DIR/memo/<part>``), or nothing without a memo."""
    return ["--memo", str(memo / part)] if memo is not None else []


def _forget(memo: Path, directory: Path, methods: list[Method], runs: range) -> None:
    """Drop the searches' memo entries of ``runs``, which every method has finished:
    no other run shares them (each run index has its own seed)."""
    from neronet.search.memo import seed_memo
    from neronet.search.study import read_study

    for m in methods:
        seeds = read_study(directory / m.name).seeds
        for i in runs:
            shutil.rmtree(seed_memo(memo / EVALUATIONS, seeds[i]).directory, ignore_errors=True)


def _check_manifest(
    directory: Path, manifest: dict[str, object], begun: Begun | None
) -> dict[str, float]:
    """Refuse a directory started with other settings; returns the step times so far."""
    from neronet.store import atomic_write

    if begun is not None:
        changed = [key for key in manifest if begun.manifest.get(key) != manifest[key]]
        if changed:
            raise StudyError(
                f"--dir '{directory}' holds an experiment with other {', '.join(changed)}; "
                "re-run its original command or choose a new --dir"
            )
        return dict(begun.seconds)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / MANIFEST, json.dumps({**manifest, "seconds": {}}, indent=2).encode())
    return {}


@dataclass(frozen=True)
class Round:
    """The steps of one round: the searches of its runs (every method), then per run its
    chain, then the comparison of the searches. A pooled round (``--parallel`` above 1)
    has no separate searches: each chain begins with its run's search, and the chains
    share the lanes, so a lane whose run ended takes the next one, of any method, of
    this round or the next (:func:`_run_pooled`)."""

    finished: int
    """Runs of every method finished after this round."""
    span: str
    searches: list[Step]
    chains: list[Chain]
    compare: Step
    first: int = 0
    """The round's first run: it holds runs ``first`` to ``finished - 1``."""

    def chain_steps(self) -> list[Step]:
        return [step for chain in self.chains for step in chain.steps]

    def steps(self) -> list[Step]:
        return [*self.searches, *self.chain_steps(), self.compare]

    @property
    def pooled(self) -> bool:
        """Whether each chain begins with its run's search."""
        return any(chain.search is not None for chain in self.chains)

    @property
    def chains_label(self) -> str:
        """The label the chains' wall time is kept under when they run in lanes."""
        return f"{'search+' if self.pooled else ''}retrain+attack {self.span}"


def _rounds(
    args: argparse.Namespace, methods: list[Method], directory: Path, memo: Path | None
) -> list[Round]:
    """Every step, in rounds: each round searches the next ``--parallel`` runs of every
    method, retrains and attacks their bests and compares the searches, so after each
    round the finished runs of all methods are paired and reported (a week-long
    experiment shows its evidence as it grows). With ``--parallel`` above 1 a round is
    pooled (:class:`Round`)."""
    common = ["--config", args.config]
    size = max(1, args.parallel)
    pooled = args.parallel > 1
    rounds = []
    for start in range(0, args.runs, size):
        end = min(start + size, args.runs)
        span = f"run{'s' if end - start > 1 else ''} {_span(start, end)}"
        searches: list[Step] = []
        for m in methods:
            study = directory / m.name
            # the pool grows every study to all its runs at once (_run_pooled); a study
            # grown further is never shrunk
            runs = max(args.runs if pooled else end, _stored_runs(study))
            argv = ["study", *common, "--runs", str(runs), "--dir", str(study)]
            argv += ["--parallel", str(args.parallel), *_overrides(args, m, memo)]
            searches.append((f"search {m.name} {span}", argv))
        chains = []
        for m, (_, study_argv) in zip(methods, searches, strict=True):
            for run in range(start, end):
                name = f"{m.name}-run-{run}"
                trained = str(directory / "trained" / name)
                run_dir = str(directory / m.name / f"run-{run}")
                train = ["train", "--run", run_dir, *common, "--out", trained, *args.overrides]
                train += _memo_flag(memo, "trained")
                # overrides are positional, beside the model: before any flag
                attack = ["attack", trained, *args.overrides, "--attacks", args.attacks]
                attack += [*common, "--out", str(directory / "attacked" / name)]
                attack += _memo_flag(memo, "attacks")
                steps: tuple[Step, ...] = (
                    (f"retrain {m.name} run-{run}", train),
                    (f"attack {m.name} run-{run}", attack),
                )
                search = Search(m.name, str(directory / m.name), run) if pooled else None
                if search is not None:
                    steps = ((f"search {m.name} run-{run}", study_argv), *steps)
                chains.append(Chain(name, steps, search))
        compare = ["compare", *(str(directory / m.name) for m in methods)]
        compare += ["--runs", str(end), "--out", str(directory / "compare")]
        searches = [] if pooled else searches
        compare_step = ("compare the searches", compare)
        rounds.append(Round(end, span, searches, chains, compare_step, start))
    return rounds


def _span(start: int, end: int) -> str:
    return f"{start + 1}" if end - start == 1 else f"{start + 1}-{end}"


def _stored_runs(study: Path) -> int:
    """Runs the study in ``study`` already holds (0 when it does not exist yet)."""
    from neronet.search.study import is_study, read_study

    return read_study(study).runs if is_study(study) else 0


def _command(args: argparse.Namespace) -> str:
    """The command line that (re)produces the experiment, for its report."""
    words = ["neronet experiment", f"--config {args.config}", f"--dir {args.dir}"]
    words.append(f"--runs {args.runs}")
    if args.parallel != 1:
        words.append(f"--parallel {args.parallel}")
    words += [f"--method {shlex.quote(m)}" for m in args.method or ()]
    if args.attacks != DEFAULT_ATTACKS:
        words.append(f"--attacks {args.attacks}")
    if args.survey:
        words.append(f"--survey {shlex.quote(args.survey)}")
    return " ".join(words + [shlex.quote(o) for o in args.overrides])


@dataclass(frozen=True)
class MethodStudy:
    """A method's config and grammar (text, name): what opening its study needs."""

    method: Method
    config: NeroConfig
    grammar: tuple[str, str]


def _open_studies(
    runs: int, directory: Path, studies: list[MethodStudy], lanes: int, held: ExitStack
) -> list[dict[str, dict[str, Any]]]:
    """Open (or grow) every method's study to ``runs`` runs and hold its writer lock
    in ``held`` while the lanes search its runs (as ``neronet study --parallel`` holds
    it); return per lane its config for each method: the lane's share of the method's
    executor (:func:`~neronet.search.parallel.lane_configs`)."""
    from neronet.cli.common import refuse_foreign_dir
    from neronet.runlock import writer_lock
    from neronet.search.parallel import lane_configs
    from neronet.search.study import STUDY_FILE, open_study

    configs: list[dict[str, dict[str, Any]]] = [{} for _ in range(lanes)]
    for study in studies:
        path = directory / study.method.name
        refuse_foreign_dir(path, STUDY_FILE, "a study")
        held.enter_context(writer_lock(path, "--dir"))
        # a study grown further is never shrunk
        open_study(path, study.config, *study.grammar, max(runs, _stored_runs(path)))
        for lane, config in zip(configs, lane_configs(study.config, lanes), strict=True):
            lane[study.method.name] = config
    return configs


def _run_of(name: str) -> tuple[str, str]:
    """A chain's method and run index from its name (``<method>-run-<i>``)."""
    method, run = name.rsplit("-run-", 1)
    return method, run


def _sharers_last(chains: list[Chain], studies: list[MethodStudy]) -> list[Chain]:
    """``chains`` with those of the methods that search as an earlier method does (its
    strategy under another objective) after the rest, so that the lanes start them once
    the earlier method's runs have evaluated what they would repeat (the memo then
    holds it); otherwise in order."""
    seen: set[str] = set()
    later: set[str] = set()
    for study in studies:
        strategy = study.config.search.strategy
        if strategy in seen:
            later.add(study.method.name)
        seen.add(strategy)
    return sorted(chains, key=lambda chain: _run_of(chain.name)[0] in later)


def finished_earlier(directory: Path, name: str) -> bool:
    """Whether an earlier start searched, retrained and attacked run ``name``
    (``<method>-run-<i>``) of the experiment in ``directory``: the run
    finished, the retraining's results and a complete attack suite on disk. Its commands
    would only confirm that (each reloading the data, and a model deleted to save space
    or not kept with the records would be retrained for nothing), so it is not rerun."""
    from safetensors.torch import load_file

    from neronet.reports.status import attack_suite, run_stage
    from neronet.robustness.results import weights_digest
    from neronet.train.training_dir import MODEL_FILE

    if run_stage(directory, name) != "done":
        return False
    suite = attack_suite(directory / "attacked" / name)
    models = sorted((directory / "trained" / name).glob(f"seed-*/{MODEL_FILE}"))
    # the weights at hand must be the ones attacked (records kept without them: trusted)
    digests = {weights_digest(load_file(m)) for m in models}
    return suite is not None and (not models or digests == set(suite[1].values()))


def _not_finished_earlier(r: Round, directory: Path, log: StepLog) -> list[Chain]:
    """The round's chains still to run; those finished earlier are announced as such."""
    chains = []
    for chain in r.chains:
        if not finished_earlier(directory, chain.name):
            chains.append(chain)
            continue
        for label, _ in chain.steps:
            log.say(f"[{log.number()}/{log.total}] {label}: finished earlier")
    return chains


Reported = Callable[[Round], None]
"""Told of each round compared (:func:`cmd_experiment` writes the interim report)."""


def _run_serial(rounds: list[Round], directory: Path, log: StepLog, reported: Reported) -> int:
    """Round after round, one step after another: a round's searches (a study command per
    method), its chains not finished earlier, its comparison; the first non-zero exit
    code, or 0."""
    for r in rounds:
        code = run_steps(r.searches, log)
        chains = _not_finished_earlier(r, directory, log)
        code = code or run_steps([step for chain in chains for step in chain.steps], log)
        code = code or run_steps([r.compare], log)
        if code != 0:
            return code
        reported(r)
    return 0


def _run_pooled(
    rounds: list[Round],
    lanes: int,
    directory: Path,
    log: StepLog,
    studies: list[MethodStudy],
    reported: Reported,
) -> int:
    """Every round's chains (each beginning with its run's search) in one pool of
    ``lanes`` lanes, in round order (a round's sharers last): a lane whose chain ended
    takes the next one, of its round or of the next, so no lane idles while a round's
    slowest chain runs (with eight lanes on a GPU, seven would). A round is compared (its
    studies' first runs: a later round's may be under way) and reported as soon as its
    chains are done, rounds in order; its wall time is the pool's since the round before
    it was reported. The first non-zero exit code, or 0."""
    jobs: list[ChainJob] = []
    left: list[set[str]] = []  # per round, its chains still running or to run
    compares: list[int] = []  # per round, its comparison's step number
    round_of: dict[str, int] = {}
    for index, r in enumerate(rounds):
        chains = _sharers_last(_not_finished_earlier(r, directory, log), studies)
        jobs += chain_jobs(chains, directory / "logs", log)
        round_of |= {chain.name: index for chain in chains}
        left.append({chain.name for chain in chains})
        compares.append(log.number())
    done = 0

    def compare_done() -> int:
        nonlocal done
        while done < len(rounds) and not left[done]:
            code = run_step(compares[done], *rounds[done].compare, log)
            if code != 0:
                return code
            done += 1
            reported(rounds[done - 1])
        return 0

    def ended(job: ChainJob) -> int:
        left[round_of[job.chain.name]].discard(job.chain.name)
        return compare_done()

    code = compare_done()
    if code != 0 or not jobs:
        return code
    with ExitStack() as held:
        configs = _open_studies(rounds[-1].finished, directory, studies, lanes, held)
        return run_chains(
            jobs,
            lanes,
            log,
            lambda: rounds[min(done, len(rounds) - 1)].chains_label,
            configs,
            ended,
            sum(len(r.chains) for r in rounds) - len(jobs),
        )


def _size_reference(args: argparse.Namespace, config: NeroConfig) -> SizeReference | None:
    """The ``--survey``'s size line (None without one), checked before anything is
    written: it compares AutoAttack, so the attacks must include it."""
    from neronet.cli.attack import attack_names
    from neronet.reports.at_size import read_size_reference

    if not args.survey:
        return None
    if "autoattack" not in attack_names(args.attacks):
        raise ConfigError(
            "--survey compares AutoAttack accuracy at equal size; add autoattack to --attacks "
            "or drop --survey"
        )
    return read_size_reference(Path(args.survey), config)


def cmd_experiment(args: argparse.Namespace) -> int:
    from neronet.cli.common import refuse_foreign_dir
    from neronet.config import DEFAULT_CONFIG, grammar_text, load_config
    from neronet.plugins import check_plugins
    from neronet.reports.experiment import write_experiment
    from neronet.reports.status import run_stage
    from neronet.runlock import writer_lock
    from neronet.search.parallel import check_parallel, lane_executors
    from neronet.search.study import check_run_count, check_shared_transfer_set
    from neronet.store import atomic_write

    check_run_count(args.runs)
    check_parallel(args.parallel)
    methods = [parse_method(t) for t in (args.method or DEFAULT_METHODS)]
    names = [m.name for m in methods]
    if len(set(names)) < len(names):
        raise ConfigError(f"--method names repeat ({', '.join(names)}); give each a new name")
    directory = Path(args.dir)
    begun = begun_in(directory)
    memo = _memo(directory, begun)
    manifest = {**_manifest(args, methods), **({MEMO: True} if memo else {})}
    studies = []
    for m in methods:  # a typo fails here, not in its study after the manifest is written
        try:
            config = load_config(args.config, _overrides(args, m, memo))
            check_plugins(config, args.config or DEFAULT_CONFIG)
            check_shared_transfer_set(config)
            lane_executors(config.executor, args.parallel)
            grammar = grammar_text(config, Path(args.config).parent)
        except (ConfigError, StudyError) as err:
            raise ConfigError(f"--method {m.name}: {err}") from None
        studies.append(MethodStudy(m, config, grammar))
    size_reference = _size_reference(args, studies[0].config)
    refuse_foreign_dir(directory, MANIFEST, "an experiment")
    with writer_lock(directory, "--dir"):
        seconds = _check_manifest(directory, manifest, begun)
        log = (directory / "experiment.log").open("a", encoding="utf-8")

        def say(line: str) -> None:
            print(f"experiment {directory}: {line}", file=sys.stderr, flush=True)
            append_line(log, line)

        def save(values: dict[str, float], runs: dict[str, float]) -> None:
            data = {**manifest, "seconds": values, RUN_SECONDS: runs}
            atomic_write(directory / MANIFEST, json.dumps(data, indent=2).encode())

        with log:
            say(f"watch it live: neronet dashboard {directory}")
            rounds = _rounds(args, methods, directory, memo)
            steps = StepLog(
                seconds,
                save,
                say,
                sum(len(r.steps()) for r in rounds),
                runs={} if begun is None else dict(begun.runs),
            )

            def reported(r: Round) -> None:
                if memo is not None:
                    _forget(memo, directory, methods, range(r.first, r.finished))
                report = write_experiment(
                    directory,
                    names,
                    r.finished,
                    seconds,
                    _command(args),
                    planned=args.runs,
                    size_reference=size_reference,
                )[-1]
                every = [f"{name}-run-{run}" for name in names for run in range(args.runs)]
                remaining = [n for n in every if run_stage(directory, n) != "done"]
                left = time_left(
                    seconds,
                    len(every) - len(remaining),
                    len(every),
                    lanes=args.parallel,
                    runs=steps.runs,
                    remaining=remaining,
                )
                say(f"{r.finished} of {args.runs} runs of every method reported{left}: {report}")

            if args.parallel > 1:
                code = _run_pooled(rounds, args.parallel, directory, steps, studies, reported)
            else:
                code = _run_serial(rounds, directory, steps, reported)
            if code == 130:
                say("interrupted; run the same command again to resume")
            if code != 0:
                return code
    print((directory / "EXPERIMENT.md").read_text(encoding="utf-8"))
    print(f"next: neronet dashboard {directory}")
    return 0
