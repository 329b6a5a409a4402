"""The versions every record of a computation carries (a run, a memo entry), for
reproducibility: float results may differ under another torch, numpy or platform."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from neronet import __version__


def package_versions() -> dict[str, str]:
    """neronet's, Python's, the platform's and the numeric packages' versions."""
    versions = {
        "neronet": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for name in ("torch", "numpy", "pydantic", "safetensors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions
