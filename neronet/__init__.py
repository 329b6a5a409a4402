"""neronet: neuroevolution of adversarially robust CNNs (NERO-Net).

The package reads like the pipeline it implements:
grammar -> genotype -> phenotype (NetworkSpec) -> nn -> training -> attacks
-> fitness -> search -> store -> reports.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``neronet.load_run(path)``: a run's individuals as a table (see ``neronet.table``),
    imported on first use so that ``import neronet`` stays light."""
    if name == "load_run":
        from neronet.table import load_run

        return load_run
    raise AttributeError(f"module 'neronet' has no attribute {name!r}")
