"""Experiment runner entry point (placeholder until the experiments issue lands)."""

import sys

if __name__ == "__main__":
    print(
        "run-experiment: the experiment runner is not built yet "
        "(issue: 'Experiments: make run-experiment'); nothing was run.",
        file=sys.stderr,
    )
    sys.exit(2)
