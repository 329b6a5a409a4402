"""neronet: neuroevolution of adversarially robust CNNs (NERO-Net).

The package reads like the pipeline it implements:
grammar -> genotype -> phenotype (NetworkSpec) -> nn -> training -> attacks
-> fitness -> search -> store -> reports.
"""

__version__ = "0.1.0"
