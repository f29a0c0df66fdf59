"""SR-P2MP (RFC 9524 replication segments, RFC 9960 P2MP policies) over SR-MPLS or SRv6.

A policy is (sender host, receiver set). Its tree instance: a shortest-path tree rooted at
the sender's switch (default) or a Steiner tree (networkx's approximation) spanning the
root and the receivers' switches. Every replication node gets a Replication-SID from the
label block and a replication segment: one multicast group with one replica (rid) per
branch; a branch swaps the incoming SID for the downstream node's SID, or pops and delivers
to a local receiver host (leaf or bud). With `compress_transit`, nodes that only pass the
tree on (one child, no local receiver) get no segment: the upstream node pushes their
adjacency SIDs (at most two, the program's push depth) above the downstream SID.

Adjacency SIDs are local: label ADJ_SID_BASE + port on every switch, installed once per
switch-switch port (`transit_sid`, pop and send out of that port).

Over SRv6 (`routed_transit`) the same tree gets the same segments and SIDs (a label's value
is the function of the node's Replication-SID, wire/srv6.py), but a node that only passes the
tree on is left out wherever the switches' locator routes carry the copy along the tree's own
edges to the next node that keeps a segment: the branch addresses that node's SID directly
and the nodes between forward it as plain IPv6, without any state of the tree and without a
segment list. Where routing would leave the tree (another shortest path, a Steiner tree's
detour) the node keeps its segment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import networkx as nx

from controlplane.errors import LabelBlockExhausted, ReceiverError
from controlplane.graph import Network
from controlplane.paths import Routing, compute_routing

ADJ_SID_BASE = 15000
DEFAULT_BLOCK = (100000, 199999)
FIRST_SR_GROUP = 256  # groups 1..255 belong to BIER (p4src/README.md)
MAX_PUSH = 2
Algorithm = Literal["spt", "steiner"]


class LabelAllocator:
    """Replication-SIDs out of one label block; all-or-nothing allocation."""

    def __init__(self, lo: int = DEFAULT_BLOCK[0], hi: int = DEFAULT_BLOCK[1]) -> None:
        if not 16 <= lo <= hi < 1 << 20:
            raise ValueError(f"label block {lo}-{hi} is not within 16..1048575")
        self.lo, self.hi = lo, hi
        self._next = lo
        self._free: list[int] = []
        self.in_use: set[int] = set()

    def available(self) -> int:
        return self.hi - self._next + 1 + len(self._free)

    def take(self, n: int, what: str = "") -> list[int]:
        if n > self.available():
            raise LabelBlockExhausted(
                f"label block {self.lo}-{self.hi} exhausted: {what or 'a tree'} needs {n} "
                f"Replication-SIDs, {self.available()} free ({len(self.in_use)} in use)"
            )
        out = []
        self._free.sort(reverse=True)
        while len(out) < n and self._free:
            out.append(self._free.pop())
        while len(out) < n:
            out.append(self._next)
            self._next += 1
        self.in_use.update(out)
        return out

    def release(self, labels: list[int]) -> None:
        for lab in labels:
            if lab in self.in_use:
                self.in_use.remove(lab)
                self._free.append(lab)


class GroupAllocator:
    """Multicast group ids per switch, from FIRST_SR_GROUP up."""

    def __init__(self) -> None:
        self.used: dict[str, set[int]] = {}

    def take(self, switch: str) -> int:
        used = self.used.setdefault(switch, set())
        g = FIRST_SR_GROUP
        while g in used:
            g += 1
        used.add(g)
        return g

    def release(self, switch: str, group: int) -> None:
        self.used.get(switch, set()).discard(group)


@dataclass(frozen=True)
class SrBranch:
    rid: int
    port: int
    to: str  # downstream switch (first hop) or receiver host
    kind: Literal["swap", "swap_push", "pop_deliver"]
    dmac: str  # next switch port's MAC, or the receiver host's MAC
    sid: int = 0  # downstream Replication-SID (swap, swap_push)
    segment_list: tuple[int, ...] = ()  # adjacency SIDs pushed above `sid`, top first
    target: str = ""  # the downstream replication node the SID belongs to


@dataclass(frozen=True)
class ReplicationSegment:
    node: str
    sid: int
    group: int
    branches: tuple[SrBranch, ...]


@dataclass
class TreeInstance:
    policy: str
    instance: int
    sender: str
    root: str  # the sender's switch
    receivers: tuple[str, ...]
    algorithm: Algorithm
    edges: tuple[tuple[str, str], ...]  # (parent, child) switch pairs, root downwards
    segments: dict[str, ReplicationSegment]  # by node, root first, then BFS order
    compute_s: float = 0.0
    owns_root_sid: bool = True  # False once a newer instance took the root SID over
    key: str = ""  # the delivery it serves when several run at once ("": the one)

    @property
    def root_sid(self) -> int:
        return self.segments[self.root].sid

    @property
    def nodes(self) -> list[str]:
        out = [self.root]
        out += [c for _, c in self.edges]
        return out

    def labels(self) -> list[int]:
        """The SIDs this instance holds (the root SID only while it owns it)."""
        return [s.sid for n, s in self.segments.items() if n != self.root or self.owns_root_sid]


@dataclass
class TreeCost:
    policy: str
    instance: int
    tree_nodes: int
    replication_nodes: int
    table_entries: int
    groups: int
    replicas: int
    writes: int = 0
    compute_s: float = 0.0
    install_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def policy_name(sender: str, receivers: list[str] | tuple[str, ...]) -> str:
    return f"{sender}->{','.join(sorted(receivers))}"


def compute_tree(
    net: Network, sender: str, receivers: list[str], algorithm: Algorithm = "spt"
) -> tuple[str, list[tuple[str, str]]]:
    """The root switch and the tree's (parent, child) switch edges in BFS order from the root."""
    _check_hosts(net, sender, receivers)
    root = net.hosts[sender].switch
    leaves = sorted({net.hosts[r].switch for r in receivers}, key=net.index.__getitem__)
    parent: dict[str, str] = {}
    if algorithm == "spt":
        routing = compute_routing(net, [root])
        for leaf in leaves:
            v = leaf
            while v != root and v not in parent:
                nxt = routing.next_hop(v, root)
                if nxt is None:
                    raise ReceiverError(f"receiver switch {leaf} cannot reach root {root}")
                parent[v] = nxt
                v = nxt
    elif algorithm == "steiner":
        terminals = sorted({root, *leaves}, key=net.index.__getitem__)
        if len(terminals) > 1:
            g = net.graph()
            comp = nx.node_connected_component(g, root)
            lost = [t for t in terminals if t not in comp]
            if lost:
                raise ReceiverError(f"receiver switches {lost} cannot reach root {root}")
            st = nx.algorithms.approximation.steiner_tree(g, terminals, weight="weight")
            for u, v in nx.bfs_edges(st, root, sort_neighbors=_by_index(net)):
                parent[v] = u
    else:
        raise ValueError(f"unknown tree algorithm {algorithm!r} (spt or steiner)")
    children: dict[str, list[str]] = {}
    for c, p in parent.items():
        children.setdefault(p, []).append(c)
    edges: list[tuple[str, str]] = []
    queue = [root]
    while queue:
        u = queue.pop(0)
        for c in sorted(children.get(u, []), key=lambda c: net.adj[u][c].port):
            edges.append((u, c))
            queue.append(c)
    return root, edges


