"""`make clean-net`: remove what crashed testbed runs left behind (switch processes, Mininet
shells and their namespaces, interfaces, bridges), only objects those runs recorded in
/run/mcast-testbed/, and only for runs whose owner process is gone.

    python -m experiments.cleanup [--run RUN-ID] [--force]
"""

from __future__ import annotations

import argparse
import sys

from testbed.cleanup import cleanup


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.cleanup", description=__doc__)
    ap.add_argument("--run", default=None, help="only this run id")
    ap.add_argument("--force", action="store_true", help="even if its owner is still running")
    args = ap.parse_args(argv)
    reports = cleanup(args.run, force=args.force)
    if not reports:
        print("clean-net: no recorded runs" + (f" named {args.run}" if args.run else ""))
    for r in reports:
        print(f"clean-net: {r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
