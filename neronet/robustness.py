"""Robustness evaluation of trained models (NERO-Net, section 6) and a gradient-masking audit.

The paper's suite (Table 2): under L-inf eps 8/255, FGSM, PGD-20 and
AutoAttack (standard version); under L2 eps 0.5, FGM, PGD-20 and AutoAttack
restricted to APGD-CE + APGD-T. PGD step sizes were lost in the paper; the
default is the usual eps/4 for both norms (2/255 at 8/255). Every number is a
setting.

Attacks run in fp32 whatever the training precision: reduced-precision
gradients can themselves weaken an attack and look like robustness.

Accuracies follow the paper's Table 2: ``conditional`` is the share of the
clean-correct test images that survive the attack (only those are attacked),
``overall`` is the share of all test images that are still correct
(``clean * conditional``). Several models (the seeds of one training) give a
mean and a sample standard deviation per row.

AutoAttack is the reference implementation (``pyautoattack``), wrapped: its
global-RNG seeding is confined with ``torch.random.fork_rng`` and every count it
uses is set explicitly (APGD-CE restarts, APGD-T target classes and restarts,
FAB-T target classes), because its "custom" version would otherwise fall back
to 5 APGD-CE restarts, unlike "standard".

The audit (Athalye et al. 2018; Carlini et al. 2019) looks for signs that an
attack failed because the gradients are useless rather than because the model
is robust, and flags the row whose number is then suspect:

* single-step beats iterative: FGSM (FGM) accuracy below PGD's;
* the black-box Square attack fools images that every white-box attack of the
  threat (the single-step one and PGD) left correct;
* accuracy under L-inf PGD with a huge eps (0.5, where a constant grey image
  is reachable) does not fall towards 0;
* PGD has not converged: more steps with several random restarts still lower
  accuracy substantially.

Separately it notes (not a masking flag) when FGSM accuracy far exceeds PGD's:
the FGSM number is then an optimistic estimate, not robustness. The
single-step check compares the suite's own numbers; the other checks run extra
attacks on a fixed subset of the clean-correct images (the first
``audit.subset``) and compare on that subset. A gap counts only when it is
both above ``audit.tolerance`` and at least ``audit.min_images`` images.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Group
from rich.table import Table
from rich.text import Text
from torch import nn

from neronet.attacks import attack_correct, get_attack
from neronet.errors import AttackError
from neronet.fitness import (
    clean_accuracy,
    conditional_adversarial_accuracy,
    overall_adversarial_accuracy,
)
from neronet.store import atomic_write

Threat = Literal["linf", "l2"]
THREAT_LABELS = {"linf": "L-inf", "l2": "L2"}
AA_NORMS = {"linf": "Linf", "l2": "L2"}
TARGET_CLASSES = 9
"""AutoAttack standard's APGD-T / FAB-T target classes (capped at classes - 1)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditSettings(_Section):
    """The gradient-masking audit; thresholds are accuracy shares (0.02 = 2 points)."""

    enabled: bool = True
    subset: int = Field(default=200, ge=1, description="clean-correct images the audit attacks")
    tolerance: float = Field(
        default=0.02, ge=0, le=1, description="accuracy gap beyond which a check fires"
    )
    min_images: int = Field(
        default=3, ge=1, description="a gap of fewer images never fires (small-subset noise)"
    )
    square_queries: int = Field(default=1000, ge=1, description="Square attack query budget")
    large_eps: float = Field(default=0.5, gt=0, description="L-inf eps where accuracy must be ~0")
    large_eps_max_accuracy: float = Field(default=0.05, ge=0, le=1)
    convergence_steps: int = Field(default=100, ge=1, description="PGD steps of the strong run")
    convergence_restarts: int = Field(default=5, ge=1, description="random restarts of it")
    fgsm_gap: float = Field(
        default=0.10, ge=0, le=1, description="FGSM above PGD by more: FGSM is optimistic"
    )


