"""A private CUDA MPS daemon for one worker pool (``executor.mps``).

Without MPS, worker processes sharing a GPU are time-sliced: the card runs one
process's kernels at a time, so K candidates on one H200 train no faster in
total than one (BENCHMARKS.md: 13,720 vs 14,623 images/s at K = 4). Under MPS
their kernels run side by side (18,334 images/s at K = 4 on the same card).

The daemon is the pool's own: it gets a fresh pipe and log folder (nothing
system-wide changes, a system daemon elsewhere is left alone), the workers
find it through ``CUDA_MPS_PIPE_DIRECTORY`` set only while each one is
spawned, and :meth:`MpsDaemon.close` tells it to quit and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from neronet.errors import ConfigError

CONTROL = "nvidia-cuda-mps-control"
"""The MPS control program (ships with the NVIDIA driver's CUDA tools)."""

PIPE, LOG = "CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"
CONTROL_TIMEOUT_S = 30.0


class MpsDaemon:
    """Starts a private MPS control daemon; :meth:`spawning` gives spawned workers its pipe."""

    def __init__(self) -> None:
        control = shutil.which(CONTROL)
        if control is None:
            raise ConfigError(
                f"executor.mps is on but {CONTROL} is not on PATH; install the NVIDIA CUDA "
                "tools or set executor.mps=false"
            )
        self._control = control
        self._folder = Path(tempfile.mkdtemp(prefix="neronet-mps-"))
        self.env = {PIPE: str(self._folder / "pipe"), LOG: str(self._folder / "log")}
        for path in self.env.values():
            Path(path).mkdir()
        try:
            self._call("-d")
        except (OSError, subprocess.SubprocessError) as err:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise ConfigError(
                f"the MPS daemon did not start ({err}); set executor.mps=false"
            ) from None

    def _call(self, *args: str, text: str | None = None) -> None:
        subprocess.run(
            [self._control, *args],
            input=text,
            text=True,
            env={**os.environ, **self.env},
            check=True,
            timeout=CONTROL_TIMEOUT_S,
            capture_output=True,
        )

    @contextlib.contextmanager
    def spawning(self) -> Iterator[None]:
        """The daemon's pipe in the environment while a worker process is started."""
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def close(self) -> None:
        """Tell the daemon to quit (its clients are gone by now) and remove its folder."""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self._call(text="quit\n")
        shutil.rmtree(self._folder, ignore_errors=True)
