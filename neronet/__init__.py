"""neronet: neuroevolution of adversarially robust CNNs (NERO-Net).

The package reads like the pipeline it implements:
grammar -> genotype -> phenotype (NetworkSpec) -> nn -> training -> attacks
-> measurements -> objective -> search -> store -> reports (see docs/ARCHITECTURE.md).
"""

__version__ = "0.2.0"
