"""One row of a survey of the search space (and its retest): what a search measures vs
what robustness turns out to be, for one architecture.

For each of N architectures drawn from the config's grammar (even indices:
random genotypes; odd: a mutant of the NSGA-Net seed when the config starts
from it, else of the random genotype drawn just before), every draw seeded by
the config seed and its index, the survey records in one row:

* training-free proxies at initialisation (:mod:`neronet.survey.proxies`);
* the search-time measurements after the search's own budget
  (``evaluate_individual`` with clean, FGSM, PGD-k, the masking check and the
  parameter count) and the NERO-Net fitness they give after the warm-up;
* the ground truth: the architecture retrained from scratch with the
  ``posttrain`` settings (``train_seeds``) on the search's train and control
  images, then clean accuracy, PGD-20 and AutoAttack (the ``attack`` settings)
  on held-out images: the dataset's test split (or, without one, images held out
  before the search's splits are drawn), of which neither training nor
  selection ever saw one.

The question it answers: does any search-time signal rank architectures the way
their final robustness does (see :mod:`neronet.reports.survey`)? Running the rows,
resumably and in lanes, is :mod:`neronet.survey.run`'s.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors.torch import load_file

from neronet.attacks import ATTACKS
from neronet.attacks.resume import batch_checkpoint
from neronet.augment import DeviceData, to_float
from neronet.config import NeroConfig
from neronet.data.dataset import Dataset
from neronet.data.splits import hold_out
from neronet.errors import GrammarError, InvalidArchitecture
from neronet.evaluation.individual import (
    EvalSettings,
    evaluate_individual,
    one_line,
    out_of_memory_error,
    out_of_memory_reason,
    release_memory,
)
from neronet.evaluation.objectives import nero_net_fitness
from neronet.evaluation.result import OUT_OF_MEMORY, ran_out_of_memory
from neronet.execution.worker import search_splits
from neronet.export import fitted_model
from neronet.genotype import Genotype, Structure
from neronet.logline import append_line
from neronet.nn import build, check_size
from neronet.reports.summary import duration
from neronet.robustness import adversarial_correct
from neronet.robustness.results import mask_text, text_mask, weights_digest
from neronet.search.variation import mutant, seed_genotype
from neronet.spec import LearningSpec, NetworkSpec
from neronet.store import atomic_write
from neronet.survey.clock import CLOCK_FILE, EARLIER, AttemptClock
from neronet.survey.proxies import PROXIES, PROXY_DEFINITIONS, measure_proxies
from neronet.survey.store import Record, Retest, SurveyStore, named_numbers
from neronet.train.core import device_label, resolve_device, seeded
from neronet.train.epoch_loop import TrainingDiverged
from neronet.train.posttrain import accuracy_text, train_seeds

MEASUREMENTS = ("clean", "fgsm", "pgd", "masking", "parameters")
"""The search-time measurements every surveyed architecture gets."""
PROGRESS_LOG = "progress.log"
"""Each architecture's progress, in its directory under ``DIR/models``."""
SEARCH_TIME = "search-time.json"
"""Its measurements before the ground truth (:class:`SearchTime`), in the same directory."""
GROUND_TRUTH = {"final_pgd20": "pgd-linf", "final_autoattack": "autoattack"}
"""The ground truth's attacks: the metric each gives and the attack's name."""
RETEST = {"final_pgd20": "pgd-linf"}
"""A retest's attack: PGD-20 alone, which ranks the surveyed architectures as AutoAttack
does (the report shows their agreement) at a small part of its cost."""
PROXY_IMAGES = 64
"""Images of the fitness set the proxies see (its first ones)."""
_STREAM = 0x5E7
"""Separates the survey's random streams from the strategies'."""


def sample(config: NeroConfig, structure: Structure, index: int) -> tuple[str, Genotype, list[str]]:
    """The ``index``-th architecture: (origin, genotype, how it was made); a function of the
    config seed and the index alone, so a resumed survey draws the same ones."""
    search = config.search
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, _STREAM, index]))
    if index % 2 == 0:
        genotype = Genotype.random(structure, rng, train_time=search.default_train_time)
        return "random", genotype, ["random"]
    seed_rng = np.random.default_rng(np.random.SeedSequence([config.seed, _STREAM]))
    base = seed_genotype(search, structure, seed_rng)
    origin = "seed mutant"
    if base is None:
        base, origin = sample(config, structure, index - 1)[1], "mutant of random"
    child, names = mutant(base, structure, search, rng, initial=True)
    return origin, child, names


