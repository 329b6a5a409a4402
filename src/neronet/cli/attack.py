"""``neronet attack``: robustness of trained models under an attack suite, audited for
gradient masking; the models' own search threat model is the default radius."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress

from neronet.cli.common import (
    buildable,
    command_config,
    load_data,
    logged,
    results_console,
    routed,
    run_spec,
)
from neronet.errors import AttackError, NeronetError
from neronet.progress import progress_bar
from neronet.spec import NetworkSpec

if TYPE_CHECKING:  # torch and the suite load only when a command runs
    import torch

    from neronet.attacks.catalogue import AttackSpec
    from neronet.config import AttackSettings
    from neronet.robustness import Step, SuiteResults, Tick
    from neronet.robustness.results import AttackMemo

HINT_KEYS = ("dataset", "holdout", "holdout_seed")
"""Model metadata that says which data (and held-out split) a model was tested on."""
QUICK: dict[str, Any] = {
    "limit": 200,
    "audit.subset": 50,
    "audit.square_queries": 200,
    "audit.convergence_steps": 50,
    "audit.convergence_restarts": 2,
}
"""``--quick``'s attack settings: minutes, not hours, for the quickstart's model on a CPU."""
PAIRS = "pairs"
"""Subdirectory of --out holding each finished (model, attack) result, for resuming."""
OVERRIDE = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*=")
"""A ``key.sub=value`` config override among positional arguments."""


def add_attack_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet attack``."""
    p = sub.add_parser(
        "attack",
        help="robustness of trained models under an attack suite, with a gradient-masking audit",
        description="Attack trained models on the test split (or the images neronet train held "
        "out when the dataset has none) and report clean, conditional "
        "(robust among clean-correct, NERO-Net Table 2) and overall adversarial accuracy, mean "
        "± std over the models, plus a gradient-masking audit. MODEL is a .safetensors "
        "(neronet export or neronet train), a neronet train output directory (all its seeds) "
        "or a search run directory (--id, default the best).",
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL|key=value",
        help="models, and config overrides such as attack.audit.subset=500 (as for evolve)",
    )
    p.add_argument("--id", type=int, help="individual id when MODEL is a run directory")
    p.add_argument("--suite", help="paper (default without --attacks), linf, l2 or fast")
    p.add_argument(
        "--attacks",
        help="comma-separated attacks of the catalogue: fgsm, pgd-linf, autoattack, fgm, pgd-l2, "
        "apgd-l2, the black-box de-l0, de-linf, cmaes-l0, cmaes-linf (budget: blackbox.popsize "
        "x blackbox.iterations queries per image), or an installed plug-in's",
    )
    p.add_argument(
        "--config", help="neronet config YAML; its attack section is used (default: defaults)"
    )
    p.add_argument(
        "--linf-eps",
        type=float,
        help="L-inf radius (default: the search's eps for a model from a run, else 8/255)",
    )
    p.add_argument("--l2-eps", type=float, help="L2 radius (default 0.5)")
    p.add_argument("--steps", type=int, help="PGD steps (default 20)")
    p.add_argument("--batch-size", type=int, help="attack batch size (default 32)")
    p.add_argument("--limit", type=int, help="attack only the first N test images")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a suite a CPU can afford: the first {QUICK['limit']} images, an audit on "
        f"{QUICK['audit.subset']} of them with Square {QUICK['audit.square_queries']} queries "
        f"and PGD-{QUICK['audit.convergence_steps']} x {QUICK['audit.convergence_restarts']} "
        "restarts (flags and key=value overrides still win)",
    )
    p.add_argument(
        "--estimate-only",
        action="store_true",
        help="print the suite's expected duration (from a short timed probe) and exit",
    )
    p.add_argument("--no-audit", action="store_true", help="skip the gradient-masking audit")
    p.add_argument("--dataset", help="a registered dataset; default: from the model's metadata")
    p.add_argument("--data-path", help="local copy of the dataset")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--out", help="output directory for the tables and attack.log")
    p.add_argument(
        "--memo",
        help="directory of results shared between suites (neronet experiment passes its "
        "own): a model with the same weights under the same attacks, settings, data and "
        "device is not attacked again",
    )
    p.set_defaults(func=cmd_attack)


