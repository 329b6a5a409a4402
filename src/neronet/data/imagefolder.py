"""Image-folder datasets, as a directory or a zip: ``<split>/<class>/<image>.png|jpg``.

``split`` is ``train`` (required) or ``test`` (optional); class names are the
folder names, labelled in sorted order (for CIFAR-10 that is the canonical
label order). Only the last three path components count, so a zip whose
entries sit under one extra top folder works too. Decoding uses Pillow and is
slow for big sets, so the result goes through :func:`neronet.data.cache.cached`.
"""

from __future__ import annotations

import logging
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from neronet.data.cache import cached, fingerprint
from neronet.data.checksum import check_sha256sums
from neronet.data.dataset import Dataset
from neronet.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")
_GREY_MODES = ("1", "L", "LA")
_LAYOUT_FIX = "lay it out as train/<class>/*.png|jpg (optionally test/<class>/...)"
# Decoding limits, checked before anything is decompressed: neronet searches
# small images (CIFAR-10 is 32x32), and a few hundred bytes can declare
# gigabytes (a PNG header's size, a zip member's compression ratio).
MAX_IMAGE_SIDE = 1024
MAX_IMAGE_BYTES = 64 << 20
_log = logging.getLogger(__name__)

# split -> class -> sorted member names
Index = dict[str, dict[str, list[str]]]
Reader = Callable[[str], bytes]
# an image's name and (width, height): the size the others must have
Example = tuple[str, tuple[int, int]]


def _index(names: list[str], source: Path) -> Index:
    """Group image names by split and class; other files are ignored."""
    index: Index = {}
    for name in names:
        parts = PurePosixPath(name).parts
        if len(parts) < 3 or parts[-3] not in SPLITS or parts[-1].startswith("."):
            continue
        if PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES:
            index.setdefault(parts[-3], {}).setdefault(parts[-2], []).append(name)
    if "train" not in index:
        raise DataError(f"'{source}' has no train/<class>/ image folders; {_LAYOUT_FIX}")
    if len(index["train"]) < 2:
        raise DataError(f"'{source}' has a single class folder under train/; {_LAYOUT_FIX}")
    stray = sorted(set(index.get("test", {})) - set(index["train"]))
    if stray:
        raise DataError(
            f"'{source}': test class folders {stray} have no train/ counterpart; "
            "use the same class folder names in both splits"
        )
    for classes in index.values():
        for files in classes.values():
            files.sort()
    return index


def decode_image(data: bytes, origin: str, like: Example | None = None) -> tuple[np.ndarray, bool]:
    """Decode one image to ``(H, W, 3)`` uint8 and say whether it was greyscale.

    The size in the header is checked before any pixel is decoded: a small file
    can declare a huge image (a decompression bomb), and every image must have
    the size of ``like``, the split's first image, since the dataset is one array.
    """
    try:
        with Image.open(BytesIO(data)) as image:
            width, height = image.size
            if max(width, height) > MAX_IMAGE_SIDE:
                raise DataError(
                    f"'{origin}' declares {width}x{height} pixels, more than the limit of "
                    f"{MAX_IMAGE_SIDE} per side (refused before decoding); resize the images"
                )
            if like is not None and (width, height) != like[1]:
                raise DataError(
                    f"'{origin}' is {width}x{height} but '{like[0]}' is {like[1][0]}x{like[1][1]}; "
                    "resize all images to one size"
                )
            grey = image.mode in _GREY_MODES
            return np.asarray(image.convert("RGB"), dtype=np.uint8), grey
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"'{origin}' is not a readable image ({err}); fix or remove it") from None


