"""python -m experiments {run, project, summary, report} ...

run EXP.yaml        run an experiment (make run-experiment; root, Mininet): the network
                    once, each technology's rounds, results/<time>-<name>/, the summary
                    (--pim-no-bfd, --pim-carrier: how pim-sm detects and sees failures)
project EXP.yaml    the flow-model projection (same as python -m experiments.projection)
summary RESULTS     the summary table of a results folder
report RESULTS      the figures of a results folder
"""

from __future__ import annotations

import sys
from pathlib import Path


def _run(argv: list[str]) -> int:
    import argparse
    import logging

    from experiments.runner import RunnerUnavailable, run_experiment
    from experiments.spec import SpecError, check_against, load_experiment
    from experiments.topology_source import build_topology

    ap = argparse.ArgumentParser(prog="python -m experiments run")
    ap.add_argument("experiment", type=Path)
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--build", type=Path, default=None, help="compiled P4 programs (build/)")
    ap.add_argument("--no-progress", action="store_true", help="lines instead of a bar")
    ap.add_argument("--prefix", default=None, help="Mininet node prefix (default exi + 2 letters)")
    ap.add_argument("--pim-no-bfd", action="store_true", help="pim-sm: no BFD, OSPF detects")
    ap.add_argument(
        "--pim-carrier", action="store_true", help="pim-sm: failures drop the carrier (not silent)"
    )
    a = ap.parse_args(argv)
    logging.getLogger("finsy").setLevel(logging.ERROR)  # "gNMI is not implemented" per switch
    try:
        exp = load_experiment(a.experiment)
        topo = build_topology(exp, a.experiment.parent)
        check_against(exp, topo)
    except SpecError as e:
        print(f"run-experiment: {e}", file=sys.stderr)
        return 2
    try:
        out = run_experiment(
            exp,
            a.results,
            a.experiment.parent,
            build=a.build,
            prefix=a.prefix,
            progress=not a.no_progress,
            pim_bfd=not a.pim_no_bfd,
            pim_failures="carrier" if a.pim_carrier else "silent",
        )
    except RunnerUnavailable as e:
        print(
            f"run-experiment: {a.experiment} is valid, but nothing was run. Missing: "
            f"{'; '.join(e.missing)}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            "run-experiment: interrupted; the network is torn down and the rounds measured "
            "so far are saved",
            file=sys.stderr,
        )
        return 130
    from experiments.summary import print_results_summary

    print_results_summary(str(out))
    print(f"results: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "run":
        return _run(rest)
    if cmd == "project":
        from experiments.projection.cli import main as project_main

        return project_main(rest)
    if cmd == "report":
        from experiments.report import main as report_main

        return report_main(rest)
    if cmd == "summary":
        from experiments.results import ResultsError
        from experiments.summary import print_results_summary

        if len(rest) != 1:
            print("usage: python -m experiments summary RESULTS_DIR", file=sys.stderr)
            return 2
        try:
            print_results_summary(rest[0])
        except ResultsError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
