"""``neronet train`` and ``neronet attack``: the paper's section 6 as commands.

``train`` retrains an architecture (an individual of a run, an exported or
trained ``.safetensors``/spec ``.json``, or the NSGA-Net seed) with the paper's
standard or adversarial schedule for several seeds, resumably. ``attack``
measures the robustness of trained models with an attack suite and audits the
result for gradient masking. Both show a rich progress bar and keep a log file
in their output directory; user errors are :class:`NeronetError` (one line).

On a dataset without a test split both hold out the same stratified, seeded
part of the training images as the test split (``holdout`` of
:class:`neronet.train.posttrain.PostTrainConfig`, recorded in the model metadata)
and say so; see :mod:`neronet.train.posttrain` for why such numbers are not fully
independent of the search.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from neronet.config import format_validation_error, read_config_data, set_override
from neronet.data import DATASETS, Dataset, load_dataset
from neronet.errors import AttackError, ConfigError, InvalidArchitecture, NeronetError
from neronet.progress import progress_bar
from neronet.spec import NetworkSpec

if TYPE_CHECKING:  # torch and the evaluation modules load only when a command runs
    import torch

    from neronet.robustness import AttackSettings
    from neronet.train.posttrain import PostTrainConfig

SEED_ARCHS = ("nsga-net",)
MAX_SEEDS = 1000
MAX_EPOCHS = 100_000


# ------------------------------------------------------------------------ shared helpers


def _settings_data(path: str | None, overrides: list[str]) -> dict[str, Any]:
    """A YAML file of settings (or nothing) with ``key=value`` overrides applied."""
    data: dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"settings file '{path}' not found; pass an existing YAML file")
        data, source = read_config_data(path)
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: top level must be a mapping of settings")
    for assignment in overrides:
        set_override(data, assignment)
    return data


@contextmanager
def _logged(path: Path, name: str) -> Iterator[logging.Logger]:
    """A logger writing to ``path`` (appending, so a resumed job keeps its history)."""
    out = path.parent
    if out.exists() and not out.is_dir():
        raise NeronetError(f"--out '{out}' is a file; pass --out a new or existing directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
    except OSError as err:
        raise NeronetError(
            f"cannot write '{path}' ({err.strerror or type(err).__name__}); pass --out a "
            "directory that can be created and written to"
        ) from None
    logger = logging.getLogger(f"neronet.{name}.{path.resolve()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


@contextmanager
def _routed(name: str, log: logging.Logger, console: Console | None = None) -> Iterator[None]:
    """Library logger ``name`` writes to the command's log (and ``console``), not bare stderr."""
    library = logging.getLogger(name)
    handlers = [*log.handlers]
    if console is not None:
        handlers.append(RichHandler(console=console, show_time=False, show_path=False))
    propagate, library.propagate = library.propagate, False
    for handler in handlers:
        library.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            library.removeHandler(handler)
        library.propagate = propagate


def _buildable(spec: NetworkSpec, origin: str) -> NetworkSpec:
    """``spec`` if it can be built within the parameter cap (planning only, no
    allocation, so nothing is written first); else a one-line error."""
    from neronet.nn import check_size

    try:
        check_size(spec)
    except InvalidArchitecture as err:
        raise NeronetError(
            f"the architecture of {origin} cannot be built ({err}); pass a valid architecture"
        ) from None
    return spec


def _run_spec(run_dir: str, individual_id: int | None) -> tuple[NetworkSpec, dict[str, Any]]:
    """An individual's spec (default: the best) and the run's data config; no weights needed."""
    from neronet.store import RunStore

    store = RunStore.open(run_dir, readonly=True)
    try:
        row = store.best() if individual_id is None else store.individual(individual_id)
        config = store.meta("config") or {}
    finally:
        store.close()
    if row is None:
        raise NeronetError(f"'{run_dir}' has no finished generation yet; pass --id or let it run")
    if "spec" not in row.record:
        raise NeronetError(
            f"individual {row.id} has no network spec (status {row.status}); pick another --id"
        )
    return NetworkSpec.from_dict(row.record["spec"]), config.get("data", {})


def _load_data(name: str | None, path: str | None, hint: dict[str, Any]) -> Dataset:
    """``--dataset``/``--data-path``, else what the model's source says."""
    name = name or hint.get("dataset")
    if name is None:
        raise NeronetError(
            f"the dataset is unknown for this model; pass --dataset ({', '.join(DATASETS)})"
        )
    return load_dataset(name, path if path is not None else hint.get("path"))


# --------------------------------------------------------------------------------- train


