"""The summary of a results folder: one row per technology (and sweep value) with each metric,
its ideal, and the fidelity ratio measured / ideal (docs/architecture.md, "Where each number
comes from").

    round time      max completion over a round's receivers (not those that left mid-round);
                    mean over rounds and repetitions
                    ideal: the model's frames over the bottleneck link (rounds.ideal_time_s)
    link bytes      all links, both directions, per round
                    ideal: tree edges x model frames (unicast: path hops x model frames)
    source egress   bytes the model store put on its link, per round
                    ideal: model frames (multicast), receivers x model frames (unicast)
    (model frames: the model in frames of the topology's path MTU, headers included)
    state entries   sum over switches, the largest round
    new-set cost    writes and time of the control plane per change of receiver set
    outage          longest time an affected receiver got no data after a failure

and, per technology and failure (`failure_table`): detection (the network's, measured from
the moment the failure was applied), local repair (data back before the network reacted:
BIER-FRR), reconvergence (the reaction's end), the longest outage at a receiver (its own
arrival times), packets lost and bytes repaired.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np
import pandas as pd

from experiments.ideal import Wire, payload_share
from experiments.spec import Experiment, source_host
from topologies.model import Topology
from wire.technology import MULTICAST, Technology

GROUP = ["sweep", "technology"]
ROUND = ["sweep", "technology", "repetition", "round"]


def aggregate(
    exp: Experiment, tables: dict[str, pd.DataFrame], topology: Callable[[str], Topology]
) -> pd.DataFrame:
    """Per (sweep, technology): metrics, ideals and ratios. `topology(sweep_label)` gives the
    topology of a sweep value (for the source host)."""
    rec = tables["receivers"]
    if "left_s" in rec:  # a receiver that left mid-round has no model to wait for or verify
        rec = rec[rec["left_s"].isna()]
    rnd = tables["rounds"]
    links = tables["links"]
    per_round = rec.groupby(ROUND, sort=False).agg(
        round_time_s=("completed_s", lambda s: s.max(skipna=False)),
        unverified=("verified", lambda s: int((~s.fillna(False).astype(bool)).sum())),
    )
    link_bytes = links.groupby(ROUND, sort=False)["bytes"].sum().rename("link_bytes")
    wan = links[links["wan"].fillna(False).astype(bool)]
    wan_bytes = wan.groupby(ROUND, sort=False)["bytes"].sum().rename("wan_bytes")
    sources = {s: source_host(exp, topology(s)) for s in rnd["sweep"].unique()}
    is_src = links["src"] == links["sweep"].map(sources)
    egress = links[is_src].groupby(ROUND, sort=False)["bytes"].sum().rename("source_egress_bytes")
    state = tables["switches"].groupby(ROUND, sort=False)["entries"].sum().rename("state_entries")
    r = rnd.set_index(ROUND)
    df = (
        r[["receivers", "model_bytes", "ideal_time_s", "ideal_link_bytes", "switches_kept_up"]]
        .join(r[["switch_drops", "note"]])
        .join(per_round, how="left")
        .join([link_bytes, wan_bytes, egress, state], how="left")
        .reset_index()
    )
    multicast = df["technology"].isin(MULTICAST)
    wires = {s: Wire.of(topology(s)) for s in rnd["sweep"].unique()}
    frames = [
        m / payload_share(t, wires[s])
        for s, t, m in zip(df["sweep"], df["technology"], df["model_bytes"], strict=True)
    ]
    df["ideal_source_egress"] = np.where(
        multicast, frames, df["receivers"] * np.asarray(frames, dtype=float)
    ).astype(float)
    given = r["ideal_source_bytes"].reindex(pd.MultiIndex.from_frame(df[ROUND])).to_numpy()
    df["ideal_source_egress"] = np.where(  # rounds of several models say theirs
        pd.isna(given), df["ideal_source_egress"], given
    ).astype(float)
    ctrl = tables["control"]
    newset = ctrl[ctrl["action"] == "new-set"].groupby(GROUP, sort=False)
    outage = tables["failures"].groupby(GROUP, sort=False)["outage_s"].max()
    out = []
    for (sweep, tech), g in df.groupby(GROUP, sort=False):
        reps = g.groupby("repetition")
        row: dict[str, Any] = {
            "sweep": sweep,
            "technology": tech,
            "receivers": int(g["receivers"].max()),
            "round_time_s": g["round_time_s"].mean(),
            "all_rounds_s": reps["round_time_s"].sum().mean(),
            "ideal_time_s": g["ideal_time_s"].mean(),
            "link_bytes": g["link_bytes"].mean(),
            "ideal_link_bytes": g["ideal_link_bytes"].mean(),
            "wan_bytes": g["wan_bytes"].fillna(0).mean(),
            "source_egress_bytes": g["source_egress_bytes"].mean(),
            "ideal_source_egress": g["ideal_source_egress"].mean(),
            "state_entries": g["state_entries"].max(),
            "new_set_writes": _mean(newset, (sweep, tech), "writes"),
            "new_set_s": _mean(newset, (sweep, tech), "duration_s"),
            "max_outage_s": float(outage.get((sweep, tech), np.nan)),
            "unverified": int(g["unverified"].astype("Float64").fillna(0).sum()),
            "rounds_not_kept_up": int((g["switches_kept_up"] == False).sum()),  # noqa: E712
            "switch_drops": g["switch_drops"].sum(min_count=1),
            "drop_causes": drop_causes(g["note"]),
        }
        row["fidelity_time"] = _ratio(row["round_time_s"], row["ideal_time_s"])
        row["fidelity_link_bytes"] = _ratio(row["link_bytes"], row["ideal_link_bytes"])
        row["fidelity_egress"] = _ratio(row["source_egress_bytes"], row["ideal_source_egress"])
        out.append(row)
    return pd.DataFrame(out)


def drop_causes(notes: pd.Series) -> list[str]:
    """The rounds' sentences saying which switch lost frames before its pipeline and why
    (experiments.switch_load), each once, in the order of the rounds."""
    out: list[str] = []
    for note in notes.dropna():
        for part in str(note).split("; "):
            if part.startswith("switch ") and "before its pipeline" in part and part not in out:
                out.append(part)
    return out


def user_table(
    exp: Experiment, tables: dict[str, pd.DataFrame], topology: Callable[[str], Topology]
) -> pd.DataFrame:
    """Per sweep value and technology: minutes until every receiver has the model, the speed-up
    over unicast, bytes on the WAN and out of the source, state, new-set cost, outage."""
    agg = aggregate(exp, tables, topology)
    agg["minutes"] = agg["round_time_s"] / 60
    uni = agg[agg["technology"] == Technology.UNICAST].set_index("sweep")["round_time_s"]
    agg["vs_unicast"] = agg["sweep"].map(uni) / agg["round_time_s"]
    return agg


def _mean(groups: Any, key: tuple[str, str], col: str) -> float:
    try:
        m = groups.get_group(key)[col].mean()
    except KeyError:
        return float("nan")
    return float("nan") if pd.isna(m) else float(m)  # all NA (PIM-SM writes nothing)


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b and not pd.isna(b) and not pd.isna(a) else float("nan")


def human_bytes(n: float) -> str:
    if pd.isna(n):
        return "-"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


def human_time(s: float) -> str:
    if pd.isna(s):
        return "-"
    if s >= 120:
        return f"{s / 60:.1f} min"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1e3:.1f} ms"


def new_set_cell(r: pd.Series) -> str:
    """What a new receiver set cost: writes (PIM-SM: join/prune messages) and time, or '-'."""
    if pd.isna(r["new_set_writes"]):
        return "-"
    unit = "msgs" if Technology(r["technology"]).ip_multicast else "writes"
    return f"{r['new_set_writes']:.0f} {unit}, {human_time(r['new_set_s'])}"


def _pair(value: str, ideal: str, ratio: float) -> str:
    r = "" if pd.isna(ratio) else f" ({ratio:.2f}x)"
    return f"{value} / {ideal}{r}"


def print_summary(
    exp: Experiment,
    tables: dict[str, pd.DataFrame],
    topology: Callable[[str], Topology],
    kind: str,
    file: TextIO | None = None,
) -> pd.DataFrame:
    """The on-screen summary (rich table); returns the aggregated frame."""
    from rich.console import Console
    from rich.table import Table

    agg = aggregate(exp, tables, topology)
    label = "MEASURED" if kind == "measurement" else "PROJECTION (flow model, not measured)"
    table = Table(
        title=f"{label}: {exp.name}",
        caption="each cell: value / ideal (value over ideal); ideal time = model bytes over the "
        "bottleneck link; ideal bytes = tree edges x model bytes",
    )
    sweep = exp.sweep.parameter if exp.sweep else None
    cols = [
        "technology",
        "round time",
        "link bytes",
        "source egress",
        "state",
        "new set",
        "outage",
    ]
    if sweep:
        table.add_column(sweep)
    for c in cols:
        table.add_column(c, justify="left" if c == "technology" else "right")
    for _, r in agg.iterrows():
        newset = new_set_cell(r)
        cells = [
            r["technology"],
            _pair(human_time(r["round_time_s"]), human_time(r["ideal_time_s"]), r["fidelity_time"]),
            _pair(
                human_bytes(r["link_bytes"]),
                human_bytes(r["ideal_link_bytes"]),
                r["fidelity_link_bytes"],
            ),
            _pair(
                human_bytes(r["source_egress_bytes"]),
                human_bytes(r["ideal_source_egress"]),
                r["fidelity_egress"],
            ),
            "-" if pd.isna(r["state_entries"]) else f"{int(r['state_entries'])}",
            newset,
            human_time(r["max_outage_s"]),
        ]
        if sweep:
            cells.insert(0, r["sweep"])
        table.add_row(*cells)
    console = Console(file=file or sys.stdout, width=170)
    console.print(table)
    print_failures(tables, kind, console)
    for line in warnings(agg, kind):
        console.print(line)
    return agg


FAILURE_KEYS = ["sweep", "technology", "kind", "element", "mode"]


def failure_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per sweep value, technology and failure (down events: kind, element, mode): medians
    over its occurrences (repetitions, rounds) of detection, local repair and reconvergence,
    each from the moment it was applied; the longest outage of an affected receiver; packets
    lost and bytes repaired (summed over receivers, mean over occurrences); affected
    receivers (mean over occurrences)."""
    f = tables["failures"]
    if f.empty:
        return pd.DataFrame()
    f = f.copy()
    if "mode" not in f:
        f["mode"] = pd.NA
    if "local_repair_s" not in f:
        f["local_repair_s"] = float("nan")
    f["mode"] = f["mode"].fillna("carrier")  # folders from before modes were recorded
    down = f[f["kind"].str.endswith("down")]
    occ = ["repetition", "round", "event"]
    ev = down[down["receiver"].fillna("") == ""].copy()
    per = down[down["receiver"].fillna("") != ""]
    ev["detection_s"] = ev["detected_s"] - ev["at_s"]
    ev["local_repair_after_s"] = ev["local_repair_s"] - ev["at_s"]
    ev["reconvergence_s"] = ev["reconverged_s"] - ev["at_s"]
    lost = per.groupby(FAILURE_KEYS + occ, sort=False).agg(
        affected=("receiver", "nunique"),
        packets_lost=("packets_lost", lambda s: s.sum(min_count=1)),
        bytes_repaired=("bytes_repaired", lambda s: s.sum(min_count=1)),
        outage_s=("outage_s", "max"),
    )
    ev = ev.drop(columns=[c for c in lost.columns if c in ev.columns])
    ev = ev.set_index(FAILURE_KEYS + occ).join(lost, how="left").reset_index()
    out = ev.groupby(FAILURE_KEYS, sort=False).agg(
        occurrences=("event", "size"),
        detection_s=("detection_s", "median"),
        local_repair_s=("local_repair_after_s", "median"),
        reconvergence_s=("reconvergence_s", "median"),
        max_outage_s=("outage_s", "max"),
        affected=("affected", "mean"),
        packets_lost=("packets_lost", "mean"),
        bytes_repaired=("bytes_repaired", "mean"),
    )
    return out.reset_index()


