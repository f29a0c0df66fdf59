"""`python -m bench [NAME ...]` (what `make bench` runs): run every bench/*.py module's main().

Each benchmark prints its own numbers and ratios against a baseline measured in the same
run. A benchmark that cannot run here (e.g. needs root) says why; the runner goes on and
exits non-zero if any benchmark failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(benchmarks())})",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    names = ap.parse_args(argv).names
    modules = benchmarks()
    if names:
        unknown = [n for n in names if n not in modules]
        if unknown:
            ap.error(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(modules)}")
        modules = names
    failed = []
    for name in modules:
        print(f"== bench.{name}", flush=True)
        saved = sys.argv
        sys.argv = [f"bench.{name}"]  # each main() sees no command-line arguments
        try:
            mod = importlib.import_module(f"bench.{name}")
            rc = mod.main()
            if rc not in (None, 0):
                failed.append(name)
        except SystemExit as e:
            if e.code not in (None, 0):
                failed.append(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        finally:
            sys.argv = saved
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
