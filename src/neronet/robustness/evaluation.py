"""Running the whole suite (and the audit) on trained models."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from neronet.attacks.catalogue import AttackSpec
from neronet.attacks.resume import batch_checkpoint
from neronet.attacks.running import Tick, Ticker, predict
from neronet.config import AttackSettings
from neronet.evaluation.scores import (
    clean_accuracy,
    conditional_adversarial_accuracy,
    overall_adversarial_accuracy,
)
from neronet.robustness.audit import Audit, Flag, audited_threats
from neronet.robustness.results import SuiteResults, mask_text, text_mask
from neronet.robustness.suite import adversarial_correct, attack_label
from neronet.robustness.tables import ModelReport, Outcome, SuiteReport
from neronet.threat import threat_label


@dataclass(frozen=True)
class Step:
    """Where the suite is, for a progress display: ``pair`` of ``pairs`` (model, attack or
    audit) steps; ``tick`` inside the step (None when it starts); ``finished`` once its
    result is saved (``cached``: loaded from an earlier, interrupted run)."""

    model: str
    step: str
    label: str
    pair: int
    pairs: int
    tick: Tick | None = None
    finished: bool = False
    cached: bool = False


AUDIT = "audit"
"""The step name of a model's gradient-masking audit."""


def evaluate_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[AttackSpec],
    settings: AttackSettings,
    *,
    name: str = "model",
    progress: Callable[[Step], None] | None = None,
    results: SuiteResults | None = None,
    number: int = 0,
    models: int = 1,
) -> ModelReport:
    """Clean accuracy, every attack's accuracies and the audit for one model.

    ``x`` floats in [0, 1] and ``y`` labels on the model's device; the model is
    put in eval mode (evaluation never trains). With ``results``, model
    ``number`` (of ``models``) saves each finished step there and loads the ones
    an earlier run finished, so an interrupt loses at most the step in progress.
    """
    model.eval()
    if settings.limit is not None:
        x, y = x[: settings.limit], y[: settings.limit]
    clean = predict(model, x, max(settings.batch_size, 256)) == y
    outcomes = [Outcome("clean", "clean", "-", None, clean_accuracy(clean), None, None, len(y))]
    threats = audited_threats(attacks) if settings.audit.enabled else []
    steps = [a.name for a in attacks] + ([AUDIT] if threats else [])
    first = number * len(steps)

    def run(
        step: str, label: str, compute: Callable[[Ticker | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """``step``'s result: loaded when an earlier run saved it, else computed and saved."""
        where = Step(name, step, label, first + steps.index(step) + 1, models * len(steps))
        saved = results.load(number, step) if results is not None else None
        if saved is not None:
            if progress is not None:
                progress(replace(where, finished=True, cached=True))
            return saved
        if progress is not None:
            progress(where)
        ticker = None if progress is None else lambda t: progress(replace(where, tick=t))
        checkpoint = (
            contextlib.nullcontext()
            if results is None
            else batch_checkpoint(results.partial(number, step))
        )
        with checkpoint:
            result = compute(ticker)
        if results is not None:
            results.save(number, step, result)
        if progress is not None:
            progress(replace(where, finished=True))
        return result

    masks: dict[str, torch.Tensor] = {}
    for attack in attacks:

        def attacked(ticker: Ticker | None, attack: AttackSpec = attack) -> dict[str, Any]:
            adv = adversarial_correct(model, x, y, clean, attack, settings, ticker)
            return {"adv_correct": mask_text(adv)}

        label, threat = attack_label(attack, settings), threat_label(attack.threat)
        adv = text_mask(run(attack.name, f"{label} ({threat})", attacked)["adv_correct"], x.device)
        masks[attack.name] = adv
        outcomes.append(
            Outcome(
                attack=attack.name,
                label=label,
                threat=threat,
                eps=attack.radius(settings),
                clean=clean_accuracy(clean),
                conditional=conditional_adversarial_accuracy(clean, adv),
                overall=overall_adversarial_accuracy(clean, adv),
                images=len(y),
            )
        )
    flags: list[Flag] = []
    if threats:

        def audited(ticker: Ticker | None) -> dict[str, Any]:
            found = Audit(model, x, y, clean, settings, ticker).run(attacks, masks, clean)
            return {"flags": [asdict(f) for f in found]}

        flags = [Flag(**f) for f in run(AUDIT, "gradient-masking audit", audited)["flags"]]
    return ModelReport(name, outcomes, flags, tuple(threat_label(t) for t in threats))


def evaluate(
    models: Sequence[tuple[str, nn.Module]],
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[AttackSpec],
    settings: AttackSettings,
    *,
    progress: Callable[[Step], None] | None = None,
    results: SuiteResults | None = None,
) -> SuiteReport:
    """:func:`evaluate_model` for each ``(name, model)`` (e.g. the seeds of one training);
    with ``results``, the suite resumes where an interrupted run stopped."""
    reports = [
        evaluate_model(
            model,
            x,
            y,
            attacks,
            settings,
            name=name,
            progress=progress,
            results=results,
            number=number,
            models=len(models),
        )
        for number, (name, model) in enumerate(models)
    ]
    if results is not None:
        results.finish()
    return SuiteReport(reports, settings)
