"""Confining paths read from a run database to the run directory.

Run directories are shared (a colleague's run, a downloaded one), and
``run.sqlite`` is just a file: a row whose ``weights_path`` is ``../victim.txt``
or ``/home/x/.ssh/id_rsa`` made pruning delete, and export read, whatever it
named. Every relative path taken from a store goes through :func:`confined`
before it is read or deleted; anything else is a one-line error naming the row,
raised before any file is touched.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from neronet.errors import StoreError


def confined(root: Path, rel: str, subdir: str, pattern: re.Pattern[str], what: str) -> Path:
    """``root / rel``, once ``rel`` is proven to name a ``subdir/<name>`` file inside ``root``.

    ``rel`` must be relative, free of ``..``, exactly ``subdir/<name>`` with
    ``<name>`` matching ``pattern``, and must not resolve (through symbolic
    links) outside ``root``. ``what`` names the row and column in the error
    (e.g. ``"individual 12 weights_path"``). The returned path is not resolved,
    so deleting it removes a link itself, never what the link points to.
    """

    def refuse(problem: str) -> StoreError:
        return StoreError(
            f"{what} in the run database is {rel!r}, which {problem}; nothing was touched: "
            "restore run.sqlite from an intact copy"
        )

    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise refuse("is not a file name")
    parts = PurePosixPath(rel).parts
    if rel.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", rel):
        raise refuse("is an absolute path")
    if ".." in parts:
        raise refuse("climbs out of the run directory with '..'")
    if len(parts) != 2 or parts[0] != subdir:
        raise refuse(f"is not a file directly in {subdir}/")
    if not pattern.fullmatch(parts[1]):
        raise refuse(f"is not a {subdir}/ file name ({pattern.pattern})")
    path = root / subdir / parts[1]
    if not path.resolve().is_relative_to(root.resolve()):
        raise refuse("leads out of the run directory through a symbolic link")
    return path
