"""Checked downloads and safe tar extraction (used for CIFAR-10's canonical archive).

Both steps are atomic: the download goes to a temporary file renamed only after
its md5 matched, and the archive is unpacked into a temporary directory renamed
only once complete, so an interrupted run never leaves something that looks
finished. Members are written by this code, never by ``tarfile.extractall``,
after refusing links, device files, absolute paths and ``..``: an archive
cannot write outside its target directory.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from neronet.data.cache import atomic_dir, unwritable
from neronet.data.checksum import file_hash
from neronet.errors import DataError

TIMEOUT_S = 60


def fetch(url: str, dest: Path, md5: str) -> Path:
    """Download ``url`` to ``dest`` unless a file with the expected md5 is already there."""
    if dest.is_file() and file_hash(dest, "md5") == md5:
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".tmp-{dest.name}-")
    except OSError as err:
        raise unwritable(dest.parent, err) from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as src:
            shutil.copyfileobj(src, out)
        actual = file_hash(tmp, "md5")
        if actual != md5:
            raise DataError(
                f"download of {url} has md5 {actual}, expected {md5}; retry, or fetch the "
                "file yourself and pass its path"
            )
        tmp.replace(dest)
    except (urllib.error.URLError, OSError, ValueError) as err:
        # HTTPError's str has the status code; other URLErrors wrap the cause in .reason.
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
        raise DataError(
            f"cannot download {url} ({reason}); check the network or pass path= to a local copy"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _safe_parts(member: tarfile.TarInfo, archive: Path) -> tuple[str, ...]:
    """The member's path components, or DataError if it could escape or is not plain."""
    parts = PurePosixPath(member.name).parts
    if not (member.isfile() or member.isdir()):
        problem = "a link or special file"
    elif PurePosixPath(member.name).is_absolute() or ".." in parts:
        problem = "a path outside the target directory"
    else:
        return tuple(p for p in parts if p != ".")
    raise DataError(
        f"'{archive}' member '{member.name}' is {problem}; refusing to extract, "
        "use the original archive"
    )


def extract_tar(archive: Path, dest: Path) -> Path:
    """Unpack a (possibly compressed) tar archive into ``dest`` once; return ``dest``."""
    if dest.is_dir():
        return dest
    try:
        with tarfile.open(archive) as tar, atomic_dir(dest) as tmp:
            for member in tar.getmembers():
                target = tmp.joinpath(*_safe_parts(member, archive))
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # regular files always have data
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataError(f"cannot extract '{archive}' ({err}); delete it and get it again") from None
    return dest
