"""Projection to real scale: the flow-level model of every technology over an experiment
description, with bandwidths and model size scaled.

For each technology and round it computes what the emulation measures, in the same results
tables (experiments/results.py): completion time per receiver (max-min fair sharing; a
multicast flow occupies each tree link once), bytes per link and direction, source egress,
control state per switch, the cost of a new receiver set, and the outage after link failures
with the detection and reaction delays of `control:` in the description.

    python -m experiments.projection SCENARIO.yaml [--out DIR] [--csv]

prints the table users want (minutes to a loaded model per technology, bytes on the WAN).
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.flowmodel import FlowSim, Net, build_net, shortest_paths, tree_edges
from experiments.results import rows, sweep_label
from experiments.schedule import NetEvent, schedule
from experiments.spec import (
    MULTICAST,
    ControlTiming,
    Experiment,
    SpecError,
    expand_sweep,
    load_experiment,
    resolve_receivers,
    source_host,
)
from experiments.topology_source import build_topology
from pimsm.timers import Timers
from topologies.model import Topology

# Wire overhead per frame (bytes). The delivery header is wire/delivery.py's.
ETH, IPV4, UDP, DELIVERY = 14, 20, 8, 36
BIER_HDR = 12 + 256 // 8  # RFC 8296 fixed part + BitString of BSL 256
MPLS_LABEL = 4


@dataclass(frozen=True)
class Wire:
    """Frame sizes as modelsync's sender builds them: the Ethernet payload (IP packet plus any
    BIER/MPLS header) fills the MTU; the chunk is what is left after the headers."""

    mtu: int = 1500
    headers: bool = True  # False: payload bytes only, chunk = mtu (hand-checkable cases)

    def encap(self, tech: str) -> int:
        return {"bier": BIER_HDR, "sr-p2mp": MPLS_LABEL}.get(tech, 0) if self.headers else 0

    def chunk(self, tech: str) -> int:
        if not self.headers:
            return self.mtu
        return self.mtu - self.encap(tech) - IPV4 - UDP - DELIVERY

    def overhead(self, tech: str, into_host: bool) -> int:
        """Header bytes of one frame on a link; encapsulation is removed before a host link."""
        if not self.headers:
            return 0
        return ETH + IPV4 + UDP + DELIVERY + (0 if into_host else self.encap(tech))


def uses_rpf(tech: str) -> bool:
    """Trees built from the receivers towards the root: PIM-SM joins follow RPF, and the
    controller's SR-P2MP shortest-path tree (controlplane.srp2mp.compute_tree, "spt") walks
    each leaf's next hops towards the root. Unicast routes and BIFTs forward towards each
    receiver."""
    return tech in ("pim-sm", "sr-p2mp")


def efficiency(net: Net, tech: str, wire: Wire) -> np.ndarray:
    """Payload share of the wire bytes per directed edge."""
    into_host = np.array([v in net.hosts for _, v in net.edges])
    c = wire.chunk(tech)
    return np.where(
        into_host,
        c / (c + wire.overhead(tech, True)),
        c / (c + wire.overhead(tech, False)),
    )


# -- control state and cost ----------------------------------------------------------------
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


def switch_state(
    net: Net, tech: str, paths: dict[str, list[int]], n_gpu: int
) -> list[tuple[str, str, int, int | None]]:
    """(switch, table, entries, replicas) per switch for one technology's delivery state, in
    the structure the controller installs (controlplane.translate), not counting the unicast
    routes every technology also needs for repairs:

    unicast: one /32 route per host on every switch. BIER: per BitString set (SI) one F-BM
    row per BIER neighbour, and one decapsulation entry per local GPU host, whatever the
    receiver set. SR-P2MP: per tree node its replication segment: the SID entry and one
    branch entry per replica, and the replication group. PIM-SM: (*,G) and (S,G) on every
    on-tree router (the static RP at the source's first-hop router: both trees coincide)."""
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
    elif tech == "sr-p2mp":
        for s, r in tree_switches(net, paths).items():
            out.append((s, "sr_segment", 1 + r, None))
            out.append((s, "replication_groups", 1, r))
    elif tech == "pim-sm":
        for s, r in tree_switches(net, paths).items():
            out.append((s, "mroute_sg", 1, r))
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
    """What making a receiver set deliverable costs. unicast, BIER: nothing. SR-P2MP: a new tree
    instance make-before-break (per node the group, its branches and the SID entry; the root
    move; then the old instance deleted; two write rounds on the critical path). PIM-SM: joins
    on new branches and prunes on old ones, hop by hop."""
    ms = 1e-3
    if tech in ("unicast", "bier"):
        return SetCost(0, 0.0)
    if tech == "sr-p2mp":
        # per node: the group, a branch entry per replica, the SID entry
        n_new = sum(2 + r for r in tree_switches(net, new).values())
        n_old = sum(2 + r for r in tree_switches(net, old).values()) if old else 0
        writes = n_new + 1 + n_old
        return SetCost(writes, (timing.compute_ms + 2 * timing.write_ms) * ms)
    new_e = tree_edges(new)
    old_e = tree_edges(old) if old else set()
    # PIM messages between routers; a host's membership is IGMP on its own link
    joins = [e for e in new_e if e not in old_e and _between_switches(net, e)]
    prunes = [e for e in old_e if e not in new_e and _between_switches(net, e)]
    depth = max((_switch_hops(net, p, old_e) for p in new.values()), default=0)
    return SetCost(len(joins) + len(prunes), depth * timing.pim_join_ms * ms)


def _between_switches(net: Net, e: int) -> bool:
    u, v = net.edges[e]
    return u not in net.hosts and v not in net.hosts


def _switch_hops(net: Net, path: list[int], have: set[int]) -> int:
    """Links of a path between switches that are not yet on the tree (join hops)."""
    return sum(1 for e in path if e not in have and _between_switches(net, e))


def reaction_s(tech: str, timing: ControlTiming, join_hops: int, tree_size: int = 1) -> float:
    """From a link failure to restored delivery, per technology. SR-P2MP reinstalls make-
    before-break: the new tree's entries on every one of its `tree_size` switches (one write
    round, `write_ms` per switch), then the head flips to the new tree (one more write);
    delivery resumes at the flip, the old tree's removal that follows costs no data."""
    ms = 1e-3
    d = timing.detection_ms
    if tech == "bier" and timing.bier_frr:
        return d * ms
    if tech in ("unicast", "bier"):
        return (d + timing.compute_ms + timing.write_ms) * ms
    if tech == "sr-p2mp":
        return (d + timing.compute_ms + (max(tree_size, 1) + 1) * timing.write_ms) * ms
    return (d + timing.igp_spf_ms + join_hops * timing.pim_join_ms) * ms


# PIM-SM (S,G) state lifetime without refresh: the join/prune hold time of the timers the
# experiment's PIM-SM network runs with (experiments.pim_sm.timers_for changes only BFD)
PIM_JP_HOLD_S = Timers().join_prune_hold_s


def stale_branches(
    net: Net, previous: dict[str, list[int]], paths: dict[str, list[int]]
) -> set[int]:
    """PIM-SM after a new receiver set: the previous tree's router-to-router links the new tree
    does not use, except those into a last-hop router that lost its receivers (IGMP removes
    its membership at once and its triggered prune is honoured). Upstream of it, a router whose
    outgoing list empties by a prune often sends no prune that takes effect, so its upstream
    keeps forwarding until the state's hold time runs out. Often, not always: of two runs of
    the default experiment one kept such a branch for the whole round, the other pruned it
    before the data came, so the projection reports these bytes apart (stale_link_bytes)."""
    at = net.attachment()
    last_hop = {at[r] for r in previous if r in at}
    new = tree_edges(paths)
    return {
        e
        for e in tree_edges(previous)
        if e not in new and _between_switches(net, e) and net.edges[e][1] not in last_hop
    }


def structural_ideal(
    net: Net,
    tech: str,
    paths: dict[str, list[int]],
    model_bytes: float,
    rate_bps: float | None = None,
) -> dict[str, float]:
    """The ideal of the issue: model bytes over the bottleneck link. Each link carries the
    model once per copy through it (multicast: once per tree link; unicast: once per receiver
    behind it); the ideal time is the largest load over capacity, the sender's pacing rate
    included when the description fixes it (None: links only, as for `auto`). Ideal link
    bytes: copies x model bytes summed over links."""
    copies = np.zeros(len(net.edges))
    if tech in MULTICAST:
        for e in tree_edges(paths):
            copies[e] = 1
    else:
        for p in paths.values():
            copies[p] += 1
    used = copies > 0
    t_links = np.where(used, copies * model_bytes / np.maximum(net.cap, 1e-300), 0.0)
    at_source = 1 if tech in MULTICAST else len(paths)
    t_source = 0.0 if rate_bps is None else at_source * model_bytes / (rate_bps / 8)
    i = int(np.argmax(t_links))
    if rate_bps is not None and t_source >= t_links[i]:
        ideal, bottleneck = t_source, rate_bps / 1e6
    else:
        ideal, bottleneck = float(t_links[i]), float(net.cap[i] * 8 / 1e6)
    return {
        "ideal_time_s": float(ideal),
        "bottleneck_mbit": bottleneck,
        "ideal_link_bytes": float((copies * model_bytes).sum()),
        "tree_edges": int(used.sum()),
    }


AUTO_MARGIN = 0.95  # headroom below the bottleneck: NACKs, reports, shaping bursts


def auto_rate(net: Net, tech: str, paths: dict[str, list[int]], wire: Wire) -> float:
    """The sender's pacing rate (bits/s of frames on its link) for `sending_rate_mbit: auto`:
    the highest rate at which the sender's copies, all at one rate as modelsync sends them
    (unicast: round robin over the receivers), overload no link, times AUTO_MARGIN."""
    copies = np.zeros(len(net.edges))
    if tech in MULTICAST:
        copies[list(tree_edges(paths))] = 1
    else:
        for path in paths.values():
            copies[path] += 1
    used = copies > 0
    per_copy = float(np.min(net.cap[used] * efficiency(net, tech, wire)[used] / copies[used]))
    at_source = 1 if tech in MULTICAST else len(paths)
    return 8 * at_source * per_copy / _payload_share(tech, wire) * AUTO_MARGIN


# -- one round of one technology -----------------------------------------------------------
@dataclass
class Params:
    model_bytes: float
    rate_bps: float | None  # sender's pacing rate, bits/s, all copies together; None: auto
    timing: ControlTiming
    wire: Wire = field(default_factory=Wire)
    auto: bool = False  # the rate was chosen by auto_rate (the ideal then ignores it)


@dataclass
class _Cut:
    flow: Any
    receiver: str
    event: int
    t: float


def project_round(
    net: Net,
    tech: str,
    source: str,
    receivers: list[str],
    events: list[NetEvent],
    p: Params,
    keys: dict[str, Any],
    previous: dict[str, list[int]] | None = None,
) -> tuple[dict[str, list[dict]], dict[str, list[int]]]:
    """Rows for every results table for one round, and the paths used (for the next round's
    new-set cost). `keys` holds sweep, technology, repetition, round."""
    net.down.clear()
    rpf = uses_rpf(tech)

    def route(rs: list[str], partial: bool = False) -> dict[str, list[int]]:
        return shortest_paths(net, source, rs, rpf=rpf, skip_unreachable=partial)

    paths = route(receivers)
    eff = efficiency(net, tech, p.wire)
    rate_bps = p.rate_bps if p.rate_bps is not None else auto_rate(net, tech, paths, p.wire)
    sim = FlowSim(net, eff, rate_bps / 8 * _payload_share(tech, p.wire))
    multicast = tech in MULTICAST
    size = float(p.model_bytes)
    if multicast:
        stream = [sim.add("stream", size, dict(paths))]
    else:
        stream = [sim.add("stream", size, {r: paths[r]}) for r in receivers]
    serving: dict[str, list[Any]] = {r: [] for r in receivers}
    for f in stream:
        for r in f.paths:
            serving[r].append(f)

    out: dict[str, list[dict]] = {t: [] for t in ("failures", "control")}
    cuts: list[_Cut] = []
    failure_rows: dict[int, list[dict]] = {}
    event_info: dict[int, dict[str, Any]] = {}
    queue: list[tuple[float, int, str, Any]] = []
    seq = 0
    for ev in events:
        heapq.heappush(queue, (ev.t, seq, "net", ev))
        seq += 1
    event_no = 0
    # PIM-SM: stale branches carry the stream until their state's hold time runs out
    stale = stale_branches(net, previous, paths) if tech == "pim-sm" and previous else set()
    stale_sent: list[float] = []
    if stale:
        heapq.heappush(queue, (PIM_JP_HOLD_S, seq, "stale", None))
        seq += 1
    repaired: dict[str, float] = dict.fromkeys(receivers, 0.0)
    pending: list[tuple[int, str, float]] = []  # (event, receiver, bytes lost)

    def reattach(c: _Cut, new_path: list[int], t: float, t_react: float) -> None:
        f = c.flow
        sent = f.size if f.done else f.sent
        deficit = max(0.0, sent - f.cut_sent.pop(c.receiver))
        del f.cut[c.receiver]
        f.paths[c.receiver] = new_path
        repaired[c.receiver] += deficit
        row = failure_rows[c.event]
        row.append(
            {
                **keys,
                **event_info[c.event],
                "receiver": c.receiver,
                "outage_s": t - c.t,
                "reconverged_s": t_react,
                "packets_lost": int(np.ceil(deficit / p.wire.chunk(tech))),
                "bytes_repaired": round(deficit),
            }
        )
        if deficit > 0:
            # modelsync repairs after its first pass: POLL, NACKs, resend what each misses
            pending.append((c.event, c.receiver, deficit))

    def first_pass_done() -> bool:
        return all(f.done for f in stream)

    def release_repairs() -> None:
        """BIER: one BitString per group of receivers that lost the same bytes (cut by the same
        event); SR-P2MP, PIM-SM and unicast: one unicast copy per receiver."""
        groups: dict[tuple[int, int], list[str]] = {}
        for eid, r, deficit in pending:
            key = (eid, round(deficit)) if tech == "bier" else (eid, len(groups))
            groups.setdefault(key, []).append(r)
        sizes = {(eid, r): d for eid, r, d in pending}
        pending.clear()
        live = route(sorted({r for rs in groups.values() for r in rs}), partial=True)
        for (eid, _), rs in groups.items():
            rs = [r for r in rs if r in live]
            if not rs:
                continue
            size = max(sizes[(eid, r)] for r in rs)
            rf = sim.add("repair", size, {r: live[r] for r in rs})
            for r in rs:
                serving[r].append(rf)

    while True:
        if pending and first_pass_done():
            release_repairs()
        t_next = queue[0][0] if queue else None
        sim.run_until(t_next, stop=lambda: bool(pending) and first_pass_done())
        if pending and first_pass_done():
            continue
        if not queue:
            break
        t, _, what, obj = heapq.heappop(queue)
        if what == "net":
            ev: NetEvent = obj
            ids = {e for a, b in ev.pairs for e in net.link_edges(a, b)}
            if ev.kind.endswith("down"):
                net.down |= ids
                eid = event_no
                event_no += 1
                failure_rows[eid] = []
                hit = _cut_receivers(sim, net, eid, t, cuts)
                hops = _repair_hops(net, route, hit) if tech == "pim-sm" else 0
                size = len(tree_switches(net, route(receivers, partial=True)))
                react = reaction_s(tech, p.timing, hops, size)
                det = t + p.timing.detection_ms * 1e-3
                event_info[eid] = {
                    "event": eid,
                    "kind": ev.kind,
                    "element": ev.element,
                    "at_s": t,
                    "detected_s": det,
                }
                out["failures"].append(
                    {**keys, **event_info[eid], "reconverged_s": t + react, "receiver": ""}
                )
                heapq.heappush(queue, (t + react, seq, "restore", eid))
                seq += 1
                out["control"].append(
                    {
                        **keys,
                        "action": "failure",
                        "switch": "",
                        "writes": _failure_writes(tech, net, hit),
                        "started_s": det,
                        "duration_s": react - p.timing.detection_ms * 1e-3,
                    }
                )
            else:
                net.down -= ids
                up_id = event_no
                event_no += 1
                out["failures"].append(
                    {
                        **keys,
                        "event": up_id,
                        "kind": ev.kind,
                        "element": ev.element,
                        "at_s": t,
                        "detected_s": t + p.timing.detection_ms * 1e-3,
                        "reconverged_s": t + reaction_s(tech, p.timing, 0),
                        "receiver": "",
                    }
                )
                # Cut receivers whose installed path works again get data before any reaction.
                for c in [c for c in cuts if c.receiver in c.flow.cut]:
                    full = c.flow.paths[c.receiver]
                    if not any(e in net.down for e in full):
                        reattach(c, full, t, t)
                cuts[:] = [c for c in cuts if c.receiver in c.flow.cut]
                heapq.heappush(queue, (t + reaction_s(tech, p.timing, 0), seq, "revert", None))
                seq += 1
            sim.changed()
        elif what == "restore":
            eid = obj
            mine = [c for c in cuts if c.event == eid and c.receiver in c.flow.cut]
            if mine:
                fresh = route(sorted({c.receiver for c in mine}), partial=True)
                for c in mine:
                    if c.receiver in fresh:
                        reattach(c, fresh[c.receiver], t, t)
            cuts[:] = [c for c in cuts if c.receiver in c.flow.cut]
            sim.changed()
        elif what == "stale":
            stale_sent.append(sum(f.size if f.done else f.sent for f in stream))
        elif what == "revert":
            # Back to the shortest paths on the repaired network, without loss.
            live = [f for f in sim.flows if not f.done]
            targets = sorted({r for f in live for r in f.paths if r not in f.cut})
            if targets:
                fresh = route(targets)
                for f in live:
                    for r in f.paths:
                        if r not in f.cut:
                            f.paths[r] = fresh[r]
            sim.changed()

    unreachable = {c.receiver for c in cuts if c.receiver in c.flow.cut}
    for c in cuts:
        if c.receiver in c.flow.cut:
            del c.flow.cut[c.receiver]
            del c.flow.paths[c.receiver]
    sim.run_until(None)
    stale_wire = 0.0
    if stale:
        # the branch got what the source sent while the state lived (the stream's rate fits:
        # kernel forwarding drops on a slower branch rather than slowing the source)
        sent = stale_sent[0] if stale_sent else sum(f.size for f in stream)
        for e in stale:
            sim.payload[e] += sent
            stale_wire += sent / sim.eff[e]

    p_round = Params(p.model_bytes, rate_bps, p.timing, p.wire, auto=p.rate_bps is None)
    out.update(_tables(net, tech, source, receivers, paths, sim, serving, repaired, p_round, keys))
    # FRR prunes these branches at once in some runs: measured bytes fall between the total
    # and the total less this (experiments.validation compares against that interval)
    out["rounds"][0]["stale_link_bytes"] = float(stale_wire)
    for rows_ in failure_rows.values():
        out["failures"].extend(rows_)
    for r in sorted(unreachable):
        out["failures"].append({**keys, "receiver": r, "outage_s": float("nan")})
        for row in out["receivers"]:
            if row["receiver"] == r:
                row.update(completed_s=float("nan"), loaded_s=float("nan"), verified=False)
    cost = new_set_cost(net, tech, p.timing, paths, previous)
    out["control"].insert(
        0,
        {
            **keys,
            "action": "install" if previous is None else "new-set",
            "switch": "",
            "writes": cost.writes,
            "started_s": -cost.duration_s,
            "duration_s": cost.duration_s,
        },
    )
    net.down.clear()
    return out, paths


def _payload_share(tech: str, wire: Wire) -> float:
    # The pacing rate counts the frames the sender puts on its link.
    c = wire.chunk(tech)
    return c / (c + wire.overhead(tech, False))


def _cut_receivers(sim: FlowSim, net: Net, eid: int, t: float, cuts: list[_Cut]) -> list[_Cut]:
    hit: list[_Cut] = []
    for f in sim.flows:
        for r, path in f.paths.items():
            if r in f.cut:
                continue
            pos = next((i for i, e in enumerate(path) if e in net.down), None)
            if pos is None:
                continue
            if f.done:
                continue  # this receiver already has this flow's bytes
            f.cut[r] = pos
            f.cut_sent[r] = f.sent
            c = _Cut(f, r, eid, t)
            cuts.append(c)
            hit.append(c)
    sim.changed()
    return hit


def _repair_hops(net: Net, route: Any, hit: list[_Cut]) -> int:
    """PIM-SM: how many hops the re-join travels (new links not on the current tree)."""
    if not hit:
        return 0
    fresh = route(sorted({c.receiver for c in hit}), True)
    if not fresh:
        return 0
    have: set[int] = set()
    for f in {id(c.flow): c.flow for c in hit}.values():
        have.update(f.carrying_edges())
    return max(_switch_hops(net, fresh[r], have) for r in fresh)


def _failure_writes(tech: str, net: Net, hit: list[_Cut]) -> int:
    """Switches whose state the reaction rewrites (batched: one write per switch); PIM-SM:
    join messages (no controller writes)."""
    if not hit:
        return 0
    touched: set[str] = set()
    for c in hit:
        for e in c.flow.paths[c.receiver]:
            u = net.edges[e][0]
            if u not in net.hosts:
                touched.add(u)
    return len(touched)


def _tables(
    net: Net,
    tech: str,
    source: str,
    receivers: list[str],
    paths: dict[str, list[int]],
    sim: FlowSim,
    serving: dict[str, list[Any]],
    repaired: dict[str, float],
    p: Params,
    keys: dict[str, Any],
) -> dict[str, list[dict]]:
    chunk = p.wire.chunk(tech)
    cloud = {h.name: h.cloud for h in net.topo.hosts}
    rec_rows = []
    for r in receivers:
        final = next((f.paths[r] for f in reversed(serving[r]) if r in f.paths), paths[r])
        lat = float(net.delay[final].sum())
        done = max(f.finish for f in serving[r] if f.finish is not None) + lat
        rec_rows.append(
            {
                **keys,
                "receiver": r,
                "cloud": cloud[r],
                "first_packet_s": float(net.delay[paths[r]].sum()),
                "completed_s": done,
                "loaded_s": done,
                "verified": True,
                "bytes_received": int(p.model_bytes),
                "packets_received": int(np.ceil(p.model_bytes / chunk)),
                "duplicates": 0,
                "corrupt": 0,
                "nacks_sent": 0 if repaired[r] == 0 else 1,
                "chunks_repaired": int(np.ceil(repaired[r] / chunk)),
                "bytes_repaired": round(repaired[r]),
            }
        )
    link_rows = []
    wire_bytes = sim.payload / sim.eff
    for e, (u, v) in enumerate(net.edges):
        lk = net.topo.links[net.link_of[e]]
        link_rows.append(
            {
                **keys,
                "link": lk.name,
                "src": u,
                "dst": v,
                "wan": bool(net.wan[e]),
                "capacity_mbit": float(net.cap[e] * 8 / 1e6),
                "bytes": round(wire_bytes[e]),
                "packets": round(sim.payload[e] / chunk),
            }
        )
    n_gpu = len(net.topo.gpu_hosts())
    sw_rows = [
        {**keys, "switch": s, "table": tab, "entries": n, "replicas": rep}
        for s, tab, n, rep in switch_state(net, tech, paths, n_gpu)
    ]
    ideal = structural_ideal(net, tech, paths, p.model_bytes, None if p.auto else p.rate_bps)
    round_row = {
        **keys,
        "receivers": len(receivers),
        "model_bytes": int(p.model_bytes),
        "sending_rate_mbit": p.rate_bps / 1e6,
        **ideal,
        "switches_kept_up": pd.NA,
        "switch_drops": pd.NA,
        "note": "projection (flow model), not a measurement",
    }
    return {
        "receivers": rec_rows,
        "links": link_rows,
        "switches": sw_rows,
        "rounds": [round_row],
    }


# -- whole experiments ---------------------------------------------------------------------
def model_bytes_of(exp: Experiment, base: Path | None = None) -> int:
    if exp.projection.model_size is not None:
        return exp.projection.model_size
    if exp.model.size is not None:
        return exp.model.size
    d = exp.model.dir
    assert d is not None
    d = d if d.is_absolute() or base is None else base / d
    files = sorted(d.glob("*.safetensors")) if d.is_dir() else []
    if not files:
        raise SpecError(f"model.dir: no *.safetensors files in {d}")
    return sum(f.stat().st_size for f in files)


@dataclass
class Projection:
    """The projected tables of one experiment (all sweep values, technologies, rounds)."""

    experiment: Experiment
    tables: dict[str, pd.DataFrame]
    topologies: dict[Any, Topology]

    def topology(self, label: str) -> Topology:
        """The topology of a sweep value given as its label in the tables."""
        for v, t in self.topologies.items():
            if sweep_label(v) == label:
                return t
        raise KeyError(f"no topology for sweep value {label!r}")


def project(
    exp: Experiment,
    base: Path | None = None,
    scale: bool = True,
    topology: Callable[[Any], Topology] | None = None,
    timing: Mapping[str, ControlTiming] | None = None,
) -> Projection:
    """Project every sweep value, technology and round of an experiment (one repetition: the
    model is deterministic). `scale=False` ignores the description's `projection:` block, for
    the prediction stored beside an emulated measurement. `topology(sweep_value)` supplies the
    topologies (default: built from the description); `timing` replaces the description's
    `control:` delays per technology (e.g. as measured: experiments.validation.measured_timing)."""
    collected: dict[str, list[dict]] = {}
    topos: dict[Any, Topology] = {}
    for value, e in expand_sweep(exp):
        topo = topology(value) if topology else build_topology(e, base)
        topos[value] = topo
        given = None if e.sending_rate_mbit == "auto" else float(e.sending_rate_mbit)
        if scale:
            bw_scale = e.projection.bandwidth_scale
            rate = e.projection.sending_rate_mbit or (given and given * bw_scale)
            mbytes = model_bytes_of(e, base)
        else:
            bw_scale, rate = 1.0, given
            mbytes = e.model.size if e.model.size is not None else model_bytes_of(e, base)
        net = build_net(topo, bw_scale)
        src = source_host(e, topo)
        for tech in e.technologies:
            # `timing`: control costs measured by the emulation, in place of the description's
            ctl = (timing or {}).get(tech, e.control)
            params = Params(mbytes, None if rate is None else rate * 1e6, ctl)
            prev = None
            for k in range(len(e.rounds)):
                receivers = resolve_receivers(e, topo, k)
                keys = {
                    "sweep": sweep_label(value),
                    "technology": tech,
                    "repetition": 0,
                    "round": k,
                }
                got, prev = project_round(
                    net, tech, src, receivers, schedule(e, topo, k), params, keys, prev
                )
                for t, rs in got.items():
                    collected.setdefault(t, []).extend(rs)
    tables = {t: rows(t, rs) for t, rs in collected.items()}
    return Projection(exp, tables, topos)


def user_table(
    exp: Experiment, tables: dict[str, pd.DataFrame], topology: Callable[[str], Topology]
) -> pd.DataFrame:
    """Per sweep value and technology: minutes until every receiver has the model, the speed-up
    over unicast, bytes on the WAN and out of the source, state, new-set cost, outage."""
    from experiments.summary import aggregate

    agg = aggregate(exp, tables, topology)
    agg["minutes"] = agg["round_time_s"] / 60
    uni = agg[agg["technology"] == "unicast"].set_index("sweep")["round_time_s"]
    agg["vs_unicast"] = agg["sweep"].map(uni) / agg["round_time_s"]
    return agg


def print_user_table(
    exp: Experiment,
    tables: dict[str, pd.DataFrame],
    topology: Callable[[str], Topology],
    file: Any = None,
) -> pd.DataFrame:
    from rich.console import Console
    from rich.table import Table

    from experiments.summary import human_bytes, human_time, new_set_cell

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.projection",
        description="Flow-level projection of an experiment description to real scale.",
    )
    ap.add_argument("scenario", type=Path, help="experiment or scenario YAML")
    ap.add_argument("--out", type=Path, help="also write the tables as a results folder here")
    ap.add_argument("--csv", action="store_true", help="write CSV instead of Parquet")
    a = ap.parse_args(argv)
    try:
        exp = load_experiment(a.scenario)
        proj = project(exp, base=a.scenario.parent)
    except (SpecError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_user_table(proj.experiment, proj.tables, proj.topology)
    if a.out:
        from experiments.validation import write_projection

        path = write_projection(proj, a.out, fmt="csv" if a.csv else "parquet")
        print(f"tables written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
