"""`make clean-net`: remove what crashed testbed runs left behind (switch processes, Mininet
shells and their namespaces, interfaces, bridges), only objects those runs recorded in
/run/mcast-testbed/, and only for runs whose owner process is gone. Also crashed PIM-SM runs
(pimsm's FRR routers): their run directories `pimsm-*` in the temp directory, ended with
pimsm's `clean_run_dir` when the owner recorded in the directory is gone.

    python -m experiments.cleanup [--run RUN-ID] [--force] [--pim-base DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testbed.cleanup import cleanup


def clean_pim_runs(
    base: Path | None = None, run: str | None = None, force: bool = False
) -> list[str]:
    """End and remove pimsm run directories under `base` whose owner is dead (all with
    `force`; a run that recorded no owner only with `force`). `run`: only the directory of
    that name or tag. Returns one line per run directory seen."""
    from pimsm.network import clean_run_dir, find_run_dirs, run_owner_alive

    out = []
    for d in find_run_dirs(base):
        tag = (d / "tag").read_text().strip()
        if run is not None and run not in (d.name, tag):
            continue
        owner = run_owner_alive(d)
        if not force and owner is not False:
            why = "its owner is still running" if owner else "it recorded no owner"
            out.append(f"{d}: skipped ({why}; --force to clean it anyway)")
            continue
        pids = clean_run_dir(d)
        out.append(f"{d}: pim-sm run {tag}: ended {len(pids)} processes, removed")
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.cleanup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--run", default=None, help="only this run id (or pimsm run dir / tag)")
    ap.add_argument("--force", action="store_true", help="even if its owner is still running")
    ap.add_argument(
        "--pim-base", type=Path, default=None, help="where pimsm run dirs are (temp dir)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reports = cleanup(args.run, force=args.force)
    pim = clean_pim_runs(args.pim_base, args.run, args.force)
    if not reports and not pim:
        print("clean-net: no recorded runs" + (f" named {args.run}" if args.run else ""))
    for r in reports:
        print(f"clean-net: {r}")
    for line in pim:
        print(f"clean-net: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