@dataclass
class SurveyData:
    """The data every architecture is measured on, resident on the device."""

    search: DeviceData
    retrain: Dataset
    """Post-search training set (the search's train + control images) and held-out test."""
    held_out_x: torch.Tensor
    held_out_y: torch.Tensor
    input_shape: tuple[int, int, int]
    num_classes: int


def load_survey_data(config: NeroConfig, device: torch.device) -> SurveyData:
    """The search's splits and the held-out images (``attack.limit`` of them, if set)."""
    dataset = config.data.load()
    if dataset.test is None:  # held out before the search's splits: it never sees them
        dataset = hold_out(dataset, config.posttrain.holdout, config.posttrain.holdout_seed)
    assert dataset.x_test is not None and dataset.y_test is not None
    splits = search_splits(dataset, config)
    limit = config.attack.limit or len(dataset.y_test)
    retrain = Dataset(
        dataset.name,
        np.concatenate([splits.train.x, splits.control.x]),
        np.concatenate([splits.train.y, splits.control.y]),
        list(dataset.classes),
        dataset.x_test[:limit],
        dataset.y_test[:limit],
    )
    return SurveyData(
        DeviceData.from_splits(splits, device),
        retrain,
        to_float(torch.from_numpy(retrain.x_test).to(device)),
        torch.from_numpy(retrain.y_test).to(device),
        splits.input_shape,
        splits.num_classes,
    )


def progress_log(path: Path) -> Callable[[str], None]:
    """A function appending a time-stamped line to ``path``: an architecture's progress
    (one row can take an hour: AutoAttack on a robust network), opened per line so the
    file is whole whenever the survey is killed."""

    def note(line: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            append_line(file, line)

    return note


def _kept_attack(path: Path, weights: str, device: torch.device) -> torch.Tensor | None:
    """The per-image robustness an earlier attempt kept in ``path`` for the model whose
    weights digest to ``weights`` (the attack suites' identity of a model,
    :func:`~neronet.robustness.results.weights_digest`); None when there is none (or it is
    of another model, or unreadable): the attack runs."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept["weights"] == weights:
            return text_mask(kept["robust"], device)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _ground_truth(
    config: NeroConfig,
    data: SurveyData,
    spec: Any,
    out: Path,
    note: Callable[[str], None],
    attacks: dict[str, str] = GROUND_TRUTH,
) -> dict[str, float]:
    """Retrain ``spec`` (every posttrain seed) and attack it on the held-out images: the
    mean over seeds of clean accuracy and of each of ``attacks``' (overall: robust and
    correct). Each epoch and each attacked batch is a line of ``note``."""
    device = data.held_out_x.device
    settings = config.attack
    epochs = config.posttrain.schedule.epochs

    def on_epoch(info: dict[str, Any]) -> None:
        note(
            f"post-search training, seed {info['seed']}: epoch {info['epoch']}/{epochs}, "
            f"test accuracy {accuracy_text(info, 3)} ({info['seconds']:.1f} s)"
        )

    runs = train_seeds(spec, data.retrain, config.posttrain, out, progress=on_epoch)
    found: dict[str, list[float]] = {"final_clean": [], **{key: [] for key in attacks}}
    for result in runs:
        weights = load_file(result.model_path)
        digest = weights_digest(weights)  # what a kept attack must have attacked
        model = fitted_model(spec, weights, str(result.model_path))
        model = model.to(device)
        with torch.no_grad():
            correct = model(data.held_out_x).argmax(1) == data.held_out_y
        found["final_clean"].append(float(correct.float().mean()))
        for key, name in attacks.items():
            where = out / f"{result.model_path.parent.name}-{name}"
            robust = _kept_attack(where.with_suffix(".json"), digest, device)
            if robust is None:
                # a survey killed in AutoAttack (an hour on a robust network) resumes its
                # batches; an attack that finished is kept for the model it attacked
                with batch_checkpoint(where.with_suffix(".partial.json")):
                    robust = adversarial_correct(
                        model,
                        data.held_out_x,
                        data.held_out_y,
                        correct,
                        ATTACKS.get(name),
                        settings,
                        lambda tick: note(tick.describe()),
                    )
                text = json.dumps({"weights": digest, "robust": mask_text(robust)})
                atomic_write(where.with_suffix(".json"), text.encode())
            found[key].append(float((robust & correct).float().mean()))
    return {key: float(np.mean(values)) for key, values in found.items()}


class SharedOutOfMemory(Exception):
    """A job ran out of memory while other lanes held the device: maybe theirs, not its
    own want, so it is done again alone after the rest (:func:`run_survey`)."""


class NoTruth(NamedTuple):
    """Why an architecture has no ground truth: the row's status and reason."""

    status: str
    reason: str


