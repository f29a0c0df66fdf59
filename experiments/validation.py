"""The projection beside the measurement: for a results folder, the flow model's prediction
for the same parameters (same topology, bandwidths, model size, rounds, failures, delays) in
`prediction/`, and the comparison predicted vs measured per technology.

The goal: completion times within 10 %, link bytes within 2 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.emulation import MachineCosts, cpu_times
from experiments.projection import project, write_projection
from experiments.results import Format, read_results
from experiments.spec import ControlTiming
from wire.technology import Technology

TIME_GOAL = 0.10
BYTES_GOAL = 0.02


def predict_beside(results_dir: str | Path, fmt: Format = "parquet") -> Path:
    """Compute the projection for a results folder's own description (unscaled: the emulated
    bandwidths and model size) and store it in <results_dir>/prediction/."""
    res = read_results(results_dir)
    # The topologies as run are stored in the folder; a generator could have changed since.
    # A projection's control rows are the model's own, not measurements of the controller.
    measured = res.kind == "measurement"
    timing = measured_timing(res.tables, res.experiment.control) if measured else {}
    rates = measured_rates(res.tables) if measured else {}
    proj = project(res.experiment, scale=False, topology=res.topology, timing=timing, rates=rates)
    return write_projection(proj, Path(results_dir) / "prediction", fmt, new_dir=False)


def measured_rates(tables: dict[str, pd.DataFrame]) -> dict[tuple[str, str, int], float]:
    """The sending rate each round's sender was given (Mbit/s; the mean over repetitions) per
    (sweep label, technology, round). Under `auto` the runner may have chosen one below the
    links' rate, because the machine's CPU forwards no more (experiments.ideal.capacity_rate):
    the prediction then paces at the same rate, or it would predict the links' time."""
    rounds = tables.get("rounds")
    if rounds is None or rounds.empty or "sending_rate_mbit" not in rounds:
        return {}
    mean = rounds.groupby(["sweep", "technology", "round"])["sending_rate_mbit"].mean()
    return {(str(s), str(t), int(k)): float(v) for (s, t, k), v in mean.items() if v > 0}


def write_stages(control: pd.DataFrame) -> list[pd.DataFrame]:
    """A reaction's writes split into the controller's write rounds: a row that starts after
    every earlier write has ended opens the next round (the controller awaits each round)."""
    rows_ = control.sort_values("started_s")
    stages: list[list[int]] = []
    end = float("-inf")
    for i, r in rows_.iterrows():
        if not stages or r["started_s"] >= end:
            stages.append([])
        stages[-1].append(i)
        end = max(end, r["started_s"] + r["duration_s"])
    return [rows_.loc[ix] for ix in stages]


def measured_timing(
    tables: dict[str, pd.DataFrame], described: ControlTiming
) -> dict[str, ControlTiming]:
    """SR-P2MP's (MPLS and SRv6) reaction costs as the emulation's controller recorded them:
    `compute_ms` from detection to its first write, `write_ms` the first make-before-break
    round's span per switch written (the round installs the new tree on every switch of it).
    Medians over the link events; technologies without such records keep the described
    `control:`."""
    control, failures = tables.get("control"), tables.get("failures")
    if control is None or failures is None or control.empty or failures.empty:
        return {}
    out: dict[str, ControlTiming] = {}
    events = failures[failures["receiver"].fillna("") == ""]
    keys = ["sweep", "repetition", "round"]
    for tech in (Technology.SR_P2MP, Technology.SRV6_P2MP):
        computes: list[float] = []
        writes: list[float] = []
        for action, kind in (("failure", "link-down"), ("revert", "link-up")):
            ctl = control[(control["technology"] == tech) & (control["action"] == action)]
            ctl = ctl[ctl["switch"].fillna("") != ""]  # per-switch records only
            ev = events[(events["technology"] == tech) & (events["kind"] == kind)]
            for key, rows_ in ctl.groupby(keys):
                hit = ev[(ev[keys] == pd.Series(key, index=keys)).all(axis=1)]
                det = hit["detected_s"].dropna()
                if det.empty or rows_["started_s"].isna().any():
                    continue
                first = write_stages(rows_)[0]
                computes.append(float(first["started_s"].min() - det.iloc[0]))
                span = (first["started_s"] + first["duration_s"]).max() - first["started_s"].min()
                writes.append(float(span) / first["switch"].nunique())
        if computes:
            out[tech] = described.model_copy(
                update={
                    "compute_ms": max(0.0, float(pd.Series(computes).median()) * 1e3),
                    "write_ms": float(pd.Series(writes).median()) * 1e3,
                }
            )
    return out


