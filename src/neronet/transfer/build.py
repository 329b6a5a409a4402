"""Build a transfer set: train the sources, attack their test images, keep the successes.

Per source, the first ``transfer.images`` test images it classifies correctly (in
a seeded order) are attacked with every configured attack, threshold and
optimiser; only successful samples are kept, as the paper does, so the
composition table says how effective each attack was. The attacked images are
the test split's (never trained on by a source); on a dataset without one,
``posttrain.holdout`` of the training images are held out, as ``neronet train``
does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress as RichProgress
from torch import nn

from neronet import __version__
from neronet.attacks import pgd
from neronet.attacks.blackbox import BLACKBOX_OPTIMISERS, Budget, blackbox_attack
from neronet.config import NeroConfig
from neronet.data import Split
from neronet.data.splits import full_train_test
from neronet.store import atomic_write
from neronet.train.core import predict, resolve_device
from neronet.transfer.artifact import TransferSet, composition_table, write_transfer_set
from neronet.transfer.sources import train_source

Progress = Callable[[str, int, int], None]
"""``(what is running, attacks done, attacks planned)``."""
WHITEBOX = "pgd"
log = logging.getLogger("neronet.transfer")
log.setLevel(logging.INFO)  # what ran and how well goes to the set's log (see cli.transfer)


def planned_attacks(config: NeroConfig) -> list[tuple[str, int, str]]:
    """(attack, threshold, optimiser) triples run on every image, in order."""
    t = config.transfer
    triples = [(a, th, o) for a in t.attacks for th in t.thresholds for o in t.optimisers]
    if t.whitebox:
        triples += [("linf", th, WHITEBOX) for th in t.thresholds]
    return triples


def build_transfer_set(
    config: NeroConfig, work_dir: Path, progress: Progress | None = None
) -> TransferSet:
    """Train the sources (checkpointed under ``work_dir``) and attack them."""
    t = config.transfer
    dataset = config.data.load()
    _, test = full_train_test(dataset, config.posttrain.holdout, config.posttrain.holdout_seed)
    device = resolve_device(t.device)
    triples = planned_attacks(config)
    total = len(t.sources) * t.images * len(triples)
    samples: list[dict[str, Any]] = []
    done = 0
    for name in t.sources:
        _report(progress, f"training source {name}", done, total)
        start = time.perf_counter()
        model = train_source(config, name, dataset, work_dir).to(device)
        log.info("source %s trained in %.1f s", name, time.perf_counter() - start)
        x, y = _attacked_images(model, test, t.images, t.seed, device, t.batch_size)
        for attack, th, optimiser in triples:
            label = f"{name}: {attack} th={th} {optimiser}"
            found = 0
            for index, sample in enumerate(
                _attack(model, x, y, attack, th, optimiser, config, device)
            ):
                if sample is not None:
                    samples.append(_sample(sample, int(y[index]), name, attack, th, optimiser))
                    found += 1
                done += 1
                _report(progress, label, done, total)
            log.info("%s: %d of %d images fooled", label, found, len(y))
        done += (t.images - len(y)) * len(triples)  # fewer correct images than asked
    tables = {
        "source": list(t.sources),
        "attack": list(t.attacks),
        "optimiser": [*t.optimisers, *([WHITEBOX] if t.whitebox else [])],
    }
    if t.whitebox and "linf" not in tables["attack"]:
        tables["attack"].append("linf")
    info = {"transfer": t.model_dump(mode="json"), "neronet_version": __version__}
    return TransferSet.from_samples(
        samples, dataset.input_shape, tables, dataset.name, len(dataset.classes), info
    )


def on_bar(bar: RichProgress) -> Progress:
    """A :data:`Progress` for ``bar``'s console: on a terminal the bar itself (one task:
    what runs, how far, ETA); elsewhere (a pipe, a log file) one line per step, which a
    bar would not show at all."""
    if not bar.console.is_terminal:
        last: list[str] = []

        def lines(what: str, done: int, total: int) -> None:
            if [what] != last:
                last[:] = [what]
                bar.console.print(f"transfer set: {what} ({done}/{total})", markup=False)

        return lines
    task = bar.add_task("transfer set", total=None)
    return lambda what, done, total: bar.update(task, description=what, completed=done, total=total)


def _report(progress: Progress | None, what: str, done: int, total: int) -> None:
    if progress is not None:
        progress(what, done, total)


def _sample(image: torch.Tensor, label: int, source: str, attack: str, th: int, opt: str) -> dict:
    return {
        "image": image,
        "label": label,
        "source": source,
        "attack": attack,
        "threshold": th,
        "optimiser": opt,
    }


def _attacked_images(
    model: nn.Module, test: Split, count: int, seed: int, device: torch.device, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` test images, in a seeded order, that ``model`` gets right."""
    order = np.random.default_rng(seed).permutation(len(test.y))
    x = torch.as_tensor(test.x[order]).to(device)
    y = torch.as_tensor(test.y[order]).to(device)
    correct = predict(model, x, batch, channels_last=False, amp=None) == y
    return x[correct][:count], y[correct][:count]


