"""Keep a long experiment's finished runs in the repository, and put them back.

``neronet experiment`` resumes from its directory, but a week-long comparison on a
machine that may be replaced between sessions needs its evidence somewhere that
survives the machine. A finished run needs only its records to be skipped on resume
(its run store, its retraining's results, its attack suite; no weights), and those are
small and never change once the run is done, so they are committed once each:

    python tools/experiment_records.py save EXPERIMENT_DIR RECORDS_DIR
    python tools/experiment_records.py restore RECORDS_DIR EXPERIMENT_DIR

``save`` copies the experiment's and its studies' manifests, the run store of every run
whose search finished (gzipped, reproducibly: the same store gives the same bytes; a
run cut short after its search then retrains and attacks on the new machine without
searching again) and, for every run that is finished (searched, retrained, attacked), its
retraining's results and its attack tables; files whose content is unchanged are not
rewritten. ``restore`` puts them back where
the experiment keeps them, under the same directory or another; the same ``neronet
experiment`` command (its ``--dir`` the restored directory) then reports them and runs
only the runs that were not finished. Every file is written whole (a kill mid-copy leaves the
old one or none), the manifest last, so a save or restore cut short is done again by
the same command; records of another experiment (its manifest, less its step times,
differs) are refused rather than mixed.
"""

from __future__ import annotations

import argparse
import gzip
import sqlite3
import sys
import tempfile
from pathlib import Path

from neronet.cli.experiment import MANIFEST, begun_in, finished_earlier
from neronet.errors import NeronetError
from neronet.search.study import STUDY_FILE, run_finished
from neronet.store import DB_NAME as STORE
from neronet.store import atomic_write

PACKED = ".sqlite.gz"
RETRAINING = ("train.json", "train_results.csv", "seed-*/history.json")
"""What a retraining's records are (its model is not: the attack's results are kept)."""


def finished_runs(directory: Path) -> list[str]:
    """The ``<method>-run-<i>`` names of the experiment's finished runs."""
    attacked = directory / "attacked"
    names = sorted(p.name for p in attacked.iterdir()) if attacked.is_dir() else []
    return [name for name in names if finished_earlier(directory, name)]


def searched_runs(directory: Path) -> list[Path]:
    """The run directories of the experiment whose search finished (retrained and
    attacked or not)."""
    stores = sorted(directory.glob(f"*/run-*/{STORE}"))
    return [store.parent for store in stores if run_finished(store.parent)]


def _put(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds it; whether it wrote."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return True


def _packed_store(run_dir: Path) -> bytes:
    """The run store as one self-contained database (its write-ahead log folded in),
    gzipped with no timestamp, so an unchanged store packs to the same bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / STORE
        source = sqlite3.connect(f"file:{run_dir / STORE}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return gzip.compress(copy.read_bytes(), mtime=0)


def save(directory: Path, out: Path) -> list[Path]:
    """Copy the records of ``directory``'s finished runs into ``out``; the files written."""
    ours, kept = begun_in(directory), begun_in(out)
    if ours is None:
        raise ValueError(f"'{directory}' holds no experiment ({MANIFEST} is missing)")
    if kept is not None and kept.manifest != ours.manifest:
        raise ValueError(
            f"'{out}' holds the records of another experiment (its {MANIFEST} differs in "
            "more than step times); save into an empty directory, or remove those first"
        )
    written: list[Path] = []

    def put(path: Path, data: bytes) -> None:
        if _put(path, data):
            written.append(path)

    for study in sorted(directory.glob(f"*/{STUDY_FILE}")):
        put(out / study.relative_to(directory), study.read_bytes())
    for run_dir in searched_runs(directory):
        put(out / f"{run_dir.relative_to(directory)}{PACKED}", _packed_store(run_dir))
    for name in finished_runs(directory):
        trained = directory / "trained" / name
        for pattern in RETRAINING:
            for path in sorted(trained.glob(pattern)):
                put(out / path.relative_to(directory), path.read_bytes())
        for path in sorted((directory / "attacked" / name).rglob("*")):
            if path.is_file():
                put(out / path.relative_to(directory), path.read_bytes())
    put(out / MANIFEST, (directory / MANIFEST).read_bytes())  # last: records written whole
    return written


def restore(records: Path, directory: Path) -> list[Path]:
    """Put ``records`` back into the experiment directory ``directory`` (refused where
    it already holds an experiment: restoring over live runs would mix two states)."""
    if not (records / MANIFEST).is_file():
        raise ValueError(f"'{records}' holds no experiment's records ({MANIFEST} is missing)")
    if (directory / MANIFEST).exists():
        raise ValueError(
            f"'{directory}' already holds an experiment; restore into an empty directory"
        )
    written = []
    files = sorted(p for p in records.rglob("*") if p.is_file())
    for path in sorted(files, key=lambda p: p.relative_to(records) == Path(MANIFEST)):
        relative = path.relative_to(records)
        if path.name.endswith(PACKED):
            run = relative.parent / path.name.removesuffix(PACKED)
            target = directory / run / STORE
            try:
                data = gzip.decompress(path.read_bytes())
            except (OSError, EOFError) as err:
                raise ValueError(f"'{path}' is damaged ({err}); take it from git again") from None
        else:
            target, data = directory / relative, path.read_bytes()
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data)  # the manifest last: a restore cut short is redone
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, first, second in (
        ("save", "experiment directory", "records directory"),
        ("restore", "records directory", "experiment directory (empty)"),
    ):
        p = sub.add_parser(name)
        p.add_argument("source", type=Path, help=first)
        p.add_argument("target", type=Path, help=second)
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"error: '{args.source}' is not a directory", file=sys.stderr)
        return 2
    act = save if args.command == "save" else restore
    try:
        written = act(args.source, args.target)
    except (ValueError, NeronetError) as err:  # NeronetError: an unreadable manifest
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.command}: {len(written)} file(s) written under {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