def interval_error(got: pd.Series, low: pd.Series, high: pd.Series) -> pd.Series:
    """The relative error of a measurement against a predicted interval: 0 inside, else to
    the nearer end."""
    return (got / high - 1).where(got > high, (got / low - 1).where(got < low, 0.0))


def compare(results_dir: str | Path, machine: MachineCosts | None = None) -> pd.DataFrame:
    """Predicted against measured per (sweep, technology, round), measured averaged over
    repetitions: round time and total link bytes, with relative errors and the verdict. For
    link bytes the prediction is an interval where PIM-SM may keep stale branches
    (link_bytes_predicted_low .. link_bytes_predicted); elsewhere the two are equal.

    With `machine` (the emulating machine's costs, experiments.emulation, fitted from
    another folder) also the CPU-bound time of the predicted work (`time_s_cpu`, and
    `time_s_cpu_low` without PIM-SM's stale branches), the repairs after a CPU-bound first
    pass (`repair_s`) and the emulation's time, the longer of the links' and the CPU's with
    its repairs (`time_s_emulated_low` .. `time_s_emulated`), against the measurement
    (`emulated_time_error`: 0 inside, else to the nearer end; `emulated_time_ok`)."""
    res = read_results(results_dir)
    pred = res.prediction()
    if pred is None:
        raise FileNotFoundError(f"{results_dir}: no prediction/ (run predict_beside first)")
    keys = ["sweep", "technology", "round"]

    def per_round(tables: dict[str, pd.DataFrame], *extra: tuple[str, str]) -> pd.DataFrame:
        """Round time, link bytes and `extra` (table, column) sums, averaged over repetitions."""
        by = [*keys, "repetition"]
        cols = [
            tables["receivers"].groupby(by)["completed_s"].max().rename("time_s"),
            tables["links"].groupby(by)["bytes"].sum().rename("link_bytes"),
            *(tables[t].groupby(by)[c].sum() for t, c in extra),
        ]
        return pd.concat(cols, axis=1).groupby(keys).mean()

    m = per_round(res.tables)
    p = per_round(pred.tables, ("rounds", "stale_link_bytes"))
    df = m.merge(
        p, left_index=True, right_index=True, suffixes=("_measured", "_predicted"), how="inner"
    ).reset_index()
    df["time_error"] = df["time_s_measured"] / df["time_s_predicted"] - 1
    # PIM-SM's stale branches may be pruned at once: any total between the prediction less
    # those bytes and the prediction itself agrees; outside, the error is to the nearer end
    high = df["link_bytes_predicted"]
    low = high - df["stale_link_bytes"].fillna(0.0)
    got = df["link_bytes_measured"]
    df["link_bytes_predicted_low"] = low
    df["bytes_error"] = interval_error(got, low, high)
    df["time_ok"] = df["time_error"].abs() <= TIME_GOAL
    df["bytes_ok"] = df["bytes_error"].abs() <= BYTES_GOAL
    df["measured_kind"] = res.kind
    if machine is not None:
        df = df.merge(cpu_times(machine, pred).reset_index(), on=keys, how="left")
        linked = df["time_s_predicted"]
        high = np.maximum(linked, df["time_s_cpu"] + df["repair_s"])
        low = np.maximum(linked, df["time_s_cpu_low"] + df["repair_s"])
        df["time_s_emulated"], df["time_s_emulated_low"] = high, low
        df["emulated_time_error"] = interval_error(df["time_s_measured"], low, high)
        df["emulated_time_ok"] = df["emulated_time_error"].abs() <= TIME_GOAL
    return df


def agreement_text(df: pd.DataFrame) -> str:
    """One line per technology stating the agreement against the goals."""
    lines = []
    for tech, g in df.groupby("technology", sort=False):
        t = g["time_error"].abs().max()
        b = g["bytes_error"].abs().max()
        lines.append(
            f"{tech}: completion time within {t:.1%} (goal {TIME_GOAL:.0%}: "
            f"{'met' if t <= TIME_GOAL else 'NOT met'}), link bytes within {b:.1%} "
            f"(goal {BYTES_GOAL:.0%}: {'met' if b <= BYTES_GOAL else 'NOT met'})"
        )
        if "emulated_time_error" in g:
            e = g["emulated_time_error"].abs().max()
            lines.append(
                f"{tech}: with this machine's CPU, completion time within {e:.1%} "
                f"(goal {TIME_GOAL:.0%}: {'met' if e <= TIME_GOAL else 'NOT met'})"
            )
    if len(df) and (df["measured_kind"] != "measurement").any():
        lines.append("note: the 'measured' side of this folder is itself a projection")
    return "\n".join(lines)
