"""Robustness evaluation of trained models (NERO-Net, section 6) and a gradient-masking audit.

* ``suite``: the named suites (``paper`` is Table 2), selecting attacks, running one
  (through its catalogue entry's hook; ticks and the AutoAttack adapter are in
  ``neronet.attacks.running``);
* ``audit``: the gradient-masking checks and their findings (``Flag``);
* ``tables``: per-model outcomes, the mean/std table, terminal / CSV / markdown output;
* ``evaluation``: the whole suite plus the audit over one or several models, with
  progress (``Step``, ``Tick``) and results saved per (model, attack) as they finish;
* ``results``: those saved results, so an interrupted suite resumes;
* ``estimate``: the suite's expected duration from a short timed probe.
"""

from neronet.attacks.running import AA_NORMS, TARGET_CLASSES, Tick, autoattack_correct
from neronet.robustness.audit import Flag, audited_threats
from neronet.robustness.estimate import Estimate, estimate_suite
from neronet.robustness.evaluation import AUDIT, Step, evaluate, evaluate_model
from neronet.robustness.results import SuiteResults
from neronet.robustness.suite import SUITES, adversarial_correct, attack_label, select_attacks
from neronet.robustness.tables import (
    CSV_COLUMNS,
    ModelReport,
    Outcome,
    Row,
    SuiteReport,
    markdown,
    rich_report,
    write_tables,
)

__all__ = [
    "AA_NORMS",
    "AUDIT",
    "CSV_COLUMNS",
    "SUITES",
    "TARGET_CLASSES",
    "Estimate",
    "Flag",
    "ModelReport",
    "Outcome",
    "Row",
    "Step",
    "SuiteReport",
    "SuiteResults",
    "Tick",
    "adversarial_correct",
    "attack_label",
    "audited_threats",
    "autoattack_correct",
    "estimate_suite",
    "evaluate",
    "evaluate_model",
    "markdown",
    "rich_report",
    "select_attacks",
    "write_tables",
]
