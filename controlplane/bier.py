"""BIER (RFC 8279, RFC 8296): BFR-ids, the BIFT of every switch, BIER-FRR backups.

BFR-id k goes to the k-th GPU host in topology order; bit positions are global integers
(bit k-1 for BFR-id k), set identifier SI = (k-1) div BSL. Per switch, every bit maps to the
neighbour on the shortest path towards its BFER's switch (or to a local host port). The F-BM
of a neighbour is the OR of the bits behind it. Computed per destination switch, not per
bit: the bits of all hosts on one switch share next hops, so they are aggregated first.

One-pass replication (one copy per neighbour, the copy's bitstring ANDed with that
neighbour's F-BM) delivers no duplicates iff the F-BMs and local bits of a switch are
pairwise disjoint; `check_disjoint` verifies that before anything is written.
A new receiver set is only a new bitstring at the sender: no switch state depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from operator import or_

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from controlplane.errors import DuplicateRiskError, ReceiverError
from controlplane.graph import Network
from controlplane.paths import NO_HOP, Routing, compute_routing

BSL = 256
MAX_SETS = 256  # the SI field of RFC 8296 is 8 bits
SELF = -2  # next-hop key of a switch's own hosts


@dataclass(frozen=True)
class BierNeighbor:
    neighbor: str
    port: int
    src_mac: str
    dst_mac: str
    fbm: int  # global bitmask: bit k-1 set for every BFR-id k behind this neighbour


@dataclass(frozen=True)
class LocalBfer:
    bfr_id: int
    host: str
    port: int
    host_mac: str
    src_mac: str


@dataclass(frozen=True)
class FrrBackup:
    """Where the bits behind `protected` go while the link to it is down."""

    protected: str
    via: str
    port: int
    src_mac: str
    dst_mac: str
    fbm: int
    # the bits of fbm for which `via` is a loop-free alternate (its own shortest path to
    # the bit's BFER does not come back through this switch): safe without a tunnel
    lfa_fbm: int

    @property
    def loop_free(self) -> bool:
        return self.lfa_fbm == self.fbm


@dataclass
class Bift:
    switch: str
    neighbors: dict[str, BierNeighbor]
    local: dict[int, LocalBfer]
    backups: dict[str, tuple[FrrBackup, ...]] = field(default_factory=dict)

    def local_mask(self) -> int:
        return reduce(or_, (1 << (k - 1) for k in self.local), 0)

    def all_bits(self) -> int:
        return reduce(or_, (n.fbm for n in self.neighbors.values()), self.local_mask())


@dataclass
class BierState:
    bsl: int
    ids: dict[str, int]  # GPU host -> BFR-id
    hosts: dict[int, str]  # BFR-id -> host
    bifts: dict[str, Bift]
    unreachable: dict[str, int] = field(default_factory=dict)  # switch -> bits it cannot reach
    routing: Routing | None = None

    @property
    def num_sets(self) -> int:
        return (len(self.ids) + self.bsl - 1) // self.bsl

    def neighbor_of(self, switch: str, bfr_id: int) -> str | None:
        """The BIFT entry of one bit: the neighbour it goes to, None if delivered locally."""
        b = self.bifts[switch]
        if bfr_id in b.local:
            return None
        for n in b.neighbors.values():
            if n.fbm >> (bfr_id - 1) & 1:
                return n.neighbor
        raise KeyError(f"switch {switch}: BFR-id {bfr_id} is unreachable")

    def bitstrings(self, receivers: list[str]) -> dict[int, int]:
        """SI -> BitString (bit k-1 mod BSL) for a receiver set. Checks every name."""
        out: dict[int, int] = {}
        for r in receivers:
            if r not in self.ids:
                raise ReceiverError(
                    f"receiver {r!r} is not a GPU host with a BFR-id "
                    f"(known: {len(self.ids)} GPU hosts)"
                )
            k = self.ids[r] - 1
            si = k // self.bsl
            out[si] = out.get(si, 0) | (1 << (k % self.bsl))
        return out


def si_slice(mask: int, si: int, bsl: int = BSL) -> int:
    """The BitString of set `si` out of a global bitmask."""
    return (mask >> (si * bsl)) & ((1 << bsl) - 1)


def assign_bfr_ids(net: Network, bsl: int = BSL, max_sets: int = MAX_SETS) -> dict[str, int]:
    gpus = net.gpu_hosts()
    if len(gpus) > bsl * max_sets:
        raise ReceiverError(
            f"{len(gpus)} GPU hosts but only {bsl * max_sets} BFR-ids "
            f"({max_sets} sets of BSL {bsl})"
        )
    return {h.host: k for k, h in enumerate(gpus, start=1)}


def compute_bier(
    net: Network,
    bsl: int = BSL,
    max_sets: int = MAX_SETS,
    frr: bool = True,
    routing: Routing | None = None,
) -> BierState:
    ids = assign_bfr_ids(net, bsl, max_sets)
    # bits per destination switch
    bits_at: dict[str, int] = {}
    for host, k in ids.items():
        sw = net.hosts[host].switch
        bits_at[sw] = bits_at.get(sw, 0) | (1 << (k - 1))
    dests = sorted(bits_at, key=net.index.__getitem__)
    if routing is None or (frr and len(routing.dests) < len(net.switches)):
        # FRR's loop-free test needs distances between any two switches
        routing = compute_routing(net, None if frr else dests)
    rows = np.array([routing.row[net.index[d]] for d in dests], dtype=np.int64)
    masks = [bits_at[d] for d in dests]
    every = reduce(or_, masks, 0)
    dest_idx = np.array([net.index[d] for d in dests], dtype=np.int64)
    state = BierState(bsl, ids, {k: h for h, k in ids.items()}, {}, routing=routing)
    nh = routing.nh[rows] if len(rows) else np.zeros((0, len(net.switches)), dtype=np.int64)
    for v, sw in enumerate(net.switches):
        # group destination switches by next hop (SELF: this switch, NO_HOP: unreachable);
        # the biggest group's F-BM is the complement of the others: F-BMs partition the bits,
        # and a complement costs one operation where an OR over the group costs hundreds
        col = np.where(dest_idx == v, SELF, nh[:, v])
        order = np.argsort(col, kind="stable")
        keys, starts, counts = np.unique(col[order], return_index=True, return_counts=True)
        big = int(np.argmax(counts)) if len(counts) else -1
        fbm_of: dict[int, int] = {}
        for j, key in enumerate(keys.tolist()):
            if j != big:
                fbm_of[key] = reduce(
                    or_, (masks[i] for i in order[starts[j] : starts[j] + counts[j]].tolist()), 0
                )
        if big >= 0:
            fbm_of[int(keys[big])] = every ^ reduce(or_, fbm_of.values(), 0)
        neighbors: dict[str, BierNeighbor] = {}
        for key, fbm in fbm_of.items():
            if key < 0:
                continue
            peer = net.switches[key]
            a = net.adj[sw][peer]
            neighbors[peer] = BierNeighbor(peer, a.port, a.src_mac, a.dst_mac, fbm)
        neighbors = dict(sorted(neighbors.items(), key=lambda kv: kv[1].port))
        local = {
            ids[h.host]: LocalBfer(ids[h.host], h.host, h.port, h.mac, h.switch_mac)
            for h in net.hosts_at[sw]
            if h.host in ids
        }
        if NO_HOP in fbm_of:
            state.unreachable[sw] = fbm_of[NO_HOP]
        state.bifts[sw] = Bift(sw, neighbors, dict(sorted(local.items())))
    if frr:
        _add_frr(net, state, routing, dests, masks)
    for b in state.bifts.values():
        check_disjoint(b)
    return state


def _add_frr(
    net: Network, state: BierState, routing: Routing, dests: list[str], masks: list[int]
) -> None:
    """Per switch and protected neighbour: next hops of the shortest paths avoiding the link."""
    dest_idx = np.array([net.index[d] for d in dests], dtype=np.int64)
    rows = np.array([routing.row[int(i)] for i in dest_idx], dtype=np.int64)
    allrow = np.array([routing.row[i] for i in range(len(net.switches))])
    base = net.csr()
    for sw, bift in state.bifts.items():
        v = net.index[sw]
        nh_v = routing.nh[rows, v]
        for peer, prim in bift.neighbors.items():
            # a neighbour whose only link is the one to this switch can never be a backup
            others = [
                a
                for p, a in sorted(net.adj[sw].items(), key=lambda kv: kv[1].port)
                if p != peer and len(net.adj[p]) > 1
            ]
            if not others:
                continue
            behind = np.flatnonzero(nh_v == net.index[peer])
            m_idx = np.array([net.index[a.peer] for a in others])
            # distances m -> d in the graph without the link; the graph is undirected, so
            # run Dijkstra from whichever side has fewer nodes (neighbours or destinations)
            g = _without(base, v, net.index[peer])
            if len(behind) < len(m_idx):
                dd = np.atleast_2d(dijkstra(g, directed=False, indices=dest_idx[behind]))
                dm = dd[:, m_idx].T
            else:
                dm = np.atleast_2d(dijkstra(g, directed=False, indices=m_idx))[:, dest_idx[behind]]
            cost = dm + np.array([a.weight for a in others])[:, None]
            best = np.argmin(cost, axis=0)  # first minimum = lowest port (others sorted)
            ok = np.isfinite(cost[best, np.arange(len(behind))])
            # loop-free alternate: m's own shortest path to d does not come back through v
            d_md = routing.dist[allrow[dest_idx[behind]], m_idx[best]]
            d_mv = routing.dist[allrow[v], m_idx[best]]
            d_vd = routing.dist[allrow[dest_idx[behind]], v]
            lfa_each = d_md < d_mv + d_vd
            chosen = np.where(ok, best, -1)
            keys, counts = np.unique(chosen, return_counts=True)
            fbm_of: dict[int, int] = {}
            big = int(keys[np.argmax(counts)])
            for k in keys.tolist():
                if k != big:
                    members = behind[chosen == k].tolist()
                    fbm_of[k] = reduce(or_, (masks[i] for i in members), 0)
            fbm_of[big] = prim.fbm ^ reduce(or_, fbm_of.values(), 0)
            backups = []
            for k in sorted((k for k in fbm_of if k >= 0), key=lambda k: others[k].port):
                a = others[k]
                sel = chosen == k
                lfa_n = int(np.count_nonzero(lfa_each[sel]))
                if lfa_n == int(np.count_nonzero(sel)):
                    lfa_fbm = fbm_of[k]
                elif lfa_n == 0:
                    lfa_fbm = 0
                else:
                    members = behind[sel & lfa_each].tolist()
                    lfa_fbm = reduce(or_, (masks[i] for i in members), 0)
                backups.append(
                    FrrBackup(peer, a.peer, a.port, a.src_mac, a.dst_mac, fbm_of[k], lfa_fbm)
                )
            if backups:
                bift.backups[peer] = tuple(backups)


def _without(base: csr_matrix, u: int, v: int) -> csr_matrix:
    """The adjacency matrix without the edge u-v (both directions)."""
    g = base.copy()
    g[u, v] = 0
    g[v, u] = 0
    g.eliminate_zeros()
    return g


def check_disjoint(bift: Bift) -> None:
    """Raise DuplicateRiskError if two neighbours (or a neighbour and a local host) share a
    bit: one-pass replication would send that receiver two copies."""
    owners: list[tuple[str, int]] = [
        (f"local host {lb.host} (port {lb.port})", 1 << (k - 1)) for k, lb in bift.local.items()
    ]
    owners += [(f"neighbour {n.neighbor} (port {n.port})", n.fbm) for n in bift.neighbors.values()]
    _disjoint(bift.switch, "F-BM", owners)
    for peer, backups in bift.backups.items():
        _disjoint(bift.switch, f"FRR backup for {peer}", [(f"via {b.via}", b.fbm) for b in backups])


def _disjoint(switch: str, what: str, owners: list[tuple[str, int]]) -> None:
    seen = 0
    for i, (name, mask) in enumerate(owners):
        both = seen & mask
        if both:
            k = (both & -both).bit_length()
            other = next(o for o, m in owners[:i] if m >> (k - 1) & 1)
            raise DuplicateRiskError(
                f"switch {switch}: {what} of {name} overlaps {other} on BFR-id {k}: "
                "one-pass replication would deliver duplicates"
            )
        seen |= mask


def _bits(mask: int, limit: int | None = None) -> list[int]:
    """BFR-ids set in a mask (ascending), at most `limit` of them."""
    out = []
    while mask and (limit is None or len(out) < limit):
        low = mask & -mask
        out.append(low.bit_length())
        mask ^= low
    return out


def bfr_ids_of(mask: int) -> list[int]:
    return _bits(mask)