def _attack_settings(args: argparse.Namespace) -> tuple[AttackSettings, set[str]]:
    """``attack`` of the one config tree (checked before any model loads), and the keys the
    user set explicitly."""
    flags: dict[str, Any] = {
        f"attack.{key}": value
        for key, value in (
            ("linf_eps", args.linf_eps),
            ("l2_eps", args.l2_eps),
            ("steps", args.steps),
            ("batch_size", args.batch_size),
            ("limit", args.limit),
        )
        if value is not None
    }
    if args.no_audit:
        flags["attack.audit.enabled"] = False
    config, explicit = command_config(args.config, _overrides(args), None, flags)
    settings = config.attack.with_sections(config.sections)
    if args.quick:
        data = settings.model_dump()
        for key, value in QUICK.items():
            if f"attack.{key}" not in explicit:
                *parents, leaf = key.split(".")
                section = data
                for parent in parents:
                    section = section[parent]
                section[leaf] = value
        settings = type(settings).model_validate(data).with_sections(config.sections)
    return settings, explicit


def _search_threat(
    settings: AttackSettings, explicit: set[str], sources: list[_Source], console: Console
) -> AttackSettings:
    """The radius (and PGD step) default to the models' own threat record (when they all
    carry one and the same) unless the user chose a radius for its norm; says which it uses."""
    from neronet.threat import threat_label

    found = {s.hint.get("threat") for s in sources}
    records = sorted({r for r in found if r is not None}, key=lambda r: (r.norm, r.eps))
    if len(found) == 1 and records:
        (threat,) = records
        label = threat_label(threat.norm)
        if f"attack.{threat.norm}_eps" not in explicit:
            step = f"attack.{threat.norm}_step" not in explicit
            settings = settings.with_threat(threat, step=step)
            console.print(
                f"{label} eps {threat.eps:g}: the search's own threat model "
                f"(pass --{threat.norm}-eps to attack at another radius)"
            )
    elif len(records) > 1:
        console.print(
            f"the models were searched at different threat models "
            f"({', '.join(f'{threat_label(r.norm)} {r.eps:g}' for r in records)}); "
            "attacking at the configured radii"
        )
    return settings


def _overrides(args: argparse.Namespace) -> list[str]:
    """``key.sub=value`` arguments among ``attack``'s positional ones (models have no '=')."""
    return [m for m in args.models if OVERRIDE.match(m)]


def display_name(target: Path) -> str:
    """A model file's name in the tables: its folder for ``<dir>/model.safetensors`` (a
    training seed's, e.g. ``seed-0``; for one in the working directory, that directory's
    name), else the file's stem; never empty (it was ``''`` for ``model.safetensors``)."""
    if target.name == "model.safetensors":
        return target.absolute().parent.name or target.stem
    return target.stem


@dataclass(frozen=True)
class _Source:
    """A model to attack: display name, architecture, weights, dataset hint."""

    name: str
    spec: NetworkSpec
    weights: dict[str, torch.Tensor]
    hint: dict[str, Any]


def _sources(target: Path, individual: int | None) -> list[_Source]:
    """The models a MODEL argument stands for (a train output directory: all its seeds)."""
    from neronet.artifact import read_metadata
    from neronet.export import load_individual, spec_from_safetensors
    from neronet.threat import ThreatRecord

    if target.is_file():
        spec, weights = spec_from_safetensors(target)
        meta = read_metadata(target)
        name = display_name(target)
        hint: dict[str, Any] = {k: meta[k] for k in HINT_KEYS if k in meta}
        # from a run: its threat record (an unreadable one carries nothing)
        hint["threat"] = ThreatRecord.from_metadata(meta)
        return [_Source(name, buildable(spec, f"'{target}'"), weights, hint)]
    if (target / "run.sqlite").is_file():
        row, spec, weights = load_individual(target, individual)
        _, run_config = run_spec(str(target), row.id)
        hint = {**run_config.data.model_dump(), "threat": run_config.threat}
        origin = f"individual {row.id} of '{target}'"
        return [_Source(f"individual-{row.id}", buildable(spec, origin), weights, hint)]
    files = sorted(target.glob("seed-*/model.safetensors"), key=lambda p: int(p.parent.name[5:]))
    if not files:
        raise NeronetError(
            f"'{target}' is neither a .safetensors file, a run directory nor a neronet train "
            "output with finished seeds; pass one of those"
        )
    return [source for f in files for source in _sources(f, None)]


