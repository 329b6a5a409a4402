"""The versions every record of a computation carries (a run, a memo entry), for
reproducibility: float results may differ under another torch, numpy or platform."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import sys
from importlib import metadata
from typing import Any

from neronet import __version__


def package_versions() -> dict[str, str]:
    """neronet's, Python's, the platform's and the numeric packages' versions (a copy:
    they are looked up once per process)."""
    return dict(_versions())


def computation_digest(what: dict[str, Any]) -> str:
    """The key of a kept result (the memos'): a digest of what the computation depends on,
    ``what`` as canonical JSON with the package versions added."""
    text = json.dumps({**what, "versions": _versions()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def _versions() -> dict[str, str]:
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
