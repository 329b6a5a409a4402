"""neronet: neuroevolution of adversarially robust CNNs (NERO-Net).

The package reads like the pipeline it implements: grammar -> genotype ->
phenotype (NetworkSpec) -> nn -> training -> attacks -> measurements ->
objective -> search -> store -> reports (see docs/ARCHITECTURE.md). The Python
API (``create_run``, ``open_run``, ``evaluate``) is in :mod:`neronet.api`.
"""

__version__ = "0.2.0"

from neronet.api import Run, create_run, evaluate, open_run

__all__ = ["Run", "__version__", "create_run", "evaluate", "load_run", "open_run"]


def __getattr__(name: str) -> object:
    """``neronet.load_run(path)``: a run's individuals as a table (see ``neronet.table``),
    imported on first use so that ``import neronet`` stays light."""
    if name == "load_run":
        from neronet.table import load_run

        return load_run
    raise AttributeError(f"module 'neronet' has no attribute {name!r}")
