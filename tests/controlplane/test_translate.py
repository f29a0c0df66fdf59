"""Computed state -> P4Runtime entities of p4src/README.md (exact contents), and diffs."""

from __future__ import annotations

from cpf_topos import build, diamond, tree

from controlplane.bier import compute_bier
from controlplane.desired import compute_desired, diff_switches
from controlplane.entities import Lpm, McGroup, TableEntry, Update, diff, mac_int
from controlplane.graph import Network
from controlplane.srp2mp import GroupAllocator, LabelAllocator, build_instance
from controlplane.translate import bier_entities, sr_segment_entities, sr_static_entries


def m(dev: int, port: int) -> int:
    return mac_int("02:5e:00:%02x:00:%02x" % (dev, port))


def bift(si: int, group_base: int = 0, *fbms: int) -> TableEntry:
    f = list(fbms) + [0] * (8 - len(fbms))
    return TableEntry(
        "MyIngress.bier_bift",
        (("hdr.bier.bift_id", si + 1),),
        "MyIngress.bier_set_slots",
        (("si", si), ("group_base", group_base), *((f"fbm{i}", f[i]) for i in range(8))),
    )


def nh(si: int, rid: int, action: str, **params: int) -> TableEntry:
    return TableEntry(
        "MyEgress.bier_nh",
        (("meta.bier_si", si), ("standard_metadata.egress_rid", rid)),
        f"MyEgress.{action}",
        tuple(params.items()),
    )


def test_bier_entities_of_diamond_s1_exact():
    # s1: neighbours s2 (port 1, bits 1, 2) and s3 (port 2, bit 3); s2 is protected by a
    # backup via s3 for bit 1 only (loop-free for g1 on s4, not for g2 on s2): rid 1088
    st = compute_bier(Network(diamond()))
    assert bier_entities(st, "s1") == [
        bift(0, 0, 0b011, 0b100),
        McGroup(1, ((1, 1), (2, 1088))),
        McGroup(2, ((2, 2),)),
        McGroup(3, ((1, 1), (2, 1088), (2, 2))),
        nh(0, 1, "nh_neighbor", fbm=0b011, dmac=m(2, 1)),
        nh(0, 1088, "nh_backup", fbm=0b001, dmac=m(3, 1), protected_port=1),
        nh(0, 2, "nh_neighbor", fbm=0b100, dmac=m(3, 1)),
    ]


def test_bier_entities_of_diamond_s2_with_local_host_and_backup():
    st = compute_bier(Network(diamond()))
    # next hops: s1 (port 1, bit 3), s4 (port 2, bit 1), local g2 (port 3, bit 2);
    # s1 is protected by the loop-free backup via s4 (rid 1024 + 64 * 1)
    ents = bier_entities(st, "s2")
    assert ents[0] == bift(0, 0, 0b100, 0b001, 0b010)
    groups = {e.group: e.replicas for e in ents if isinstance(e, McGroup)}
    assert groups == {
        1: ((1, 1), (2, 1088)),
        2: ((2, 2),),
        3: ((1, 1), (2, 1088), (2, 2)),
        4: ((3, 3),),
        5: ((1, 1), (2, 1088), (3, 3)),
        6: ((2, 2), (3, 3)),
        7: ((1, 1), (2, 1088), (2, 2), (3, 3)),
    }
    assert [e for e in ents if isinstance(e, TableEntry) and e.table == "MyEgress.bier_nh"] == [
        nh(0, 1, "nh_neighbor", fbm=0b100, dmac=m(1, 1)),
        nh(0, 1088, "nh_backup", fbm=0b100, dmac=m(4, 1), protected_port=1),
        nh(0, 2, "nh_neighbor", fbm=0b001, dmac=m(4, 1)),
        nh(0, 3, "nh_local", fbm=0b010, host_mac=mac_int("02:00:00:00:00:03")),
    ]


def test_bier_more_than_eight_next_hops_share_slots():
    hosts = [("src", "model-store", "s1")] + [(f"g{i}", "gpu", "s1") for i in range(10)]
    st = compute_bier(Network(build("fan", ["s1"], hosts, [])))
    ents = bier_entities(st, "s1")
    # 10 local hosts on ports 2..11 (g0..g9, bits 1..10) into slots (port - 1) mod 8
    assert ents[0] == bift(
        0, 0, 1 << 7, 1 | 1 << 8, 1 << 1 | 1 << 9, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6
    )
    assert len([e for e in ents if isinstance(e, McGroup)]) == 255
    assert McGroup(1, ((9, 9),)) in ents
    assert McGroup(3, ((2, 2), (9, 9), (10, 10))) in ents


