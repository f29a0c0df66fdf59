"""Benchmark: control-plane computation on a generated 1,000-switch, ~10,000-host topology,
against networkx's plain all-pairs shortest paths on the same switch graph, same run.

    python -m bench.controlplane [--clouds 20] [--leaves 48] [--hosts 10] [--repeat 2]

Topology: topologies.generators.multicloud (store site, core ring, one border per cloud,
leaves under the border, GPU hosts on leaves) = 1,001 switches and 9,601 hosts by default;
"meshed" adds a ring of weight-2 links among each cloud's leaves (alternate paths for ECMP
ties and BIER-FRR). Timed (best of --repeat):
- baseline: networkx all_pairs_dijkstra_path_length over the switch graph (consumed fully);
- BIER: BFR-ids and the BIFT (F-BM per neighbour, local bits) of every switch;
- BIER + FRR: the same plus BIER-FRR backups for every (switch, neighbour);
- SR-P2MP: one shortest-path tree from the store to every GPU host, SIDs and segments;
- SR-P2MP Steiner: one Steiner tree (networkx approximation) to 100 receivers.
Prints seconds and the ratio baseline / ours (> 1: ours is faster). Goal: BIER < 1 s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import networkx as nx

from controlplane.bier import compute_bier
from controlplane.graph import Network
from controlplane.srp2mp import GroupAllocator, LabelAllocator, build_instance
from topologies.generators import CloudSpec, multicloud
from topologies.loader import from_dict


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def topology(clouds: int, leaves: int, hosts: int, meshed: bool) -> dict[str, Any]:
    d = multicloud(clouds, CloudSpec(leaves=leaves, hosts=hosts))
    if meshed:
        for i in range(1, clouds + 1):
            for j in range(1, leaves + 1):
                nxt = j % leaves + 1
                if nxt != j:
                    d["links"].append(
                        {"a": f"l{i}_{j}", "b": f"l{i}_{nxt}", "bw_mbit": 100, "weight": 2}
                    )
    return d


def run(args: argparse.Namespace, meshed: bool) -> None:
    topo = from_dict(topology(args.clouds, args.leaves, args.hosts, meshed))
    net = Network(topo)
    g = net.graph()
    gpus = [h.name for h in topo.gpu_hosts()]
    store = topo.model_stores()[0].name
    kind = "meshed" if meshed else "tree-like"
    print(
        f"\n{kind}: {len(topo.switches)} switches, {len(topo.hosts)} hosts "
        f"({len(gpus)} GPU), {g.number_of_edges()} switch links"
    )
    base, _ = best_of(
        args.repeat, lambda: sum(len(d) for _, d in nx.all_pairs_dijkstra_path_length(g))
    )
    print(f"  {'networkx all-pairs shortest paths (baseline)':46s} {base:8.3f} s")

    def row(name: str, secs: float, extra: str = "") -> None:
        print(f"  {name:46s} {secs:8.3f} s   baseline/ours {base / secs:6.1f}x  {extra}")

    t, st = best_of(args.repeat, lambda: compute_bier(net, frr=False))
    entries = sum(len(b.neighbors) + len(b.local) for b in st.bifts.values())
    goal = "goal < 1 s: " + ("met" if t < 1.0 else "NOT met")
    row("BIER: BIFTs of every switch", t, f"{entries} next hops, {st.num_sets} SIs; {goal}")
    t, st = best_of(args.repeat, lambda: compute_bier(net, frr=True))
    backups = sum(len(x) for b in st.bifts.values() for x in b.backups.values())
    row("BIER + BIER-FRR backups", t, f"{backups} backups")

    def sr(alg: str, receivers: list[str]):
        return build_instance(net, store, receivers, LabelAllocator(), GroupAllocator(), 1, alg)

    t, inst = best_of(args.repeat, lambda: sr("spt", gpus))
    row(f"SR-P2MP SPT tree to {len(gpus)} receivers", t, f"{len(inst.segments)} segments")
    some = gpus[:: max(1, len(gpus) // 100)][:100]
    t, inst = best_of(args.repeat, lambda: sr("steiner", some))
    row(f"SR-P2MP Steiner tree to {len(some)} receivers", t, f"{len(inst.segments)} segments")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.controlplane",
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


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    for meshed in (False, True):
        run(args, meshed)


if __name__ == "__main__":
    main()
