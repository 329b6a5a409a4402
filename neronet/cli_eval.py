"""``neronet train`` and ``neronet attack``: the paper's section 6 as commands.

``train`` retrains an architecture (an individual of a run, an exported or
trained ``.safetensors``/spec ``.json``, or the NSGA-Net seed) with the paper's
standard or adversarial schedule for several seeds, resumably. ``attack``
measures the robustness of trained models with an attack suite and audits the
result for gradient masking. Both show a rich progress bar and keep a log file
in their output directory; user errors are :class:`NeronetError` (one line).

On a dataset without a test split both hold out the same stratified, seeded
part of the training images as the test split (``holdout`` of
:class:`neronet.config.PostTrainConfig`, recorded in the model metadata)
and say so; see :mod:`neronet.train.posttrain` for why such numbers are not fully
independent of the search.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from neronet.config import NeroConfig, parse_config, read_config_data, set_override
from neronet.data import DATASETS, Dataset, load_dataset
from neronet.errors import AttackError, ConfigError, InvalidArchitecture, NeronetError
from neronet.progress import progress_bar
from neronet.spec import NetworkSpec

if TYPE_CHECKING:  # torch and the evaluation modules load only when a command runs
    import torch

    from neronet.config import AttackSettings, PostTrainConfig

SEED_ARCHS = ("nsga-net",)
HINT_KEYS = ("dataset", "holdout", "holdout_seed")
"""Model metadata that says which data (and held-out split) a model was tested on."""
OVERRIDE = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*=")
"""A ``key.sub=value`` config override among positional arguments."""
MAX_SEEDS = 1000
MAX_EPOCHS = 100_000


# ------------------------------------------------------------------------ shared helpers


def _command_config(
    path: str | None, overrides: list[str], base: dict[str, Any] | None, flags: dict[str, Any]
) -> tuple[NeroConfig, set[str]]:
    """The one config tree for ``train`` / ``attack``: ``--config`` (a neronet config YAML,
    the same file ``evolve`` reads), else ``base`` (the source run's stored config), else the
    defaults; then ``key.sub=value`` overrides and the command's flags (dotted keys).

    Also returns the dotted keys the user set explicitly (file, overrides, flags), so a
    default that carries over from the run (its threat model) never overrides a choice.
    """
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"config file '{path}' not found; pass an existing YAML file")
        data, source = read_config_data(path)
        explicit = _leaf_keys(data)
    else:
        data, source = copy.deepcopy(base or {}), "the run's stored config" if base else "defaults"
        explicit = set()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of settings")
    assignments = [*overrides, *(f"{key}={value}" for key, value in flags.items())]
    for assignment in assignments:
        set_override(data, assignment)
        explicit.add(assignment.partition("=")[0].strip())
    return parse_config(data, source), explicit


def _leaf_keys(data: Any, prefix: str = "") -> set[str]:
    """Dotted keys of every leaf value of a nested mapping."""
    if not isinstance(data, dict):
        return {prefix.rstrip(".")} if prefix else set()
    return {k for key, value in data.items() for k in _leaf_keys(value, f"{prefix}{key}.")}


def _search_eps(run_config: dict[str, Any] | None) -> float | None:
    """The L-inf eps a run searched with (its threat model), if it is a run's config."""
    if not run_config:
        return None
    return parse_config(run_config, "the run's stored config").fitness.attack_eps


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
    """An individual's spec (default: the best) and the run's stored config; no weights."""
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
    return NetworkSpec.from_dict(row.record["spec"]), config


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
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, as for evolve (e.g. posttrain.standard.lr=0.05)",
    )
    p.set_defaults(func=cmd_train)


def _train_config(
    args: argparse.Namespace, run_config: dict[str, Any] | None, console: Console
) -> PostTrainConfig:
    """``posttrain`` of the one config tree; trained from a run, adversarial training
    defaults to the run's own threat model (its search eps), and says so."""
    flags = {
        f"posttrain.{key}": value
        for key, value in (
            ("mode", args.mode),
            ("seeds", args.seeds),
            ("first_seed", args.first_seed),
            ("device", args.device),
        )
        if value is not None
    }
    eps = _search_eps(run_config)
    if eps is not None:
        flags["posttrain.search_eps"] = eps
    config, explicit = _command_config(args.config, list(args.overrides), run_config, flags)
    if args.epochs is not None:  # --epochs shortens the schedule of the mode chosen
        flags[f"posttrain.{config.posttrain.mode}.epochs"] = args.epochs
    config, explicit = _command_config(args.config, list(args.overrides), run_config, flags)
    posttrain = config.posttrain
    if eps is not None and posttrain.mode == "adversarial":
        adversarial = posttrain.adversarial
        if "posttrain.adversarial.eps" not in explicit:
            alpha = adversarial.alpha
            if "posttrain.adversarial.alpha" not in explicit:
                alpha = eps / 4  # the schedule's 2/255 step at 8/255, scaled to the run's eps
            adversarial = adversarial.model_copy(update={"eps": eps, "alpha": alpha})
            posttrain = posttrain.model_copy(update={"adversarial": adversarial})
            console.print(
                f"adversarial training at the run's search eps {eps:g} (L-inf, step {alpha:g}); "
                "set posttrain.adversarial.eps=... to choose another"
            )
    _check_ranges(posttrain)
    return posttrain


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


