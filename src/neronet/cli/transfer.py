"""``neronet transfer-set``: build RAS's stored adversarial set from the ``transfer`` section."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console


def add_transfer_command(sub: argparse._SubParsersAction) -> None:
    """Register ``neronet transfer-set``."""
    p = sub.add_parser(
        "transfer-set",
        help="build a transfer set (RAS): black-box attacks on source models, stored",
        description="Train the source models of the config's transfer section, attack their "
        "test images (L0 and L-inf, DE and CMA-ES) and store the successful samples in "
        "--out (safetensors), with its composition (paper's Table 1) in --out.md and a log "
        "in --out.log. Source trainings are kept in --out.sources and resumed.",
    )
    p.add_argument("--config", help="YAML config (default: quickstart)")
    p.add_argument("--out", required=True, help="the set to write (e.g. transfer.safetensors)")
    p.add_argument("--force", action="store_true", help="replace an existing --out set")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=cmd_transfer_set)


def cmd_transfer_set(args: argparse.Namespace) -> int:
    from neronet.cli.common import logged, routed
    from neronet.config import load_config
    from neronet.outputs import check_output
    from neronet.plugins import check_plugins
    from neronet.progress import progress_bar
    from neronet.transfer.artifact import read_transfer_set
    from neronet.transfer.build import make_transfer_set, md_path, on_bar, sources_dir

    config = check_plugins(load_config(args.config, list(args.overrides)))
    out = check_output(Path(args.out), force=args.force)
    check_output(md_path(out), force=args.force)
    console = Console(stderr=True)
    log_path = out.with_name(out.name + ".log")
    with (
        logged(log_path, "transfer") as log,
        routed("neronet.transfer", log),
        routed("neronet.train.posttrain", log),
        progress_bar(console) as bar,
    ):
        log.info("building %s from %s", out, args.config or "the quickstart config")
        try:
            make_transfer_set(config, out, on_bar(bar))
        except KeyboardInterrupt:
            log.info("interrupted")
            print(
                f"\ninterrupted; nothing was written to {out}. Source trainings are kept in "
                f"{sources_dir(out)}: run the same command again to resume them",
                file=sys.stderr,
            )
            return 130
    tset, sha = read_transfer_set(out)
    print(md_path(out).read_text(), end="")
    print(
        f"wrote {out} ({len(tset)} samples, sha256 {sha}), {md_path(out)}, {log_path}",
        file=sys.stderr,
    )
    return 0