class AttackSettings(_Section):
    """Settings of ``neronet attack``, defaults from the paper (or chosen where it lost them)."""

    linf_eps: float = Field(default=8 / 255, gt=0)
    l2_eps: float = Field(default=0.5, gt=0)
    linf_step: float | None = Field(
        default=None, gt=0, description="PGD L-inf step (default eps/4: 2/255 at 8/255)"
    )
    l2_step: float | None = Field(default=None, gt=0, description="PGD L2 step (default eps/4)")
    steps: int = Field(default=20, ge=1, description="PGD iterations")
    random_start: bool = True
    batch_size: int = Field(default=32, ge=1, description="attack batch size (paper: 32)")
    limit: int | None = Field(default=None, ge=1, description="attack only the first N test images")
    seed: int = Field(default=0, ge=0, description="seeds PGD random starts and AutoAttack")
    autoattack_restarts: int = Field(default=1, ge=1, description="APGD-CE restarts")
    audit: AuditSettings = Field(default_factory=AuditSettings)

    def eps(self, threat: Threat) -> float:
        return self.linf_eps if threat == "linf" else self.l2_eps

    def step(self, threat: Threat) -> float:
        """PGD step size: the explicit one, else a quarter of the radius."""
        step = self.linf_step if threat == "linf" else self.l2_step
        return step if step is not None else self.eps(threat) / 4


@dataclass(frozen=True)
class SuiteAttack:
    """One attack of the catalogue: its CLI name, threat and family."""

    name: str
    threat: Threat
    family: Literal["single", "pgd", "autoattack"]

    def label(self, settings: AttackSettings) -> str:
        if self.family == "pgd":
            return f"PGD-{settings.steps}"
        return LABELS[self.name]


CATALOGUE = {
    a.name: a
    for a in (
        SuiteAttack("fgsm", "linf", "single"),
        SuiteAttack("pgd-linf", "linf", "pgd"),
        SuiteAttack("autoattack", "linf", "autoattack"),
        SuiteAttack("fgm", "l2", "single"),
        SuiteAttack("pgd-l2", "l2", "pgd"),
        SuiteAttack("apgd-l2", "l2", "autoattack"),
    )
}
LABELS = {"fgsm": "FGSM", "autoattack": "AutoAttack", "fgm": "FGM", "apgd-l2": "APGD-CE + APGD-T"}
SUITES = {
    "paper": tuple(CATALOGUE),
    "linf": ("fgsm", "pgd-linf", "autoattack"),
    "l2": ("fgm", "pgd-l2", "apgd-l2"),
    "fast": ("fgsm", "pgd-linf", "fgm", "pgd-l2"),
}


def select_attacks(suite: str | None, names: Sequence[str] = ()) -> list[SuiteAttack]:
    """The attacks of ``suite`` plus single ``names``, catalogue order, no duplicates."""
    if suite is not None and suite not in SUITES:
        raise AttackError(f"unknown suite {suite!r}; valid suites: {', '.join(SUITES)}")
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        raise AttackError(f"unknown attack {unknown[0]!r}; valid attacks: {', '.join(CATALOGUE)}")
    wanted = set(names) | set(SUITES[suite] if suite is not None else ())
    if not wanted:
        raise AttackError("no attack selected; pass --suite paper or --attacks fgsm,pgd-linf")
    return [a for name, a in CATALOGUE.items() if name in wanted]


# --------------------------------------------------------------------------- running attacks


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(part).argmax(dim=1) for part in x.split(batch_size)])


def autoattack_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    threat: Threat,
    eps: float,
    attacks: list[str] | None,
    batch_size: int,
    seed: int,
    restarts: int = 1,
    square_queries: int | None = None,
) -> torch.Tensor:
    """Per-sample robustness of ``x`` (all clean-correct) under pyautoattack.

    ``attacks=None`` runs the standard version (APGD-CE, APGD-T, FAB-T,
    Square); a list runs the custom version with exactly those attacks.
    """
    from pyautoattack import AutoAttack

    if x.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool, device=x.device)
    with torch.no_grad():
        num_classes = int(model(x[:1]).shape[1])
    targets = min(TARGET_CLASSES, num_classes - 1)
    version = "standard" if attacks is None else "custom"
    cuda = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        aa = AutoAttack(
            model,
            norm=AA_NORMS[threat],
            eps=eps,
            version=version,
            attacks=attacks,
            device=x.device,
            seed=seed,
        )
        aa.apgd.n_restarts = restarts
        aa.apgd_targeted.n_restarts = 1
        aa.apgd_targeted.n_target_classes = targets
        aa.fab.n_target_classes = targets
        if square_queries is not None:
            aa.square.n_queries = square_queries
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=batch_size)
    return _predict(model, x_adv, batch_size) == y


