"""neronet: neuroevolution of adversarially robust CNNs (NERO-Net).

The package reads like the pipeline it implements: grammar -> genotype ->
phenotype (NetworkSpec) -> nn -> training -> attacks -> measurements ->
objective -> search -> store -> reports (see docs/ARCHITECTURE.md). The Python
API (``create_run``, ``open_run``, ``evaluate``) is in :mod:`neronet.api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.2.0"

if TYPE_CHECKING:
    from neronet.api import Run, create_run, evaluate, open_run
    from neronet.table import load_run

__all__ = ["Run", "__version__", "create_run", "evaluate", "load_run", "open_run"]

_LAZY = {
    "Run": "neronet.api",
    "create_run": "neronet.api",
    "evaluate": "neronet.api",
    "open_run": "neronet.api",
    "load_run": "neronet.table",
}


def __getattr__(name: str) -> object:
    """The API (``create_run``, ``open_run``, ``evaluate``, ``Run``, ``load_run``), imported
    on first use: ``import neronet`` stays light, so the ``neronet`` command can catch a
    Ctrl-C from its first instant (:mod:`neronet.console`)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neronet' has no attribute {name!r}")
