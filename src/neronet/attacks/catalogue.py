"""The one attack catalogue: every attack neronet knows, by name.

An :class:`AttackSpec` is the whole of an attack: its threat model (the norm:
``linf``, ``l2``, ``l0`` or a plug-in's own), its label, how it runs on a model
(``run``), what it costs per image (``work``, for the suite's time estimate), the
part it plays in the gradient-masking audit (``audit_role``), its own settings (a
plug-in settings section, ``section``), its radius when the attack settings hold
none for its norm (``radius_of``) and, for an attack that can be bound on its own,
the function, its fixed settings and their check. The post-search suite, the audit
and the estimate take attacks from here and never ask which kind an attack is, so a
new attack is one registered ``AttackSpec`` (and, with settings, its section class
beside it). The attacks neronet ships are in :mod:`neronet.attacks.builtin` and
:mod:`neronet.attacks.blackbox_catalogue`, imported when the catalogue is first read.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import torch

from neronet.attacks.gradient import AttackFn, check_eps
from neronet.errors import AttackError
from neronet.registry import Registry
from neronet.threat import threat_label

if TYPE_CHECKING:
    from neronet.config import AttackSettings, PluginSettings

Threat = str
"""An attack's norm (``linf``, ``l2``, ``l0``, ...); its tables' name is
:func:`~neronet.threat.threat_label`."""
AuditRole = Literal["single-step", "iterative"]
"""What the audit does with an attack: compares a single-step attack with the iterative
one of its threat and probes it; runs the iterative one longer, with restarts and at a
huge eps. A threat is audited when the suite has its iterative attack."""

Work = tuple[float, float, float]
"""Per attacked image: (PGD gradient steps, AutoAttack gradient steps, forward queries)."""

Runner = Callable[..., torch.Tensor]
"""``run(model, x, y, clean_correct, attack, settings: AttackSettings, task: str,
on_tick: Ticker | None) -> adv_correct``: per sample, still classified correctly after
the attack; only the ``clean_correct`` samples are attacked."""
WorkHook = Callable[..., list[Work]]
"""``work(model, attack, settings: AttackSettings, classes: int) -> [Work]``: the parts of
the attack in order, each but the first only on the images the earlier left robust."""


def _check_eps(settings: dict[str, Any]) -> None:
    check_eps(settings["eps"])


@dataclass(frozen=True)
class AttackSpec:
    """One attack: its name, threat, label and hooks (see the module docstring)."""

    name: str
    threat: Threat
    label: str
    """The tables' name; ``{steps}`` is replaced by ``attack.steps`` (``PGD-{steps}``)."""
    run: Runner
    work: WorkHook
    audit_role: AuditRole | None = None
    fn: Callable[..., torch.Tensor] | None = None
    """``(model, x, y, **settings) -> x_adv`` when the attack can be bound on its own
    (:meth:`bind`); None for one run only through ``run`` (AutoAttack)."""
    fixed: dict[str, Any] = field(default_factory=dict)
    """Settings the entry fixes (``norm`` of PGD, the ensemble of an AutoAttack run)."""
    check: Callable[[dict[str, Any]], None] = _check_eps
    """Raises AttackError for settings the attack cannot run with (before any work)."""
    section: type[PluginSettings] | None = None
    """The attack's own settings: a registered plug-in section (``@settings_section``),
    validated from the config key of its name; the built-in runners pass its values
    to ``fn`` as keyword settings (:meth:`options`)."""
    radius_of: Callable[[AttackSpec, AttackSettings], float] | None = None
    """The attack's radius for the tables (and its runner) when its norm is not one the
    attack settings hold (``linf_eps`` / ``l2_eps``): an L0 attack's pixel count."""

    def options(self, settings: AttackSettings) -> dict[str, Any]:
        """The values of the attack's own section in ``settings`` (none without one)."""
        if self.section is None:
            return {}
        return self.section.of(settings.sections).model_dump()

    def radius(self, settings: AttackSettings) -> float:
        """The radius the attack runs at under ``settings``."""
        if self.radius_of is not None:
            return self.radius_of(self, settings)
        return settings.eps(self.threat)

    def bind(self, **settings: Any) -> AttackFn:
        """The attack with ``settings`` (eps, alpha, ...) bound, checked now so a bad
        config fails before any training."""
        if self.fn is None:
            raise AttackError(
                f"attack {self.name!r} is run by AutoAttack, not bound here; use a suite"
            )
        params = inspect.signature(self.fn).parameters
        allowed = [p for p in list(params)[3:] if p not in self.fixed]
        unknown = sorted(set(settings) - set(allowed))
        if unknown:
            raise AttackError(
                f"attack {self.name!r} has no setting {', '.join(unknown)}; "
                f"valid: {', '.join(allowed)}"
            )
        missing = [p for p in allowed if params[p].default is inspect.Parameter.empty]
        missing = [p for p in missing if p not in settings]
        if missing:
            raise AttackError(
                f"attack {self.name!r} needs setting(s) {', '.join(missing)}; pass them"
            )
        merged = {**self.fixed, **settings}
        self.check(merged)
        return partial(self.fn, **merged)


ATTACKS: Registry[AttackSpec] = Registry(
    "attack", builtins=["neronet.attacks.builtin", "neronet.attacks.blackbox_catalogue"]
)


def get_attack(name: str, **settings: Any) -> AttackFn:
    """Catalogue attack ``name`` (any case) with ``settings`` bound (:meth:`AttackSpec.bind`)."""
    key = name.strip().lower()
    if key not in ATTACKS:
        raise AttackError(f"unknown attack {name!r}; valid attacks: {', '.join(ATTACKS.names())}")
    return ATTACKS.get(key).bind(**settings)


def iterative_attack(threat: Threat) -> AttackSpec:
    """The catalogue's first iterative attack of ``threat``: what the audit runs longer
    and the time estimate's probe steps."""
    for name in ATTACKS.names():
        spec = ATTACKS.get(name)
        if spec.threat == threat and spec.audit_role == "iterative":
            return spec
    raise AttackError(f"the catalogue has no iterative {threat_label(threat)} attack")
