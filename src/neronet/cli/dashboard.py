"""``neronet dashboard PATH...``: serve the live page over runs, studies and experiments."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from neronet.errors import NeronetError

DEFAULT_PORT = 8765


def add_dashboard_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet dashboard``."""
    p = sub.add_parser(
        "dashboard",
        help="a live web page over runs, studies, experiments or surveys (read-only, offline)",
        description="Serve a page that follows searches while they run: progress and ETA, "
        "every individual (sort, filter, masking flag and reason), fitness and accuracy per "
        "generation (across a study's runs), the Pareto front of an NSGA-II run, RAS's "
        "clusters, any individual's architecture on click, an experiment's retrain and "
        "attack tables, and a survey's progress, correlations so far and latest rows. It "
        "only reads: the search is never blocked. A PATH that holds no "
        "search yet is shown as waiting until one starts there.",
    )
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="run, study, experiment or survey directory"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 shares it)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: a free one)",
    )
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from neronet.dashboard import Dashboard
    from neronet.dashboard.sources import check_path

    paths = [Path(p) for p in args.paths]
    for path in paths:
        check_path(path)
    if not 0 <= args.port <= 65535:
        raise NeronetError(f"--port {args.port}: pass a port from 0 (any free one) to 65535")
    try:
        dashboard = Dashboard(paths, args.host, args.port)
    except OSError as err:
        raise NeronetError(
            f"cannot listen on {args.host}:{args.port} ({err.strerror or err}); pass another "
            "--port (0 picks a free one) or --host"
        ) from None
    for path in paths:
        if not path.exists():
            print(
                f"{path}: no search there yet; the page shows it once one starts", file=sys.stderr
            )
    with dashboard:
        print(f"dashboard: {dashboard.url} (Ctrl-C stops it)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("dashboard stopped", file=sys.stderr)
    return 0
