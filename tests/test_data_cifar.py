"""CIFAR-10 python batches (restricted unpickling), local tarball and checked download.

The fake batches are written the way the original Python 2 files are: byte
strings as (SHORT_)BINSTRING and arrays via ``numpy.core.multiarray._reconstruct``,
so the restricted unpickler is exercised on the real format. Nothing here
touches the internet: downloads come from ``file://`` URLs or a local HTTP thread.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import pickle
import struct
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers_errors import error_of

from neronet.data import cifar, load_dataset
from neronet.data.cifar import BATCH_FILES, BATCHES_DIR, TRAIN_BATCHES, read_batch

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_BATCH = 4


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickles ``bytes`` as Python 2 ``str`` (what the original CIFAR-10 files contain)."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def make_batches(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny python-version CIFAR-10 directory; return the arrays it holds."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    xs, ys = [], []
    for name in (*TRAIN_BATCHES, "test_batch"):
        data = rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, PER_BATCH)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"{i}.png".encode() for i in range(PER_BATCH)]}  # fmt: skip
        (root / name).write_bytes(py2_pickle(batch))
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.array(labels))
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}
    (root / "batches.meta").write_bytes(py2_pickle(meta))
    return {"x_train": np.concatenate(xs[:5]), "y_train": np.concatenate(ys[:5]),
            "x_test": xs[5], "y_test": ys[5]}  # fmt: skip


def make_tarball(tmp_path: Path, extra: list[tarfile.TarInfo] | None = None) -> tuple[Path, dict]:
    arrays = make_batches(tmp_path / "src" / BATCHES_DIR)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / BATCHES_DIR, arcname=BATCHES_DIR)
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return archive, arrays


def assert_matches(ds, arrays: dict) -> None:
    assert ds.name == "cifar10" and ds.classes == CLASSES
    assert ds.x_train.shape == (5 * PER_BATCH, 3, 32, 32) and ds.x_train.dtype == np.uint8
    for part, expected in arrays.items():
        np.testing.assert_array_equal(getattr(ds, part), expected)


@pytest.fixture
def use_fake_url(monkeypatch: pytest.MonkeyPatch):
    def point_at(url: str, md5: str) -> None:
        monkeypatch.setattr(cifar, "CIFAR10_URL", url)
        monkeypatch.setattr(cifar, "CIFAR10_MD5", md5)

    return point_at


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_py2_style_batches_directory(tmp_path: Path) -> None:
    arrays = make_batches(tmp_path / "b")
    assert b"numpy.core.multiarray\n_reconstruct" in (tmp_path / "b" / "data_batch_1").read_bytes()
    assert_matches(load_dataset("cifar10", path=tmp_path / "b", cache_dir=tmp_path / "c"), arrays)


def test_parent_of_batches_directory(tmp_path: Path) -> None:
    arrays = make_batches(tmp_path / "root" / BATCHES_DIR)
    assert_matches(load_dataset("cifar10", path=tmp_path / "root", cache_dir=tmp_path), arrays)


def test_python3_pickled_batches_also_load(tmp_path: Path) -> None:
    data = np.arange(2 * 3072, dtype=np.uint32).astype(np.uint8).reshape(2, 3072)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({"data": data, "labels": [3, 7]}, protocol=4))
    x, y = read_batch(path)
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [3, 7]
    np.testing.assert_array_equal(x[1, 2, 31], data[1, -32:])  # channel-major rows


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    make_batches(tmp_path / "b")
    (tmp_path / "b" / "data_batch_2").write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    message = error_of(load_dataset, "cifar10", path=tmp_path / "b", cache_dir=tmp_path)
    assert "refused global" in message and "data_batch_2" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x80\x02}q\x00(U\x04data", "not a valid CIFAR-10 batch"),
        (pickle.dumps([1, 2, 3]), "not a CIFAR-10 batch dict"),
        (pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}), "lacks uint8"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}), "lacks uint8"),
    ],
    ids=["truncated", "not-a-dict", "wrong-shape", "label-count"],
)
def test_corrupt_batch(tmp_path: Path, content: bytes, expected: str) -> None:
    make_batches(tmp_path / "b")
    (tmp_path / "b" / "test_batch").write_bytes(content)
    assert expected in error_of(load_dataset, "cifar10", path=tmp_path / "b", cache_dir=tmp_path)


def test_missing_batch_files_are_named(tmp_path: Path) -> None:
    make_batches(tmp_path / "b")
    (tmp_path / "b" / "data_batch_3").unlink()
    (tmp_path / "b" / "batches.meta").unlink()
    message = error_of(load_dataset, "cifar10", path=tmp_path / "b", cache_dir=tmp_path)
    assert "lacks data_batch_3, batches.meta" in message


def test_local_tarball(tmp_path: Path) -> None:
    archive, arrays = make_tarball(tmp_path)
    assert_matches(load_dataset("cifar10", path=archive, cache_dir=tmp_path / "c"), arrays)


def test_download_from_file_url(tmp_path: Path, use_fake_url) -> None:
    archive, arrays = make_tarball(tmp_path)
    use_fake_url(archive.as_uri(), md5_of(archive))
    cache = tmp_path / "cache"
    assert_matches(load_dataset("cifar10", cache_dir=cache, download=True), arrays)
    assert (cache / cifar.ARCHIVE_NAME).read_bytes() == archive.read_bytes()
    assert sorted(p.name for p in next(cache.glob("cifar-10-python-*")).glob("*/*")) == sorted(
        BATCH_FILES
    )
    # A second call finds the verified archive and never opens the URL again.
    archive.unlink()
    assert_matches(load_dataset("cifar10", cache_dir=cache, download=True), arrays)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_download_over_local_http(tmp_path: Path, use_fake_url, http_server: str) -> None:
    archive, arrays = make_tarball(tmp_path)
    use_fake_url(f"{http_server}/{archive.name}", md5_of(archive))
    assert_matches(load_dataset("cifar10", cache_dir=tmp_path / "c", download=True), arrays)


def test_download_checksum_mismatch_leaves_nothing(tmp_path: Path, use_fake_url) -> None:
    archive, _ = make_tarball(tmp_path)
    use_fake_url(archive.as_uri(), "0" * 32)
    cache = tmp_path / "cache"
    message = error_of(load_dataset, "cifar10", cache_dir=cache, download=True)
    assert f"md5 {md5_of(archive)}, expected {'0' * 32}" in message
    assert list(cache.iterdir()) == []


def test_download_http_404(tmp_path: Path, use_fake_url, http_server: str) -> None:
    use_fake_url(f"{http_server}/missing.tar.gz", "0" * 32)
    message = error_of(load_dataset, "cifar10", cache_dir=tmp_path / "c", download=True)
    assert "cannot download" in message and "404" in message


def test_download_unreachable(tmp_path: Path, use_fake_url) -> None:
    use_fake_url((tmp_path / "absent.tar.gz").as_uri(), "0" * 32)
    assert "cannot download" in error_of(
        load_dataset, "cifar10", cache_dir=tmp_path / "c", download=True
    )


def test_no_path_and_no_download(tmp_path: Path) -> None:
    assert "download" in error_of(load_dataset, "cifar10", cache_dir=tmp_path)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (_member("../escape.txt"), "outside the target"),
        (_member("/tmp/absolute-neronet-test.txt"), "outside the target"),
        (_member("cifar-10-batches-py/link", tarfile.SYMTYPE, "/etc/passwd"), "link or special"),
        (_member("cifar-10-batches-py/hard", tarfile.LNKTYPE, "/etc/passwd"), "link or special"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink"],
)
def test_unsafe_tar_members_are_refused(
    tmp_path: Path, use_fake_url, member: tarfile.TarInfo, expected: str
) -> None:
    archive, _ = make_tarball(tmp_path, extra=[member])
    use_fake_url(archive.as_uri(), md5_of(archive))
    cache = tmp_path / "deep" / "cache"
    assert expected in error_of(load_dataset, "cifar10", cache_dir=cache, download=True)
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not Path("/tmp/absolute-neronet-test.txt").exists()
    assert [p.name for p in cache.iterdir()] == [cifar.ARCHIVE_NAME]  # no half-extracted dir


def test_truncated_archive(tmp_path: Path, use_fake_url) -> None:
    archive, _ = make_tarball(tmp_path)
    archive.write_bytes(archive.read_bytes()[:-200])
    use_fake_url(archive.as_uri(), md5_of(archive))
    assert "cannot extract" in error_of(
        load_dataset, "cifar10", cache_dir=tmp_path / "c", download=True
    )


def test_unsupported_file(tmp_path: Path) -> None:
    path = tmp_path / "cifar.rar"
    path.write_bytes(b"x")
    assert "not a directory, .zip or .tar.gz" in error_of(
        load_dataset, "cifar10", path=path, cache_dir=tmp_path
    )
