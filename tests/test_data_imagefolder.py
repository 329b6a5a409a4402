"""Image-folder directories and zips, the decode cache (hits, invalidation, atomicity),
and a sample of the real CIFAR-10 JPEG zip."""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers_errors import error_of
from PIL import Image

from neronet.data import cache, imagefolder, load_dataset

REAL_ZIP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10" / "train.zip"
CLASSES = ["cat", "dog", "frog"]


def make_folder(
    root: Path,
    per_class: int = 3,
    size: tuple[int, int] = (6, 5),
    mode: str = "RGB",
    test: bool = False,
    suffix: str = ".png",
) -> dict:
    """Write split/<class>/NN.png images; return the expected arrays (PNG is lossless)."""
    rng = np.random.default_rng(7)
    expected: dict[str, list] = {}
    for split in ("train", "test") if test else ("train",):
        xs, ys = [], []
        for label, cls in enumerate(CLASSES):
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
                pixels = rng.integers(0, 256, shape, dtype=np.uint8)
                Image.fromarray(pixels, mode).save(root / split / cls / f"{i:02d}{suffix}")
                xs.append(pixels.reshape(*shape[:2], -1).transpose(2, 0, 1))
                ys.append(label)
        expected[split] = [np.stack(xs), np.array(ys)]
    return expected