def _by_index(net: Network):
    return lambda nodes: sorted(nodes, key=net.index.__getitem__)


def _check_hosts(net: Network, sender: str, receivers: list[str]) -> None:
    if sender not in net.hosts:
        raise ReceiverError(f"sender {sender!r} is not a host of topology {net.topo.name!r}")
    unknown = [r for r in receivers if r not in net.hosts]
    if unknown:
        raise ReceiverError(f"receiver set names unknown hosts: {unknown}")
    if not receivers:
        raise ReceiverError("receiver set is empty")
    if sender in receivers:
        raise ReceiverError(f"sender {sender!r} is also in the receiver set")


def build_instance(
    net: Network,
    sender: str,
    receivers: list[str],
    labels: LabelAllocator,
    groups: GroupAllocator,
    instance: int,
    algorithm: Algorithm = "spt",
    compress_transit: bool = False,
    root_sid: int | None = None,
    root_rid_base: int = 0,
    routed_transit: Routing | None = None,
) -> TreeInstance:
    """Compute the tree and allocate SIDs and groups. Allocation is all-or-nothing.

    `root_sid`: keep this SID at the root (the instance replaces one with the same root):
    the sender's label stays, the root's SID entry is moved to the new group. The root's
    branches then need rids other than the old instance's: `root_rid_base` is added.
    `routed_transit` (SRv6): the switches' routing towards every switch; transit nodes whose
    route follows the tree get no segment (module docstring)."""
    if compress_transit and routed_transit is not None:
        raise ValueError(
            "compress_transit (segment lists) and routed_transit (SRv6) exclude each other"
        )
    t0 = time.perf_counter()
    root, edges = compute_tree(net, sender, receivers, algorithm)
    children: dict[str, list[str]] = {}
    for p, c in edges:
        children.setdefault(p, []).append(c)
    local: dict[str, list[str]] = {}
    for r in sorted(receivers, key=lambda r: int(net.hosts[r].ip)):
        local.setdefault(net.hosts[r].switch, []).append(r)
    order = [root] + [c for _, c in edges]

    def transit(n: str) -> bool:
        return n != root and len(children.get(n, [])) == 1 and not local.get(n)

    # which nodes get a replication segment: all, or all but transit nodes; in a chain of
    # transit nodes every (MAX_PUSH + 1)-th keeps a segment so no branch pushes too many SIDs
    skip: set[str] = set()
    if compress_transit:
        for n in order:
            if transit(n):
                continue
            for c in children.get(n, []):
                i, v = 0, c
                while transit(v):
                    if i % (MAX_PUSH + 1) != MAX_PUSH:
                        skip.add(v)
                    i, v = i + 1, children[v][0]
    if routed_transit is not None:
        skip |= _routed_transit_nodes(order, children, transit, routed_transit)
    seg_nodes = [n for n in order if n not in skip]
    fresh = seg_nodes[1:] if root_sid is not None else seg_nodes
    sids = labels.take(len(fresh), f"tree of {sender} to {len(receivers)} receivers")
    sid_of = dict(zip(fresh, sids, strict=True))
    if root_sid is not None:
        sid_of[root] = root_sid
    segments: dict[str, ReplicationSegment] = {}
    for n in seg_nodes:
        branches: list[SrBranch] = []
        rid = 1 + (root_rid_base if n == root else 0)
        for c in children.get(n, []):
            a = net.adj[n][c]
            seglist: list[int] = []
            v = c
            while v in skip:  # push the adjacency SIDs of the skipped transit nodes (MPLS)
                nxt = children[v][0]
                seglist.append(ADJ_SID_BASE + net.adj[v][nxt].port)
                v = nxt
            if routed_transit is not None:
                seglist = []  # SRv6: the nodes between route the SID by its locator
            kind = "swap_push" if seglist else "swap"
            branches.append(SrBranch(rid, a.port, c, kind, a.dst_mac, sid_of[v], tuple(seglist), v))
            rid += 1
        for h in local.get(n, []):
            hp = net.hosts[h]
            branches.append(SrBranch(rid, hp.port, h, "pop_deliver", hp.mac, target=h))
            rid += 1
        segments[n] = ReplicationSegment(n, sid_of[n], groups.take(n), tuple(branches))
    inst = TreeInstance(
        policy_name(sender, receivers),
        instance,
        sender,
        root,
        tuple(sorted(receivers, key=lambda r: int(net.hosts[r].ip))),
        algorithm,
        tuple(edges),
        segments,
    )
    inst.compute_s = time.perf_counter() - t0
    return inst


def _routed_transit_nodes(
    order: list[str],
    children: dict[str, list[str]],
    transit: Callable[[str], bool],
    routing: Routing,
) -> set[str]:
    """Transit nodes that plain routing passes a copy through along the tree: walking each
    chain of transit nodes up from the node that ends it, a node is left out when the route
    from it to the nearest kept node below follows the chain; otherwise it is kept itself."""
    out: set[str] = set()
    for n in order:
        if transit(n):
            continue
        for c in children.get(n, []):
            chain, v = [], c
            while transit(v):
                chain.append(v)
                v = children[v][0]
            anchor = v
            for u in reversed(chain):
                w = u
                while w != anchor and routing.next_hop(w, anchor) == children[w][0]:
                    w = children[w][0]
                if w == anchor:
                    out.add(u)
                else:
                    anchor = u
    return out


def release_instance(inst: TreeInstance, labels: LabelAllocator, groups: GroupAllocator) -> None:
    labels.release(inst.labels())
    for seg in inst.segments.values():
        groups.release(seg.node, seg.group)
