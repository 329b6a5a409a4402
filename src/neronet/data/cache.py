"""Cache of decoded datasets as plain uint8/int64 ``.npy`` files.

Decoding 50,000 CIFAR-10 JPEGs takes tens of seconds; reading the decoded
arrays back takes a fraction of a second, so every file-based loader goes
through :func:`cached`.

Key: a sha256 over the loader's name and options and, for every source file,
its path relative to the source root, size and modification time (``st_mtime_ns``)
-- the rule ``make`` uses. Hashing 50 MB of zip on every load would cost more
than reading the cache itself; replacing or editing a source file changes its
mtime, so the cache is rebuilt. Content checksums (SHA256SUMS, download md5)
are verified when a source is actually decoded.

Atomicity: an entry is written into a temporary sibling directory that is
renamed into place only once complete; a crash leaves at most a ``.tmp-*``
directory that is never read. Arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neronet.data.dataset import Dataset
from neronet.errors import DataError

CACHE_ENV = "NERONET_CACHE"
FORMAT_VERSION = 1
_META = "meta.json"
_log = logging.getLogger(__name__)


def resolve_cache_dir(cache_dir: str | Path | None) -> Path:
    """``cache_dir``, else ``$NERONET_CACHE``, else ``~/.cache/neronet``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "neronet"


def fingerprint(root: Path, files: Iterable[Path]) -> str:
    """Hash of each file's name relative to ``root``, size and mtime (see module doc)."""
    digest = hashlib.sha256()
    for file in sorted(files):
        info = file.stat()
        rel = file.relative_to(root).as_posix()
        digest.update(f"{rel}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def unwritable(directory: Path, err: OSError) -> DataError:
    """The one-line error for a cache directory that cannot be written."""
    return DataError(
        f"cannot write to '{directory}' ({err.strerror or err}); "
        f"set cache_dir or ${CACHE_ENV} to a writable directory"
    )


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` only if the block succeeds.

    If another process created ``final`` meanwhile, its copy wins and ours is
    discarded: both were built from the same sources.
    """
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    except OSError as err:
        raise unwritable(final.parent, err) from None
    try:
        yield tmp
        try:
            tmp.rename(final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cached(cache_dir: Path, name: str, source_key: str, build: Callable[[], Dataset]) -> Dataset:
    """Return the cached decode of a source, building and storing it on a miss.

    ``source_key`` must change whenever the decoded arrays would: it combines
    :func:`fingerprint` with the loader's options (e.g. a per-class limit).
    """
    key = hashlib.sha256(f"{FORMAT_VERSION}\0{name}\0{source_key}".encode()).hexdigest()
    entry = cache_dir / f"{name}-{key[:20]}"
    dataset = _read(entry, name)
    if dataset is None:
        dataset = build()
        _write(entry, dataset)
    return dataset


def _parts(dataset: Dataset) -> dict[str, np.ndarray]:
    parts = {"x_train": dataset.x_train, "y_train": dataset.y_train}
    if dataset.x_test is not None and dataset.y_test is not None:
        parts |= {"x_test": dataset.x_test, "y_test": dataset.y_test}
    return parts


def _write(entry: Path, dataset: Dataset) -> None:
    with atomic_dir(entry) as tmp:
        for part, array in _parts(dataset).items():
            np.save(tmp / f"{part}.npy", np.ascontiguousarray(array), allow_pickle=False)
        meta = {"classes": dataset.classes, "has_test": dataset.x_test is not None}
        (tmp / _META).write_text(json.dumps(meta))


def _read(entry: Path, name: str) -> Dataset | None:
    """Load an entry, or None if absent; a damaged entry is removed and rebuilt."""
    if not entry.is_dir():
        return None
    try:
        meta = json.loads((entry / _META).read_text())
        names = ["x_train", "y_train"] + (["x_test", "y_test"] if meta["has_test"] else [])
        arrays = {part: np.load(entry / f"{part}.npy", allow_pickle=False) for part in names}
        return Dataset(name=name, classes=list(meta["classes"]), **arrays)
    except (OSError, ValueError, KeyError, TypeError, DataError) as err:
        _log.warning("cache entry %s is damaged (%s); rebuilding it", entry, err)
        shutil.rmtree(entry, ignore_errors=True)
        return None
