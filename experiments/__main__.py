"""python -m experiments COMMAND ...: the experiment's commands.

  run EXP.yaml        run an experiment (make run-experiment; root, Mininet): the network
                      once, each technology's rounds, results/<time>-<name>/, the summary
  project EXP.yaml    the flow-model projection (python -m experiments.projection)
  summary RESULTS     the summary table of a results folder
  report RESULTS      the figures of a results folder (python -m experiments.report)
  validate RESULTS    predicted against measured: the flow model's times and link bytes,
                      and with --machine the CPU-bound time on the emulating machine

`python -m experiments COMMAND --help` tells a command's options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("run", "project", "summary", "report", "validate")


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


def validate_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments validate",
        description="Predicted against measured for a results folder, per technology and "
        "round: the flow model's round time and link bytes (its prediction/, made when "
        "missing) and, with --machine, the CPU-bound time of the same work on the machine "
        "whose costs the calibration folders measured (experiments.emulation); the round "
        "takes the longer of the two.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("results", type=Path, help="a measured results folder")
    ap.add_argument(
        "--machine",
        type=Path,
        nargs="+",
        metavar="CALIBRATION",
        help="measured results folders (two model sizes at least, e.g. "
        "scenarios/machine-costs.yaml's run) to fit the machine's CPU costs from",
    )
    return ap


VALIDATE_COLUMNS = {
    "time_s_measured": "measured s",
    "time_s_predicted": "links s",
    "time_s_cpu": "CPU s",
    "repair_s": "repairs s",
    "time_s_emulated_low": "emulated s from",
    "time_s_emulated": "to",
    "emulated_time_error": "error",
    "time_error": "links error",
    "bytes_error": "bytes error",
}


def _validate(argv: list[str]) -> int:
    from experiments.emulation import MachineCosts
    from experiments.results import ResultsError, read_results
    from experiments.validation import agreement_text, compare, predict_beside

    a = validate_parser().parse_args(argv)
    try:
        machine = None
        if a.machine:
            machine = MachineCosts.fit(*(read_results(p) for p in a.machine))
        if not (a.results / "prediction" / "environment.json").exists():
            predict_beside(a.results)
        df = compare(a.results, machine)
    except (OSError, ResultsError, ValueError) as e:
        print(f"validate: {e}", file=sys.stderr)
        return 2
    if machine is not None:
        print(f"machine ({', '.join(str(p) for p in a.machine)}): {machine.as_dict()}")
    cols = {k: v for k, v in VALIDATE_COLUMNS.items() if k in df}
    table = df.set_index(["sweep", "technology", "round"])[list(cols)].rename(columns=cols)
    print(table.to_string(float_format=lambda x: f"{x:.3f}"))
    print(agreement_text(df))
    return 0


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
    if a.command == "validate":
        return _validate(a.args)
    return _summary(a.args)


if __name__ == "__main__":
    sys.exit(main())
