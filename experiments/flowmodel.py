"""Flow-level network model: directed link capacities, shortest-path trees, max-min fair
sharing by progressive filling, and an event-driven transfer simulation.

A flow is one transmission from the source: a unicast copy to one receiver, or one multicast
stream to many. A multicast flow occupies each link of its tree once, at one rate (the source
sends each byte once; every branch carries it). Rates are max-min fair among the flows that
share links; they change only when a flow starts or ends or the network changes, so the
simulation jumps from event to event and is exact between them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from controlplane.graph import Network
from controlplane.paths import compute_routing
from topologies.model import Topology

_EPS = 1e-9


@dataclass
class Net:
    """A topology as directed edges with capacities (bytes/s on the wire)."""

    topo: Topology
    graph: nx.Graph  # undirected, attribute 'weight', for paths
    edges: list[tuple[str, str]]  # directed edge id -> (from, to)
    index: dict[tuple[str, str], int]
    link_of: list[int]  # directed edge id -> index into topo.links
    cap: np.ndarray  # bytes/s
    delay: np.ndarray  # seconds
    wan: np.ndarray  # bool: not inside one cloud
    hosts: frozenset[str]
    down: set[int] = field(default_factory=set)  # directed edge ids currently down
    _core: tuple[Topology, dict[int, int]] | None = None

    def core(self) -> tuple[Topology, dict[int, int]]:
        """The switch graph alone as a Topology (ports, weights and device ids as in the full
        one, so the control plane breaks ties the same way), and topo link index -> its index.
        Routing needs no hosts, and the control plane's Network attaches hosts in time
        quadratic in their number."""
        if self._core is None:
            switches = [s.model_dump(exclude_none=True) for s in self.topo.switches]
            links, mapping = [], {}
            for i, lk in enumerate(self.topo.links):
                if lk.a in self.hosts or lk.b in self.hosts:
                    continue
                mapping[i] = len(links)
                links.append(lk.model_dump())
            core = Topology.model_validate(
                {"name": self.topo.name, "switches": switches, "hosts": [], "links": links}
            )
            self._core = (core, mapping)
        return self._core

    def edge_ids(self, nodes: list[str]) -> list[int]:
        return [self.index[(u, v)] for u, v in itertools.pairwise(nodes)]

    def link_edges(self, a: str, b: str) -> tuple[int, int]:
        return self.index[(a, b)], self.index[(b, a)]

    def attachment(self) -> dict[str, str]:
        """Host -> the switch it hangs off."""
        out = {}
        for lk in self.topo.links:
            if lk.a in self.hosts:
                out[lk.a] = lk.b
            elif lk.b in self.hosts:
                out[lk.b] = lk.a
        return out

    def down_links(self) -> frozenset[int]:
        """Indices into topo.links of the links that are down."""
        return frozenset(self.link_of[e] for e in self.down)


def build_net(topo: Topology, bandwidth_scale: float = 1.0) -> Net:
    cloud = {s.name: s.cloud for s in topo.switches} | {h.name: h.cloud for h in topo.hosts}
    g = nx.Graph()
    g.add_nodes_from(s.name for s in topo.switches)
    g.add_nodes_from(h.name for h in topo.hosts)
    edges: list[tuple[str, str]] = []
    link_of: list[int] = []
    cap: list[float] = []
    delay: list[float] = []
    wan: list[bool] = []
    for i, lk in enumerate(topo.links):
        g.add_edge(lk.a, lk.b, weight=lk.weight)
        inside = cloud[lk.a] is not None and cloud[lk.a] == cloud[lk.b]
        for u, v in ((lk.a, lk.b), (lk.b, lk.a)):
            edges.append((u, v))
            link_of.append(i)
            cap.append(lk.bw_mbit * bandwidth_scale * 1e6 / 8)
            delay.append(lk.delay_ms / 1000)
            wan.append(not inside)
    return Net(
        topo=topo,
        graph=g,
        edges=edges,
        index=_preferred(edges, [topo.links[i].weight for i in link_of]),
        link_of=link_of,
        cap=np.array(cap, dtype=float),
        delay=np.array(delay, dtype=float),
        wan=np.array(wan, dtype=bool),
        hosts=frozenset(h.name for h in topo.hosts),
    )


def _preferred(edges: list[tuple[str, str]], weights: list[int]) -> dict[tuple[str, str], int]:
    """Node pair -> edge id; of parallel links the lowest weight (then the first) carries."""
    out: dict[tuple[str, str], int] = {}
    for i, e in enumerate(edges):
        if e not in out or weights[i] < weights[out[e]]:
            out[e] = i
    return out


def shortest_paths(
    net: Net,
    source: str,
    receivers: Iterable[str],
    rpf: bool = False,
    skip_unreachable: bool = False,
) -> dict[str, list[int]]:
    """Per receiver, the directed edge ids of its path from the source host over links that
    are up, as the control plane routes it (controlplane.paths: shortest by link weight, ties
    to the lowest port). Default: hop-by-hop next hops towards each receiver's switch (unicast
    routes, BIFTs). `rpf=True`: the reverse of each receiver's path towards the source (PIM-SM
    joins; the controller's SR-P2MP shortest-path tree). An unreachable receiver raises
    ValueError naming it, or is left out with `skip_unreachable`."""
    receivers = list(receivers)
    core, mapping = net.core()
    down = frozenset(mapping[i] for i in net.down_links() if i in mapping)
    cp = Network(core, down=down, require_connected=False)
    attached = net.attachment()
    src_sw = attached[source]
    dst_sw = {r: attached[r] for r in receivers}
    if rpf:
        routing = compute_routing(cp, [src_sw])
    else:
        routing = compute_routing(cp, sorted(set(dst_sw.values()), key=cp.index.__getitem__))
    cache: dict[str, list[int]] = {}
    out: dict[str, list[int]] = {}
    for r in receivers:
        d = dst_sw[r]
        if d not in cache:
            hops = routing.path(d, src_sw)[::-1] if rpf else routing.path(src_sw, d)
            cache[d] = net.edge_ids([source, *hops]) if hops else []
        path = [*cache[d], net.index[(d, r)]] if cache[d] else []
        if not path or any(e in net.down for e in path):
            if skip_unreachable:
                continue
            raise ValueError(f"receiver {r!r} cannot be reached from {source!r}")
        out[r] = path
    return out


def tree_edges(paths: dict[str, list[int]]) -> set[int]:
    out: set[int] = set()
    for p in paths.values():
        out.update(p)
    return out


def maxmin_rates(
    pair_flow: np.ndarray, pair_edge: np.ndarray, n_flows: int, cap: np.ndarray
) -> np.ndarray:
    """Max-min fair rates by progressive filling.

    `pair_flow[i]` uses edge `pair_edge[i]` (each (flow, edge) pair once: a multicast flow
    occupies a link once). All unfrozen flows grow together; when a link fills, its flows
    freeze. Flows that use no edge get rate 0."""
    rate = np.zeros(n_flows)
    if n_flows == 0 or len(pair_flow) == 0:
        return rate
    frozen = np.ones(n_flows, dtype=bool)
    frozen[np.unique(pair_flow)] = False
    cap_rem = cap.astype(float).copy()
    n_edges = len(cap)
    while not frozen.all():
        live = ~frozen[pair_flow]
        n_on = np.bincount(pair_edge[live], minlength=n_edges)
        used = n_on > 0
        share = np.full(n_edges, np.inf)
        share[used] = np.maximum(cap_rem[used], 0.0) / n_on[used]
        inc = share.min()
        if not np.isfinite(inc):
            break
        rate[~frozen] += inc
        cap_rem -= inc * n_on
        full = used & (cap_rem <= _EPS * np.maximum(cap, 1.0))
        newly = np.unique(pair_flow[live & full[pair_edge]])
        frozen[newly] = True
    return rate


@dataclass
class Flow:
    fid: int
    kind: str  # 'stream' | 'repair'
    size: float  # payload bytes to deliver
    start: float
    paths: dict[str, list[int]]  # receiver -> installed path (edge ids)
    cut: dict[str, int] = field(default_factory=dict)  # receiver -> position of the dead edge
    cut_sent: dict[str, float] = field(default_factory=dict)  # bytes sent when it was cut
    sent: float = 0.0
    finish: float | None = None

    @property
    def done(self) -> bool:
        return self.finish is not None

    def carrying_edges(self) -> set[int]:
        """Links that carry this flow's bytes: whole paths, and for a cut receiver the part of
        its path up to the dead link (the source does not know yet and keeps sending)."""
        out: set[int] = set()
        for r, p in self.paths.items():
            out.update(p[: self.cut[r]] if r in self.cut else p)
        return out


class FlowSim:
    """Runs flows over a Net. `eff[e]` is the payload share of the wire bytes on edge e (headers
    cost the rest); `pacer` is the source's total sending rate in payload bytes/s, shared by
    all its flows."""

    def __init__(self, net: Net, eff: np.ndarray, pacer: float) -> None:
        self.net = net
        self.eff = eff
        self.t = 0.0
        self.flows: list[Flow] = []
        self.payload = np.zeros(len(net.edges))  # payload bytes carried per directed edge
        self._cap = np.append(net.cap * eff, pacer)
        self._pacer_edge = len(net.edges)
        self._dirty = True
        self._rates = np.zeros(0)
        self._active: list[Flow] = []
        self._pairs: tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None = None

    def add(self, kind: str, size: float, paths: dict[str, list[int]]) -> Flow:
        f = Flow(fid=len(self.flows), kind=kind, size=float(size), start=self.t, paths=paths)
        if size <= 0:
            f.finish = self.t
        self.flows.append(f)
        self._dirty = True
        return f

    def changed(self) -> None:
        """Call after editing flows' paths or cuts, or the network's down set."""
        self._dirty = True

    def _rebuild(self) -> None:
        self._active = [f for f in self.flows if not f.done]
        pf: list[np.ndarray] = []
        pe: list[np.ndarray] = []
        per_flow: list[np.ndarray] = []
        for i, f in enumerate(self._active):
            edges = np.fromiter(f.carrying_edges(), dtype=np.int64)
            edges = edges[[e not in self.net.down for e in edges]] if self.net.down else edges
            per_flow.append(edges)
            both = np.append(edges, self._pacer_edge)
            pe.append(both)
            pf.append(np.full(len(both), i, dtype=np.int64))
        if self._active:
            pair_f, pair_e = np.concatenate(pf), np.concatenate(pe)
        else:
            pair_f = pair_e = np.zeros(0, dtype=np.int64)
        cap = self._cap.copy()
        for e in self.net.down:
            cap[e] = 0.0
        self._rates = maxmin_rates(pair_f, pair_e, len(self._active), cap)
        self._pairs = (pair_f, pair_e, per_flow)
        self._dirty = False

    def rates(self) -> dict[int, float]:
        if self._dirty:
            self._rebuild()
        return {f.fid: float(r) for f, r in zip(self._active, self._rates, strict=True)}

    def run_until(self, t_stop: float | None, stop: Callable[[], bool] | None = None) -> None:
        """Advance to t_stop (or until every flow is done when None); return early when a
        flow finishes and `stop()` says so."""
        while True:
            if self._dirty:
                self._rebuild()
            if not self._active:
                if t_stop is not None:
                    self.t = max(self.t, t_stop)
                return
            rem = np.array([f.size - f.sent for f in self._active])
            with np.errstate(divide="ignore"):
                t_done = np.where(self._rates > 0, rem / np.maximum(self._rates, 1e-300), np.inf)
            dt = float(t_done.min())
            if t_stop is not None:
                dt = min(dt, t_stop - self.t)
            if not np.isfinite(dt):
                raise RuntimeError(
                    f"t={self.t:.3f}s: flows can make no progress and nothing will change "
                    "(a receiver is cut off with no repair scheduled)"
                )
            dt = max(dt, 0.0)
            pair_f, pair_e, _ = self._pairs  # type: ignore[misc]
            real = pair_e != self._pacer_edge
            self.payload += np.bincount(
                pair_e[real], weights=self._rates[pair_f[real]] * dt, minlength=len(self.payload)
            )
            self.t += dt
            finished = False
            for f, r, td in zip(self._active, self._rates, t_done, strict=True):
                f.sent += r * dt
                if td - dt <= _EPS * max(1.0, td) or f.size - f.sent <= _EPS * f.size:
                    f.sent = f.size
                    f.finish = self.t
                    finished = True
            if finished:
                self._dirty = True
                if stop is not None and stop():
                    return
            if t_stop is not None and self.t >= t_stop - _EPS * max(1.0, t_stop):
                self.t = t_stop
                return
