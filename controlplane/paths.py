"""Shortest paths by link weight with deterministic next hops.

One Dijkstra per destination switch (scipy's C implementation) gives the distance of every
switch to every destination; the next hop of switch v towards destination d is the
neighbour n with weight(v, n) + dist(n, d) == dist(v, d) reached through the lowest port of
v. Every switch picking a strictly closer neighbour makes the union of next hops towards d a
shortest-path tree, whatever the tie-break; the tie-break only makes it reproducible.
Weights are integers, so the equality test on float64 sums is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra

from controlplane.graph import Adjacency, Network

NO_HOP = -1


@dataclass
class Routing:
    """Distances and next hops towards a set of destination switches."""

    net: Network
    dests: list[int]  # switch indices of the destinations, row order of the arrays
    dist: np.ndarray  # (len(dests), N) float: dist[k, v] = distance from v to dests[k]
    nh: np.ndarray  # (len(dests), N) int: next-hop switch index of v towards dests[k]
    row: dict[int, int]  # switch index -> row in dist/nh

    def distance(self, src: str, dst: str) -> float:
        return float(self.dist[self.row[self.net.index[dst]], self.net.index[src]])

    def next_hop(self, src: str, dst: str) -> str | None:
        """The neighbour of src on its path to dst; None at dst itself or when unreachable."""
        k = int(self.nh[self.row[self.net.index[dst]], self.net.index[src]])
        return None if k == NO_HOP else self.net.switches[k]

    def next_adj(self, src: str, dst: str) -> Adjacency | None:
        n = self.next_hop(src, dst)
        return None if n is None else self.net.adj[src][n]

    def path(self, src: str, dst: str) -> list[str]:
        """Switches from src to dst inclusive; [] when unreachable."""
        if not np.isfinite(self.distance(src, dst)):
            return []
        out = [src]
        while out[-1] != dst:
            nxt = self.next_hop(out[-1], dst)
            assert nxt is not None
            out.append(nxt)
        return out


def _edge_arrays(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed adjacencies sorted by (source, port): the order that breaks ties."""
    edges = sorted(
        (net.index[u], a.port, net.index[v], a.weight)
        for u, peers in net.adj.items()
        for v, a in peers.items()
    )
    if not edges:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty.astype(float)
    arr = np.array(edges, dtype=np.int64)
    return arr[:, 0], arr[:, 2], arr[:, 3].astype(float)


def compute_routing(net: Network, dests: list[str] | None = None, chunk: int = 128) -> Routing:
    """Distances and next hops from every switch towards each of `dests` (default: all)."""
    idx = [net.index[d] for d in dests] if dests is not None else list(range(len(net.switches)))
    n = len(net.switches)
    src, dst, w = _edge_arrays(net)
    if idx:
        dist = dijkstra(net.csr(), directed=False, indices=idx)
        dist = np.atleast_2d(dist)
    else:
        dist = np.zeros((0, n))
    nh = np.full((len(idx), n), NO_HOP, dtype=np.int64)
    for lo in range(0, len(idx), chunk):
        d = dist[lo : lo + chunk]
        # edge e = (src -> dst) is on a shortest path towards the destination of row k
        tight = (w[None, :] + d[:, dst] == d[:, src]) & np.isfinite(d[:, src])
        rows, es = np.nonzero(tight)  # row-major: ascending edge order within a row
        key = rows * n + src[es]
        _, first = np.unique(key, return_index=True)
        nh[lo + rows[first], src[es[first]]] = dst[es[first]]
    return Routing(net, idx, dist, nh, {k: r for r, k in enumerate(idx)})