def adversarial_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_correct: torch.Tensor,
    attack: SuiteAttack,
    settings: AttackSettings,
) -> torch.Tensor:
    """Per-sample ``adv_correct`` of ``attack``; only clean-correct samples are attacked."""
    eps = settings.eps(attack.threat)
    if attack.family == "autoattack":
        adv = torch.zeros_like(clean_correct)
        attacks = None if attack.threat == "linf" else ["apgd-ce", "apgd-t"]
        adv[clean_correct] = autoattack_correct(
            model,
            x[clean_correct],
            y[clean_correct],
            threat=attack.threat,
            eps=eps,
            attacks=attacks,
            batch_size=settings.batch_size,
            seed=settings.seed,
            restarts=settings.autoattack_restarts,
        )
        return adv
    if attack.family == "single":
        fn = get_attack(attack.name, eps=eps)
    else:
        gen = torch.Generator(device=x.device).manual_seed(settings.seed)
        fn = get_attack(
            f"pgd-{attack.threat}",
            eps=eps,
            alpha=settings.step(attack.threat),
            steps=settings.steps,
            random_start=settings.random_start,
            generator=gen,
        )
    return attack_correct(model, x, y, fn, settings.batch_size, clean_correct=clean_correct)[1]


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Outcome:
    """Accuracies of one model under one attack (``attack`` "clean" for the clean row)."""

    attack: str
    label: str
    threat: str
    eps: float | None
    clean: float
    conditional: float | None
    overall: float | None
    images: int


@dataclass(frozen=True)
class Flag:
    """An audit finding attached to the row whose number it concerns."""

    attack: str
    kind: Literal["masking", "note"]
    check: str
    reason: str


@dataclass
class ModelReport:
    name: str
    outcomes: list[Outcome]
    flags: list[Flag] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """One line of the final table: mean and std over the models."""

    attack: str
    label: str
    threat: str
    eps: float | None
    clean: tuple[float, float]
    conditional: tuple[float, float] | None
    overall: tuple[float, float] | None
    models: int
    images: int
    flags: tuple[str, ...]
    notes: tuple[str, ...]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class SuiteReport:
    """All models' outcomes; ``rows()`` aggregates them for the table."""

    models: list[ModelReport]
    settings: AttackSettings

    def rows(self) -> list[Row]:
        return [self._row(index) for index in range(len(self.models[0].outcomes))]

    def _row(self, index: int) -> Row:
        per_model = [m.outcomes[index] for m in self.models]
        first = per_model[0]
        found = [(m.name, f) for m in self.models for f in m.flags if f.attack == first.attack]
        tag = len(self.models) > 1  # name the model a finding is about when there are several

        def texts(kind: str) -> tuple[str, ...]:
            return tuple(
                f"{n}: {f.reason}" if tag else f.reason for n, f in found if f.kind == kind
            )

        def stat(values: list[float | None]) -> tuple[float, float] | None:
            numbers = [v for v in values if v is not None]
            return _mean_std(numbers) if numbers else None

        return Row(
            attack=first.attack,
            label=first.label,
            threat=first.threat,
            eps=first.eps,
            clean=_mean_std([o.clean for o in per_model]),
            conditional=stat([o.conditional for o in per_model]),
            overall=stat([o.overall for o in per_model]),
            models=len(per_model),
            images=first.images,
            flags=texts("masking"),
            notes=texts("note"),
        )

    @property
    def flagged(self) -> bool:
        return any(f.kind == "masking" for m in self.models for f in m.flags)


# --------------------------------------------------------------------------------- audit


