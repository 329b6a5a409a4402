"""File checksums: download verification and ``SHA256SUMS`` files next to a dataset."""

from __future__ import annotations

import hashlib
from pathlib import Path

from neronet.errors import DataError

SUMS_FILE = "SHA256SUMS"
_CHUNK = 1 << 20


def file_hash(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks so big archives do not fill memory."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256sums(path: Path) -> None:
    """Verify ``path`` against a ``SHA256SUMS`` file beside it, if one lists it.

    The format is ``sha256sum``'s: ``<hex>  <name>`` (or ``<hex> *<name>``).
    No sums file, or no line for this file, means nothing to check.
    """
    sums = path.parent / SUMS_FILE
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        expected, _, name = line.strip().partition(" ")
        if name.strip().lstrip("*") != path.name:
            continue
        actual = file_hash(path, "sha256")
        if actual != expected.lower():
            raise DataError(
                f"'{path}' has sha256 {actual} but {SUMS_FILE} lists {expected}; "
                "the file is damaged or replaced, copy it again"
            )
        return