def _train_source(
    args: argparse.Namespace,
) -> tuple[NetworkSpec, Dataset, dict[str, Any] | None]:
    """The architecture to train, the dataset (a seed architecture is built for it) and,
    when it comes from a run, the run's stored config."""
    if args.id is not None and args.run is None:
        raise NeronetError("--id selects an individual of --run; pass --run DIR too")
    if args.run is not None:
        spec, run_config = _run_spec(args.run, args.id)
        origin = f"'{args.run}' ({'the best individual' if args.id is None else f'id {args.id}'})"
        data = _load_data(args.dataset, args.data_path, run_config.get("data", {}))
        return _buildable(spec, origin), data, run_config
    if args.spec is not None:
        spec, hint = _spec_file(Path(args.spec))
        data = _load_data(args.dataset, args.data_path, hint)
        return _buildable(spec, f"'{args.spec}'"), data, None
    from neronet.phenotype import to_spec
    from neronet.seeds import nsga_net

    dataset = _load_data(args.dataset or "cifar10", args.data_path, {})
    spec = to_spec(nsga_net(), dataset.input_shape, len(dataset.classes))
    return _buildable(spec, f"--seed-arch {args.seed_arch} on {dataset.name}"), dataset, None


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

    console = Console(stderr=True)
    spec, dataset, run_config = _train_source(args)
    config = _train_config(args, run_config, console)
    resolve_device(config.device)  # a CUDA device on a CPU machine fails before --out exists
    out = Path(args.out or f"train-{spec.digest()[:8]}-{config.mode}")
    epochs = config.schedule.epochs
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
        help="comma-separated single attacks: fgsm, pgd-linf, autoattack, fgm, pgd-l2, apgd-l2",
    )
    p.add_argument(
        "--config", help="neronet config YAML; its attack section is used (default: defaults)"
    )
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
    config, explicit = _command_config(args.config, _overrides(args), None, flags)
    return config.attack, explicit


def _search_threat(
    settings: AttackSettings, explicit: set[str], sources: list[_Source], console: Console
) -> AttackSettings:
    """The L-inf eps defaults to the models' own search threat model (when they all come
    from searches with one eps) unless the user chose one; says which it uses."""
    found = {s.hint.get("search_eps") for s in sources}
    if "attack.linf_eps" not in explicit and len(found) == 1 and None not in found:
        (eps,) = found
        settings = settings.model_copy(update={"linf_eps": float(eps)})
        console.print(
            f"L-inf eps {float(eps):g}: the search's own threat model "
            "(pass --linf-eps to attack at another radius)"
        )
    elif "attack.linf_eps" not in explicit and len(found - {None}) > 1:
        console.print(
            f"the models were searched at different eps ({sorted(found - {None})}); "
            f"attacking at the default L-inf eps {settings.linf_eps:g}"
        )
    return settings


def _overrides(args: argparse.Namespace) -> list[str]:
    """``key.sub=value`` arguments among ``attack``'s positional ones (models have no '=')."""
    return [m for m in args.models if OVERRIDE.match(m)]


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
        hint: dict[str, Any] = {k: meta[k] for k in HINT_KEYS if k in meta}
        # trained from a run: its threat model (an unreadable value carries nothing)
        with contextlib.suppress(KeyError, ValueError):
            hint["search_eps"] = float(meta["search_eps"])
        return [_Source(name, _buildable(spec, f"'{target}'"), weights, hint)]
    if (target / "run.sqlite").is_file():
        row, spec, weights = load_individual(target, individual)
        _, run_config = _run_spec(str(target), row.id)
        hint = {**run_config.get("data", {}), "search_eps": _search_eps(run_config)}
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
) -> tuple[list[tuple[str, torch.nn.Module]], list[_Source]]:
    """Built models in eval mode on ``device``, and their sources (spec, dataset hint)."""
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
    return models, sources


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

    settings, explicit = _attack_settings(args)
    attacks = select_attacks(*_attack_choice(args.suite, args.attacks))
    device = resolve_device(args.device)
    console = Console(stderr=True)
    paths = [m for m in args.models if not OVERRIDE.match(m)]
    if not paths:
        raise NeronetError("no MODEL given; pass a .safetensors file, a run or a train output")
    models, sources = _load_models(paths, args.id, device)
    settings = _search_threat(settings, explicit, sources, console)
    first = sources[0]
    dataset = _load_data(args.dataset, args.data_path, first.hint)
    check_compatible(first.spec, dataset)
    holdout, holdout_seed = recorded_holdout(first.hint)
    _, test = full_train_test(dataset, holdout, holdout_seed)
    note = held_out_note(dataset, holdout, holdout_seed)
    x = to_float(torch.from_numpy(test.x).to(device))
    y = torch.from_numpy(test.y).to(device)
    out = Path(args.out) if args.out else _default_out(paths[0])
    audits = settings.audit.enabled and bool(audited_threats(attacks))
    steps = len(models) * (len(attacks) + int(audits))
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