def _load_models(
    paths: list[str], individual: int | None, device: torch.device
) -> tuple[list[tuple[str, torch.nn.Module]], list[_Source]]:
    """Built models in eval mode on ``device``, and their sources (spec, dataset hint)."""
    from neronet.export import fitted_model
    from neronet.train.training_dir import recorded_holdout

    sources = [s for p in paths for s in _sources(Path(p), individual)]
    if len({(s.spec.input_shape, s.spec.num_classes) for s in sources}) > 1:
        raise NeronetError("the models take different inputs; attack them in separate commands")
    if len({recorded_holdout(s.hint) for s in sources}) > 1:
        raise NeronetError(
            "the models were tested on different held-out images (holdout settings differ); "
            "attack them in separate commands"
        )
    models = [
        (source.name, fitted_model(source.spec, source.weights, source.name).to(device))
        for source in sources
    ]
    return models, sources


def attack_names(attacks: str) -> list[str]:
    """The names an ``--attacks`` value lists (comma-separated, blanks dropped)."""
    return [n.strip() for n in attacks.split(",") if n.strip()]


def _attack_choice(suite: str | None, attacks: str | None) -> tuple[str | None, list[str]]:
    """``--suite`` and the ``--attacks`` names; neither given means the paper's suite."""
    if attacks is None:
        return suite or "paper", []
    names = attack_names(attacks)
    if not names:
        raise AttackError(
            f"--attacks {attacks!r} names no attack; pass comma-separated names such as "
            "fgsm,pgd-linf, or leave it out for --suite paper"
        )
    return suite, names


def _default_out(first: str) -> Path:
    path = Path(first)
    return path / "robustness" if path.is_dir() else path.with_name(f"{path.stem}-robustness")


class _Display:
    """Progress of the suite: a rich bar on a terminal; elsewhere (a file, a pipe) one plain
    line per step and per attacked batch on stderr. attack.log always gets the lines, so a
    suite running for hours can be followed with ``tail -f``: which attack runs, how many
    images are still robust, and an ETA for the attack in progress."""

    def __init__(self, console: Console, log: logging.Logger, bar: Progress | None) -> None:
        self.console, self.log, self.bar = console, log, bar
        self.started: dict[tuple[int, str], tuple[float, int]] = {}
        if bar is not None:
            self.suite = bar.add_task("starting", total=None)
            self.task = bar.add_task("", total=None, visible=False)

    def _eta(self, step: Step, tick: Tick) -> str:
        """Remaining time of ``tick``'s task, from its own pace since it was first seen
        (display only): a task first seen part-way (resumed, or a driven attack's first
        state inside its batch) is timed from there."""
        from neronet.robustness.estimate import duration

        key = (step.pair, tick.task)
        now = time.monotonic()
        began, first = self.started.setdefault(key, (now, tick.done))
        if tick.done <= first or tick.done >= tick.total:
            return ""
        left = (now - began) / (tick.done - first) * (tick.total - tick.done)
        return f", ETA {duration(left)}"

    def __call__(self, step: Step) -> None:
        head = f"[{step.pair}/{step.pairs}] {step.model}"
        tick = step.tick
        if step.cached:
            text = f"{head}: {step.label} finished before (loaded: an earlier run or --memo)"
        elif step.finished:
            text = f"{head}: {step.label} done, saved"
        elif tick is None:
            text = f"{head}: {step.label} started"
        else:
            text = f"{head}: {tick.describe()}"
            if self.bar is not None:
                self.bar.update(
                    self.task, description=text, completed=tick.done, total=tick.total, visible=True
                )
            text += self._eta(step, tick)
        self.log.info(text)
        if self.bar is None:
            self.console.print(text, highlight=False, markup=False)
        elif tick is None:
            done = step.pair - (0 if step.finished else 1)
            self.bar.update(self.suite, description=text, completed=done, total=step.pairs)


def _memo(path: str | None, device: torch.device) -> AttackMemo | None:
    """``--memo``'s results shared between suites run ``where`` this one runs."""
    if path is None:
        return None
    from neronet.robustness.results import AttackMemo
    from neronet.train.core import device_label

    return AttackMemo(Path(path), device_label(device))