def test_bier_sets_give_one_bift_entry_per_si():
    hosts = [("src", "model-store", "s1")] + [(f"g{i}", "gpu", "s2") for i in range(5)]
    st = compute_bier(Network(build("si", ["s1", "s2"], hosts, [("s1", "s2")])), bsl=4)
    ents = bier_entities(st, "s1")
    assert ents[:2] == [bift(0, 0, 0b1111), bift(1, 0, 0b0001)]
    assert ents[3:] == [
        nh(0, 1, "nh_neighbor", fbm=0b1111, dmac=m(2, 1)),
        nh(1, 1, "nh_neighbor", fbm=0b0001, dmac=m(2, 1)),
    ]


def test_unicast_and_port_mac_entries_exact():
    d = compute_desired(Network(diamond()), "unicast")
    s4 = d.per_switch["s4"]
    assert s4[:3] == [
        TableEntry(
            "MyEgress.port_mac",
            (("standard_metadata.egress_port", p),),
            "MyEgress.set_src_mac",
            (("mac", m(4, p)),),
        )
        for p in (1, 2, 3)
    ]
    assert s4[3:] == [
        TableEntry(
            "MyIngress.ipv4_lpm",
            (("hdr.ipv4.dst_addr", Lpm(0x0A000000 + k, 32)),),
            "MyIngress.ipv4_route",
            (("port", port), ("dmac", dmac)),
        )
        for k, port, dmac in [
            (1, 1, m(2, 2)),
            (2, 3, mac_int("02:00:00:00:00:02")),
            (3, 1, m(2, 2)),
            (4, 2, m(3, 2)),
        ]
    ]


def test_sr_entities_exact():
    net = Network(tree())
    inst = build_instance(net, "src", ["g1", "g3"], LabelAllocator(), GroupAllocator(), 1)
    lab = "hdr.mpls[0].label"
    rid = "standard_metadata.egress_rid"
    assert sr_segment_entities(inst.segments["s2"]) == [
        McGroup(256, ((2, 1), (3, 2))),
        TableEntry(
            "MyEgress.sr_branch",
            ((lab, 100001), (rid, 1)),
            "MyEgress.branch_swap",
            (("sid", 100002), ("dmac", m(4, 1))),
        ),
        TableEntry(
            "MyEgress.sr_branch",
            ((lab, 100001), (rid, 2)),
            "MyEgress.branch_swap",
            (("sid", 100003), ("dmac", m(5, 1))),
        ),
        TableEntry("MyIngress.rep_sid", ((lab, 100001),), "MyIngress.replicate", (("group", 256),)),
    ]
    assert sr_segment_entities(inst.segments["s4"])[1] == TableEntry(
        "MyEgress.sr_branch",
        ((lab, 100002), (rid, 1)),
        "MyEgress.branch_pop_deliver",
        (("host_mac", mac_int("02:00:00:00:00:02")),),
    )
    assert sr_static_entries(net, "s2") == [
        TableEntry(
            "MyIngress.transit_sid",
            ((lab, 15000 + p),),
            "MyIngress.sid_pop",
            (("port", p), ("dmac", dm)),
        )
        for p, dm in [(1, m(1, 1)), (2, m(4, 1)), (3, m(5, 1))]
    ]


def test_diff_orders_narrowing_before_widening_and_groups_before_entries():
    a = nh(0, 1, "nh_neighbor", fbm=0b0111, dmac=1)
    b = nh(0, 2, "nh_neighbor", fbm=0b1000, dmac=2)
    a2 = nh(0, 1, "nh_neighbor", fbm=0b0011, dmac=1)
    b2 = nh(0, 2, "nh_neighbor", fbm=0b1100, dmac=2)
    c = nh(0, 3, "nh_neighbor", fbm=0b1, dmac=3)
    g_old, g_new = McGroup(1, ((1, 1),)), McGroup(1, ((1, 1), (3, 3)))
    gone = McGroup(9, ((9, 9),))
    ups = diff([b, a, g_old, gone], [a2, b2, c, g_new])
    assert ups == [
        Update("MODIFY", a2),  # bit 3 leaves a before it joins b
        Update("MODIFY", g_new),
        Update("INSERT", c),
        Update("MODIFY", b2),
        Update("DELETE", gone),
    ]


def test_diff_of_identical_state_is_empty_and_receivers_do_not_matter_for_bier():
    net = Network(diamond())
    d1, d2 = compute_desired(net, "bier"), compute_desired(net, "bier")
    assert diff_switches(d1, d2) == {}
