"""Each technology's control plane in the flow model, in the structure its controller or
routers build: the state per switch, what a new receiver set costs, how long the reaction to
a failure takes, and PIM-SM's stale branches after a new set.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.flowmodel import Net, tree_edges
from experiments.spec import ControlTiming
from pimsm.timers import Timers


def tree_switches(net: Net, paths: dict[str, list[int]]) -> dict[str, int]:
    """Switches on the tree with their number of downstream branches (replicas)."""
    children: dict[str, set[str]] = {}
    for e in tree_edges(paths):
        u, v = net.edges[e]
        if u not in net.hosts:
            children.setdefault(u, set()).add(v)
        if v not in net.hosts:
            children.setdefault(v, set())
    return {s: len(c) for s, c in children.items()}


def segment_switches(net: Net, tech: str, paths: dict[str, list[int]]) -> dict[str, int]:
    """Tree switches that hold a replication segment, with their replicas. SR-MPLS: every tree
    switch. SRv6: the root and every switch that branches or delivers to a local host; a
    switch that passes the tree on to one other switch routes it by its locator and holds
    nothing of it (controlplane.srp2mp keeps a segment there only where routing would leave
    the tree, which shortest-path trees do only on equal-cost ties)."""
    tree = tree_switches(net, paths)
    if tech != "srv6-p2mp":
        return tree
    edges = [net.edges[e] for e in tree_edges(paths)]
    roots = {v for u, v in edges if u in net.hosts and v not in net.hosts}
    to_host = {u for u, v in edges if u not in net.hosts and v in net.hosts}
    return {s: r for s, r in tree.items() if r != 1 or s in roots or s in to_host}


def switch_state(
    net: Net, tech: str, paths: dict[str, list[int]], n_gpu: int
) -> list[tuple[str, str, int, int | None]]:
    """(switch, table, entries, replicas) per switch for one technology's delivery state, in
    the structure the controller installs (controlplane.translate), not counting the unicast
    routes every technology also needs for repairs:

    unicast: one /32 route per host on every switch. BIER: per BitString set (SI) one F-BM
    row per BIER neighbour, and one decapsulation entry per local GPU host, whatever the
    receiver set. SR-P2MP: per tree node its replication segment: the SID entry and one
    branch entry per replica, and the replication group (over SRv6 only where
    `segment_switches` keeps one; the locator routes, like unicast routes, are not
    counted). PIM-SM: (*,G) and (S,G) on every
    on-tree router (the static RP at the source's first-hop router: both trees coincide);
    PIM-SSM: (S,G) only."""
    switches = [s.name for s in net.topo.switches]
    out: list[tuple[str, str, int, int | None]] = []
    if tech == "unicast":
        out = [(s, "ipv4_routes", len(net.hosts), None) for s in switches]
    elif tech == "bier":
        sets = max(1, -(-n_gpu // 256))
        peers: dict[str, set[str]] = {s: set() for s in switches}
        local: dict[str, int] = dict.fromkeys(switches, 0)
        gpus = {h.name for h in net.topo.gpu_hosts()}
        for u, v in net.edges:
            if u in peers and v in peers:
                peers[u].add(v)
            elif u in peers and v in gpus:
                local[u] += 1
        out = [(s, "bift", sets * len(peers[s]) + local[s], None) for s in switches]
    elif tech in ("sr-p2mp", "srv6-p2mp"):
        for s, r in segment_switches(net, tech, paths).items():
            out.append((s, "sr_segment", 1 + r, None))
            out.append((s, "replication_groups", 1, r))
    elif tech in ("pim-sm", "pim-ssm"):
        for s, r in tree_switches(net, paths).items():
            out.append((s, "mroute_sg", 1, r))
            if tech == "pim-sm":
                out.append((s, "mroute_starg", 1, r))
    return out


@dataclass(frozen=True)
class SetCost:
    writes: int
    duration_s: float


def new_set_cost(
    net: Net,
    tech: str,
    timing: ControlTiming,
    new: dict[str, list[int]],
    old: dict[str, list[int]] | None,
) -> SetCost:
    """What making a receiver set deliverable costs. unicast, BIER: nothing. SR-P2MP (MPLS or
    SRv6): a new tree instance make-before-break (per segment the group, its branches and the
    SID entry; the root move; then the old instance deleted; two write rounds on the critical
    path). PIM-SM: joins
    on new branches and prunes on old ones, hop by hop."""
    ms = 1e-3
    if tech in ("unicast", "bier"):
        return SetCost(0, 0.0)
    if tech in ("sr-p2mp", "srv6-p2mp"):
        # per segment: the group, a branch entry per replica, the SID entry
        n_new = sum(2 + r for r in segment_switches(net, tech, new).values())
        n_old = sum(2 + r for r in segment_switches(net, tech, old).values()) if old else 0
        writes = n_new + 1 + n_old
        return SetCost(writes, (timing.compute_ms + 2 * timing.write_ms) * ms)
    new_e = tree_edges(new)
    old_e = tree_edges(old) if old else set()
    # PIM messages between routers; a host's membership is IGMP on its own link
    joins = [e for e in new_e if e not in old_e and between_switches(net, e)]
    prunes = [e for e in old_e if e not in new_e and between_switches(net, e)]
    depth = max((switch_hops(net, p, old_e) for p in new.values()), default=0)
    return SetCost(len(joins) + len(prunes), depth * timing.pim_join_ms * ms)


def between_switches(net: Net, e: int) -> bool:
    u, v = net.edges[e]
    return u not in net.hosts and v not in net.hosts


def switch_hops(net: Net, path: list[int], have: set[int]) -> int:
    """Links of a path between switches that are not yet on the tree (join hops)."""
    return sum(1 for e in path if e not in have and between_switches(net, e))


def reaction_s(
    tech: str, timing: ControlTiming, join_hops: int, tree_size: int = 1, mode: str = "carrier"
) -> float:
    """From a link failure to restored delivery, per technology; detection by the failure's
    `mode` (carrier loss at once, a silent failure by BFD). BIER-FRR: the data plane takes
    the backup as soon as the switch knows. SR-P2MP reinstalls make-before-break: the new
    tree's entries on every one of its `tree_size` switches (one write round, `write_ms` per
    switch), then the head flips to the new tree (one more write); delivery resumes at the
    flip, the old tree's removal that follows costs no data."""
    ms = 1e-3
    d = timing.detection_ms(mode)
    if tech == "bier" and timing.bier_frr:
        return d * ms
    if tech in ("unicast", "bier"):
        return (d + timing.compute_ms + timing.write_ms) * ms
    if tech in ("sr-p2mp", "srv6-p2mp"):
        return (d + timing.compute_ms + (max(tree_size, 1) + 1) * timing.write_ms) * ms
    return (d + timing.igp_spf_ms + join_hops * timing.pim_join_ms) * ms


# PIM-SM (S,G) state lifetime without refresh: the join/prune hold time of the timers the
# experiment's PIM-SM network runs with (experiments.pim_sm.timers_for changes only BFD)
PIM_JP_HOLD_S = Timers().join_prune_hold_s


def stale_branches(
    net: Net, previous: dict[str, list[int]], paths: dict[str, list[int]]
) -> set[int]:
    """PIM-SM after a new receiver set: the previous tree's router-to-router links the new tree
    does not use. A router whose outgoing list empties by a prune (or, at a last-hop router,
    by its receivers' IGMP leaves) often sends no prune that takes effect before the data
    comes, so its upstream keeps forwarding until the state's hold time runs out. Often, not
    always: of two runs of the default experiment one kept such a branch for the whole round,
    the other pruned it before the data came; in a 128-host run 11 of the 24 branches into
    last-hop routers whose receivers had left carried the whole round. The projection
    reports these bytes apart (stale_link_bytes)."""
    new = tree_edges(paths)
    return {e for e in tree_edges(previous) if e not in new and between_switches(net, e)}
