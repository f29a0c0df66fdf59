"""Figures of a results folder (the notebook shows the same ones).

    python -m experiments.report RESULTS_DIR [--out DIR]

writes PNG files into RESULTS_DIR/figures/ (or DIR): completion-time distributions per
technology, bytes per link on the topology drawing, state per switch, the timeline of each
failure, the cost of a new receiver set, the sweep (when the description has one), bytes per
model in rounds of several models at once, the joiners' and leavers' timeline (when a round
has changes), and predicted against measured (when prediction/ exists). Every figure says
in its title whether its numbers were measured or projected.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.results import Results, ResultsError, read_results
from experiments.summary import aggregate


def _kind(res: Results) -> str:
    return "measured" if res.kind == "measurement" else "PROJECTION (flow model)"


def _first_sweep(res: Results) -> str:
    s = res["rounds"]["sweep"]
    return str(s.iloc[0]) if len(s) else ""


def completion_cdf(res: Results) -> Figure:
    """Empirical CDF of receiver completion times per technology (all rounds)."""
    rec = res["receivers"]
    sweep = _first_sweep(res)
    rec = rec[rec["sweep"] == sweep]
    fig, ax = plt.subplots(figsize=(7, 4))
    for tech, g in rec.groupby("technology", sort=False):
        t = np.sort(g["completed_s"].dropna().to_numpy(dtype=float))
        if len(t):
            ax.step(t, np.arange(1, len(t) + 1) / len(t), where="post", label=tech)
    ax.set_xlabel("completion time per receiver (s)")
    ax.set_ylabel("fraction of receivers")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.set_title(f"Completion time, {_kind(res)}" + (f", sweep {sweep}" if sweep else ""))
    fig.tight_layout()
    return fig


def link_bytes_map(res: Results, round_: int = 0) -> Figure:
    """Bytes per link (both directions) drawn on the topology, one panel per technology."""
    sweep = _first_sweep(res)
    topo = res.topology(sweep or None)
    g = nx.Graph()
    for lk in topo.links:
        g.add_edge(lk.a, lk.b)
    pos = nx.kamada_kawai_layout(g) if len(g) <= 400 else nx.spring_layout(g, seed=1)
    links = res["links"]
    links = links[(links["sweep"] == sweep) & (links["round"] == round_)]
    links = links[links["repetition"] == links["repetition"].min()]
    techs = list(dict.fromkeys(links["technology"]))
    fig, axes = plt.subplots(1, max(1, len(techs)), figsize=(5 * max(1, len(techs)), 5))
    axes = np.atleast_1d(axes)
    per = links.groupby(["technology", "link"])["bytes"].sum()
    vmax = float(per.max()) if len(per) else 1.0
    hosts = {h.name for h in topo.hosts}
    for ax, tech in zip(axes, techs, strict=False):
        widths, colors = [], []
        for u, v in g.edges:
            b = per.get((tech, f"{u}-{v}"), per.get((tech, f"{v}-{u}"), 0))
            widths.append(0.5 + 6 * b / vmax if vmax else 0.5)
            colors.append(b / vmax if vmax else 0)
        nx.draw_networkx_edges(
            g, pos, ax=ax, width=widths, edge_color=colors, edge_cmap=plt.cm.viridis
        )
        nx.draw_networkx_nodes(
            g,
            pos,
            ax=ax,
            node_size=[15 if n in hosts else 60 for n in g.nodes],
            node_color=["tab:orange" if n in hosts else "tab:blue" for n in g.nodes],
        )
        total = links[links["technology"] == tech]["bytes"].sum()
        ax.set_title(f"{tech}: {total / 1e6:.1f} MB on all links")
        ax.axis("off")
    fig.suptitle(f"Bytes per link, round {round_}, {_kind(res)} (width and colour ~ bytes)")
    fig.tight_layout()
    return fig


def state_per_switch(res: Results, round_: int = 0) -> Figure:
    sw = res["switches"]
    sweep = _first_sweep(res)
    sw = sw[(sw["sweep"] == sweep) & (sw["round"] == round_)]
    sw = sw[sw["repetition"] == sw["repetition"].min()]
    pivot = sw.groupby(["switch", "technology"], sort=False)["entries"].sum().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(pivot)), 4))
    if len(pivot):
        pivot.plot.bar(ax=ax, width=0.8)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel("entries")
    ax.set_title(f"Delivery state per switch, round {round_}, {_kind(res)}")
    fig.tight_layout()
    return fig


def failure_timeline(res: Results) -> Figure | None:
    """Per technology and failure event: when it happened, was detected, reconverged, and how
    long each affected receiver was without data."""
    fl = res["failures"]
    if fl.empty:
        return None
    events = fl[fl["receiver"] == ""]
    affected = fl[fl["receiver"] != ""]
    techs = list(dict.fromkeys(fl["technology"]))
    fig, axes = plt.subplots(len(techs), 1, figsize=(8, 1.2 + 1.6 * len(techs)), squeeze=False)
    for ax, tech in zip(axes[:, 0], techs, strict=True):
        ev = events[events["technology"] == tech]
        af = affected[affected["technology"] == tech]
        starts = af.merge(
            ev[["sweep", "repetition", "round", "event", "at_s"]],
            how="left",
            on=["sweep", "repetition", "round", "event"],
            suffixes=("", "_ev"),
        )
        for i, (_, r) in enumerate(starts.iterrows()):
            ax.barh(i, r["outage_s"], left=r["at_s_ev"], color="tab:red", height=0.6)
        ax.set_yticks(range(len(starts)), starts["receiver"].tolist(), fontsize=6)
        for _, e in ev.iterrows():
            ax.axvline(e["at_s"], color="k", lw=1)
            ax.axvline(e["detected_s"], color="tab:orange", lw=1, ls="--")
            ax.axvline(e["reconverged_s"], color="tab:green", lw=1, ls=":")
        ax.set_title(f"{tech}: outage per affected receiver", fontsize=9)
    axes[-1, 0].set_xlabel(
        "time from first data packet (s): failure | detected -- | reconverged .."
    )
    fig.suptitle(f"Failure timeline, {_kind(res)}")
    fig.tight_layout()
    return fig


def new_set_cost(res: Results) -> Figure:
    ctrl = res["control"]
    ns = ctrl[ctrl["action"].isin(["new-set", "install"])]
    g = ns.groupby(["technology", "action"], sort=False)[["writes", "duration_s"]].mean()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    if len(g):
        g["writes"].unstack().plot.bar(ax=a1, legend=False)
        (g["duration_s"] * 1e3).unstack().plot.bar(ax=a2)
        a2.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    a1.set_ylabel("writes (PIM-SM: join/prune messages)")
    a2.set_ylabel("control-plane time (ms)")
    fig.suptitle(f"Cost of making a receiver set deliverable, {_kind(res)}")
    fig.tight_layout()
    return fig


def sweep_plot(res: Results) -> Figure | None:
    exp = res.experiment
    if exp.sweep is None:
        return None
    agg = aggregate(exp, res.tables, res.topology)
    agg["x"] = pd.to_numeric(agg["sweep"], errors="coerce")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for tech, g in agg.groupby("technology", sort=False):
        g = g.sort_values("x")
        a1.plot(g["x"], g["round_time_s"], marker="o", label=tech)
        a2.plot(g["x"], g["wan_bytes"], marker="o", label=tech)
    for a in (a1, a2):
        a.set_xlabel(exp.sweep.parameter)
        a.legend()
    a1.set_ylabel("round time (s)")
    a2.set_ylabel("bytes on WAN links per round")
    fig.suptitle(f"Sweep over {exp.sweep.parameter}, {_kind(res)}")
    fig.tight_layout()
    return fig


def model_bytes(res: Results) -> Figure | None:
    """Rounds of several models at once: per technology the bytes each model put on the
    links (every link direction summed; from the frames themselves, `model_links`)."""
    ml = res["model_links"]
    ml = ml[ml["model"] != ""]  # frames of no model: NACKs, BFD
    if ml.empty:
        return None
    g = ml.groupby(["technology", "model"], sort=False)["bytes"].sum().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    (g / 1e6).plot.bar(ax=ax, stacked=True)
    ax.set_ylabel("MB on all links")
    ax.legend(title="model", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"Several models at once: bytes per model, {_kind(res)}")
    fig.tight_layout()
    return fig


def membership_timeline(res: Results) -> Figure | None:
    """Receivers joining and leaving while the model flows: per technology, each joiner from
    its join to its first datagram and on to its verified model, each leaver's leave."""
    rec = res["receivers"]
    if (rec["joined_s"].isna() & rec["left_s"].isna()).all():
        return None
    moved = rec[rec["joined_s"].notna() | rec["left_s"].notna()]
    techs = list(dict.fromkeys(moved["technology"]))
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.5 * len(moved)))
    for i, (_, r) in enumerate(moved.iterrows()):
        if pd.notna(r["joined_s"]):
            first = r["first_packet_s"] if pd.notna(r["first_packet_s"]) else r["joined_s"]
            ax.barh(i, first - r["joined_s"], left=r["joined_s"], color="tab:orange", height=0.6)
            if pd.notna(r["completed_s"]):
                ax.barh(i, r["completed_s"] - first, left=first, color="tab:green", height=0.6)
        if pd.notna(r["left_s"]):
            ax.plot([r["left_s"]], [i], marker="x", color="k")
    labels = [f"{r['technology']} {r['receiver']}" for _, r in moved.iterrows()]
    ax.set_yticks(range(len(moved)), labels, fontsize=7)
    ax.set_xlabel("time from first data packet (s): join to first datagram | to verified | x left")
    ax.set_title(f"Joiners and leavers ({', '.join(techs)}), {_kind(res)}", fontsize=9)
    fig.tight_layout()
    return fig


