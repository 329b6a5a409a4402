"""Benchmark: does an open dashboard slow the search it watches?

Runs the same short search (the quickstart at ``--generations``, a fresh run
directory each time) with and without ``neronet dashboard`` serving its directory
and a client polling the page's JSON (``/api/state``) every ``--poll`` seconds
(the page itself polls every 2 s; a shorter interval is the harsher test). The two
variants take turns (without, with / with, without / ...) so a drift in the shared
machine's load hits both alike; each figure is the search's wall time from the
command's start to its exit.

    python bench/dashboard_overhead.py --rounds 2 --generations 2 --poll 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def search(run: Path, generations: int) -> float:
    """Seconds of one ``neronet evolve`` (the quickstart) into ``run``."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "neronet.cli",
            "evolve",
            "--run",
            str(run),
            f"search.generations={generations}",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def watched_search(run: Path, generations: int, poll_s: float) -> tuple[float, int]:
    """The search's seconds with a dashboard on ``run`` polled every ``poll_s``; polls made."""
    server = subprocess.Popen(
        [sys.executable, "-m", "neronet.cli", "dashboard", str(run), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[1]  # "dashboard: URL (Ctrl-C stops it)"
        stop = threading.Event()
        polls = [0]

        def poll() -> None:
            while not stop.wait(poll_s):
                with urllib.request.urlopen(f"{url}api/state?source=0", timeout=30) as reply:
                    json.load(reply)
                polls[0] += 1

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        seconds = search(run, generations)
        stop.set()
        poller.join()
        return seconds, polls[0]
    finally:
        server.terminate()
        server.wait()


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between polls")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"without": [], "with": []}
    polls: list[int] = []
    order = ["without", "with"]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for variant in order:
                run = Path(tmp) / f"{variant}-{r}"
                if variant == "with":
                    seconds, count = watched_search(run, args.generations, args.poll)
                    polls.append(count)
                else:
                    seconds = search(run, args.generations)
                times[variant].append(seconds)
                load = os.getloadavg()[0]
                print(f"round {r + 1} {variant:>7}: {seconds:6.1f} s (load {load:.2f})")
            order.reverse()
    ratio = statistics.median(times["with"]) / statistics.median(times["without"])
    result = {"seconds": times, "polls": polls, "with_over_without": ratio, **vars(args)}
    result["json_out"] = str(args.json_out)
    print(f"with / without (medians): {ratio:.3f}")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
