"""Fashion-MNIST / IDX parsing: generated files, the installed dataset, every bad file."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers_errors import error_of

from neronet.data import load_dataset
from neronet.data.idx import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, IDX_FILES, read_idx


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(path: Path, data: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def make_fashion(root: Path, gz: bool = True, shape: tuple[int, int] = (5, 4)) -> dict:
    """Write the four IDX files with small random content; return the arrays written."""
    rng = np.random.default_rng(1)
    arrays = {
        "x_train": rng.integers(0, 256, (30, *shape), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 30, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (12, *shape), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 12, dtype=np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for part, base in IDX_FILES.items():
        write(root / base, idx_bytes(arrays[part]), gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write(tmp_path / "a-idx3-ubyte", idx_bytes(array), gz)
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 7  # writable, not a view of an immutable buffer


@pytest.mark.parametrize("gz", [False, True])
def test_generated_fashion_dir_loads(tmp_path: Path, gz: bool) -> None:
    arrays = make_fashion(tmp_path / "fm", gz=gz)
    ds = load_dataset("fashion-mnist", path=tmp_path / "fm", cache_dir=tmp_path / "cache")
    assert ds.name == "fashion-mnist" and ds.classes == FASHION_MNIST_CLASSES
    assert ds.x_train.shape == (30, 1, 5, 4) and ds.x_test is not None
    assert ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays["x_train"])
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"])
    np.testing.assert_array_equal(ds.x_test[:, 0], arrays["x_test"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])


def test_installed_fashion_mnist(tmp_path: Path) -> None:
    ds = load_dataset("fashion-mnist", cache_dir=tmp_path)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.x_test is not None and ds.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.x_train.max() == 255 and ds.classes[0] == "T-shirt/top"
    again = load_dataset("fashion-mnist", path=FASHION_MNIST_DIR, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.x_train, ds.x_train)


def test_missing_directory(tmp_path: Path) -> None:
    message = error_of(load_dataset, "fashion-mnist", path=tmp_path / "nope", cache_dir=tmp_path)
    assert "not found" in message


def test_missing_idx_file_is_named(tmp_path: Path) -> None:
    make_fashion(tmp_path / "fm")
    (tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz").unlink()
    message = error_of(load_dataset, "fashion-mnist", path=tmp_path / "fm", cache_dir=tmp_path)
    assert "t10k-labels-idx1-ubyte" in message and "train-images" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (idx_bytes(np.zeros((4, 5, 5)))[:-3], "truncated"),
        (idx_bytes(np.zeros((4, 5, 5))) + b"xx", "truncated"),
        (b"\x00\x00\x08\x03\x00\x00", "header"),
        (b"PK\x03\x04" + bytes(40), "magic"),
        (idx_bytes(np.zeros((4, 5, 5)), type_code=0x0D), "0x0d"),
        (gzip.compress(idx_bytes(np.zeros((4, 5, 5))), mtime=0)[:-12], "gzip"),
        (b"\x1f\x8b" + bytes(30), "gzip"),
    ],
    # readable ids, the same in every process (pytest-xdist's workers must agree)
    ids=["short", "long", "header", "zip", "type", "cut-gzip", "bad-gzip"],
)
def test_corrupt_idx_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    assert expected in error_of(read_idx, path)


def test_label_count_mismatch(tmp_path: Path) -> None:
    make_fashion(tmp_path / "fm", gz=False)
    write(tmp_path / "fm" / IDX_FILES["y_train"], idx_bytes(np.zeros(29)), gz=False)
    message = error_of(load_dataset, "fashion-mnist", path=tmp_path / "fm", cache_dir=tmp_path)
    assert "30 train images but 29 labels" in message


def test_label_out_of_range(tmp_path: Path) -> None:
    make_fashion(tmp_path / "fm", gz=False)
    write(tmp_path / "fm" / IDX_FILES["y_test"], idx_bytes(np.full(12, 12)), gz=False)
    message = error_of(load_dataset, "fashion-mnist", path=tmp_path / "fm", cache_dir=tmp_path)
    assert "label 12" in message


def test_swapped_image_and_label_files(tmp_path: Path) -> None:
    make_fashion(tmp_path / "fm", gz=False)
    write(tmp_path / "fm" / IDX_FILES["x_train"], idx_bytes(np.zeros(30)), gz=False)
    message = error_of(load_dataset, "fashion-mnist", path=tmp_path / "fm", cache_dir=tmp_path)
    assert "(N, rows, cols)" in message