def print_failures(tables: dict[str, pd.DataFrame], kind: str, console: Any) -> pd.DataFrame:
    from rich.table import Table

    ft = failure_table(tables)
    if ft.empty:
        return ft
    label = "MEASURED" if kind == "measurement" else "PROJECTION (flow model, not measured)"
    table = Table(
        title=f"{label}: failures",
        caption="times from the failure; detection: the network's own (a switch's carrier or "
        "BFD, FRR's logs); local repair: data back before any reaction (BIER-FRR); "
        "reconvergence: the reaction's end",
    )
    sweep = bool(ft["sweep"].astype(str).str.len().max())
    cols = ["technology", "failure", "detection", "local repair", "reconvergence",
            "max outage", "lost pkts", "repaired"]  # fmt: skip
    if sweep:
        table.add_column("sweep")
    for c in cols:
        table.add_column(c, justify="left" if c in ("technology", "failure") else "right")
    for _, r in ft.iterrows():
        cells = [
            r["technology"],
            f"{r['element']} {r['mode']}" + (" (switch)" if r["kind"].startswith("switch") else ""),
            human_time(r["detection_s"]),
            human_time(r["local_repair_s"]),
            human_time(r["reconvergence_s"]),
            human_time(r["max_outage_s"]),
            "-" if pd.isna(r["packets_lost"]) else f"{r['packets_lost']:.0f}",
            human_bytes(r["bytes_repaired"]),
        ]
        if sweep:
            cells.insert(0, r["sweep"])
        table.add_row(*cells)
    console.print(table)
    return ft


def warnings(agg: pd.DataFrame, kind: str) -> list[str]:
    """Lines that must not be missed: switches that could not keep up, unverified models."""
    out = []
    for _, r in agg.iterrows():
        where = f"{r['technology']}" + (f" (sweep {r['sweep']})" if r["sweep"] else "")
        if r["rounds_not_kept_up"]:
            drops = "" if pd.isna(r["switch_drops"]) else f", {int(r['switch_drops'])} drops"
            out.append(
                f"[bold red]{where}: the switches could not keep up with the link rates in "
                f"{r['rounds_not_kept_up']} round(s){drops}; times are the target's, not the "
                "network's.[/]"
            )
            out += [f"[red]  {cause}.[/]" for cause in r["drop_causes"]]
        if r["unverified"]:
            out.append(
                f"[bold red]{where}: {r['unverified']} receiver(s) without a verified model[/]"
            )
    if kind != "measurement":
        out.append("[yellow]These numbers come from the flow model, not from a measurement.[/]")
    return out


def print_results_summary(path: str, file: TextIO | None = None) -> pd.DataFrame:
    from experiments.results import read_results

    res = read_results(path)
    return print_summary(res.experiment, res.tables, res.topology, res.kind, file)