def predicted_vs_measured(res: Results) -> Figure | None:
    from experiments.validation import compare

    if res.prediction() is None:
        return None
    df = compare(res.path)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for tech, g in df.groupby("technology", sort=False):
        a1.scatter(g["time_s_predicted"], g["time_s_measured"], label=tech)
        a2.scatter(g["link_bytes_predicted"], g["link_bytes_measured"], label=tech)
    for a, unit in ((a1, "round time (s)"), (a2, "link bytes per round")):
        hi = a.get_xlim()[1]
        a.plot([0, hi], [0, hi], color="grey", lw=1)
        a.set_xlabel(f"predicted {unit}")
        a.set_ylabel(f"{'measured' if res.kind == 'measurement' else 'PROJECTED'} {unit}")
        a.legend()
    fig.suptitle("Flow model against the emulation (goal: time within 10 %, bytes within 2 %)")
    fig.tight_layout()
    return fig


FIGURES = {
    "completion_cdf": completion_cdf,
    "link_bytes_map": link_bytes_map,
    "state_per_switch": state_per_switch,
    "failure_timeline": failure_timeline,
    "new_set_cost": new_set_cost,
    "sweep": sweep_plot,
    "model_bytes": model_bytes,
    "membership_timeline": membership_timeline,
    "predicted_vs_measured": predicted_vs_measured,
}


def make_figures(results_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    res = read_results(results_dir)
    out_dir = Path(out) if out else res.path / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in FIGURES.items():
        fig = fn(res)
        if fig is None:
            continue
        p = out_dir / f"{name}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("results", type=Path, help="a results folder")
    ap.add_argument("--out", type=Path, help="where to write (default RESULTS/figures)")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        paths = make_figures(a.results, a.out)
    except (ResultsError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
