"""BIER: exact BIFTs, F-BMs and FRR backups; disjointness; sets; bitstrings."""

from __future__ import annotations

import networkx as nx
import pytest
from cpf_topos import build, diamond, multicloud, tree

from controlplane.bier import (
    BierNeighbor,
    Bift,
    FrrBackup,
    LocalBfer,
    check_disjoint,
    compute_bier,
    si_slice,
)
from controlplane.errors import DuplicateRiskError, ReceiverError
from controlplane.graph import Network


def mac(dev: int, port: int) -> str:
    return "02:5e:00:%02x:00:%02x" % (dev, port)


def test_diamond_bifts_exact():
    st = compute_bier(Network(diamond()))
    assert st.ids == {"g1": 1, "g2": 2, "g3": 3}
    s1 = st.bifts["s1"]
    assert s1.neighbors == {
        "s2": BierNeighbor("s2", 1, mac(1, 1), mac(2, 1), 0b011),
        "s3": BierNeighbor("s3", 2, mac(1, 2), mac(3, 1), 0b100),
    }
    assert s1.local == {}
    # via s3, g1 (on s4) is loop-free (s3 reaches s4 directly); g2 (on s2) is not: s3's
    # path to s2 ties between s1 and s4 and takes s1 (its lower port)
    assert s1.backups == {
        "s2": (FrrBackup("s2", "s3", 2, mac(1, 2), mac(3, 1), 0b011, 0b001),),
        "s3": (FrrBackup("s3", "s2", 1, mac(1, 1), mac(2, 1), 0b100, 0),),
    }
    s2 = st.bifts["s2"]
    assert s2.neighbors == {
        "s1": BierNeighbor("s1", 1, mac(2, 1), mac(1, 1), 0b100),
        "s4": BierNeighbor("s4", 2, mac(2, 2), mac(4, 1), 0b001),
    }
    assert s2.local == {2: LocalBfer(2, "g2", 3, "02:00:00:00:00:03", mac(2, 3))}
    # g3 behind s1: s4 reaches s3 directly (distance 1 < 1 + 2): a loop-free alternate
    assert s2.backups["s1"] == (FrrBackup("s1", "s4", 2, mac(2, 2), mac(4, 1), 0b100, 0b100),)
    assert st.bifts["s4"].local == {1: LocalBfer(1, "g1", 3, "02:00:00:00:00:02", mac(4, 3))}
    assert st.neighbor_of("s1", 1) == "s2" and st.neighbor_of("s4", 1) is None


def test_tree_fbms_aggregate_bits_per_subtree():
    st = compute_bier(Network(tree()))
    # g1, g2 on s4 (ids 1, 2), g3 on s5 (3), g4 on s6 (4)
    assert {n: b.fbm for n, b in st.bifts["s1"].neighbors.items()} == {"s2": 0b0111, "s3": 0b1000}
    assert {n: b.fbm for n, b in st.bifts["s2"].neighbors.items()} == {
        "s1": 0b1000,
        "s4": 0b0011,
        "s5": 0b0100,
    }
    assert {n: b.fbm for n, b in st.bifts["s4"].neighbors.items()} == {"s2": 0b1100}
    assert sorted(st.bifts["s4"].local) == [1, 2]
    assert st.bifts["s1"].backups == {}  # a tree has no alternates


def test_multicloud_bifts_cover_every_bit_once_on_shortest_paths():
    net = Network(multicloud(clouds=3, leaves=3, gpus=3))
    st = compute_bier(net)
    g = net.graph()
    dist = dict(nx.all_pairs_dijkstra_path_length(g, weight="weight"))
    every = (1 << len(st.ids)) - 1
    assert len(st.ids) == 27
    for sw, b in st.bifts.items():
        check_disjoint(b)
        assert b.all_bits() == every
        for n in b.neighbors.values():
            for k in range(1, len(st.ids) + 1):
                if n.fbm >> (k - 1) & 1:
                    dest = net.hosts[st.hosts[k]].switch
                    assert dist[sw][dest] == net.adj[sw][n.neighbor].weight + dist[n.neighbor][dest]
        for peer, backups in b.backups.items():
            assert sum(x.fbm for x in backups) == b.neighbors[peer].fbm  # disjoint, complete
            assert all(x.via != peer for x in backups)


