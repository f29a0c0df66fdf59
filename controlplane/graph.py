"""The switch graph the computations run on: switches, their adjacencies with ports and MACs,
the hosts and where they attach, and which links are down.

Built from `topologies.model.Topology`. Links are named by `Link.name` ("a-b"); a direction
"b-a" resolves to the same link. Parallel links between two switches are allowed: the one
with the lowest (weight, port at the lower-named end) carries traffic; the others are spares.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix

from controlplane.errors import TopologyError
from topologies.model import Host, Topology, switch_port_mac


@dataclass(frozen=True)
class Adjacency:
    """One direction of a switch-switch link as seen from `switch`."""

    switch: str
    port: int
    peer: str
    peer_port: int
    weight: int
    link: int  # index into Topology.links
    src_mac: str  # own port's MAC: source of every frame sent here
    dst_mac: str  # the peer port's MAC: destination of unicast frames to the peer


@dataclass(frozen=True)
class HostPort:
    """A host and the switch port it hangs off."""

    host: str
    ip: ipaddress.IPv4Address
    mac: str
    role: str
    switch: str
    port: int
    switch_mac: str  # the switch port's MAC: source of frames to the host


class Network:
    """An immutable view of a topology with a set of links down."""

    def __init__(
        self, topo: Topology, down: frozenset[int] = frozenset(), require_connected: bool = True
    ) -> None:
        self.topo = topo
        self.down = frozenset(down)
        self.switches: list[str] = [s.name for s in topo.switches]
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.switches)}
        self.device_id: dict[str, int] = {s.name: int(s.device_id or 0) for s in topo.switches}
        self.hosts: dict[str, HostPort] = {}
        self.hosts_at: dict[str, list[HostPort]] = {n: [] for n in self.switches}
        # switch -> peer -> the adjacency in use (best of parallel up links)
        self.adj: dict[str, dict[str, Adjacency]] = {n: {} for n in self.switches}
        attach: dict[str, tuple[str, int]] = {}
        for link in topo.links:
            attach.setdefault(link.a, (link.b, link.b_port or 0))
            attach.setdefault(link.b, (link.a, link.a_port or 0))
        for h in topo.hosts:
            self._attach(h, attach.get(h.name))
        for i, link in enumerate(topo.links):
            if link.a not in self.index or link.b not in self.index or i in self.down:
                continue
            pa, pb = link.a_port or 0, link.b_port or 0
            ma, mb = self.port_mac(link.a, pa), self.port_mac(link.b, pb)
            a = Adjacency(link.a, pa, link.b, pb, link.weight, i, ma, mb)
            b = Adjacency(link.b, pb, link.a, pa, link.weight, i, mb, ma)
            cur = self.adj[link.a].get(link.b)
            if cur is None or (a.weight, a.port) < (cur.weight, cur.port):
                self.adj[link.a][link.b] = a
                self.adj[link.b][link.a] = b
        if require_connected:
            self.check_connected()

    def port_mac(self, switch: str, port: int) -> str:
        return switch_port_mac(self.device_id[switch], port)

    def _attach(self, h: Host, at: tuple[str, int] | None) -> None:
        if at is None:
            raise TopologyError(f"host {h.name!r} has no link to a switch")
        sw, port = at
        if sw not in self.index:
            raise TopologyError(f"host {h.name!r} is attached to {sw!r}, which is not a switch")
        assert h.ip is not None and h.mac is not None  # assigned by the model
        hp = HostPort(h.name, h.ip, h.mac, h.role, sw, port, self.port_mac(sw, port))
        self.hosts[h.name] = hp
        self.hosts_at[sw].append(hp)

    # -- graph views ------------------------------------------------------------------------
    def graph(self) -> nx.Graph:
        """networkx graph of switches; edge attributes weight, link, and ports per end."""
        g = nx.Graph()
        g.add_nodes_from(self.switches)
        for u, peers in self.adj.items():
            for v, a in peers.items():
                if self.index[u] < self.index[v]:
                    g.add_edge(
                        u, v, weight=a.weight, link=a.link, ports={u: a.port, v: a.peer_port}
                    )
        return g

    def components(self) -> list[list[str]]:
        g = self.graph()
        comps = [sorted(c, key=self.index.__getitem__) for c in nx.connected_components(g)]
        return sorted(comps, key=lambda c: self.index[c[0]])

    def check_connected(self) -> None:
        if not self.switches:
            raise TopologyError("topology has no switches")
        comps = self.components()
        if len(comps) > 1:
            parts = "; ".join(", ".join(c[:5]) + (" ..." if len(c) > 5 else "") for c in comps)
            raise TopologyError(
                f"topology {self.topo.name!r} is disconnected: {len(comps)} parts: {parts}"
            )

    def csr(self, without: tuple[str, str] | None = None) -> csr_matrix:
        """Symmetric weighted adjacency matrix; `without` removes one switch pair."""
        rows, cols, w = [], [], []
        skip = {without, (without[1], without[0])} if without else set()
        for u, peers in self.adj.items():
            for v, a in peers.items():
                if (u, v) in skip:
                    continue
                rows.append(self.index[u])
                cols.append(self.index[v])
                w.append(float(a.weight))
        n = len(self.switches)
        return csr_matrix((np.array(w), (np.array(rows), np.array(cols))), shape=(n, n))

    # -- links --------------------------------------------------------------------------------
    def resolve_link(self, name: str | int) -> int:
        """A link index from its index or its name "a-b" / "b-a"."""
        links = self.topo.links
        if isinstance(name, int):
            if not 0 <= name < len(links):
                raise TopologyError(f"no link with index {name} (topology has {len(links)})")
            return name
        hits = [i for i, lk in enumerate(links) if name in (f"{lk.a}-{lk.b}", f"{lk.b}-{lk.a}")]
        if not hits:
            raise TopologyError(f"no link named {name!r} in topology {self.topo.name!r}")
        if len(hits) > 1:
            raise TopologyError(
                f"link name {name!r} is ambiguous (parallel links {hits}); use its index"
            )
        return hits[0]

    def with_down(self, down: frozenset[int]) -> Network:
        return Network(self.topo, down, require_connected=False)

    def gpu_hosts(self) -> list[HostPort]:
        return [self.hosts[h.name] for h in self.topo.hosts if h.role == "gpu"]
