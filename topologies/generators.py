"""Topology generators. Each returns a plain dict in the YAML format (validate it with
`topologies.from_dict`); the same arguments always give the same dict.

Names are short and regular (c1, b2, l3_2, g3_2_1); any name of up to 32 characters works in
the testbed, which gives the kernel short interface names where needed (testbed.names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx

STORE_CLOUD = "store"


@dataclass
class CloudSpec:
    """Sizes and bandwidths of the GPU clouds hung onto a WAN."""

    leaves: int = 2
    hosts: int = 2
    wan_mbit: list[float] = field(default_factory=lambda: [20.0])  # one value, or one per cloud
    cloud_mbit: float = 100.0
    store_mbit: float | None = None  # the model store's uplink; default cloud_mbit

    def wan_for(self, i: int, clouds: int) -> float:
        if len(self.wan_mbit) == 1:
            return self.wan_mbit[0]
        if len(self.wan_mbit) != clouds:
            raise ValueError(
                f"--wan-mbit: {len(self.wan_mbit)} values given for {clouds} clouds "
                "(give one value, or one per cloud)"
            )
        return self.wan_mbit[i]

    def check(self, clouds: int) -> None:
        if clouds < 1:
            raise ValueError("--clouds: need at least 1 cloud")
        if self.leaves < 1 or self.hosts < 1:
            raise ValueError("--leaves and --hosts: need at least 1 each")
        for i in range(clouds):
            wan = self.wan_for(i, clouds)
            if wan <= 0 or self.cloud_mbit <= 0:
                raise ValueError("bandwidths must be > 0")
            if wan >= self.cloud_mbit:
                raise ValueError(
                    f"cloud {i + 1}: the inbound WAN bandwidth ({wan:g} Mbit/s) must be lower "
                    f"than the bandwidth inside the cloud ({self.cloud_mbit:g} Mbit/s)"
                )


class _Builder:
    def __init__(self, name: str, description: str) -> None:
        self.d: dict[str, Any] = {
            "name": name,
            "description": description,
            "switches": [],
            "hosts": [],
            "links": [],
        }

    def switch(self, name: str, cloud: str | None) -> str:
        s: dict[str, Any] = {"name": name}
        if cloud is not None:
            s["cloud"] = cloud
        self.d["switches"].append(s)
        return name

    def host(self, name: str, role: str, cloud: str) -> str:
        self.d["hosts"].append({"name": name, "role": role, "cloud": cloud})
        return name

    def link(self, a: str, b: str, bw: float, weight: int = 1) -> None:
        link: dict[str, Any] = {"a": a, "b": b, "bw_mbit": _clean(bw)}
        if weight != 1:
            link["weight"] = weight
        self.d["links"].append(link)

    def cloud(self, i: int, attach: str, spec: CloudSpec, clouds: int) -> None:
        """Cloud i (1-based): border switch b<i> hung off `attach` by the inbound WAN link,
        leaves l<i>_<j> under the border, GPU hosts g<i>_<j>_<k> on each leaf."""
        cloud = f"cloud{i}"
        border = self.switch(f"b{i}", cloud)
        self.link(attach, border, spec.wan_for(i - 1, clouds))
        for j in range(1, spec.leaves + 1):
            leaf = self.switch(f"l{i}_{j}", cloud)
            self.link(border, leaf, spec.cloud_mbit)
            for k in range(1, spec.hosts + 1):
                self.link(self.host(f"g{i}_{j}_{k}", "gpu", cloud), leaf, spec.cloud_mbit)

    def store(self, attach: list[str], spec: CloudSpec) -> None:
        """The model-store site: switch ms with host store, dual-homed where it can be."""
        site = self.switch("ms", STORE_CLOUD)
        bw = spec.store_mbit or spec.cloud_mbit
        self.link(self.host("store", "model-store", STORE_CLOUD), site, bw)
        for a in attach:
            self.link(site, a, bw)


def multicloud(
    clouds: int = 3, spec: CloudSpec | None = None, core_mbit: float | None = None
) -> dict[str, Any]:
    """A model-store site and `clouds` GPU clouds joined by a WAN core.

    Core: switches c1..cK in a ring (one link for K=2), each cloud's border hung off its own
    core switch by the cloud's inbound WAN link; the store site is attached to c1 and c2.
    Core links default to the in-cloud bandwidth, so a cloud's inbound WAN link (lower) is the
    bottleneck towards that cloud.
    """
    spec = spec or CloudSpec()
    spec.check(clouds)
    core_bw = core_mbit or spec.cloud_mbit
    if core_bw <= 0:
        raise ValueError("--core-mbit: must be > 0")
    hosts = clouds * spec.leaves * spec.hosts
    b = _Builder(
        f"multicloud-{clouds}x{spec.leaves}x{spec.hosts}",
        f"model store + {clouds} GPU clouds x {spec.leaves} leaves x {spec.hosts} hosts "
        f"({hosts} GPU hosts); WAN in {_wan_text(spec)} Mbit/s, in-cloud "
        f"{spec.cloud_mbit:g} Mbit/s, core {core_bw:g} Mbit/s",
    )
    core = [b.switch(f"c{i}", None) for i in range(1, clouds + 1)]
    if clouds == 2:
        b.link(core[0], core[1], core_bw)
    elif clouds > 2:
        for i in range(clouds):
            b.link(core[i], core[(i + 1) % clouds], core_bw)
    b.store(core[:2], spec)
    for i in range(1, clouds + 1):
        b.cloud(i, core[i - 1], spec, clouds)
    return b.d


# -- Topology Zoo --------------------------------------------------------------------------


def zoo_names() -> list[str]:
    data = resources.files("topologies") / "data"
    return sorted(p.name[: -len(".graphml")] for p in data.iterdir() if p.name.endswith(".graphml"))


def read_zoo(name: str) -> nx.Graph:
    """A bundled graph by name (case-insensitive) or any GraphML file by path."""
    path = Path(name)
    if not path.suffix:
        match = [n for n in zoo_names() if n.lower() == name.lower()]
        if not match:
            raise ValueError(f"no bundled graph {name!r}; bundled: {', '.join(zoo_names())}")
        path = Path(str(resources.files("topologies") / "data" / f"{match[0]}.graphml"))
    try:
        g = nx.read_graphml(path)
    except (OSError, nx.NetworkXError, Exception) as e:
        raise ValueError(f"{path}: cannot read GraphML: {e}") from None
    # The zoo has a few parallel links and self-loops; one link per node pair is what we model.
    simple = nx.Graph(g)
    simple.remove_edges_from(list(nx.selfloop_edges(simple)))
    simple.graph.update(g.graph)
    simple.graph.setdefault("Network", path.stem)
    return simple


def zoo(
    name: str,
    clouds_at: list[str],
    store_at: str | None = None,
    spec: CloudSpec | None = None,
    core_mbit: float | None = None,
    weights: str = "hops",
) -> dict[str, Any]:
    """A Topology Zoo WAN (one switch z<id> per node) with GPU clouds attached at the chosen
    nodes (node id or label) and the model-store site at `store_at` (default: the first node
    not carrying a cloud). `weights`: "hops" (all 1) or "distance" (1 per started 100 km of
    great-circle distance between the nodes' positions)."""
    spec = spec or CloudSpec()
    g = read_zoo(name)
    if not clouds_at:
        raise ValueError("--clouds-at: name at least one node")
    spec.check(len(clouds_at))
    if weights not in ("hops", "distance"):
        raise ValueError(f"--weights: must be 'hops' or 'distance', got {weights!r}")
    core_bw = core_mbit or spec.cloud_mbit
    nodes = sorted(g.nodes, key=_node_key)
    sw = {n: f"z{n}" if str(n).isdigit() else f"z{i}" for i, n in enumerate(nodes)}
    cloud_nodes = [_find_node(g, c) for c in clouds_at]
    if len(set(cloud_nodes)) != len(cloud_nodes):
        raise ValueError("--clouds-at: a node is named twice")
    if store_at is None:
        rest = [n for n in nodes if n not in cloud_nodes]
        store_node = rest[0] if rest else nodes[0]
    else:
        store_node = _find_node(g, store_at)
    used = set(cloud_nodes) | {store_node}
    for n in used:
        if not nx.has_path(g, store_node, n):
            raise ValueError(f"node {n!r} is not connected to the store node {store_node!r}")
    net = g.graph.get("Network", name)
    b = _Builder(
        f"zoo-{str(net).lower()}-{len(clouds_at)}x{spec.leaves}x{spec.hosts}",
        f"Topology Zoo {net} (CC BY-SA 3.0, topology-zoo.org) with {len(clouds_at)} GPU "
        f"clouds at {', '.join(_label(g, n) for n in cloud_nodes)}; store at "
        f"{_label(g, store_node)}",
    )
    component = nx.node_connected_component(g, store_node)
    for n in nodes:
        if n in component:
            b.switch(sw[n], None)
    for u, v in sorted(g.edges, key=lambda e: (_node_key(e[0]), _node_key(e[1]))):
        if u in component:
            w = _distance_weight(g, u, v) if weights == "distance" else 1
            b.link(sw[u], sw[v], core_bw, w)
    b.store([sw[store_node]], spec)
    for i, n in enumerate(cloud_nodes, start=1):
        b.cloud(i, sw[n], spec, len(cloud_nodes))
    return b.d


def _find_node(g: nx.Graph, ref: str) -> str:
    if ref in g.nodes:
        return ref
    hits = [n for n, d in g.nodes(data=True) if str(d.get("label", "")).lower() == ref.lower()]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ValueError(f"node label {ref!r} is ambiguous: ids {sorted(hits, key=_node_key)}")
    labels = ", ".join(f"{n}={_label(g, n)}" for n in sorted(g.nodes, key=_node_key))
    raise ValueError(f"no node {ref!r} in the graph; nodes: {labels}")


def _label(g: nx.Graph, n: str) -> str:
    return str(g.nodes[n].get("label", n))


def _node_key(n: str) -> tuple[int, str]:
    return (int(n), "") if str(n).isdigit() else (1 << 30, str(n))


def _distance_weight(g: nx.Graph, u: str, v: str) -> int:
    a, b = g.nodes[u], g.nodes[v]
    try:
        lat1, lon1, lat2, lon2 = (
            math.radians(float(x))
            for x in (a["Latitude"], a["Longitude"], b["Latitude"], b["Longitude"])
        )
    except KeyError:
        raise ValueError(f"--weights distance: node {u} or {v} has no position") from None
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    km = 2 * 6371.0 * math.asin(math.sqrt(h))
    return max(1, math.ceil(km / 100.0))


# -- fixed small topologies ----------------------------------------------------------------

FIXED = ("line", "diamond", "tree")


def fixed(name: str) -> dict[str, Any]:
    if name == "line":
        b = _Builder("line", "s1 - s2 - s3; store on s1, GPU hosts on s2 and s3")
        for s in ("s1", "s2", "s3"):
            b.switch(s, None)
        b.link(b.host("h1", "model-store", STORE_CLOUD), "s1", 100)
        b.link(b.host("h2", "gpu", "cloud1"), "s2", 100)
        b.link(b.host("h3", "gpu", "cloud1"), "s3", 100)
        b.link("s1", "s2", 50)
        b.link("s2", "s3", 50)
        return b.d
    if name == "diamond":
        b = _Builder(
            "diamond",
            "s1 -> s4 over a primary path via s2 (weight 1) and a backup path via s3 "
            "(weight 5); store on s1, GPU hosts on s4 and s2",
        )
        for s in ("s1", "s2", "s3", "s4"):
            b.switch(s, None)
        b.link(b.host("h1", "model-store", STORE_CLOUD), "s1", 100)
        b.link(b.host("h2", "gpu", "cloud1"), "s4", 100)
        b.link(b.host("h3", "gpu", "cloud1"), "s4", 100)
        b.link(b.host("h4", "gpu", "cloud1"), "s2", 100)
        b.link("s1", "s2", 50)
        b.link("s2", "s4", 50)
        b.link("s1", "s3", 20, weight=5)
        b.link("s3", "s4", 20, weight=5)
        return b.d
    if name == "tree":
        b = _Builder("tree", "root s1 with two children s2, s3; two GPU hosts on each child")
        for s in ("s1", "s2", "s3"):
            b.switch(s, None)
        b.link(b.host("h1", "model-store", STORE_CLOUD), "s1", 100)
        b.link("s1", "s2", 50)
        b.link("s1", "s3", 50)
        for i, leaf in ((2, "s2"), (4, "s3")):
            b.link(b.host(f"h{i}", "gpu", "cloud1"), leaf, 100)
            b.link(b.host(f"h{i + 1}", "gpu", "cloud1"), leaf, 100)
        return b.d
    raise ValueError(f"no fixed topology {name!r}; known: {', '.join(FIXED)}")


def _clean(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def _wan_text(spec: CloudSpec) -> str:
    return "/".join(f"{w:g}" for w in spec.wan_mbit)