def zip_folder(root: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as out:
        for file in sorted(root.rglob("*")):
            if file.is_file():
                out.write(file, prefix + file.relative_to(root).as_posix())
    return archive


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the images decoded, in order (to tell cache hits from misses)."""
    calls: list[str] = []
    real = imagefolder.decode_image

    def counting(data: bytes, origin: str, like: imagefolder.Example | None = None):
        calls.append(origin)
        return real(data, origin, like)

    monkeypatch.setattr(imagefolder, "decode_image", counting)
    return calls


def test_directory_with_test_split(tmp_path: Path) -> None:
    expected = make_folder(tmp_path / "img", test=True)
    ds = load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    assert ds.classes == CLASSES and ds.x_train.shape == (9, 3, 5, 6)
    np.testing.assert_array_equal(ds.x_train, expected["train"][0])
    np.testing.assert_array_equal(ds.y_train, expected["train"][1])
    np.testing.assert_array_equal(ds.x_test, expected["test"][0])
    np.testing.assert_array_equal(ds.y_test, expected["test"][1])


@pytest.mark.parametrize("prefix", ["", "cifar10/"])
def test_zip_equals_directory(tmp_path: Path, prefix: str) -> None:
    expected = make_folder(tmp_path / "img")
    archive = zip_folder(tmp_path / "img", tmp_path / "train.zip", prefix)
    ds = load_dataset("cifar10", path=archive, cache_dir=tmp_path / "c")
    assert ds.x_test is None and ds.classes == CLASSES
    np.testing.assert_array_equal(ds.x_train, expected["train"][0])
    np.testing.assert_array_equal(ds.y_train, expected["train"][1])


def test_grey_images_have_one_channel(tmp_path: Path) -> None:
    expected = make_folder(tmp_path / "img", mode="L")
    ds = load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    assert ds.x_train.shape == (9, 1, 5, 6)
    np.testing.assert_array_equal(ds.x_train, expected["train"][0])


def test_jpeg_images_decode_close_to_source(tmp_path: Path) -> None:
    make_folder(tmp_path / "img", suffix=".jpg", size=(8, 8))
    ds = load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    assert ds.x_train.shape == (9, 3, 8, 8) and ds.x_train.dtype == np.uint8
    assert ds.x_train.std() > 20  # real noise decoded, not a blank array


def test_second_zip_load_is_a_cache_hit(tmp_path: Path, decodes: list[str]) -> None:
    make_folder(tmp_path / "img")
    archive = zip_folder(tmp_path / "img", tmp_path / "train.zip")
    first = load_dataset("cifar10", path=archive, cache_dir=tmp_path / "c")
    assert len(decodes) == 9
    second = load_dataset("cifar10", path=archive, cache_dir=tmp_path / "c")
    assert len(decodes) == 9  # nothing decoded again
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert second.classes == first.classes and second.x_train.flags.writeable
    entry = next((tmp_path / "c").iterdir())
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "x_train.npy", "y_train.npy"]
    assert np.load(entry / "x_train.npy", allow_pickle=False).dtype == np.uint8


def test_changed_source_is_decoded_again(tmp_path: Path, decodes: list[str]) -> None:
    make_folder(tmp_path / "img")
    load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    image = tmp_path / "img" / "train" / "dog" / "01.png"
    Image.new("RGB", (6, 5), (1, 2, 3)).save(image)
    os.utime(image, ns=(1, 1))  # a different mtime, whatever the clock resolution
    decodes.clear()
    ds = load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    assert len(decodes) == 9 and ds.x_train[4, :, 0, 0].tolist() == [1, 2, 3]


def test_limit_per_class_decodes_only_the_sample(tmp_path: Path, decodes: list[str]) -> None:
    expected = make_folder(tmp_path / "img", per_class=4)
    ds = load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c", limit_per_class=2)
    assert len(decodes) == 6 and ds.y_train.tolist() == [0, 0, 1, 1, 2, 2]
    np.testing.assert_array_equal(ds.x_train, expected["train"][0][[0, 1, 4, 5, 8, 9]])


def test_crash_while_writing_leaves_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decodes: list[str]
) -> None:
    make_folder(tmp_path / "img")
    real_save = np.save
    saved: list[str] = []

    def crash_after_first(file, array, allow_pickle=True):
        if saved:
            raise KeyboardInterrupt  # like a crash or Ctrl-C half-way through the entry
        saved.append(str(file))
        real_save(file, array, allow_pickle=allow_pickle)

    monkeypatch.setattr(cache.np, "save", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    assert saved and list((tmp_path / "c").iterdir()) == []
    monkeypatch.setattr(cache.np, "save", real_save)
    decodes.clear()
    ds = load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    assert len(decodes) == 9 and ds.x_train.shape == (9, 3, 5, 6)


def test_damaged_entry_is_rebuilt(tmp_path: Path, decodes: list[str]) -> None:
    expected = make_folder(tmp_path / "img")
    load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    stored = next((tmp_path / "c").iterdir()) / "x_train.npy"
    stored.write_bytes(stored.read_bytes()[:100])
    decodes.clear()
    ds = load_dataset("cifar10", path=tmp_path / "img", cache_dir=tmp_path / "c")
    assert len(decodes) == 9
    np.testing.assert_array_equal(ds.x_train, expected["train"][0])


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_folder(tmp_path / "img")
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "env-cache"))
    load_dataset("cifar10", path=tmp_path / "img")
    assert len(list((tmp_path / "env-cache").iterdir())) == 1
    assert cache.resolve_cache_dir("/x") == Path("/x")
    monkeypatch.delenv(cache.CACHE_ENV)
    assert cache.resolve_cache_dir(None) == Path.home() / ".cache" / "neronet"


def test_unwritable_cache_dir(tmp_path: Path) -> None:
    make_folder(tmp_path / "img")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    message = error_of(load_dataset, "cifar10", path=tmp_path / "img", cache_dir=blocker / "c")
    assert "cannot write" in message and "NERONET_CACHE" in message


def test_sha256sums_checked(tmp_path: Path) -> None:
    make_folder(tmp_path / "img")
    archive = zip_folder(tmp_path / "img", tmp_path / "train.zip")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  train.zip\n{'1' * 64}  other.zip\n")
    assert load_dataset("cifar10", path=archive, cache_dir=tmp_path / "ok").x_train.shape[0] == 9
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  train.zip\n")
    message = error_of(load_dataset, "cifar10", path=archive, cache_dir=tmp_path / "bad")
    assert f"sha256 {digest} but SHA256SUMS lists {'0' * 64}" in message


def test_no_train_folder(tmp_path: Path) -> None:
    (tmp_path / "img" / "cat").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "img" / "cat" / "a.png")
    assert "no train/<class>/" in error_of(
        load_dataset, "cifar10", path=tmp_path / "img", cache_dir=tmp_path
    )


def test_single_class(tmp_path: Path) -> None:
    (tmp_path / "img" / "train" / "cat").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "img" / "train" / "cat" / "a.png")
    assert "single class" in error_of(
        load_dataset, "cifar10", path=tmp_path / "img", cache_dir=tmp_path
    )


def test_test_class_without_train_folder(tmp_path: Path) -> None:
    make_folder(tmp_path / "img")
    (tmp_path / "img" / "test" / "bird").mkdir(parents=True)
    Image.new("RGB", (6, 5)).save(tmp_path / "img" / "test" / "bird" / "a.png")
    assert "['bird']" in error_of(
        load_dataset, "cifar10", path=tmp_path / "img", cache_dir=tmp_path
    )


def test_mixed_image_sizes(tmp_path: Path) -> None:
    make_folder(tmp_path / "img")
    Image.new("RGB", (7, 5)).save(tmp_path / "img" / "train" / "frog" / "02.png")
    message = error_of(load_dataset, "cifar10", path=tmp_path / "img", cache_dir=tmp_path)
    assert "frog/02.png' is 7x5" in message and "6x5" in message


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` but holds no pixel data: decoding it fails,
    so an error about its size proves the size was checked before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    make_folder(tmp_path / "img")
    (tmp_path / "img" / "train" / "dog" / "01.png").write_bytes(header_only_png(6000, 6000))
    archive = zip_folder(tmp_path / "img", tmp_path / "train.zip")
    for source in (tmp_path / "img", archive):
        message = error_of(load_dataset, "cifar10", path=source, cache_dir=tmp_path / "c")
        assert "dog/01.png' declares 6000x6000 pixels, more than the limit of 1024" in message


def test_image_of_another_size_is_refused_before_decoding(tmp_path: Path) -> None:
    make_folder(tmp_path / "img", test=True)
    (tmp_path / "img" / "test" / "cat" / "00.png").write_bytes(header_only_png(7, 5))
    message = error_of(load_dataset, "cifar10", path=tmp_path / "img", cache_dir=tmp_path)
    assert "test/cat/00.png' is 7x5 but 'train/cat/00.png' is 6x5" in message


def test_oversized_files_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_folder(tmp_path / "img")
    archive = zip_folder(tmp_path / "img", tmp_path / "train.zip")
    monkeypatch.setattr(imagefolder, "MAX_IMAGE_BYTES", 16)
    for source in (tmp_path / "img", archive):
        message = error_of(load_dataset, "cifar10", path=source, cache_dir=tmp_path / "c")
        assert "cat/00.png' is" in message and "more than the limit of 16 for one image" in message


@pytest.mark.parametrize("name", ["../../tmp/pwned/train/cat/x.png", "/abs/train/cat/x.png"])
def test_zip_members_leaving_the_archive_are_refused(tmp_path: Path, name: str) -> None:
    make_folder(tmp_path / "img")
    archive = zip_folder(tmp_path / "img", tmp_path / "train.zip")
    with zipfile.ZipFile(archive, "a") as out:
        out.writestr(zipfile.ZipInfo(name), (tmp_path / "img/train/cat/00.png").read_bytes())
    message = error_of(load_dataset, "cifar10", path=archive, cache_dir=tmp_path / "c")
    assert f"has a member named '{name}' that leaves the archive's folder" in message
    assert not any((tmp_path / "c").rglob("*.npy"))  # nothing was cached


def test_corrupt_image(tmp_path: Path) -> None:
    make_folder(tmp_path / "img")
    (tmp_path / "img" / "train" / "cat" / "01.png").write_bytes(b"\x89PNG broken")
    assert "cat/01.png' is not a readable image" in error_of(
        load_dataset, "cifar10", path=tmp_path / "img", cache_dir=tmp_path
    )


def test_bad_zip(tmp_path: Path) -> None:
    (tmp_path / "train.zip").write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable zip" in error_of(
        load_dataset, "cifar10", path=tmp_path / "train.zip", cache_dir=tmp_path
    )


def test_damaged_zip_member(tmp_path: Path) -> None:
    make_folder(tmp_path / "img")
    archive = zip_folder(tmp_path / "img", tmp_path / "train.zip")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("train/dog/00.png")
    start = info.header_offset + 30 + len(info.filename) + 10  # inside the stored data
    data[start : start + 8] = b"\xff" * 8
    archive.write_bytes(bytes(data))
    assert "corrupt at 'train/dog/00.png'" in error_of(
        load_dataset, "cifar10", path=archive, cache_dir=tmp_path / "c"
    )


def test_missing_path(tmp_path: Path) -> None:
    assert "not found" in error_of(
        load_dataset, "cifar10", path=tmp_path / "absent.zip", cache_dir=tmp_path
    )


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]  # fmt: skip


def cifar_zip(tmp_path: Path) -> Path:
    """The shared CIFAR-10 JPEG zip; where a checkout has no ../shared (a bare CI
    machine), a stand-in with the same layout: train/<class>/NNNN.jpg, 32x32 RGB."""
    if REAL_ZIP.is_file():
        return REAL_ZIP
    rng = np.random.default_rng(0)
    archive = tmp_path / "train.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for cls in CIFAR_CLASSES:
            for i in range(5):
                pixels = rng.integers(40, 220, (32, 32, 3), dtype=np.uint8)
                path = tmp_path / "img.jpg"
                Image.fromarray(pixels, "RGB").save(path, quality=90)
                out.write(path, f"train/{cls}/{i:04d}.jpg")
    return archive


def test_real_cifar10_zip_sample(tmp_path: Path) -> None:
    """A few images per class of the CIFAR-10 JPEG zip (the full decode is not unit-tested)."""
    ds = load_dataset("cifar10", path=cifar_zip(tmp_path), cache_dir=tmp_path, limit_per_class=3)
    assert ds.classes == CIFAR_CLASSES
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.x_test is None
    assert ds.y_train.tolist() == [c for c in range(10) for _ in range(3)]
    assert 60 < ds.x_train.mean() < 200
