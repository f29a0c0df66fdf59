"""sr_p2mp.p4 in softswitch, in process: replication segments (transit, bud, leaf), segment
lists, transit SIDs, MPLS TTL, unknown SIDs.

Switch under test (device 1): upstream on port 1; downstream replication nodes D2 on port 2
and D3 on port 3; the local receiver host 4 on port 4; port 5 leads to a non-replicating
node. Its Replication-SID is 16001."""

from __future__ import annotations

from softswitch import api
from tests.p4src import p4model as M

UP = M.port_mac(9, 1)  # the upstream node's port MAC
D2, D3, N5 = M.port_mac(2, 1), M.port_mac(3, 1), M.port_mac(5, 1)
HOST4 = M.host_mac(4)
SID = 16001
GROUP = 10


def _sr(branches: list[tuple[int, int, str, dict[str, int]]]) -> api.Switch:
    """The switch with SID -> GROUP and one (port, rid, action, params) per branch."""
    sw = M.switch("sr_p2mp.p4")
    sw.insert_entry(
        api.TableEntry(
            "MyIngress.rep_sid",
            {"hdr.mpls[0].label": api.Exact(SID)},
            "MyIngress.replicate",
            {"group": GROUP},
        )
    )
    sw.set_multicast_group(GROUP, [api.Replica(port, rid) for port, rid, _, _ in branches])
    for _, rid, action, params in branches:
        sw.insert_entry(
            api.TableEntry(
                "MyEgress.sr_branch",
                {
                    "hdr.mpls[0].label": api.Exact(SID),
                    "standard_metadata.egress_rid": api.Exact(rid),
                },
                f"MyEgress.{action}",
                params,
            )
        )
    return sw


def _sent(ttl: int = 64, label: int = SID) -> M.Packet:
    return M.mpls_frame([(label, ttl)], dst=M.port_mac(M.DEVICE_ID, 1), src=UP)


def _out(port: int, dmac: str, labels: list[tuple[int, int]]) -> bytes:
    return M.frame_bytes(M.mpls_frame(labels, dst=dmac, src=M.port_mac(M.DEVICE_ID, port)))


def _count(sw: api.Switch, name: str, code: int, port: int) -> int:
    return sw.counter(name, code * 256 + port)[0]


SWAP2 = (2, 1, "branch_swap", {"sid": 16002, "dmac": M.mac_int(D2)})
SWAP3 = (3, 2, "branch_swap", {"sid": 16003, "dmac": M.mac_int(D3)})
LEAF4 = (4, 3, "branch_pop_deliver", {"host_mac": M.mac_int(HOST4)})


def test_transit_replication_node_swaps_per_branch() -> None:
    sw = _sr([SWAP2, SWAP3])
    assert M.run(sw, 1, _sent()) == {
        2: [_out(2, D2, [(16002, 63)])],
        3: [_out(3, D3, [(16003, 63)])],
    }
    assert _count(sw, "MyIngress.in_stats", M.IN_MPLS_REPLICATED, 1) == 1
    assert _count(sw, "MyEgress.out_stats", M.OUT_MPLS_SWAP, 2) == 1


def test_bud_node_swaps_and_delivers_locally() -> None:
    sw = _sr([SWAP2, LEAF4])
    assert M.run(sw, 1, _sent()) == {
        2: [_out(2, D2, [(16002, 63)])],
        4: [M.delivered_ipv4(4, HOST4)],
    }
    assert _count(sw, "MyEgress.out_stats", M.OUT_MPLS_POP_DELIVER, 4) == 1


def test_leaf_node_pops_and_delivers() -> None:
    sw = _sr([LEAF4])
    assert M.run(sw, 1, _sent()) == {4: [M.delivered_ipv4(4, HOST4)]}