def _identity(
    sources: list[_Source], attacks: list[AttackSpec], settings: AttackSettings, data: dict
) -> dict[str, Any]:
    """What a suite's saved results belong to: a resume with anything else would mix two
    experiments in one table (weights by digest: a retrained seed is another model)."""
    from neronet.robustness.results import weights_digest

    identity = {
        "models": {source.name: weights_digest(source.weights) for source in sources},
        "attacks": [a.name for a in attacks],
        "settings": settings.model_dump(mode="json"),
        "data": data,
    }
    own = _own_settings(attacks, settings)
    return identity | ({"sections": own} if own else {})


def _own_settings(attacks: list[AttackSpec], settings: AttackSettings) -> dict[str, Any]:
    """The settings sections of the attacks that have their own, by config key."""
    return {
        a.section.key(): a.section.of(settings.sections).model_dump(mode="json")
        for a in attacks
        if a.section is not None
    }


def cmd_attack(args: argparse.Namespace) -> int:
    """``neronet attack``; Ctrl-C keeps every finished (model, attack) and exits 130."""
    console = Console(stderr=True, soft_wrap=True)
    opened: list[SuiteResults] = []  # the saved results, once the suite has started
    try:
        return _attack(args, console, opened)
    except KeyboardInterrupt:
        kept = (
            f"{opened[0].kept} finished step(s) kept in '{opened[0].directory}'"
            if opened
            else "nothing had finished"
        )
        console.print(
            f"interrupted: {kept}; re-run the same command to resume",
            highlight=False,
            markup=False,
        )
        return 130


def _attack(args: argparse.Namespace, console: Console, opened: list[SuiteResults]) -> int:
    import torch

    from neronet.augment import to_float
    from neronet.data import full_train_test
    from neronet.robustness import (
        SuiteResults,
        estimate_suite,
        evaluate,
        rich_report,
        select_attacks,
        write_tables,
    )
    from neronet.train.core import resolve_device
    from neronet.train.training_dir import check_compatible, held_out_note, recorded_holdout

    settings, explicit = _attack_settings(args)
    attacks = select_attacks(*_attack_choice(args.suite, args.attacks))
    device = resolve_device(args.device)
    paths = [m for m in args.models if not OVERRIDE.match(m)]
    if not paths:
        raise NeronetError("no MODEL given; pass a .safetensors file, a run or a train output")
    models, sources = _load_models(paths, args.id, device)
    settings = _search_threat(settings, explicit, sources, console)
    first = sources[0]
    dataset = load_data(args.dataset, args.data_path, first.hint)
    check_compatible(first.spec, dataset)
    holdout, holdout_seed = recorded_holdout(first.hint)
    _, test = full_train_test(dataset, holdout, holdout_seed)
    note = held_out_note(dataset, holdout, holdout_seed)
    x = to_float(torch.from_numpy(test.x).to(device))
    y = torch.from_numpy(test.y).to(device)
    estimate = estimate_suite(models[0][1], x, y, attacks, settings, len(models))
    for line in filter(None, (estimate.line(), estimate.warning())):
        console.print(line, highlight=False, markup=False)
    if args.estimate_only:
        return 0
    out = Path(args.out) if args.out else _default_out(paths[0])
    data = {"dataset": dataset.name, "holdout": holdout, "holdout_seed": holdout_seed}
    with logged(out / "attack.log", "attack") as log:
        log.info(
            f"attacks {[a.name for a in attacks]} on {[n for n, _ in models]}, "
            f"{dataset.name} test split, settings {settings.model_dump_json()}"
            + "".join(f", {key} {value}" for key, value in _own_settings(attacks, settings).items())
        )
        log.info(estimate.line())
        if note is not None:
            log.info(note)
            console.print(note)
        identity = _identity(sources, attacks, settings, data)
        opened.append(SuiteResults(out / PAIRS, identity, _memo(args.memo, device)))
        bar = progress_bar(console) if console.is_terminal else None
        with bar or contextlib.nullcontext(), routed("auto-attack", log):
            # AutoAttack's warnings go to the log, not stderr
            show = _Display(console, log, bar)
            report = evaluate(models, x, y, attacks, settings, progress=show, results=opened[0])
        paths = write_tables(report, out)
        log.info("\n" + (out / "robustness.md").read_text())
    result = results_console()
    result.print(rich_report(report))
    if report.flagged:
        result.print(
            "[bold red]gradient masking suspected[/]: see the audit column; the "
            "flagged numbers overstate robustness"
        )
    result.print(f"tables: {', '.join(str(p) for p in paths)}")
    return 0