def _attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: str,
    th: int,
    optimiser: str,
    config: NeroConfig,
    device: torch.device,
) -> Iterator[torch.Tensor | None]:
    """Per image, the successful adversarial uint8 image or None."""
    t = config.transfer
    if optimiser == WHITEBOX:
        yield from _pgd(model, x, y, th, t.pgd_steps, t.batch_size)
        return
    assert optimiser in BLACKBOX_OPTIMISERS
    settings = t.de if optimiser == "de" else t.cmaes
    budget = Budget(settings.popsize, settings.iterations, t.batch_size)
    for index in range(len(y)):
        yield blackbox_attack(
            model,
            x[index],
            int(y[index]),
            norm=attack,  # type: ignore[arg-type]
            th=th,
            optimiser=optimiser,  # type: ignore[arg-type]
            budget=budget,
            seed=t.seed + index,
        )


def _pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, th: int, steps: int, batch: int
) -> Iterator[torch.Tensor | None]:
    """White-box PGD at ``th/255``, rounded to grey levels inside the budget, kept where the
    rounded image still fools the model."""
    generator = torch.Generator(device=x.device).manual_seed(th)
    for xb, yb in zip(x.split(batch), y.split(batch), strict=True):
        eps = th / 255
        adv = pgd(model, xb.float() / 255, yb, eps, eps / 4, steps, generator=generator)
        rounded = torch.round(adv * 255).clamp(xb.int() - th, xb.int() + th).clamp(0, 255).byte()
        fooled = predict(model, rounded, batch, channels_last=False, amp=None) != yb
        for image, ok in zip(rounded, fooled.tolist(), strict=True):
            yield image if ok else None


def sources_dir(out: Path) -> Path:
    """Where the sources of the set ``out`` train (kept: a rerun resumes their training)."""
    return out.with_name(out.name + ".sources")


def make_transfer_set(config: NeroConfig, out: Path, progress: Progress | None = None) -> str:
    """Build the set, write ``out`` and its composition ``out.md`` (each atomically);
    returns the set's checksum."""
    tset = build_transfer_set(config, sources_dir(out), progress)
    sha = write_transfer_set(out, tset)
    atomic_write(md_path(out), describe(tset, sha, composition_table(tset)).encode())
    log.info("wrote %s: %d samples, sha256 %s", out, len(tset), sha)
    return sha


def md_path(out: Path) -> Path:
    return out.with_name(out.name + ".md")


def describe(tset: TransferSet, sha: str, table: str) -> str:
    """The Markdown note written next to a set."""
    return (
        f"# Transfer set ({tset.dataset})\n\n{len(tset)} adversarial samples of "
        f"{tset.image_shape} images, {tset.num_classes} classes; sha256 `{sha}`.\n"
        "Successful samples per source model, optimiser, attack and threshold "
        "(RAS, Table 1):\n\n" + table
    )
