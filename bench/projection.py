"""Benchmark: the flow-level projection on a generated 1,000-switch, ~10,000-host topology,
against networkx's plain all-pairs shortest paths on the same switch graph, same run.

    python -m bench.projection [--clouds 20] [--leaves 48] [--hosts 10] [--repeat 2]

Topology: topologies.generators.multicloud, 20 clouds x 48 leaves x 10 GPU hosts = 1,001
switches and 9,601 hosts by default; WAN 10 Gbit/s per cloud, 400 Gbit/s inside. Timed (best
of --repeat):
- baseline: networkx all_pairs_dijkstra_path_length over the switch graph (consumed fully);
- per technology: experiments.projection.project() of a 140 GB model to every GPU host
  (routing, max-min rates, every results table), one round, no failure;
- the same for all four technologies with a WAN core link failing mid-transfer.
Prints seconds and the ratio baseline / ours (> 1: ours is faster). Goal: seconds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import networkx as nx

from experiments.projection import project
from experiments.spec import parse_experiment
from experiments.topology_source import build_topology


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def experiment(args: argparse.Namespace, techs: list[str], failure: bool) -> Any:
    d: dict[str, Any] = {
        "name": "bench",
        "topology": {
            "generator": "multicloud",
            "params": {
                "clouds": args.clouds,
                "leaves": args.leaves,
                "hosts": args.hosts,
                "wan_mbit": 10_000,
                "cloud_mbit": 400_000,
            },
        },
        "technologies": techs,
        "model": {"size": "140GB"},
        "sending_rate_mbit": 400_000,
    }
    if failure:
        d["failures"] = [{"link": "c2-c3", "at": 30}]
    return parse_experiment(d, "bench")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.projection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--clouds", type=int, default=20, help="GPU clouds (20)")
    ap.add_argument("--leaves", type=int, default=48, help="leaf switches per cloud (48)")
    ap.add_argument("--hosts", type=int, default=10, help="GPU hosts per leaf (10)")
    ap.add_argument(
        "--repeat", type=int, default=2, help="runs of each measurement, the best kept (2)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    base = experiment(args, ["bier"], False)
    topo = build_topology(base)
    g = nx.Graph()
    switches = {s.name for s in topo.switches}
    for lk in topo.links:
        if lk.a in switches and lk.b in switches:
            g.add_edge(lk.a, lk.b, weight=lk.weight)
    print(
        f"topology: {len(topo.switches)} switches, {len(topo.hosts)} hosts, "
        f"{len(topo.links)} links; model 140 GB to {len(topo.gpu_hosts())} GPU hosts"
    )

    def apsp() -> int:
        return sum(len(d) for _, d in nx.all_pairs_dijkstra_path_length(g, weight="weight"))

    t_base, pairs = best_of(args.repeat, apsp)
    print(f"baseline networkx all-pairs shortest paths ({pairs} pairs): {t_base:.2f} s")
    for tech in ("unicast", "bier", "sr-p2mp", "pim-sm"):
        e = experiment(args, [tech], False)
        t, proj = best_of(args.repeat, lambda e=e: project(e, topology=lambda _v: topo))
        done = proj.tables["receivers"]["completed_s"].max()
        print(
            f"projection {tech:8s}: {t:6.2f} s  (ratio baseline/ours {t_base / t:5.2f}); "
            f"predicted {done / 60:.1f} min to every host"
        )
    e = experiment(args, ["unicast", "bier", "sr-p2mp", "pim-sm"], True)
    t, proj = best_of(1, lambda: project(e, topology=lambda _v: topo))
    n_aff = int((proj.tables["failures"]["receiver"] != "").sum())
    print(
        f"projection, 4 technologies with a WAN failure mid-transfer: {t:.2f} s "
        f"(ratio baseline/ours {t_base / t:.2f}); {n_aff} receiver outages computed"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