def _truth(
    config: NeroConfig,
    data: SurveyData,
    spec: NetworkSpec,
    out: Path,
    note: Callable[[str], None],
    shared: bool,
    attacks: dict[str, str] = GROUND_TRUTH,
) -> dict[str, float] | NoTruth:
    """:func:`_ground_truth`, or why there is none: the retraining diverged, or it (or an
    attack) ran out of memory with no other lane beside it (the network's own want: the
    report leaves it out). Out of memory beside other lanes (``shared``) raises
    :class:`SharedOutOfMemory`; any other failure is a fault to see, and stops the survey."""
    try:
        return _ground_truth(config, data, spec, out, note, attacks)
    except TrainingDiverged as err:
        return NoTruth("diverged", f"post-search training: {err}")
    except Exception as err:
        if not out_of_memory_error(err):
            raise
        release_memory(data.held_out_x.device)
        if shared:
            note(f"post-search: {OUT_OF_MEMORY} beside other lanes; measured again alone later")
            raise SharedOutOfMemory(one_line(err)) from err
        reason = f"post-search training or attack: {OUT_OF_MEMORY}, alone ({one_line(err)})"
        note(reason)
        return NoTruth(OUT_OF_MEMORY, reason)


def measure(
    config: NeroConfig,
    structure: Structure,
    data: SurveyData,
    index: int,
    models: Path,
    shared: bool = False,
) -> Record:
    """Every measurement of the ``index``-th architecture, as one record; its ``seconds``
    include what earlier attempts a kill cut short spent on it (:class:`AttemptClock`)
    beyond the parts the row keeps from them (:class:`SearchTime`). ``shared``: other
    lanes hold the device (:class:`SharedOutOfMemory`)."""
    out = models / f"arch-{index}"
    with AttemptClock(out / CLOCK_FILE) as clock:
        rec, kept = _measure(config, structure, data, index, out, shared)
    earlier = clock.earlier - kept
    if earlier <= 0:
        return rec
    return dataclasses.replace(rec, seconds={**rec.seconds, EARLIER: earlier})


