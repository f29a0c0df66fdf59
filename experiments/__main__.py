"""python -m experiments COMMAND ...: the experiment's commands.

  run EXP.yaml        run an experiment (make run-experiment; root, Mininet): the network
                      once, each technology's rounds, results/<time>-<name>/, the summary
  project EXP.yaml    the flow-model projection (python -m experiments.projection)
  summary RESULTS     the summary table of a results folder
  report RESULTS      the figures of a results folder (python -m experiments.report)

`python -m experiments COMMAND --help` tells a command's options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("run", "project", "summary", "report")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("command", choices=COMMANDS, help="what to do (above)")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    return ap


def run_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments run",
        description="Run an experiment: bring the network up once, run each technology's "
        "rounds, write results/<time>-<name>/ and print the summary (root, Mininet).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("experiment", type=Path, help="the experiment description (YAML)")
    ap.add_argument(
        "--results", type=Path, default=Path("results"), help="where results go (results/)"
    )
    ap.add_argument("--build", type=Path, default=None, help="compiled P4 programs (build/)")
    ap.add_argument("--no-progress", action="store_true", help="lines instead of a bar")
    ap.add_argument("--prefix", default=None, help="Mininet node prefix (default exi + 2 letters)")
    ap.add_argument("--pim-no-bfd", action="store_true", help="pim-sm: no BFD, OSPF detects")
    return ap


def summary_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments summary",
        description="Print the summary table of a results folder.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("results", help="a results folder")
    return ap


def _run(argv: list[str]) -> int:
    import logging

    from experiments.runner import RunnerUnavailable, run_experiment
    from experiments.spec import SpecError, check_against, load_experiment
    from experiments.topology_source import build_topology

    a = run_parser().parse_args(argv)
    logging.getLogger("finsy").setLevel(logging.ERROR)  # its per-switch warnings
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


def _summary(argv: list[str]) -> int:
    from experiments.results import ResultsError
    from experiments.summary import print_results_summary

    a = summary_parser().parse_args(argv)
    try:
        print_results_summary(a.results)
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if a.command == "run":
        return _run(a.args)
    if a.command == "project":
        from experiments.projection.cli import main as project_main

        return project_main(a.args)
    if a.command == "report":
        from experiments.report import main as report_main

        return report_main(a.args)
    return _summary(a.args)


if __name__ == "__main__":
    sys.exit(main())
