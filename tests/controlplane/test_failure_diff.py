"""The diff after a link failure: only the affected entries change, in a safe order."""

from __future__ import annotations

from cpf_topos import ring_tree

from controlplane.desired import compute_desired, diff_switches, tree_uses_link
from controlplane.entities import Lpm, TableEntry, Update, mac_int
from controlplane.graph import Network
from controlplane.srp2mp import GroupAllocator, LabelAllocator, build_instance


def m(dev: int, port: int) -> int:
    return mac_int("02:5e:00:%02x:00:%02x" % (dev, port))


def route(k: int, port: int, dmac: int) -> TableEntry:
    return TableEntry(
        "MyIngress.ipv4_lpm",
        (("hdr.ipv4.dst_addr", Lpm(0x0A000000 + k, 32)),),
        "MyIngress.ipv4_route",
        (("port", port), ("dmac", dmac)),
    )


def test_unicast_diff_after_link_failure_touches_only_affected_routes():
    net = Network(ring_tree())
    down = net.with_down(frozenset({net.resolve_link("s2-s5")}))
    d = diff_switches(compute_desired(net, "unicast"), compute_desired(down, "unicast"))
    assert sorted(d) == ["s1", "s2", "s3", "s5"]  # s4 and s6 keep every route
    g3 = 4  # host index of g3 (10.0.0.4)
    # s1 ports: 1 -> s2, 2 -> s3; s3 ports: 1 -> s1, 2 -> s6, 3 -> s5
    assert d["s1"] == [Update("MODIFY", route(g3, 2, m(3, 1)))]
    assert d["s2"] == [Update("MODIFY", route(g3, 1, m(1, 1)))]
    assert d["s3"] == [Update("MODIFY", route(g3, 3, m(5, 2)))]
    # s5 (ports: 1 -> s2, 2 -> s3, 3 -> g3: host links come last) now sends everything but g3 to s3
    assert d["s5"] == [Update("MODIFY", route(k, 2, m(3, 3))) for k in (1, 2, 3, 5)]


def test_bier_diff_after_link_failure_moves_bits_narrowing_first():
    net = Network(ring_tree())
    down = net.with_down(frozenset({net.resolve_link("s2-s5")}))
    d = diff_switches(compute_desired(net, "bier"), compute_desired(down, "bier"))
    assert sorted(d) == ["s1", "s2", "s3", "s5"]
    # s1 (bits: g1, g2 = 1, 2 on s4; g3 = 3 on s5; g4 = 4 on s6): bit 3 moves from s2
    # (port 1, slot 0, rid 1) to s3 (port 2, slot 1, rid 2): removed first, added after
    bift = [(("si", 0), ("group_base", 0))]
    rest = tuple(("fbm%d" % i, 0) for i in range(2, 8))

    def slots(f0: int, f1: int) -> TableEntry:
        return TableEntry(
            "MyIngress.bier_bift",
            (("hdr.bier.bift_id", 1),),
            "MyIngress.bier_set_slots",
            (*bift[0], ("fbm0", f0), ("fbm1", f1), *rest),
        )

    def nbr(rid: int, fbm: int, dmac: int) -> TableEntry:
        return TableEntry(
            "MyEgress.bier_nh",
            (("meta.bier_si", 0), ("standard_metadata.egress_rid", rid)),
            "MyEgress.nh_neighbor",
            (("fbm", fbm), ("dmac", dmac)),
        )

    assert d["s1"] == [
        Update("MODIFY", route(4, 2, m(3, 1))),
        Update("MODIFY", slots(0b0011, 0b1000)),
        Update("MODIFY", nbr(1, 0b0011, m(2, 1))),
        Update("MODIFY", slots(0b0011, 0b1100)),
        Update("MODIFY", nbr(2, 0b1100, m(3, 1))),
    ]


def test_sr_tree_is_affected_only_if_it_rides_the_failed_link():
    net = Network(ring_tree())
    inst = build_instance(net, "src", ["g1", "g4"], LabelAllocator(), GroupAllocator(), 1)
    assert not tree_uses_link(inst, net, net.resolve_link("s2-s5"))
    assert tree_uses_link(inst, net, net.resolve_link("s3-s6"))
