"""How long a suite will take, from a short timed probe, said before it starts.

The paper's suite takes minutes on a GPU and can take many hours on a CPU
(AutoAttack's APGD-T and FAB-T run 100 iterations per target class, Square
thousands of queries). Nearly all of that time is gradient steps and forward
passes on the attacked images, so a probe times a few PGD steps, a few APGD
iterations (AutoAttack's own code costs several times a plain PGD step) and a
forward pass on one batch of the first model, and the estimate multiplies those
by the steps and queries each attack makes (counted from the attacks' own settings,
AutoAttack's read from the configured object) and by images x models.

The honest uncertainty is AutoAttack's: its later attacks (and extra PGD
restarts in the audit) run only on the images still robust, which is unknown
before it runs. The estimate is therefore a range: the low end if the first
attack breaks every image, the high end if none breaks; the likely figure uses
the share of the probe batch that survived the probe's short PGD. Square stops
early on images it fools, so the high end is an upper bound for it too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from neronet.attacks.builtin import autoattack_for
from neronet.attacks.catalogue import AttackSpec, Work, iterative_attack
from neronet.attacks.running import predict
from neronet.config import AttackSettings
from neronet.errors import AttackError
from neronet.robustness.audit import audited_threats

PROBE_STEPS = 3
"""PGD steps the probe times: enough to average out, short enough for any model on a CPU."""
REPEATS = 3
"""Timed runs per probe; the fastest counts (a busy machine's bursts are not the model's cost)."""
HOURS = 3600.0
"""From this many seconds on (the high end), the estimate comes with a warning."""


def duration(seconds: float) -> str:
    """``40 s``, ``12 min`` or ``3.4 h``: the precision an estimate deserves."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Estimate:
    """The suite's expected duration in seconds (``low`` to ``high``, ``likely``)."""

    low: float
    likely: float
    high: float
    models: int
    images: int
    device: str
    step_seconds: float
    autoattack_step_seconds: float

    def line(self) -> str:
        spread = (
            ""
            if self.high - self.low < 0.1 * self.high
            else f" (between {duration(self.low)} and {duration(self.high)}: AutoAttack's later "
            "attacks run only on the images still robust)"
        )
        return (
            f"estimate: about {duration(self.likely)} for {self.models} model(s) x "
            f"{self.images} images on {self.device}{spread}; probe: "
            f"{1000 * self.step_seconds:.2f} ms per image per gradient step"
            + (
                f" ({1000 * self.autoattack_step_seconds:.2f} ms in AutoAttack)"
                if self.autoattack_step_seconds
                else ""
            )
        )

    def warning(self) -> str | None:
        """A warning when the suite may take hours, with the ways to make it affordable."""
        if self.high < HOURS:
            return None
        return (
            f"warning: this may take {duration(self.high)} on {self.device}; --quick attacks a "
            "subset with a smaller audit, --limit N attacks the first N images, a GPU is "
            "about 100x faster"
        )


def _audit_work(attacks: list[AttackSpec], settings: AttackSettings) -> list[list[Work]]:
    """The audit's checks, in :class:`~neronet.robustness.audit.Audit`'s order."""
    a = settings.audit
    checks: list[list[Work]] = []
    for threat in audited_threats(attacks):
        if any(at.threat == threat and at.audit_role == "single-step" for at in attacks):
            # masking probes: a single step, two short PGD runs, noise
            checks.append([(1 + 2 * a.single_step_probe_steps, 0, 1)])
        checks.append([(0, 0, a.square_queries)])
        restarts = [(a.convergence_steps, 0, 0)] * a.convergence_restarts
        checks.append(restarts)
        if threat == "linf":
            checks.append([(a.convergence_steps, 0, 0)])
    return checks


def _probe_attack(attacks: list[AttackSpec]) -> AttackSpec:
    """The iterative attack whose gradient steps the probe times: the catalogue's for the
    first threat of ``attacks`` that has one, else L-inf's (a black-box L0 suite still
    needs a gradient step's and a forward pass's price: both are the model's)."""
    for threat in dict.fromkeys(a.threat for a in attacks):
        with contextlib.suppress(AttackError):
            return iterative_attack(threat)
    return iterative_attack("linf")


def _fastest(run: Callable[[], object]) -> float:
    """Seconds of the fastest of :data:`REPEATS` calls of ``run``."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _apgd_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: AttackSpec,
    settings: AttackSettings,
    classes: int,
) -> float:
    """Seconds per image per APGD iteration, timed on ``x`` with AutoAttack's own code."""
    aa = autoattack_for(model, attack, settings, x.device, classes)
    aa.apgd.n_iter, aa.apgd.n_restarts = PROBE_STEPS, 1
    cuda = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # AutoAttack seeds the global RNG
        return _fastest(lambda: aa.apgd.perturb(x, y)) / (PROBE_STEPS * len(x))


def estimate_suite(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: list[AttackSpec],
    settings: AttackSettings,
    models: int,
) -> Estimate:
    """Times a short PGD and a forward pass on one batch of ``model`` (the first of
    ``models`` alike ones) and extrapolates to the whole suite on ``x``."""
    model.eval()
    if settings.limit is not None:
        x, y = x[: settings.limit], y[: settings.limit]
    clean = predict(model, x, max(settings.batch_size, 256)) == y
    correct = int(clean.sum())
    batch = max(1, min(settings.batch_size, correct))
    xb, yb = (x[clean][:batch], y[clean][:batch]) if correct else (x[:1], y[:1])
    probe = _probe_attack(attacks)
    gen = torch.Generator(device=x.device).manual_seed(settings.seed)
    fn = probe.bind(
        eps=probe.radius(settings),
        alpha=settings.step(probe.threat),
        steps=PROBE_STEPS,
        generator=gen,
    )
    step = _fastest(lambda: fn(model, xb, yb)) / (PROBE_STEPS * len(xb))
    adv = fn(model, xb, yb)
    query = _fastest(lambda: predict(model, adv, len(xb))) / len(xb)
    survived = predict(model, adv, len(xb)) == yb
    share = float(survived.float().mean())
    with torch.no_grad():
        classes = int(model(xb[:1]).shape[1])
    work = [(correct, a.work(model, a, settings, classes)) for a in attacks]
    ensemble = [a for a, (_, parts) in zip(attacks, work, strict=True) if any(p[1] for p in parts)]
    aa_step = _apgd_step(model, xb, yb, ensemble[0], settings, classes) if ensemble else 0.0

    def seconds(parts: list[Work], images: int, later: float) -> float:
        """Work on ``images``; parts after the first on the ``later`` share of them."""
        return sum(
            images * (1 if i == 0 else later) * (grads * step + aa * aa_step + queries * query)
            for i, (grads, aa, queries) in enumerate(parts)
        )

    audited = min(settings.audit.subset, correct) if settings.audit.enabled else 0
    work += [(audited, check) for check in _audit_work(attacks, settings)]
    low, likely, high = (
        models * sum(seconds(parts, images, later) for images, parts in work)
        for later in (0.0, share, 1.0)
    )
    return Estimate(low, likely, high, models, len(y), x.device.type, step, aa_step)
