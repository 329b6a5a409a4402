"""The ``neronet`` command.

Every user-caused problem ends as one line ``neronet: error: ...`` on stderr and
exit code 2 (no traceback); an interrupted search says how to resume it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import sqlite3
import sys
from collections.abc import Sequence

from neronet import __version__
from neronet.cli.attack import add_attack_command
from neronet.cli.dashboard import add_dashboard_command
from neronet.cli.evolve import add_evolve_command
from neronet.cli.experiment import add_experiment_command
from neronet.cli.posttrain import add_train_command
from neronet.cli.study import add_study_commands
from neronet.cli.survey import add_survey_command
from neronet.cli.table import add_table_command
from neronet.cli.transfer import add_transfer_command
from neronet.cli.views import add_view_commands
from neronet.errors import InvalidArchitecture, NeronetError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 128 + 13  # as if killed by SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neronet", description="Evolve adversarially robust CNNs (NERO-Net, RAS)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        add_evolve_command,
        add_study_commands,
        add_experiment_command,
        add_survey_command,
        add_view_commands,
        add_train_command,
        add_attack_command,
        add_table_command,
        add_transfer_command,
        add_dashboard_command,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except NeronetError as err:
        print(f"neronet: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidArchitecture as err:
        print(
            f"neronet: error: the architecture cannot be built ({err}); "
            "check the spec or model file",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except sqlite3.DatabaseError as err:
        if "full" in str(err).lower():  # SQLITE_FULL: the disk filled while committing
            return _disk_full(str(err))
        if "disk i/o error" in str(err).lower():  # SQLITE_IOERR: a WAL write on a full disk
            return _disk_full(f"{err}; or the disk is failing")
        print(
            f"neronet: error: run database error ({err}); check the run directory "
            "is intact and not used by another neronet process",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handler (e.g. at start-up)
        print(
            "\nneronet: interrupted; every write is atomic, so nothing is half-written: run "
            "the same command again to resume or restart",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return _disk_full(f"{err.strerror}: {err.filename}" if err.filename else str(err))
        if err.errno == errno.ENAMETOOLONG:
            name = str(err.filename or "")
            shown = f"'{name[:60]}...' ({len(name)} characters)" if name else "a path"
            print(
                f"neronet: error: {shown} is too long for the file system; choose a "
                "shorter path or name",
                file=sys.stderr,
            )
            return EXIT_USAGE
        raise


def _reader_gone() -> int:
    """The reader of stdout went away (``neronet best RUN | head -1``): stop quietly, as
    Unix tools do, with the status of a process killed by SIGPIPE. Later writes (the
    interpreter's final flush) go to /dev/null instead of raising again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _disk_full(what: str) -> int:
    """A full disk mid-write: every write is atomic (temporary file, then rename; one
    transaction per row), so nothing is half-written and the same command resumes."""
    print(
        f"neronet: error: the disk is full ({what}); free some space and run the same "
        "command again: it resumes where it stopped",
        file=sys.stderr,
    )
    return EXIT_USAGE