@dataclass(frozen=True)
class SearchTime:
    """An architecture's measurements before its ground truth (the proxies, the
    search-time measurements and the fitness), their status and times. Kept in its
    directory: an attempt after a kill (a robust architecture's AutoAttack outlasts a
    session) takes them from there instead of training again for minutes to the numbers
    it had (they are seeded)."""

    status: str
    reason: str | None
    metrics: dict[str, float]
    seconds: dict[str, float]
    spec: str | None = None
    """The digest of the network measured (None in files written before it was kept)."""
    proxies: int = PROXY_DEFINITIONS
    """The proxy definitions its proxies follow (1 in files written before it was kept)."""

    def save(self, path: Path) -> None:
        atomic_write(path, json.dumps(dataclasses.asdict(self), sort_keys=True).encode())

    @classmethod
    def load(cls, path: Path, spec: str | None = None) -> SearchTime | None:
        """The kept measurements, or None (none kept, a file this version cannot read, or
        one of another network than ``spec``'s digest, e.g. drawn by another version:
        they are measured again)."""
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            numbers = {part: named_numbers(kept[part]) for part in ("metrics", "seconds")}
            reason, digest = kept["reason"], kept.get("spec")
            found = cls(
                str(kept["status"]),
                None if reason is None else str(reason),
                **numbers,
                spec=None if digest is None else str(digest),
                proxies=int(kept.get("proxies", 1)),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return None if spec is not None and found.spec not in (None, spec) else found


def _measure(
    config: NeroConfig,
    structure: Structure,
    data: SurveyData,
    index: int,
    out: Path,
    shared: bool,
) -> tuple[Record, float]:
    """:func:`measure` of one attempt, writing in ``out``; and the seconds of the parts it
    kept from an earlier one."""
    origin, genotype, names = sample(config, structure, index)
    where = device_label(data.search.device)

    def record(before: SearchTime, metrics: dict[str, float] | None = None) -> Record:
        drawn = (index, origin, tuple(names), genotype.to_json(), before.status, before.reason)
        return Record(*drawn, {**before.metrics, **(metrics or {})}, before.seconds, where)

    try:
        spec, learning = genotype.decode(data.input_shape, data.num_classes)
        check_size(spec, config.training.max_parameters)
    except (GrammarError, InvalidArchitecture) as err:
        return record(SearchTime("invalid", one_line(err), {}, {})), 0.0
    note = progress_log(out / PROGRESS_LOG)
    kept = SearchTime.load(out / SEARCH_TIME, spec.digest())
    spent = 0.0  # the seconds of the parts the row keeps from an earlier attempt
    if kept is None:
        try:
            before = _search_time(config, data, spec, learning, genotype.train_time, index, note)
        except Exception as err:  # the proxies' (the training's is an invalid evaluation)
            if not out_of_memory_error(err):
                raise
            release_memory(data.search.device)
            before = SearchTime("invalid", out_of_memory_reason(err), {}, {})
        if before.status != "invalid":
            before.save(out / SEARCH_TIME)
    else:
        before = kept
        spent = sum(kept.seconds.values())
        note(f"search-time: {kept.status}, measured by an earlier attempt")
        if kept.proxies != PROXY_DEFINITIONS:  # cheap: measured again, the rest kept
            proxies, took = timed_proxies(config, data, spec, index)
            before = dataclasses.replace(
                kept,
                metrics={**kept.metrics, **proxies},
                seconds={**kept.seconds, "proxies": took},
                proxies=PROXY_DEFINITIONS,
            )
            before.save(out / SEARCH_TIME)
            spent -= kept.seconds.get("proxies", 0.0)  # not kept: measured again here
    if shared and ran_out_of_memory(before.status, before.reason):
        note(f"search-time: {OUT_OF_MEMORY} beside other lanes; measured again alone later")
        raise SharedOutOfMemory(before.reason)
    if before.status == "invalid":
        return record(before), spent
    began = time.perf_counter()
    truth = _truth(config, data, spec, out, note, shared)
    if isinstance(truth, NoTruth):  # no final numbers: the report leaves it out
        verdict = before.status + (f" ({before.reason})" if before.reason else "")
        reason = f"{truth.reason}; at search time {verdict}"
        return record(dataclasses.replace(before, status=truth.status, reason=reason)), spent
    seconds = {**before.seconds, "ground_truth": time.perf_counter() - began}
    return record(dataclasses.replace(before, seconds=seconds), truth), spent


def _search_time(
    config: NeroConfig,
    data: SurveyData,
    spec: NetworkSpec,
    learning: LearningSpec,
    train_time: float,
    index: int,
    note: Callable[[str], None],
) -> SearchTime:
    """The proxies at initialisation, then the search's training and measurements."""
    metrics, took = timed_proxies(config, data, spec, index)
    seconds = {"proxies": took}
    settings = dataclasses.replace(EvalSettings.from_config(config), measurements=MEASUREMENTS)
    note(f"search-time training ({train_time:g} {config.search.budget}) and measurements")
    evaluation = evaluate_individual(
        spec, learning, float(train_time), data.search, settings, seed=index
    )
    metrics.update(evaluation.metrics)
    metrics["nero_net_fitness"] = nero_net_fitness(config, evaluation.status, metrics)
    metrics["search_epochs"] = float(evaluation.epochs)
    seconds["search"] = sum(evaluation.seconds.values())
    note(f"search-time: {evaluation.status} ({seconds['search']:.0f} s)")
    return SearchTime(evaluation.status, evaluation.reason, metrics, seconds, spec.digest())


def timed_proxies(
    config: NeroConfig, data: SurveyData, spec: NetworkSpec, index: int
) -> tuple[dict[str, float], float]:
    """The training-free proxies of the ``index``-th architecture (``spec``), on the
    first :data:`PROXY_IMAGES` fitness images, its initial weights drawn from its index
    (the same network whenever they are measured); and the seconds they took."""
    device = data.search.device
    began = time.perf_counter()
    x = to_float(data.search.fitness.x[:PROXY_IMAGES])
    with seeded(index, device):
        model = build(spec).to(device)
        found = measure_proxies(model, x, data.search.fitness.y[:PROXY_IMAGES], config.search_eps)
    return found, time.perf_counter() - began


def remeasure_proxies(
    store: SurveyStore, config: NeroConfig, structure: Structure, say: Callable[[str], None]
) -> None:
    """Measure again, by this version's definitions (:data:`PROXY_DEFINITIONS`), the
    proxies of the rows an earlier version measured: seconds a row, against the hours
    of its ground truth, so a survey never mixes two definitions in one column. Every
    row's new values are written in one transaction with the definitions' version (a
    kill leaves the store as it was, and the next call starts over), their seconds with
    them (measured here, where the row's other parts may have been measured elsewhere)."""
    rows = stale_proxy_rows(store)
    values: dict[int, tuple[dict[str, float], float]] = {}
    if rows:
        say(
            f"measuring the training-free proxies of {len(rows)} rows again by this "
            f"version's definitions ({PROXY_DEFINITIONS}; they had {store.proxy_definitions()})"
        )
        data = load_survey_data(config, resolve_device(config.training.device))
        began = time.perf_counter()
        for done, row in enumerate(rows, start=1):
            genotype = Genotype.from_json(row.genotype, structure)
            spec, _ = genotype.decode(data.input_shape, data.num_classes)
            values[row.index] = timed_proxies(config, data, spec, row.index)
            if done % 10 == 0 and done < len(rows):
                left = (len(rows) - done) * (time.perf_counter() - began) / done
                say(f"proxies: {done} of {len(rows)} rows, about {duration(left)} left")
    if store.proxy_definitions() != PROXY_DEFINITIONS:  # a fresh store records it too
        store.replace_proxies(values, PROXY_DEFINITIONS)


def stale_proxy_rows(store: SurveyStore) -> list[Record]:
    """The rows whose proxies an earlier version's definitions measured (none when the
    store's definitions are this version's)."""
    if store.proxy_definitions() == PROXY_DEFINITIONS:
        return []
    return [r for r in store.records() if PROXIES[0] in r.metrics]


def retest_seed(config: NeroConfig) -> int:
    """The retraining seed of a retest: the first after the survey's own
    (``posttrain.first_seed + posttrain.seeds``), so a retest never repeats one of the
    trainings it is compared with."""
    return config.posttrain.first_seed + config.posttrain.seeds


def retest(
    config: NeroConfig,
    structure: Structure,
    data: SurveyData,
    index: int,
    models: Path,
    genotype: str,
    shared: bool = False,
) -> Retest:
    """The ``index``-th architecture's ground truth again, retrained from
    :func:`retest_seed` (in its directory's ``retest/``, so the first training's record
    stays whole) and attacked with :data:`RETEST`; no metrics when that training
    diverges or does not fit in memory alone (:func:`_truth`). The network is the row's
    stored ``genotype`` (JSON), not a new draw: a retest may run versions after the row,
    and must retrain the network it is compared with. Its seconds include what attempts a
    kill cut short spent on it."""
    spec, _ = Genotype.from_json(genotype, structure).decode(data.input_shape, data.num_classes)
    seed = retest_seed(config)
    posttrain = config.posttrain.model_copy(update={"first_seed": seed, "seeds": 1})
    again = config.model_copy(update={"posttrain": posttrain})
    out = models / f"arch-{index}"
    note = progress_log(out / PROGRESS_LOG)
    note(f"retest: retraining from seed {seed}")
    began = time.perf_counter()
    with AttemptClock(out / "retest" / CLOCK_FILE) as clock:
        truth = _truth(again, data, spec, out / "retest", note, shared, RETEST)
        metrics = {} if isinstance(truth, NoTruth) else truth
    return Retest(index, seed, metrics, clock.earlier + time.perf_counter() - began)
