"""SR-P2MP: exact trees, SIDs, branches; Steiner option; transit compression; label block;
make-before-break order of writes."""

from __future__ import annotations

import pytest
from cpf_topos import build, tree

from controlplane.entities import McGroup, TableEntry
from controlplane.errors import LabelBlockExhausted, ReceiverError
from controlplane.graph import Network
from controlplane.sr_plan import make_before_break, writes
from controlplane.srp2mp import (
    ADJ_SID_BASE,
    GroupAllocator,
    LabelAllocator,
    SrBranch,
    build_instance,
    compute_tree,
)


def mac(dev: int, port: int) -> str:
    return "02:5e:00:%02x:00:%02x" % (dev, port)


def test_spt_tree_sids_and_branches_exact():
    net = Network(tree())
    inst = build_instance(net, "src", ["g1", "g3", "g4"], LabelAllocator(), GroupAllocator(), 1)
    assert inst.root == "s1" and inst.root_sid == 100000
    assert inst.edges == (("s1", "s2"), ("s1", "s3"), ("s2", "s4"), ("s2", "s5"), ("s3", "s6"))
    assert {n: s.sid for n, s in inst.segments.items()} == {
        "s1": 100000,
        "s2": 100001,
        "s3": 100002,
        "s4": 100003,
        "s5": 100004,
        "s6": 100005,
    }
    assert inst.segments["s2"].branches == (
        SrBranch(1, 2, "s4", "swap", mac(4, 1), 100003, (), "s4"),
        SrBranch(2, 3, "s5", "swap", mac(5, 1), 100004, (), "s5"),
    )
    assert inst.segments["s4"].branches == (
        SrBranch(1, 2, "g1", "pop_deliver", "02:00:00:00:00:02", target="g1"),
    )
    assert all(s.group == 256 for s in inst.segments.values())


def test_bud_node_has_local_and_downstream_branches():
    t = build(
        "bud",
        ["s1", "s2", "s3"],
        [("src", "model-store", "s1"), ("g1", "gpu", "s2"), ("g2", "gpu", "s3")],
        [("s1", "s2"), ("s2", "s3")],
    )
    inst = build_instance(Network(t), "src", ["g1", "g2"], LabelAllocator(), GroupAllocator(), 1)
    assert inst.segments["s2"].branches == (
        SrBranch(1, 2, "s3", "swap", mac(3, 1), 100002, (), "s3"),
        SrBranch(2, 3, "g1", "pop_deliver", "02:00:00:00:00:02", target="g1"),
    )


def steiner_topo():
    # receivers a, b sit close together but far from r: SPT takes r-a and r-b (20),
    # the Steiner tree r-a, a-x, x-b (12)
    return build(
        "st",
        ["r", "x", "a", "b"],
        [("src", "model-store", "r"), ("ga", "gpu", "a"), ("gb", "gpu", "b")],
        [("r", "x", 10), ("x", "a", 1), ("x", "b", 1), ("r", "a", 10), ("r", "b", 10)],
    )


def test_steiner_option_saves_bandwidth_over_spt():
    net = Network(steiner_topo())
    assert compute_tree(net, "src", ["ga", "gb"], "spt") == ("r", [("r", "a"), ("r", "b")])
    root, edges = compute_tree(net, "src", ["ga", "gb"], "steiner")
    assert (root, edges) == ("r", [("r", "a"), ("a", "x"), ("x", "b")])


def chain():
    sw = [f"s{i}" for i in range(1, 7)]
    return build(
        "chain",
        sw,
        [("src", "model-store", "s1"), ("g6", "gpu", "s6")],
        [(sw[i], sw[i + 1]) for i in range(5)],
    )


def test_compressed_transit_pushes_adjacency_sids_at_most_two():
    # s2..s5 only pass the tree on; s2, s3 are skipped, s4 keeps a segment, s5 is skipped
    net = Network(chain())
    inst = build_instance(
        net, "src", ["g6"], LabelAllocator(), GroupAllocator(), 1, compress_transit=True
    )
    assert list(inst.segments) == ["s1", "s4", "s6"]
    sid = {n: s.sid for n, s in inst.segments.items()}
    # on s2 and s3 port 2 faces the next switch of the chain
    assert inst.segments["s1"].branches == (
        SrBranch(1, 1, "s2", "swap_push", mac(2, 1), sid["s4"], (ADJ_SID_BASE + 2,) * 2, "s4"),
    )
    assert inst.segments["s4"].branches == (
        SrBranch(1, 2, "s5", "swap_push", mac(5, 1), sid["s6"], (ADJ_SID_BASE + 2,), "s6"),
    )


