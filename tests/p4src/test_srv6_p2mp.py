"""srv6_p2mp.p4 in softswitch, in process: End.Replicate (transit, bud and leaf segments),
branches to non-adjacent nodes, locator routing at nodes without a segment, Hop Limit,
unknown SIDs, decapsulation of IPv4 only.

Switch under test (device 1, locator 5f00:0:1::/48): upstream on port 1; the replication
nodes D2 (device 2) on port 2 and D3 (device 3) on port 3; the local receiver host 4 on port
4; port 5 leads to node 7 (device 7) through a node without a segment. Its Replication-SID
is 5f00:0:1:1:86a1:: (function 100001)."""

from __future__ import annotations

import ipaddress

from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from softswitch import api
from tests.p4src import p4model as M

UP = M.port_mac(9, 1)
D2, D3, N5 = M.port_mac(2, 1), M.port_mac(3, 1), M.port_mac(5, 1)
HOST4 = M.host_mac(4)
SID = "5f00:0:1:1:86a1::"
SID2, SID3, SID7 = "5f00:0:2:1:86a2::", "5f00:0:3:1:86a3::", "5f00:0:7:1:86a7::"
GROUP = 300


def _a(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def _srv6(branches: list[tuple[int, int, str, dict[str, int]]]) -> api.Switch:
    """The switch with SID -> GROUP and one (port, rid, action, params) per branch."""
    sw = M.switch("srv6_p2mp.p4")
    sw.insert_entry(
        api.TableEntry(
            "MyIngress.srv6_sid",
            {"hdr.ipv6.dst_addr": api.Exact(_a(SID))},
            "MyIngress.end_replicate",
            {"group": GROUP},
        )
    )
    sw.set_multicast_group(GROUP, [api.Replica(port, rid) for port, rid, _, _ in branches])
    for _, rid, action, params in branches:
        sw.insert_entry(
            api.TableEntry(
                "MyEgress.srv6_branch",
                {
                    "hdr.ipv6.dst_addr": api.Exact(_a(SID)),
                    "standard_metadata.egress_rid": api.Exact(rid),
                },
                f"MyEgress.{action}",
                params,
            )
        )
    return sw


def _locator(sw: api.Switch, prefix: str, port: int, dmac: str) -> None:
    net = ipaddress.IPv6Network(prefix)
    sw.insert_entry(
        api.TableEntry(
            "MyIngress.srv6_locator",
            {"hdr.ipv6.dst_addr": api.Lpm(int(net.network_address), net.prefixlen)},
            "MyIngress.locator_route",
            {"port": port, "dmac": M.mac_int(dmac)},
        )
    )


def _sent(hlim: int = 64, sid: str = SID, nh: int = 4) -> M.Packet:
    return M.srv6_frame(sid, hlim, dst=M.port_mac(M.DEVICE_ID, 1), src=UP, nh=nh)


def _out(port: int, dmac: str, sid: str, hlim: int) -> bytes:
    return M.frame_bytes(M.srv6_frame(sid, hlim, dst=dmac, src=M.port_mac(M.DEVICE_ID, port)))


def _count(sw: api.Switch, name: str, code: int, port: int) -> int:
    return sw.counter(name, code * 256 + port)[0]


TO_D2 = (2, 1, "branch_replicate", {"sid": _a(SID2), "dmac": M.mac_int(D2)})
TO_D3 = (3, 2, "branch_replicate", {"sid": _a(SID3), "dmac": M.mac_int(D3)})
LEAF4 = (4, 3, "branch_decap", {"host_mac": M.mac_int(HOST4)})


def test_replication_node_rewrites_the_destination_per_branch() -> None:
    sw = _srv6([TO_D2, TO_D3])
    assert M.run(sw, 1, _sent()) == {
        2: [_out(2, D2, SID2, 63)],
        3: [_out(3, D3, SID3, 63)],
    }
    assert _count(sw, "MyIngress.in_stats", M.IN_SRV6_REPLICATED, 1) == 1
    assert _count(sw, "MyEgress.out_stats", M.OUT_SRV6_REPLICA, 2) == 1
    assert _count(sw, "MyEgress.out_stats", M.OUT_SRV6_REPLICA, 3) == 1


def test_bud_node_replicates_and_decapsulates_locally() -> None:
    sw = _srv6([TO_D2, LEAF4])
    assert M.run(sw, 1, _sent()) == {
        2: [_out(2, D2, SID2, 63)],
        4: [M.delivered_ipv4(4, HOST4)],  # the inner IPv4 packet as the sender built it
    }
    assert _count(sw, "MyEgress.out_stats", M.OUT_SRV6_DECAP, 4) == 1


def test_leaf_node_decapsulates() -> None:
    sw = _srv6([LEAF4])
    assert M.run(sw, 1, _sent()) == {4: [M.delivered_ipv4(4, HOST4)]}


def test_branch_to_a_node_further_on_leaves_by_its_port() -> None:
    # node 7 is two hops away: the copy carries its SID out of port 5, no segment list
    to7 = (5, 4, "branch_replicate", {"sid": _a(SID7), "dmac": M.mac_int(N5)})
    sw = _srv6([to7, LEAF4])
    assert M.run(sw, 1, _sent(hlim=20)) == {
        5: [_out(5, N5, SID7, 19)],
        4: [M.delivered_ipv4(4, HOST4)],
    }


def test_node_without_a_segment_routes_by_locator() -> None:
    sw = _srv6([])
    _locator(sw, "5f00:0:7::/48", 5, N5)
    _locator(sw, "5f00:0:7:1::/64", 3, D3)  # a longer prefix wins
    _locator(sw, "5f00:0:2::/48", 2, D2)
    assert M.run(sw, 1, _sent(hlim=30, sid=SID2)) == {2: [_out(2, D2, SID2, 29)]}
    assert M.run(sw, 1, _sent(hlim=30, sid=SID7)) == {3: [_out(3, D3, SID7, 29)]}
    assert M.run(sw, 1, _sent(hlim=30, sid="5f00:0:7:2:1::")) == {
        5: [_out(5, N5, "5f00:0:7:2:1::", 29)]
    }
    assert _count(sw, "MyIngress.in_stats", M.IN_SRV6_TRANSIT, 1) == 3


def test_unknown_sid_is_dropped_and_counted() -> None:
    sw = _srv6([TO_D2])
    _locator(sw, "5f00:0:2::/48", 2, D2)
    for sid in ("5f00:0:1:1:86a2::", "5f00:0:9:1:86a1::"):  # own locator, no route
        assert M.run(sw, 1, _sent(sid=sid)) == {}
    assert _count(sw, "MyIngress.in_stats", M.IN_DROP_UNKNOWN_SID, 1) == 2


def test_hop_limit() -> None:
    sw = _srv6([TO_D2, LEAF4])
    _locator(sw, "5f00:0:3::/48", 3, D3)
    # Hop Limit 1: the branch would leave with 0 and is dropped; local delivery still happens
    assert M.run(sw, 1, _sent(hlim=1)) == {4: [M.delivered_ipv4(4, HOST4)]}
    assert _count(sw, "MyEgress.out_stats", M.OUT_DROP_TTL, 2) == 1
    assert M.run(sw, 1, _sent(hlim=0)) == {}
    assert _count(sw, "MyIngress.in_stats", M.IN_DROP_TTL, 1) == 1
    assert M.run(sw, 1, _sent(hlim=1, sid=SID3)) == {}  # transit at 1 would leave with 0
    assert _count(sw, "MyIngress.in_stats", M.IN_DROP_TTL, 1) == 2


def test_only_ipv4_is_decapsulated_and_other_payloads_replicate_unchanged() -> None:
    sw = _srv6([TO_D2, LEAF4])
    v6_inner = IPv6(src="2001:db8::1", dst="2001:db8::2") / Raw(b"not ours")
    sent = M.srv6_frame(SID, 9, dst=M.port_mac(1, 1), src=UP, nh=41, payload=v6_inner)
    want = M.srv6_frame(SID2, 8, dst=D2, src=M.port_mac(1, 2), nh=41, payload=v6_inner)
    assert M.run(sw, 1, sent) == {2: [M.frame_bytes(want)]}
    assert _count(sw, "MyEgress.out_stats", M.OUT_DROP_BAD_PROTO, 4) == 1


def test_missing_branch_entry_drops_that_copy() -> None:
    sw = _srv6([TO_D2])
    sw.set_multicast_group(GROUP, [api.Replica(2, 1), api.Replica(3, 9)])  # rid 9: no branch
    assert M.run(sw, 1, _sent()) == {2: [_out(2, D2, SID2, 63)]}
    assert _count(sw, "MyEgress.out_stats", M.OUT_DROP_NO_BRANCH, 3) == 1