def _decode_split(
    files: dict[str, list[str]], classes: list[str], read: Reader, like: Example | None
) -> tuple[np.ndarray, np.ndarray, bool, Example | None]:
    """Decode one split into ``(x (N, C, H, W), y, all_grey, first image)``.

    Every image must have the size of ``like`` (or of the split's first image).
    """
    names = [(label, name) for label, cls in enumerate(classes) for name in files.get(cls, [])]
    x = np.empty(0, dtype=np.uint8)
    all_grey = True
    for i, (_, name) in enumerate(names):
        pixels, grey = decode_image(read(name), name, like)
        if i == 0:
            like = like or (name, (pixels.shape[1], pixels.shape[0]))
            x = np.empty((len(names), *pixels.shape), dtype=np.uint8)
        x[i] = pixels
        all_grey &= grey
    y = np.array([label for label, _ in names], dtype=np.int64)
    return x.transpose(0, 3, 1, 2), y, all_grey, like


def _decode(name: str, index: Index, read: Reader, limit: int | None) -> Dataset:
    classes = sorted(index["train"])
    if limit is not None:
        index = {s: {c: f[:limit] for c, f in per.items()} for s, per in index.items()}
    total = sum(len(f) for per in index.values() for f in per.values())
    _log.info("decoding %d images for %s (cached afterwards)", total, name)
    x_train, y_train, grey, like = _decode_split(index["train"], classes, read, None)
    x_test = y_test = None
    if "test" in index:
        x_test, y_test, grey_test, _ = _decode_split(index["test"], classes, read, like)
        grey &= grey_test
    if grey:
        x_train = x_train[:, :1]
        x_test = None if x_test is None else x_test[:, :1]
    return Dataset(
        name=name,
        x_train=np.ascontiguousarray(x_train),
        y_train=y_train,
        x_test=None if x_test is None else np.ascontiguousarray(x_test),
        y_test=y_test,
        classes=classes,
    )


def _check_bytes(origin: str, size: int) -> None:
    """Refuse an image file too big to be one, before reading (or unzipping) it."""
    if size > MAX_IMAGE_BYTES:
        raise DataError(
            f"'{origin}' is {size:,} bytes, more than the limit of {MAX_IMAGE_BYTES:,} for "
            "one image; remove it or shrink it"
        )


def _read_file(file: Path) -> bytes:
    _check_bytes(str(file), file.stat().st_size)
    return file.read_bytes()


def _outside(member: str) -> bool:
    """Whether a zip member's name leaves the archive's tree (absolute, a drive, or '..')."""
    parts = member.replace("\\", "/").split("/")
    return member.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts


@contextmanager
def _open_zip(path: Path) -> Iterator[tuple[list[str], Reader]]:
    def read(member: str) -> bytes:
        _check_bytes(f"{path}:{member}", archive.getinfo(member).file_size)
        try:
            return archive.read(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
            raise DataError(f"'{path}' is corrupt at '{member}' ({err}); copy it again") from None

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"'{path}' is not a readable zip archive ({err}); copy it again") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        for info in members:
            if _outside(info.filename):
                raise DataError(
                    f"'{path}' has a member named '{info.filename}' that leaves the archive's "
                    "folder; rebuild the archive with relative names (train/<class>/...)"
                )
        yield [info.filename for info in members], read


def _walk(root: Path) -> list[str]:
    return [
        (Path(top) / file).relative_to(root).as_posix()
        for top, _, files in os.walk(root)
        for file in files
    ]


def load_image_folder(name: str, path: Path, cache_dir: Path, limit: int | None) -> Dataset:
    """Load (through the cache) an image-folder directory or zip archive."""
    options = f"imagefolder limit={limit}"
    if path.is_dir():
        index = _index(_walk(path), path)
        files = [path / f for per in index.values() for names in per.values() for f in names]

        def build() -> Dataset:
            return _decode(name, index, lambda member: _read_file(path / member), limit)

        return cached(cache_dir, name, f"{options} {fingerprint(path, files)}", build)

    def build_zip() -> Dataset:
        check_sha256sums(path)
        with _open_zip(path) as (names, read):
            return _decode(name, _index(names, path), read, limit)

    return cached(cache_dir, name, f"{options} {fingerprint(path.parent, [path])}", build_zip)
