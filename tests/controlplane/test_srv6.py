"""SR-P2MP over SRv6 in the control plane: which tree nodes keep a segment when the switches'
locator routes carry the copies (exact segments and branches), the entities of srv6_p2mp.p4
(exact SIDs, branches, locator routes), and the controller: the root SID handed over as an
IPv6 address, make-before-break, a failure."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from cpf_fabric import MemoryFabric
from cpf_topos import build, line, ring_tree, tree

from controlplane.controller import Controller
from controlplane.desired import PROGRAM, compute_desired
from controlplane.entities import Lpm, McGroup, TableEntry
from controlplane.graph import Network
from controlplane.paths import compute_routing
from controlplane.srp2mp import GroupAllocator, LabelAllocator, SrBranch, build_instance
from controlplane.translate import srv6_locator_entries, srv6_segment_entities


def mac(dev: int, port: int) -> str:
    return "02:5e:00:%02x:00:%02x" % (dev, port)


def sid(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def build_v6(net: Network, receivers: list[str], **kw):  # type: ignore[no-untyped-def]
    return build_instance(
        net, "src", receivers, LabelAllocator(), GroupAllocator(), 1,
        routed_transit=compute_routing(net), **kw,
    )  # fmt: skip


def two_ways():
    # r - p, then p - q1 - L and p - q2 - L (equal weights). L's lowest port leads to q2, so
    # the tree (each leaf's next hops towards the root) is r -> p -> q2 -> L; p's own route
    # to L takes its lowest port, towards q1. Ports: r: 1->p, 2->src; p: 1->r, 2->q1, 3->q2;
    # q1: 1->p, 2->L; q2: 1->p, 2->L; L: 1->q2, 2->q1, 3->g
    return build(
        "two-ways",
        ["r", "p", "q1", "q2", "L"],
        [("src", "model-store", "r"), ("g", "gpu", "L")],
        [("r", "p"), ("p", "q1"), ("p", "q2"), ("L", "q2"), ("L", "q1")],
    )


def test_transit_nodes_on_the_route_get_no_segment():
    net = Network(line())  # src - s1 - s2 - s3 - g2
    inst = build_v6(net, ["g2"])
    assert inst.edges == (("s1", "s2"), ("s2", "s3"))
    assert list(inst.segments) == ["s1", "s3"]  # s2 only routes
    assert inst.segments["s1"].branches == (
        SrBranch(1, 1, "s2", "swap", mac(2, 1), inst.segments["s3"].sid, (), "s3"),
    )
    # over MPLS without compression every tree node keeps its segment
    mpls = build_instance(net, "src", ["g2"], LabelAllocator(), GroupAllocator(), 1)
    assert list(mpls.segments) == ["s1", "s2", "s3"]
    with pytest.raises(ValueError, match="exclude each other"):
        build_v6(net, ["g2"], compress_transit=True)


def test_a_transit_node_whose_route_leaves_the_tree_keeps_its_segment():
    net = Network(two_ways())
    inst = build_v6(net, ["g"])
    assert inst.edges == (("r", "p"), ("p", "q2"), ("q2", "L"))
    # q2 routes to L along the tree and is left out; p would route via q1: it keeps a segment
    assert list(inst.segments) == ["r", "p", "L"]
    L = inst.segments["L"].sid
    assert inst.segments["p"].branches == (SrBranch(1, 3, "q2", "swap", mac(4, 1), L, (), "L"),)
    assert inst.segments["r"].branches == (
        SrBranch(1, 1, "p", "swap", mac(2, 1), inst.segments["p"].sid, (), "p"),
    )


def test_bud_and_branching_nodes_keep_their_segments():
    net = Network(tree())  # s1 -> s2 (-> s4, s5), s1 -> s3 -> s6
    inst = build_v6(net, ["g1", "g3", "g4"])
    assert list(inst.segments) == ["s1", "s2", "s4", "s5", "s6"]  # s3 only routes to s6
    s6 = inst.segments["s6"].sid
    assert inst.segments["s1"].branches[1] == SrBranch(2, 2, "s3", "swap", mac(3, 1), s6, (), "s6")


def test_srv6_entities_exact():
    net = Network(line())
    inst = build_v6(net, ["g1", "g2"])  # s2 is a bud now
    s1, s2, s3 = (inst.segments[n] for n in ("s1", "s2", "s3"))
    assert (s1.sid, s2.sid, s3.sid) == (100000, 100001, 100002)
    assert srv6_segment_entities(net, s2) == [
        McGroup(256, ((2, 1), (3, 2))),
        TableEntry(
            "MyEgress.srv6_branch",
            (("hdr.ipv6.dst_addr", sid("5f00:0:2:1:86a1::")), ("standard_metadata.egress_rid", 1)),
            "MyEgress.branch_replicate",
            (("sid", sid("5f00:0:3:1:86a2::")), ("dmac", int(mac(3, 1).replace(":", ""), 16))),
        ),
        TableEntry(
            "MyEgress.srv6_branch",
            (("hdr.ipv6.dst_addr", sid("5f00:0:2:1:86a1::")), ("standard_metadata.egress_rid", 2)),
            "MyEgress.branch_decap",
            (("host_mac", 0x020000000002),),
        ),
        TableEntry(
            "MyIngress.srv6_sid",
            (("hdr.ipv6.dst_addr", sid("5f00:0:2:1:86a1::")),),
            "MyIngress.end_replicate",
            (("group", 256),),
        ),
    ]


def test_locator_routes_exact():
    net = Network(line())
    got = srv6_locator_entries(net, compute_routing(net), "s2")
    assert got == [
        TableEntry(
            "MyIngress.srv6_locator",
            (("hdr.ipv6.dst_addr", Lpm(sid("5f00:0:%d::" % d), 48)),),
            "MyIngress.locator_route",
            (("port", port), ("dmac", int(mac(d, 1).replace(":", ""), 16))),
        )
        for d, port in ((1, 1), (3, 2))
    ]


def test_desired_state_of_srv6():
    net = Network(line())
    inst = build_v6(net, ["g2"])
    d = compute_desired(net, "srv6-p2mp", [inst])
    assert PROGRAM["srv6-p2mp"] == "srv6_p2mp"
    tables = {
        sw: sorted({e.table for e in ents if isinstance(e, TableEntry)})
        for sw, ents in d.per_switch.items()
    }
    assert tables["s2"] == ["MyEgress.port_mac", "MyIngress.ipv4_lpm", "MyIngress.srv6_locator"]
    assert "MyIngress.srv6_sid" in tables["s1"] and "MyIngress.srv6_sid" in tables["s3"]
    assert not any(isinstance(e, McGroup) for e in d.per_switch["s2"])


def test_controller_hands_the_root_sid_over_as_an_address_and_keeps_it():
    topo = tree()
    fab = MemoryFabric([s.name for s in topo.switches])
    sids: list = []
    ctl = Controller(topo, fab, "srv6-p2mp", on_root_sid=sids.append)
    asyncio.run(ctl.install("src", ["g1", "g4"]))
    assert sids == [ipaddress.IPv6Address("5f00:0:1:1:86a0::")]
    ch = asyncio.run(ctl.set_receivers(["g1", "g3", "g4"]))
    assert ch.technology == "srv6-p2mp" and ch.root_sid == sids[-1] == sids[0]
    s1 = fab.entities("s1")
    sid_entries = [e for e in s1 if getattr(e, "table", "") == "MyIngress.srv6_sid"]
    assert [(e.match, e.params) for e in sid_entries] == [
        ((("hdr.ipv6.dst_addr", sid("5f00:0:1:1:86a0::")),), (("group", 257),))
    ]
    # s3 passes the tree on by routing: nothing of it there
    assert not any(getattr(e, "table", "").startswith("MyEgress.srv6") for e in fab.entities("s3"))
    assert ch.cost.tree_nodes == 6 and ch.cost.replication_nodes == 5


def test_controller_rebuilds_a_tree_around_a_failed_link():
    topo = ring_tree()
    fab = MemoryFabric([s.name for s in topo.switches])
    ctl = Controller(topo, fab, "srv6-p2mp")
    asyncio.run(ctl.install("src", ["g3"]))  # s1 -> s2 -> s5: s2 only routes
    assert list(ctl.trees[0].segments) == ["s1", "s5"]
    rec = asyncio.run(ctl.on_link_event("s2-s5", up=False))
    assert rec.trees_rebuilt == ["src->g3"]
    t = ctl.trees[0]
    assert t.edges == (("s1", "s3"), ("s3", "s5")) and list(t.segments) == ["s1", "s5"]
    # s1's branch now leaves towards s3, and s3's locator route to s5 takes the spare link
    (branch,) = t.segments["s1"].branches
    assert (branch.port, branch.target) == (2, "s5")
    s3_routes = {
        e.match[0][1].value: e.param("port")
        for e in fab.entities("s3")
        if getattr(e, "table", "") == "MyIngress.srv6_locator"
    }
    assert s3_routes[sid("5f00:0:5::")] == 3
