"""``neronet train``: retrain an architecture with the paper's section-6 schedules.

The winner of a search on RAS genomes (strategy or encoding ``ras``) retrains in
standard mode with RAS's own recipe (``ras.training``: Nadam at a constant lr for
``final_epochs``), not NERO-Net's SGD schedule; adversarial mode is Madry's for both.

It retrains an individual of a run, an exported or trained ``.safetensors`` /
spec ``.json``, or the NSGA-Net seed, with the standard or adversarial schedule
for several seeds, resumably; progress bar on the terminal, ``train.log`` in
the output directory. On a dataset without a test split it holds out a
stratified, seeded part of the training images (``posttrain.holdout``,
recorded in the model metadata; a run's own, which its search left out of its
splits, unless set) and says so; see :mod:`neronet.train.posttrain`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from neronet.cli.common import (
    buildable,
    command_config,
    load_data,
    logged,
    refuse_foreign_dir,
    results_console,
    routed,
    run_spec,
)
from neronet.config import NeroConfig
from neronet.config import PostTrainConfig as PostTrainDefaults
from neronet.data import Dataset
from neronet.data.splits import resolve_size
from neronet.errors import ConfigError, NeronetError
from neronet.progress import progress_bar
from neronet.spec import NetworkSpec

if TYPE_CHECKING:
    import numpy as np

    from neronet.config import PostTrainConfig

SEED_ARCHS = ("nsga-net",)
FLAGS = {
    "posttrain.mode": "--mode",
    "posttrain.seeds": "--seeds",
    "posttrain.first_seed": "--first-seed",
    "posttrain.device": "--device",
    "posttrain.standard.epochs": "--epochs",
    "posttrain.adversarial.epochs": "--epochs",
}
"""Config keys the flags set: an error about one names the flag the user typed."""
MAX_SEEDS = 1000
LOG = "train.log"
MAX_EPOCHS = 100_000


def add_train_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet train``."""
    p = sub.add_parser(
        "train",
        help="post-search training of an architecture (standard or adversarial, several seeds)",
        description="Retrain an architecture from scratch on the full training set with the "
        "paper's schedule (standard: 350 epochs SGD cosine; adversarial: Madry PGD-7, 200 epochs) "
        "for several seeds, reporting held-out test accuracy (a dataset without a test split "
        "gets a stratified 20% of its training images held out: setting holdout; "
        "posttrain.images=search trains on the run's search images only). Re-running "
        "the same command resumes an interrupted training exactly.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="search run directory (trains --id, default the best)")
    source.add_argument(
        "--study", help="study directory (trains the fittest individual over all its runs)"
    )
    source.add_argument(
        "--spec", help="a .safetensors (export or model; its weights are not used) or a spec .json"
    )
    source.add_argument("--seed-arch", choices=SEED_ARCHS, help="a hand-written architecture")
    p.add_argument("--id", type=int, help="individual id in --run (default: the best)")
    defaults = PostTrainDefaults()
    p.add_argument("--mode", choices=["standard", "adversarial"], help=f"default: {defaults.mode}")
    p.add_argument(
        "--config",
        help="neronet config YAML; its posttrain section is used (default: the run's own)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        help=f"epochs of the schedule (default: the paper's {defaults.standard.epochs} standard, "
        f"{defaults.adversarial.epochs} adversarial)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        help=f"number of seeds, each a full training (default: the paper's {defaults.seeds})",
    )
    p.add_argument("--first-seed", type=int, help=f"first seed (default {defaults.first_seed})")
    p.add_argument(
        "--dataset",
        help="a registered dataset (digits, fashion-mnist, cifar10 or a plug-in's); default: "
        "the run's or the model's dataset; cifar10 for --seed-arch",
    )
    p.add_argument("--data-path", help="local copy of the dataset")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--out", help="output directory (default: train-<arch digest>-<mode>)")
    p.add_argument(
        "--memo",
        help="directory of trainings shared between commands (neronet experiment passes "
        "its own): a seed trained the same way (architecture, data, settings, seed, "
        "device, threads) is copied from it, not trained again",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, as for evolve (e.g. posttrain.standard.lr=0.05)",
    )
    p.set_defaults(func=cmd_train)


def _train_config(
    args: argparse.Namespace, run_config: NeroConfig | None, console: Console
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
    eps = run_config.search_eps if run_config is not None else None
    if eps is not None:
        flags["posttrain.search_eps"] = eps
    config, explicit = command_config(args.config, list(args.overrides), run_config, flags, FLAGS)
    if args.epochs is not None:  # --epochs shortens the schedule of the mode chosen
        flags[f"posttrain.{config.posttrain.mode}.epochs"] = args.epochs
    config, explicit = command_config(args.config, list(args.overrides), run_config, flags, FLAGS)
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
    if run_config is not None:  # the run's hold-out, left out of its search's splits
        held = {
            k: v for k, v in run_config.search_holdout.items() if f"posttrain.{k}" not in explicit
        }
        posttrain = posttrain.model_copy(update=held)
    if run_config is not None and posttrain.mode == "standard":
        posttrain = _search_recipe(posttrain, config, run_config, args.epochs, console)
    _check_ranges(posttrain)
    return posttrain


def _search_recipe(
    posttrain: PostTrainConfig,
    config: NeroConfig,
    run_config: NeroConfig,
    epochs: int | None,
    console: Console,
) -> PostTrainConfig:
    """A winner of a search on RAS genomes retrains with RAS's recipe (``ras.training``,
    read from the command's config so overrides apply), not section 6's SGD schedule."""
    from neronet.search.ras_settings import RasConfig, applies

    if not applies(run_config):
        return posttrain
    recipe = RasConfig.of(config.sections).training
    schedule = recipe.final_schedule(posttrain.standard)
    if epochs is not None:
        schedule = schedule.model_copy(update={"epochs": epochs})
    console.print(
        f"a RAS run: standard training is RAS's recipe (ras.training: {schedule.optimizer}, "
        f"lr {schedule.lr:g}, batch {schedule.batch_size}, {schedule.epochs} epochs)"
    )
    return posttrain.with_standard(schedule)


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
) -> tuple[NetworkSpec, Dataset, NeroConfig | None]:
    """The architecture to train, the dataset (a seed architecture is built for it) and,
    when it comes from a run, the run's stored config."""
    if args.id is not None and args.study is not None:
        raise NeronetError(
            "--study trains the study's fittest individual; to pick another, pass "
            "--run STUDY/run-N --id ID"
        )
    if args.id is not None and args.run is None:
        raise NeronetError("--id selects an individual of --run; pass --run DIR too")
    if args.study is not None:  # the study's fittest: a run and an individual of it
        from neronet.cli.views import study_fittest

        args.run, args.id = study_fittest(args.study)
    if args.run is not None:
        spec, run_config = run_spec(args.run, args.id)
        origin = f"'{args.run}' ({'the best individual' if args.id is None else f'id {args.id}'})"
        data = load_data(args.dataset, args.data_path, run_config.data.model_dump())
        return buildable(spec, origin), data, run_config
    if args.spec is not None:
        spec, hint = _spec_file(Path(args.spec))
        data = load_data(args.dataset, args.data_path, hint)
        return buildable(spec, f"'{args.spec}'"), data, None
    from neronet.phenotype import to_spec
    from neronet.seeds import nsga_net

    dataset = load_data(args.dataset or "cifar10", args.data_path, {})
    spec = to_spec(nsga_net(), dataset.input_shape, len(dataset.classes))
    return buildable(spec, f"--seed-arch {args.seed_arch} on {dataset.name}"), dataset, None


def _train_images(
    config: PostTrainConfig, dataset: Dataset, run_config: NeroConfig | None, legacy: bool
) -> np.ndarray | None:
    """``posttrain.images: search``: the run's search train + control images (None: all);
    ``legacy``: a run begun before the splits left the held-out images out."""
    if config.images == "all":
        return None
    if run_config is None:
        raise ConfigError(
            "posttrain.images=search retrains on a run's search images; pass --run or --study, "
            "or set posttrain.images=all"
        )
    from neronet.execution.worker import search_images

    return search_images(dataset, run_config, without_holdout=not legacy)


def _began_before_the_pool(
    config: PostTrainConfig, dataset: Dataset, run_config: NeroConfig | None, run: str | None
) -> bool:
    """Whether a run (on a dataset without a test split) drew its splits from every
    training image, as runs begun before the held-out images were left out of them did.
    Refuses a hold-out other than the run's (it defaults to the run's, so only a set
    one): the search selected on the images the run's keeps, and another would test on
    some of them."""
    if run_config is None or run is None or dataset.test is not None:
        return False
    its = run_config.posttrain
    n = len(dataset.y_train)
    if (resolve_size("holdout", config.holdout, n), config.holdout_seed) != (
        resolve_size("holdout", its.holdout, n),
        its.holdout_seed,
    ):
        raise ConfigError(
            f"posttrain.holdout={config.holdout:g} holdout_seed={config.holdout_seed} holds "
            f"out other images than the run's: its search selected on the images that one "
            f"keeps, so this would test on some of them; set posttrain.holdout={its.holdout:g} "
            f"posttrain.holdout_seed={its.holdout_seed}, or leave both unset"
        )
    from neronet.search.runner import left_holdout_out

    return not left_holdout_out(run)


LEGACY_NOTE = (
    "the run drew its search splits from every training image (begun before the held-out "
    "images were left out of them): its best may have been selected partly on held-out "
    "images"
)


def _images_note(only: np.ndarray, dataset: Dataset, legacy: bool) -> str:
    """What ``posttrain.images: search`` trains on, for the log."""
    dropped = " (less any the hold-out takes)" if legacy else ""
    return (
        f"posttrain.images=search: training on the run's {len(only)} search train + control "
        f"images{dropped}, not all {len(dataset.y_train)}"
    )


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
    from neronet.train.posttrain import accuracy_text, summarize, train_seeds
    from neronet.train.training_dir import META_FILE, held_out_note

    console = Console(stderr=True)
    spec, dataset, run_config = _train_source(args)
    config = _train_config(args, run_config, console)
    legacy = _began_before_the_pool(config, dataset, run_config, args.run)
    only = _train_images(config, dataset, run_config, legacy)
    resolve_device(config.device)  # a CUDA device on a CPU machine fails before --out exists
    out = Path(args.out or f"train-{spec.digest()[:8]}-{config.mode}")
    refuse_foreign_dir(out, META_FILE, "a neronet train output", flag="--out", scratch=(LOG,))
    epochs = config.schedule.epochs
    note = held_out_note(dataset, config.holdout, config.holdout_seed)
    note = " ".join(filter(None, (note, LEGACY_NOTE if legacy else None))) or None
    with (
        writer_lock(out, "--out"),
        logged(out / LOG, "train") as log,
        progress_bar(console) as bar,
        routed("neronet.train.posttrain", log, console),
    ):
        log.info(
            f"{config.mode} training of {spec.digest()} on {dataset.name}, seeds "
            f"{config.seed_list}, settings {config.schedule.model_dump_json()}"
        )
        if only is not None:
            note = " ".join(filter(None, (note, _images_note(only, dataset, legacy))))
        if note:
            log.info(note)
            console.print(note)
        task = bar.add_task("starting", total=config.seeds * epochs)
        plan = (
            f"plan: {config.mode} training, {config.seeds} seed(s) x {epochs} epochs = "
            f"{config.seeds * epochs} epochs on {config.device}; an estimate follows the first "
            "epoch (finished seeds and epochs are kept: re-run to resume)"
        )
        log.info(plan)
        console.print(plan)
        timed = {"first": True}

        def on_epoch(info: dict[str, Any]) -> None:
            line = (
                f"seed {info['seed']} ({info['seed_index'] + 1}/{info['seeds']}) epoch "
                f"{info['epoch']}/{epochs} loss {info['train_loss']:.4f} train acc "
                f"{info['train_accuracy']:.4f} test acc {accuracy_text(info, 4)} "
                f"lr {info['lr']:.5f} {info['seconds']:.1f}s"
            )
            log.info(line)
            done = info["seed_index"] * epochs + info["epoch"]
            if timed["first"]:
                timed["first"] = False
                left = info["seconds"] * (config.seeds * epochs - done)
                estimate = (
                    f"estimate: about {left / 60:.1f} min more ({info['seconds']:.1f} s/epoch)"
                )
                log.info(estimate)
                console.print(estimate)
            bar.update(task, completed=done, description=line.split(" loss")[0])

        try:
            memo = None if args.memo is None else Path(args.memo)
            results = train_seeds(
                spec, dataset, config, out, progress=on_epoch, only=only, memo=memo
            )
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
    result = results_console()
    result.print(table)
    result.print(
        f"mean {100 * mean:.2f} ± {100 * std:.2f} % over {len(results)} seed(s); "
        f"evaluate with: neronet attack {out} --suite paper"
    )
    return 0
