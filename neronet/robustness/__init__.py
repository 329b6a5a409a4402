"""Robustness evaluation of trained models (NERO-Net, section 6) and a gradient-masking audit.

* ``suite``: attack settings, the catalogue and its suites, the AutoAttack adapter,
  running one attack;
* ``audit``: the gradient-masking checks and their findings (``Flag``);
* ``report``: per-model outcomes, the mean/std table, terminal / CSV / markdown output;
* ``evaluation``: the whole suite plus the audit over one or several models.
"""

from neronet.robustness.audit import Flag, audited_threats
from neronet.robustness.evaluation import evaluate, evaluate_model
from neronet.robustness.suite import (
    AA_NORMS,
    SUITES,
    TARGET_CLASSES,
    adversarial_correct,
    attack_label,
    autoattack_correct,
    select_attacks,
)
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
    "CSV_COLUMNS",
    "SUITES",
    "TARGET_CLASSES",
    "Flag",
    "ModelReport",
    "Outcome",
    "Row",
    "SuiteReport",
    "adversarial_correct",
    "attack_label",
    "audited_threats",
    "autoattack_correct",
    "evaluate",
    "evaluate_model",
    "markdown",
    "rich_report",
    "select_attacks",
    "write_tables",
]
