"""One writer per run: an exclusive OS lock on a file inside the directory.

Two ``neronet evolve`` on one run trained the same individual twice and ended
in a raw UNIQUE-constraint error; two ``neronet train`` on one ``--out``
deleted each other's temporary files. A writer therefore holds an exclusive
``flock`` on ``DIR/neronet.lock`` for its whole life. The kernel drops the lock
when the process dies however it dies (SIGKILL included), so a lock is never
stale and there is nothing to clean up; the pid written into the file only
names the holder in messages. Readers (``status``, ``best``, ``report``,
``export``) never take the lock: they read the pid with :func:`lock_holder`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from neronet.errors import StoreError

LOCK_NAME = "neronet.lock"


def _pid_in(fd: int) -> int | None:
    """The pid a holder wrote into the lock file, or None (empty, or being rewritten)."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def lock_holder(directory: str | Path) -> int | None:
    """The pid of the process writing ``directory``, or None when no writer holds it.

    The pid in the file outlives its writer, so it counts only while that
    process lives *and* the lock is held; the held-test takes a shared lock for
    an instant, and only when the recorded pid is alive, so a reader never
    stands in a starting writer's way unless a pid was recycled at that moment.
    """
    try:
        fd = os.open(Path(directory) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        pid = _pid_in(fd)
        if pid is None or not _alive(pid):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return pid
        return None
    finally:
        os.close(fd)  # also releases the probing shared lock


@contextmanager
def writer_lock(directory: str | Path, what: str, scratch: Collection[str] = ()) -> Iterator[Path]:
    """Hold the exclusive writer lock of ``directory`` (created if missing) for the block.

    A second writer gets a one-line :class:`StoreError` naming the holder's pid (or
    "this process" for a second writer in the same one). ``what`` names the option the
    directory came from (``--run``, ``--out``) in messages. A directory this call created
    is removed again when the block fails (an error, Ctrl-C) before writing anything into
    it but the files named in ``scratch`` (a start-up's staging files), so a refused or
    interrupted start leaves nothing.
    """
    path = Path(directory)
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StoreError(
            f"cannot create or lock {what} '{path}' ({err.strerror or type(err).__name__}); "
            f"pass {what} a directory that can be created and written to"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _pid_in(fd)
        os.close(fd)
        if pid == os.getpid():
            raise StoreError(
                f"{what} '{path}' is being written by this process (another thread, or a run "
                "opened earlier and still writing); one writer per run: wait for it to finish"
            ) from None
        holder = f"pid {pid}" if pid is not None else "a process that is starting"
        raise StoreError(
            f"{what} '{path}' is being written by another neronet process ({holder}); "
            "wait for it to finish or stop it, then run again"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    except BaseException:
        if created:
            _remove_if_unused(path, scratch)
        raise
    finally:
        os.close(fd)  # releases the lock


def _remove_if_unused(path: Path, scratch: Collection[str]) -> None:
    """Remove a directory that holds nothing but the lock file and ``scratch`` files."""
    names = {p.name for p in path.iterdir()}
    if names <= {LOCK_NAME, *scratch}:
        for name in names:
            (path / name).unlink()
        path.rmdir()