def test_segment_list_push_one_and_two_sids() -> None:
    push1 = (5, 4, "branch_swap_push1", {"sid": 16005, "sl0": 24005, "dmac": M.mac_int(N5)})
    push2 = (
        3,
        5,
        "branch_swap_push2",
        {"sid": 16007, "sl0": 24003, "sl1": 24009, "dmac": M.mac_int(D3)},
    )
    sw = _sr([push1, push2])
    assert M.run(sw, 1, _sent(ttl=20)) == {
        5: [_out(5, N5, [(24005, 19), (16005, 19)])],
        3: [_out(3, D3, [(24003, 19), (24009, 19), (16007, 19)])],
    }
    assert _count(sw, "MyEgress.out_stats", M.OUT_MPLS_SWAP_PUSH, 5) == 1


def test_non_replicating_node_pops_its_adjacency_sid() -> None:
    sw = _sr([])
    sw.insert_entry(
        api.TableEntry(
            "MyIngress.transit_sid",
            {"hdr.mpls[0].label": api.Exact(24002)},
            "MyIngress.sid_pop",
            {"port": 2, "dmac": M.mac_int(D2)},
        )
    )
    sent = M.mpls_frame([(24002, 40), (16002, 40)], dst=M.port_mac(1, 1), src=UP)
    assert M.run(sw, 1, sent) == {2: [_out(2, D2, [(16002, 39)])]}
    # popping the last label leaves plain IPv4
    last = M.mpls_frame([(24002, 40)], dst=M.port_mac(1, 1), src=UP)
    assert M.run(sw, 1, last) == {
        2: [M.frame_bytes(M.Ether(dst=D2, src=M.port_mac(1, 2), type=0x0800) / M.inner())]
    }
    assert _count(sw, "MyIngress.in_stats", M.IN_MPLS_TRANSIT, 1) == 2


def test_non_replicating_node_continues_a_node_sid() -> None:
    sw = _sr([])
    sw.insert_entry(
        api.TableEntry(
            "MyIngress.transit_sid",
            {"hdr.mpls[0].label": api.Exact(17000)},
            "MyIngress.sid_continue",
            {"port": 3, "dmac": M.mac_int(D3)},
        )
    )
    sent = M.mpls_frame([(17000, 10), (16003, 64)], dst=M.port_mac(1, 1), src=UP)
    assert M.run(sw, 1, sent) == {3: [_out(3, D3, [(17000, 9), (16003, 64)])]}


def test_unknown_sid_is_dropped_and_counted() -> None:
    sw = _sr([SWAP2])
    assert M.run(sw, 1, _sent(label=99999)) == {}
    assert _count(sw, "MyIngress.in_stats", M.IN_DROP_UNKNOWN_SID, 1) == 1


def test_mpls_ttl() -> None:
    sw = _sr([SWAP2, LEAF4])
    # TTL 1: the swapped branch would leave with 0 and is dropped; local delivery still happens
    assert M.run(sw, 1, _sent(ttl=1)) == {4: [M.delivered_ipv4(4, HOST4)]}
    assert _count(sw, "MyEgress.out_stats", M.OUT_DROP_TTL, 2) == 1
    assert M.run(sw, 1, _sent(ttl=0)) == {}
    assert _count(sw, "MyIngress.in_stats", M.IN_DROP_TTL, 1) == 1


def test_replica_without_branch_entry_is_dropped_and_counted() -> None:
    sw = _sr([SWAP2])
    sw.set_multicast_group(GROUP, [api.Replica(2, 1), api.Replica(3, 9)])
    assert M.run(sw, 1, _sent()) == {2: [_out(2, D2, [(16002, 63)])]}
    assert _count(sw, "MyEgress.out_stats", M.OUT_DROP_NO_BRANCH, 3) == 1


def test_replica_to_a_port_without_carrier_is_dropped() -> None:
    sw = _sr([SWAP2, SWAP3])
    sw.set_register("MyEgress.port_status", 3, 1)
    assert M.run(sw, 1, _sent()) == {2: [_out(2, D2, [(16002, 63)])]}
    assert _count(sw, "MyEgress.out_stats", M.OUT_DROP_PORT_DOWN, 3) == 1