class _Audit:
    """The masking checks of one model, on the first ``subset`` clean-correct images."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        clean_correct: torch.Tensor,
        settings: AttackSettings,
    ) -> None:
        self.model = model
        self.settings = settings
        self.audit = settings.audit
        self.index = clean_correct.nonzero().flatten()[: self.audit.subset]
        self.x, self.y = x[self.index], y[self.index]

    def _share(self, robust: torch.Tensor) -> float:
        return float(robust.float().mean().item()) if robust.numel() else 0.0

    def _exceeds(self, images: int, total: int) -> bool:
        """Whether a gap of ``images`` out of ``total`` is beyond noise: both more than
        ``tolerance`` of them and at least ``min_images`` (1 image of a 50-image subset
        is already 2%)."""
        return images >= self.audit.min_images and images > self.audit.tolerance * total

    def _pgd(
        self, threat: Threat, eps: float, alpha: float, steps: int, restarts: int
    ) -> torch.Tensor:
        """Robust under every one of ``restarts`` random-start PGD runs."""
        gen = torch.Generator(device=self.x.device).manual_seed(self.settings.seed + 1)
        fn = get_attack(
            f"pgd-{threat}", eps=eps, alpha=alpha, steps=steps, random_start=True, generator=gen
        )
        robust = torch.ones(len(self.index), dtype=torch.bool, device=self.x.device)
        for _ in range(restarts):  # each restart attacks only the images still robust
            robust = attack_correct(
                self.model, self.x, self.y, fn, self.settings.batch_size, clean_correct=robust
            )[1]
        return robust

    def run(
        self, attacks: list[SuiteAttack], masks: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> list[Flag]:
        flags: list[Flag] = []
        for threat in ("linf", "l2"):
            by_family = {a.family: a for a in attacks if a.threat == threat}
            single, iterative = by_family.get("single"), by_family.get("pgd")
            if iterative is None:
                continue
            if single is not None:
                flags += self._single_vs_iterative(single, iterative, masks, clean)
            flags += self._square(threat, [a for a in (single, iterative) if a], masks, iterative)
            flags += self._convergence(threat, masks, iterative)
            if threat == "linf":
                flags += self._large_eps(iterative)
        return flags

    def _single_vs_iterative(
        self,
        single: SuiteAttack,
        iterative: SuiteAttack,
        masks: dict[str, torch.Tensor],
        clean: torch.Tensor,
    ) -> list[Flag]:
        s = conditional_adversarial_accuracy(clean, masks[single.name])
        i = conditional_adversarial_accuracy(clean, masks[iterative.name])
        one, many = single.label(self.settings), iterative.label(self.settings)
        gap = int(masks[iterative.name].sum().item()) - int(masks[single.name].sum().item())
        if self._exceeds(gap, int(clean.sum().item())):
            reason = (
                f"single-step {one} ({s:.1%}) beats iterative {many} ({i:.1%}): "
                f"the {many} gradients are unreliable (gradient masking?)"
            )
            return [Flag(iterative.name, "masking", "single-step beats iterative", reason)]
        if s - i > self.audit.fgsm_gap:
            reason = (
                f"{one} accuracy exceeds {many}'s by {s - i:.1%}: the {one} figure is an "
                "optimistic estimate, not robustness"
            )
            return [Flag(single.name, "note", "single-step optimistic", reason)]
        return []

    def _square(
        self,
        threat: Threat,
        whitebox: list[SuiteAttack],
        masks: dict[str, torch.Tensor],
        iterative: SuiteAttack,
    ) -> list[Flag]:
        robust = torch.ones(len(self.index), dtype=torch.bool, device=self.x.device)
        for attack in whitebox:
            robust &= masks[attack.name][self.index]
        square = autoattack_correct(
            self.model,
            self.x,
            self.y,
            threat=threat,
            eps=self.settings.eps(threat),
            attacks=["square"],
            batch_size=max(self.settings.batch_size, len(self.index)),
            seed=self.settings.seed,
            square_queries=self.audit.square_queries,
        )
        beaten = int((robust & ~square).sum().item())
        if not self._exceeds(beaten, len(self.index)):
            return []
        names = " and ".join(a.label(self.settings) for a in whitebox)
        reason = (
            f"black-box Square ({self.audit.square_queries} queries) fools {beaten} of "
            f"{len(self.index)} audit images that {names} left correct (gradient masking?)"
        )
        return [Flag(iterative.name, "masking", "black-box beats white-box", reason)]

    def _convergence(
        self, threat: Threat, masks: dict[str, torch.Tensor], iterative: SuiteAttack
    ) -> list[Flag]:
        a = self.audit
        base = masks[iterative.name][self.index]
        strong = self._pgd(
            threat,
            self.settings.eps(threat),
            self.settings.step(threat),
            a.convergence_steps,
            a.convergence_restarts,
        )
        if not self._exceeds(int(base.sum().item()) - int(strong.sum().item()), len(self.index)):
            return []
        base, strong = self._share(base), self._share(strong)
        reason = (
            f"not converged: PGD-{a.convergence_steps} with {a.convergence_restarts} restarts "
            f"lowers accuracy on the audit images from {base:.1%} to {strong:.1%}"
        )
        return [Flag(iterative.name, "masking", "not converged", reason)]

    def _large_eps(self, iterative: SuiteAttack) -> list[Flag]:
        a = self.audit
        alpha = 2.5 * a.large_eps / a.convergence_steps  # Madry et al.'s step-size rule
        share = self._share(self._pgd("linf", a.large_eps, alpha, a.convergence_steps, 1))
        if share <= a.large_eps_max_accuracy:
            return []
        reason = (
            f"accuracy {share:.1%} at L-inf eps {a.large_eps} (should be ~0): "
            "the attack's gradients do not lead anywhere (gradient masking?)"
        )
        return [Flag(iterative.name, "masking", "large eps not ~0", reason)]


# ---------------------------------------------------------------------------- evaluation


def evaluate_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[SuiteAttack],
    settings: AttackSettings,
    *,
    name: str = "model",
    progress: Callable[[str], None] | None = None,
) -> ModelReport:
    """Clean accuracy, every attack's accuracies and the audit for one model.

    ``x`` floats in [0, 1] and ``y`` labels on the model's device; the model is
    put in eval mode (evaluation never trains).
    """
    model.eval()
    if settings.limit is not None:
        x, y = x[: settings.limit], y[: settings.limit]
    clean = _predict(model, x, max(settings.batch_size, 256)) == y
    outcomes = [Outcome("clean", "clean", "-", None, clean_accuracy(clean), None, None, len(y))]
    masks: dict[str, torch.Tensor] = {}
    for attack in attacks:
        label = attack.label(settings)
        if progress is not None:
            progress(f"{name}: {label} ({THREAT_LABELS[attack.threat]})")
        adv = adversarial_correct(model, x, y, clean, attack, settings)
        masks[attack.name] = adv
        outcomes.append(
            Outcome(
                attack=attack.name,
                label=label,
                threat=THREAT_LABELS[attack.threat],
                eps=settings.eps(attack.threat),
                clean=clean_accuracy(clean),
                conditional=conditional_adversarial_accuracy(clean, adv),
                overall=overall_adversarial_accuracy(clean, adv),
                images=len(y),
            )
        )
    flags: list[Flag] = []
    if settings.audit.enabled:
        if progress is not None:
            progress(f"{name}: gradient-masking audit")
        flags = _Audit(model, x, y, clean, settings).run(attacks, masks, clean)
    return ModelReport(name, outcomes, flags)


def evaluate(
    models: Sequence[tuple[str, nn.Module]],
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[SuiteAttack],
    settings: AttackSettings,
    *,
    progress: Callable[[str], None] | None = None,
) -> SuiteReport:
    """:func:`evaluate_model` for each ``(name, model)`` (e.g. the seeds of one training)."""
    reports = [
        evaluate_model(model, x, y, attacks, settings, name=name, progress=progress)
        for name, model in models
    ]
    return SuiteReport(reports, settings)


# -------------------------------------------------------------------------------- tables


def _pct(value: tuple[float, float] | None, models: int) -> str:
    if value is None:
        return "-"
    mean, std = value
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if models > 1 else f"{100 * mean:.2f}"


def _eps(eps: float | None) -> str:
    """``8/255`` for the usual pixel-level radii, else the plain number."""
    if eps is None:
        return "-"
    plain, scaled = f"{eps:g}", eps * 255
    if len(plain) <= 5 or abs(scaled - round(scaled)) > 1e-6:
        return plain
    return f"{round(scaled)}/255"


def _audit_text(row: Row) -> str:
    return " ".join([*(f"FLAG: {f}" for f in row.flags), *(f"note: {n}" for n in row.notes)])


def rich_report(report: SuiteReport) -> Group:
    """The terminal table plus the audit's reasons, numbered.

    Table 2's layout: one accuracy column (clean accuracy on the clean row, the
    conditional adversarial accuracy on attack rows) and the overall
    post-attack accuracy. A flagged row says FLAG [n] in red beside its numbers
    and reason [n] follows right under the table, so it stays readable at 80
    columns.
    """
    rows = report.rows()
    title = f"robustness over {rows[0].models} model(s), {rows[0].images} test images (%)"
    table = Table(title=title)
    for column in ("threat", "attack", "eps", "accuracy (Table 2)", "overall adv.", "audit"):
        table.add_column(column)
    reasons: list[Text] = []
    for row in rows:
        marks = []
        for kind, texts, style in (("FLAG", row.flags, "red"), ("note", row.notes, "yellow")):
            for text in texts:
                reasons.append(
                    Text(f"[{len(reasons) + 1}] {row.label} ({row.threat}): {text}", style)
                )
                marks.append(f"{kind} [{len(reasons)}]")
        main = row.clean if row.conditional is None else row.conditional
        verdict = " ".join(marks) or ("ok" if row.conditional is not None else "")
        style = "red" if row.flags else "yellow" if row.notes else None
        table.add_row(
            row.threat,
            row.label,
            _eps(row.eps),
            _pct(main, row.models),
            _pct(row.overall, row.models),
            verdict,
            style=style,
        )
    return Group(table, *reasons)


CSV_COLUMNS = (
    "threat",
    "attack",
    "eps",
    "clean_mean",
    "clean_std",
    "conditional_mean",
    "conditional_std",
    "overall_mean",
    "overall_std",
    "models",
    "images",
    "masking_flags",
    "notes",
)


def write_tables(report: SuiteReport, out_dir: str | Path) -> list[Path]:
    """``robustness.csv`` (aggregate), ``per_model.csv`` and ``robustness.md``."""
    out = Path(out_dir)
    rows = report.rows()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        cond = r.conditional or (None, None)
        overall = r.overall or (None, None)
        writer.writerow(
            [
                r.threat,
                r.label,
                "" if r.eps is None else f"{r.eps:.6g}",
                *_fmt(r.clean),
                *_fmt(cond),
                *_fmt(overall),
                r.models,
                r.images,
                " | ".join(r.flags),
                " | ".join(r.notes),
            ]
        )
    paths = [out / "robustness.csv", out / "per_model.csv", out / "robustness.md"]
    atomic_write(paths[0], buffer.getvalue().encode())
    atomic_write(paths[1], _per_model_csv(report).encode())
    atomic_write(paths[2], markdown(report).encode())
    return paths


def _fmt(pair: tuple[float | None, float | None]) -> list[str]:
    return ["" if v is None else f"{v:.6f}" for v in pair]


def _per_model_csv(report: SuiteReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "threat", "attack", "clean", "conditional", "overall", "flags"])
    for m in report.models:
        for o in m.outcomes:
            reasons = " | ".join(f.reason for f in m.flags if f.attack == o.attack)
            cond, overall = _fmt((o.conditional, o.overall))
            writer.writerow([m.name, o.threat, o.label, f"{o.clean:.6f}", cond, overall, reasons])
    return buffer.getvalue()


def markdown(report: SuiteReport) -> str:
    """The table as markdown, followed by the settings it was measured with."""
    rows = report.rows()
    s = report.settings
    lines = [
        "# Robustness",
        "",
        f"{rows[0].models} model(s): {', '.join(m.name for m in report.models)}; "
        f"{rows[0].images} test images. Accuracies in %, mean ± std over models; "
        "conditional = robust among clean-correct images (NERO-Net Table 2), "
        "overall = correct after the attack among all images.",
        "",
        "| threat | attack | eps | clean | conditional adv. | overall adv. | audit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        numbers = [_pct(v, r.models) for v in (r.clean, r.conditional, r.overall)]
        cells = [r.threat, r.label, _eps(r.eps), *numbers, _audit_text(r)]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    lines += [
        "",
        f"Settings: PGD {s.steps} steps, step {_eps(s.step('linf'))} (L-inf) / "
        f"{s.step('l2'):g} (L2), random start {s.random_start}; batch {s.batch_size}; "
        f"AutoAttack: standard (L-inf), APGD-CE ({s.autoattack_restarts} restart) + "
        f"APGD-T ({TARGET_CLASSES} target classes, 1 restart) (L2); seed {s.seed}.",
        "",
    ]
    if s.audit.enabled:
        a = s.audit
        lines.append(
            f"Audit on the first {a.subset} clean-correct images: tolerance {a.tolerance:.0%}, "
            f"Square {a.square_queries} queries, PGD-{a.convergence_steps} x "
            f"{a.convergence_restarts} restarts, L-inf eps {a.large_eps} must give <= "
            f"{a.large_eps_max_accuracy:.0%}. Result: "
            + ("gradient masking suspected (see rows)." if report.flagged else "no flag.")
        )
    return "\n".join(lines) + "\n"