def test_overlapping_fbms_are_refused_naming_switch_and_bit():
    b = Bift(
        "s9",
        {
            "a": BierNeighbor("a", 1, mac(9, 1), mac(1, 1), 0b0110),
            "b": BierNeighbor("b", 2, mac(9, 2), mac(2, 1), 0b1100),
        },
        {},
    )
    with pytest.raises(
        DuplicateRiskError,
        match=r"switch s9: F-BM of neighbour b \(port 2\) "
        r"overlaps neighbour a \(port 1\) on BFR-id 3",
    ):
        check_disjoint(b)
    b.neighbors["b"] = BierNeighbor("b", 2, mac(9, 2), mac(2, 1), 0b1001)
    b.local[1] = LocalBfer(1, "h", 3, "02:00:00:00:00:09", mac(9, 3))
    with pytest.raises(DuplicateRiskError, match=r"overlaps local host h \(port 3\) on BFR-id 1"):
        check_disjoint(b)


def test_sets_split_bits_by_bsl_and_bitstrings_per_si():
    net = Network(multicloud(clouds=2, leaves=2, gpus=3))  # 12 GPUs
    st = compute_bier(net, bsl=8, max_sets=2)
    assert st.num_sets == 2
    assert st.ids["c1l1g2"] == 12
    assert st.bitstrings(["c0l0g0", "c0l0g2", "c1l1g2"]) == {0: 0b101, 1: 0b1000}
    s = st.bifts["c0core"]
    for n in s.neighbors.values():
        assert si_slice(n.fbm, 0, 8) | (si_slice(n.fbm, 1, 8) << 8) == n.fbm


def test_too_many_receivers_for_all_sets():
    net = Network(multicloud(clouds=2, leaves=2, gpus=3))
    with pytest.raises(ReceiverError, match=r"12 GPU hosts but only 8 BFR-ids \(2 sets of BSL 4\)"):
        compute_bier(net, bsl=4, max_sets=2)


def test_receiver_set_with_unknown_or_non_gpu_hosts():
    st = compute_bier(Network(diamond()))
    with pytest.raises(ReceiverError, match=r"receiver 'nope' is not a GPU host"):
        st.bitstrings(["g1", "nope"])
    with pytest.raises(ReceiverError, match=r"receiver 'src' is not a GPU host"):
        st.bitstrings(["src"])


def test_partitioned_switch_lists_unreachable_bits():
    t = build(
        "p",
        ["s1", "s2", "s3"],
        [("src", "model-store", "s1"), ("g1", "gpu", "s2"), ("g2", "gpu", "s3")],
        [("s1", "s2"), ("s2", "s3")],
    )
    net = Network(t).with_down(frozenset({1}))
    st = compute_bier(net)
    assert st.unreachable == {"s1": 0b10, "s2": 0b10, "s3": 0b01}
    assert {n: b.fbm for n, b in st.bifts["s1"].neighbors.items()} == {"s2": 0b01}


def test_multicloud_frr_backups_match_networkx_paths_avoiding_the_link():
    net = Network(multicloud(clouds=3, leaves=3, gpus=2))
    st = compute_bier(net)
    g = net.graph()
    checked = 0
    for sw, b in st.bifts.items():
        for peer, backups in b.backups.items():
            h = g.copy()
            h.remove_edge(sw, peer)
            dist = dict(nx.all_pairs_dijkstra_path_length(h, weight="weight"))
            for bk in backups:
                for k in range(1, len(st.ids) + 1):
                    if not bk.fbm >> (k - 1) & 1:
                        continue
                    d = net.hosts[st.hosts[k]].switch
                    # via is on a shortest path avoiding the link, and the lowest such port
                    valid = sorted(
                        a.port
                        for m, a in net.adj[sw].items()
                        if m != peer and d in dist[m] and a.weight + dist[m][d] == dist[sw][d]
                    )
                    assert bk.port == valid[0], (sw, peer, k)
                    checked += 1
    assert checked > 50