def add_train_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet train``."""
    p = sub.add_parser(
        "train",
        help="post-search training of an architecture (standard or adversarial, several seeds)",
        description="Retrain an architecture from scratch on the full training set with the "
        "paper's schedule (standard: 350 epochs SGD cosine; adversarial: Madry PGD-7, 200 epochs) "
        "for several seeds, reporting held-out test accuracy (a dataset without a test split "
        "gets a stratified 20% of its training images held out: setting holdout). Re-running "
        "the same command resumes an interrupted training exactly.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="search run directory (trains --id, default the best)")
    source.add_argument(
        "--spec", help="a .safetensors (export or model; its weights are not used) or a spec .json"
    )
    source.add_argument("--seed-arch", choices=SEED_ARCHS, help="a hand-written architecture")
    p.add_argument("--id", type=int, help="individual id in --run (default: the best)")
    p.add_argument("--mode", choices=["standard", "adversarial"], help="default: standard")
    p.add_argument("--config", help="YAML file of training settings (see neronet.train.posttrain)")
    p.add_argument("--epochs", type=int, help="shorten/lengthen the schedule (paper: 350 / 200)")
    p.add_argument("--seeds", type=int, help="number of seeds (paper: 10)")
    p.add_argument("--first-seed", type=int, help="first seed (default 0)")
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        help="default: the run's or the model's dataset; cifar10 for --seed-arch",
    )
    p.add_argument("--data-path", help="local copy of the dataset")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--out", help="output directory (default: train-<arch digest>-<mode>)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="settings overrides")
    p.set_defaults(func=cmd_train)


def _train_config(args: argparse.Namespace) -> PostTrainConfig:
    from neronet.train.posttrain import parse_posttrain_config

    data = _settings_data(args.config, list(args.overrides))
    for key, value in (
        ("mode", args.mode),
        ("seeds", args.seeds),
        ("first_seed", args.first_seed),
        ("device", args.device),
    ):
        if value is not None:
            data[key] = value
    if args.epochs is not None:
        mode = data.get("mode", "standard")
        section = data.setdefault(mode, {})
        if not isinstance(section, dict):
            raise ConfigError(f"'{mode}' must be a mapping of settings")
        section["epochs"] = args.epochs
    config = parse_posttrain_config(data, args.config or "train settings")
    _check_ranges(config)
    return config


def _check_ranges(config: PostTrainConfig) -> None:
    """Refuse seed counts and epochs no one means (a typo's extra zeros), before any work.

    ``--seeds 1000000000`` built a billion-seed list (MemoryError); the bounds
    are far above the paper's 10 seeds and 350 epochs.
    """
    from neronet.config import MAX_INT

    if config.seeds > MAX_SEEDS:
        raise ConfigError(
            f"seeds={config.seeds} is more than {MAX_SEEDS:,} seeds; pass --seeds 1..{MAX_SEEDS} "
            "(the paper uses 10)"
        )
    if config.first_seed + config.seeds - 1 > MAX_INT:
        raise ConfigError(
            f"first_seed={config.first_seed} puts the seeds beyond {MAX_INT}; pass a smaller "
            "--first-seed"
        )
    if config.schedule.epochs > MAX_EPOCHS:
        raise ConfigError(
            f"{config.mode} epochs={config.schedule.epochs} is more than {MAX_EPOCHS:,}; pass "
            f"--epochs 1..{MAX_EPOCHS} (the paper uses 350 standard, 200 adversarial)"
        )


def _train_source(args: argparse.Namespace) -> tuple[NetworkSpec, Dataset]:
    """The architecture to train and the dataset (a seed architecture is built for it)."""
    if args.id is not None and args.run is None:
        raise NeronetError("--id selects an individual of --run; pass --run DIR too")
    if args.run is not None:
        spec, hint = _run_spec(args.run, args.id)
        origin = f"'{args.run}' ({'the best individual' if args.id is None else f'id {args.id}'})"
        return _buildable(spec, origin), _load_data(args.dataset, args.data_path, hint)
    if args.spec is not None:
        spec, hint = _spec_file(Path(args.spec))
        return _buildable(spec, f"'{args.spec}'"), _load_data(args.dataset, args.data_path, hint)
    from neronet.phenotype import to_spec
    from neronet.seeds import nsga_net

    dataset = _load_data(args.dataset or "cifar10", args.data_path, {})
    spec = to_spec(nsga_net(), dataset.input_shape, len(dataset.classes))
    return _buildable(spec, f"--seed-arch {args.seed_arch} on {dataset.name}"), dataset


def _spec_file(path: Path) -> tuple[NetworkSpec, dict[str, Any]]:
    from neronet.artifact import read_model_file, spec_from_text

    if path.suffix == ".safetensors":
        spec, meta = read_model_file(path)
        return spec, {"dataset": meta.get("dataset")}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        raise NeronetError(f"spec file '{path}' cannot be read; pass an existing file") from None
    return spec_from_text(text, f"'{path}'"), {}


def cmd_train(args: argparse.Namespace) -> int:
    from neronet.runlock import writer_lock
    from neronet.train.core import resolve_device
    from neronet.train.posttrain import held_out_note, summarize, train_seeds

    config = _train_config(args)
    resolve_device(config.device)  # a CUDA device on a CPU machine fails before --out exists
    spec, dataset = _train_source(args)
    out = Path(args.out or f"train-{spec.digest()[:8]}-{config.mode}")
    epochs = config.schedule.epochs
    console = Console(stderr=True)
    note = held_out_note(dataset, config.holdout, config.holdout_seed)
    with (
        writer_lock(out, "--out"),
        _logged(out / "train.log", "train") as log,
        progress_bar(console) as bar,
        _routed("neronet.train.posttrain", log, console),
    ):
        log.info(
            f"{config.mode} training of {spec.digest()} on {dataset.name}, seeds "
            f"{config.seed_list}, settings {config.schedule.model_dump_json()}"
        )
        if note is not None:
            log.info(note)
            console.print(note)
        task = bar.add_task("starting", total=config.seeds * epochs)

        def on_epoch(info: dict[str, Any]) -> None:
            line = (
                f"seed {info['seed']} ({info['seed_index'] + 1}/{info['seeds']}) epoch "
                f"{info['epoch']}/{epochs} loss {info['train_loss']:.4f} train acc "
                f"{info['train_accuracy']:.4f} test acc {info['test_accuracy']:.4f} "
                f"lr {info['lr']:.5f} {info['seconds']:.1f}s"
            )
            log.info(line)
            done = info["seed_index"] * epochs + info["epoch"]
            bar.update(task, completed=done, description=line.split(" loss")[0])

        try:
            results = train_seeds(spec, dataset, config, out, progress=on_epoch)
        except KeyboardInterrupt:
            log.info("interrupted")
            print(
                f"\ninterrupted; run the same command again (--out {out}) to resume",
                file=sys.stderr,
            )
            return 130
        mean, std = summarize(results)
        log.info(f"done: test accuracy {mean:.4f} +- {std:.4f} over {len(results)} seeds")
    table = Table(title=f"{config.mode} training, {dataset.name} test accuracy")
    for column in ("seed", "epochs", "test acc. (%)", "model"):
        table.add_column(column)
    for r in results:
        table.add_row(str(r.seed), str(r.epochs), f"{100 * r.test_accuracy:.2f}", str(r.model_path))
    console.print(table)
    console.print(
        f"mean {100 * mean:.2f} ± {100 * std:.2f} % over {len(results)} seed(s); "
        f"evaluate with: neronet attack {out} --suite paper"
    )
    return 0


# -------------------------------------------------------------------------------- attack


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
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--id", type=int, help="individual id when MODEL is a run directory")
    p.add_argument("--suite", help="paper (default without --attacks), linf, l2 or fast")
    p.add_argument(
        "--attacks",
        help="comma-separated single attacks: fgsm, pgd-linf, autoattack, fgm, pgd-l2, apgd-l2",
    )
    p.add_argument("--config", help="YAML file of attack settings (see neronet.robustness)")
    p.add_argument("--linf-eps", type=float, help="L-inf radius (default 8/255)")
    p.add_argument("--l2-eps", type=float, help="L2 radius (default 0.5)")
    p.add_argument("--steps", type=int, help="PGD steps (default 20)")
    p.add_argument("--batch-size", type=int, help="attack batch size (default 32)")
    p.add_argument("--limit", type=int, help="attack only the first N test images")
    p.add_argument("--no-audit", action="store_true", help="skip the gradient-masking audit")
    p.add_argument("--dataset", choices=DATASETS, help="default: from the model's metadata")
    p.add_argument("--data-path", help="local copy of the dataset")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--out", help="output directory for the tables and attack.log")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="settings override, repeatable (e.g. --set audit.subset=500)",
    )
    p.set_defaults(func=cmd_attack)


def _attack_settings(args: argparse.Namespace) -> AttackSettings:
    from pydantic import ValidationError

    from neronet.robustness import AttackSettings

    data = _settings_data(args.config, list(args.overrides))
    flags = {
        "linf_eps": args.linf_eps,
        "l2_eps": args.l2_eps,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "limit": args.limit,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    if args.no_audit:
        data.setdefault("audit", {})["enabled"] = False
    try:
        return AttackSettings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, args.config or "attack settings")) from None


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

    if target.is_file():
        spec, weights = spec_from_safetensors(target)
        meta = read_metadata(target)
        name = target.parent.name if target.name == "model.safetensors" else target.stem
        hint = {key: meta[key] for key in ("dataset", "holdout", "holdout_seed") if key in meta}
        return [_Source(name, _buildable(spec, f"'{target}'"), weights, hint)]
    if (target / "run.sqlite").is_file():
        row, spec, weights = load_individual(target, individual)
        _, hint = _run_spec(str(target), row.id)
        origin = f"individual {row.id} of '{target}'"
        return [_Source(f"individual-{row.id}", _buildable(spec, origin), weights, hint)]
    files = sorted(target.glob("seed-*/model.safetensors"), key=lambda p: int(p.parent.name[5:]))
    if not files:
        raise NeronetError(
            f"'{target}' is neither a .safetensors file, a run directory nor a neronet train "
            "output with finished seeds; pass one of those"
        )
    return [source for f in files for source in _sources(f, None)]


def _load_models(
    paths: list[str], individual: int | None, device: torch.device
) -> tuple[list[tuple[str, torch.nn.Module]], _Source]:
    """Built models in eval mode on ``device``, plus the first source (spec, dataset hint)."""
    from neronet.nn import build
    from neronet.train.posttrain import recorded_holdout

    sources = [s for p in paths for s in _sources(Path(p), individual)]
    if len({(s.spec.input_shape, s.spec.num_classes) for s in sources}) > 1:
        raise NeronetError("the models take different inputs; attack them in separate commands")
    if len({recorded_holdout(s.hint) for s in sources}) > 1:
        raise NeronetError(
            "the models were tested on different held-out images (holdout settings differ); "
            "attack them in separate commands"
        )
    models = []
    for source in sources:
        model = build(source.spec)
        try:
            model.load_state_dict(source.weights)
        except RuntimeError:
            raise NeronetError(
                f"the weights of {source.name} do not fit its spec; re-export it"
            ) from None
        models.append((source.name, model.to(device).eval()))
    return models, sources[0]


def _attack_choice(suite: str | None, attacks: str | None) -> tuple[str | None, list[str]]:
    """``--suite`` and the ``--attacks`` names; neither given means the paper's suite."""
    if attacks is None:
        return suite or "paper", []
    names = [n.strip() for n in attacks.split(",") if n.strip()]
    if not names:
        raise AttackError(
            f"--attacks {attacks!r} names no attack; pass comma-separated names such as "
            "fgsm,pgd-linf, or leave it out for --suite paper"
        )
    return suite, names


def _default_out(first: str) -> Path:
    path = Path(first)
    return path / "robustness" if path.is_dir() else path.with_name(f"{path.stem}-robustness")


def cmd_attack(args: argparse.Namespace) -> int:
    import torch

    from neronet.augment import to_float
    from neronet.data import full_train_test
    from neronet.robustness import (
        audited_threats,
        evaluate,
        rich_report,
        select_attacks,
        write_tables,
    )
    from neronet.train.core import resolve_device
    from neronet.train.posttrain import check_compatible, held_out_note, recorded_holdout

    settings = _attack_settings(args)
    attacks = select_attacks(*_attack_choice(args.suite, args.attacks))
    device = resolve_device(args.device)
    models, first = _load_models(args.models, args.id, device)
    dataset = _load_data(args.dataset, args.data_path, first.hint)
    check_compatible(first.spec, dataset)
    holdout, holdout_seed = recorded_holdout(first.hint)
    _, test = full_train_test(dataset, holdout, holdout_seed)
    note = held_out_note(dataset, holdout, holdout_seed)
    x = to_float(torch.from_numpy(test.x).to(device))
    y = torch.from_numpy(test.y).to(device)
    out = Path(args.out) if args.out else _default_out(args.models[0])
    audits = settings.audit.enabled and bool(audited_threats(attacks))
    steps = len(models) * (len(attacks) + int(audits))
    console = Console(stderr=True)
    with _logged(out / "attack.log", "attack") as log, progress_bar(console) as bar:
        log.info(
            f"attacks {[a.name for a in attacks]} on {[n for n, _ in models]}, "
            f"{dataset.name} test split, settings {settings.model_dump_json()}"
        )
        if note is not None:
            log.info(note)
            console.print(note)
        task = bar.add_task("starting", total=steps)
        started = itertools.count()

        def on_step(description: str) -> None:
            log.info(description)
            bar.update(task, completed=next(started), description=description)

        with _routed("auto-attack", log):  # AutoAttack's warnings go to the log, not stderr
            report = evaluate(models, x, y, attacks, settings, progress=on_step)
        paths = write_tables(report, out)
        log.info("\n" + (out / "robustness.md").read_text())
    console.print(rich_report(report))
    if report.flagged:
        console.print(
            "[bold red]gradient masking suspected[/]: see the audit column; the "
            "flagged numbers overstate robustness"
        )
    console.print(f"tables: {', '.join(str(p) for p in paths)}")
    return 0