def test_label_block_exhausted_allocates_nothing():
    labels = LabelAllocator(100, 104)
    net = Network(tree())
    with pytest.raises(LabelBlockExhausted, match=r"label block 100-104 exhausted: .* needs 6"):
        build_instance(net, "src", ["g1", "g3", "g4"], labels, GroupAllocator(), 1)
    assert labels.available() == 5 and labels.in_use == set()


def test_unknown_receivers_and_sender_are_refused():
    net = Network(tree())
    with pytest.raises(ReceiverError, match=r"unknown hosts: \['zz'\]"):
        build_instance(net, "src", ["g1", "zz"], LabelAllocator(), GroupAllocator(), 1)
    with pytest.raises(ReceiverError, match=r"sender 'nobody' is not a host"):
        compute_tree(net, "nobody", ["g1"])


def test_make_before_break_order_of_writes():
    net = Network(tree())
    labels, groups = LabelAllocator(), GroupAllocator()
    old = build_instance(net, "src", ["g1", "g4"], labels, groups, 1)
    new = build_instance(net, "src", ["g1", "g3", "g4"], labels, groups, 2)
    assert set(old.labels()).isdisjoint(new.labels())
    steps = make_before_break(old, new)
    phases = [s.phase for s in steps]
    n_new, n_old = len(new.segments), len(old.segments)
    assert phases == ["install"] * n_new + ["handover"] + ["delete"] * n_old
    assert steps[n_new].root_sid == new.root_sid == 100005
    for s in steps[:n_new]:  # per switch: group, branches, then the SID entry
        kinds = [(u.kind, type(u.entity).__name__) for u in s.updates]
        assert kinds[0] == ("INSERT", "McGroup")
        assert s.updates[-1].entity.table == "MyIngress.rep_sid"
        assert all(k == "INSERT" for k, _ in kinds)
    for s in steps[n_new + 1 :]:  # per switch: the SID entry first, the group last
        assert s.updates[0].kind == "DELETE"
        assert s.updates[0].entity.table == "MyIngress.rep_sid"
        assert isinstance(s.updates[-1].entity, McGroup)
    # the new instance's groups on switches shared with the old one do not collide
    assert new.segments["s1"].group == 257 and old.segments["s1"].group == 256
    assert [s.switch for s in steps[:n_new]] == ["s6", "s5", "s4", "s3", "s2", "s1"]
    assert writes(steps) == sum(len(s.updates) for s in steps)
    rep = steps[n_new - 1].updates[-1].entity
    assert rep == TableEntry(
        "MyIngress.rep_sid",
        (("hdr.mpls[0].label", 100005),),
        "MyIngress.replicate",
        (("group", 257),),
    )


def test_make_before_break_with_a_kept_root_sid_moves_the_root_entry():
    net = Network(tree())
    labels, groups = LabelAllocator(), GroupAllocator()
    old = build_instance(net, "src", ["g1", "g4"], labels, groups, 1)
    new = build_instance(
        net, "src", ["g1", "g3"], labels, groups, 2, root_sid=old.root_sid, root_rid_base=32768
    )
    assert new.root_sid == old.root_sid == 100000
    assert [b.rid for b in new.segments["s1"].branches] == [32769]
    steps = make_before_break(old, new)
    move = [s for s in steps if s.phase == "move"]
    assert [s.phase for s in steps].count("handover") == 0 and len(move) == 1
    (u,) = move[0].updates
    assert u.kind == "MODIFY" and u.entity == TableEntry(
        "MyIngress.rep_sid",
        (("hdr.mpls[0].label", 100000),),
        "MyIngress.replicate",
        (("group", new.segments["s1"].group),),
    )
    # no step inserts or deletes the root SID entry: the sender's label never goes dark
    others = [x for s in steps if s.phase != "move" for x in s.updates]
    assert not any(x.entity.key == u.entity.key for x in others)
