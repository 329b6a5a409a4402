"""What opening a search needs of the transfer set: check it, or build the run's own.

A run measuring ``transfer`` uses ``evaluation.transfer_set`` or, unset, its own
set ``<run>/transfer-set.safetensors``, built once from the ``transfer`` section
before the search starts (a kill mid-build leaves no half file: the set is
written atomically, and the sources' trainings resume). The set's SHA-256 is
recorded in the run's meta; reopening the run with another set is refused.
Every problem is one :class:`~neronet.errors.TransferSetError` raised before
the run's database exists (see :class:`neronet.search.runner.SearchRun`). Imports
no torch at module level: the runner must not (``tests/test_plugins.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neronet.config import NeroConfig
from neronet.errors import TransferSetError
from neronet.store import DB_NAME, RunStore

if TYPE_CHECKING:
    from rich.console import Console

RUN_SET = "transfer-set.safetensors"
META_KEY = "transfer_set_sha256"


def measured(config: NeroConfig) -> bool:
    return "transfer" in config.evaluation.measurements


def workers_config(config: NeroConfig, run_dir: Path) -> NeroConfig:
    """The config evaluations run with: ``evaluation.transfer_set`` names the run's own set
    (absolute, for workers elsewhere) when the config names none. The stored config keeps
    it unset, so a moved run directory still resumes."""
    if not measured(config) or config.evaluation.transfer_set is not None:
        return config
    path = str((run_dir / RUN_SET).resolve())
    evaluation = config.evaluation.model_copy(update={"transfer_set": path})
    return config.model_copy(update={"evaluation": evaluation})


def check_transfer_set(config: NeroConfig, run_dir: Path) -> str | None:
    """Refuse a set that is unreadable, corrupt, empty, for other images or classes than the
    run's dataset, or other than the one the run recorded; returns its checksum (None: the
    run's own set is not built yet). ``config`` is :func:`workers_config`'s."""
    if not measured(config):
        return None
    from neronet.transfer.artifact import check_fits, read_transfer_set  # torch: not at import

    assert config.evaluation.transfer_set is not None
    path = Path(config.evaluation.transfer_set)
    if not path.exists() and path == (run_dir / RUN_SET).resolve():
        return None  # built by ensure_transfer_set
    tset, sha = read_transfer_set(path)
    if len(tset) == 0:
        raise TransferSetError(
            f"transfer set '{path}' holds no samples; rebuild it with larger attack budgets"
        )
    data = config.data.load()
    check_fits(tset, str(path), data.input_shape, len(data.classes), config.data.dataset)
    recorded = _recorded(run_dir)
    if recorded is not None and recorded != sha:
        raise TransferSetError(
            f"transfer set '{path}' (sha256 {sha[:12]}) is not the set this run was measured "
            f"with (sha256 {recorded[:12]}); pass that set as evaluation.transfer_set"
        )
    return sha


def _recorded(run_dir: Path) -> str | None:
    if not (run_dir / DB_NAME).exists():
        return None
    store = RunStore.open(run_dir, readonly=True)
    try:
        return store.meta(META_KEY)
    finally:
        store.close()


def ensure_transfer_set(
    config: NeroConfig, store: RunStore, sha: str | None, console: Console | None = None
) -> None:
    """After the run is opened: build the run's own set if it is missing (progress on
    ``console``), and record the checksum ``sha`` (:func:`check_transfer_set`'s, None: just
    built) at the first opening."""
    if not measured(config):
        return
    if sha is None:
        from neronet.progress import progress_bar
        from neronet.transfer.build import make_transfer_set, on_bar

        assert config.evaluation.transfer_set is not None
        path = Path(config.evaluation.transfer_set)
        store.log_event("transfer-set", f"building {path.name} from the transfer section")
        if console is None:
            sha = make_transfer_set(config, path)
        else:
            with progress_bar(console) as bar:
                sha = make_transfer_set(config, path, on_bar(bar))
        store.log_event("transfer-set", f"built {path.name}, sha256 {sha}")
    if store.meta(META_KEY) is None:
        store.set_meta(META_KEY, sha)
