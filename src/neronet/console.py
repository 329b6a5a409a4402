"""The ``neronet`` console script: Ctrl-C is one line and exit 130 from the first instant.

The commands import torch and the whole pipeline, which takes a second or more; a
Ctrl-C in that second used to print a KeyboardInterrupt traceback. This module and
``neronet/__init__.py`` import nothing heavy, so the only code that runs before the
guard below is Python's own start-up.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def main() -> int:
    """Import the command line and run it; an interrupt while importing is one line."""
    try:
        from neronet.cli import main as run_command
    except KeyboardInterrupt:
        print("neronet: interrupted while starting; nothing was done", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run_command()
