"""`python -m experiments.projection SCENARIO.yaml [--out DIR] [--csv]`: the projection of a
description, printed as the table users want (minutes to a loaded model per technology, the
speed-up over unicast, bytes on the WAN and out of the source, state, new-set cost, outage),
and written as a results folder with --out. `python -m experiments project` is the same."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.projection import project, write_projection
from experiments.spec import Experiment, SpecError, load_experiment
from experiments.summary import human_bytes, human_time, new_set_cell, user_table
from topologies.model import Topology


def print_user_table(
    exp: Experiment,
    tables: dict[str, pd.DataFrame],
    topology: Callable[[str], Topology],
    file: Any = None,
) -> pd.DataFrame:
    from rich.console import Console
    from rich.table import Table

    df = user_table(exp, tables, topology)
    sweep = exp.sweep.parameter if exp.sweep else None
    table = Table(
        title=f"PROJECTION (flow model, not measured): {exp.name}",
        caption="minutes: until the last receiver has every byte (mean per round); bytes per "
        "round, WAN bytes summed over WAN links (a byte crossing three counts three times); "
        "new set: per change of receivers (PIM-SM: join/prune messages)",
    )
    cols = ["technology", "GPU hosts", "minutes", "vs unicast", "WAN bytes", "source egress"]
    cols += ["state entries", "new set", "max outage"]
    if sweep:
        table.add_column(sweep)
    for col in cols:
        table.add_column(col, justify="left" if col == "technology" else "right")
    for _, r in df.iterrows():
        newset = new_set_cell(r)
        cells = [
            r["technology"],
            str(r["receivers"]),
            f"{r['minutes']:.2f}",
            "-" if pd.isna(r["vs_unicast"]) else f"{r['vs_unicast']:.1f}x",
            human_bytes(r["wan_bytes"]),
            human_bytes(r["source_egress_bytes"]),
            "-" if pd.isna(r["state_entries"]) else str(int(r["state_entries"])),
            newset,
            human_time(r["max_outage_s"]),
        ]
        if sweep:
            cells.insert(0, _pretty(sweep, r["sweep"]))
        table.add_row(*cells)
    Console(file=file or sys.stdout, width=160).print(table)
    return df


def _pretty(parameter: str, label: str) -> str:
    if parameter == "model_size" and label:
        n = float(label)
        return f"{n / 1e12:g} TB" if n >= 1e12 else f"{n / 1e9:g} GB"
    return label


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.projection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("scenario", type=Path, help="experiment or scenario YAML")
    ap.add_argument("--out", type=Path, help="also write the tables as a results folder here")
    ap.add_argument("--csv", action="store_true", help="write CSV instead of Parquet")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        exp = load_experiment(a.scenario)
        proj = project(exp, base=a.scenario.parent)
    except (SpecError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_user_table(proj.experiment, proj.tables, proj.topology)
    if a.out:
        path = write_projection(proj, a.out, fmt="csv" if a.csv else "parquet")
        print(f"tables written to {path}")
    return 0
