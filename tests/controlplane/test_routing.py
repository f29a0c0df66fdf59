"""Unicast routes: exact tables on small graphs, shortest paths on a multi-cloud topology."""

from __future__ import annotations

import ipaddress

import networkx as nx
import pytest
from cpf_topos import build, diamond, line, multicloud

from controlplane.errors import TopologyError
from controlplane.graph import Network
from controlplane.paths import compute_routing
from controlplane.unicast import Route, compute_unicast
from topologies.model import Host, Switch, Topology


def ip(k: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(0x0A000000 + k)


def test_line_routes_on_middle_switch_exact():
    routes = compute_unicast(Network(line())).routes["s2"]
    assert routes == [
        Route("s2", "src", ip(1), 1, "02:5e:00:02:00:01", "02:5e:00:01:00:01", "s1"),
        Route("s2", "g1", ip(2), 3, "02:5e:00:02:00:03", "02:00:00:00:00:02", "g1"),
        Route("s2", "g2", ip(3), 2, "02:5e:00:02:00:02", "02:5e:00:03:00:01", "s3"),
    ]


def test_diamond_equal_cost_tie_breaks_on_lowest_port():
    net = Network(diamond())
    r = {x.host: x for x in compute_unicast(net).routes["s1"]}
    assert (r["g1"].port, r["g1"].next_hop) == (1, "s2")  # s2 and s3 tie; port 1 wins
    r4 = {x.host: x for x in compute_unicast(net).routes["s4"]}
    assert (r4["src"].port, r4["src"].next_hop) == (1, "s2")


def test_weights_steer_the_path():
    t = build(
        "w",
        ["s1", "s2", "s3", "s4"],
        [("src", "model-store", "s1"), ("g1", "gpu", "s4")],
        [("s1", "s2", 5), ("s1", "s3"), ("s2", "s4"), ("s3", "s4", 2)],
    )
    routing = compute_routing(Network(t))
    assert routing.path("s1", "s4") == ["s1", "s3", "s4"]
    assert routing.distance("s1", "s4") == 3
    assert routing.path("s2", "s3") == ["s2", "s4", "s3"]


def test_multicloud_every_route_follows_a_shortest_path():
    topo = multicloud(clouds=3, leaves=3, gpus=2)
    net = Network(topo)
    state = compute_unicast(net)
    g = net.graph()
    dist = dict(nx.all_pairs_dijkstra_path_length(g, weight="weight"))
    assert not state.unreachable
    for sw, routes in state.routes.items():
        assert len(routes) == len(topo.hosts)
        for r in routes:
            dest = net.hosts[r.host].switch
            if dest == sw:
                assert (r.port, r.dst_mac) == (net.hosts[r.host].port, net.hosts[r.host].mac)
                continue
            a = net.adj[sw][r.next_hop]
            assert (r.port, r.src_mac, r.dst_mac) == (a.port, a.src_mac, a.dst_mac)
            assert dist[sw][dest] == a.weight + dist[r.next_hop][dest]


def test_disconnected_topology_is_rejected_with_its_parts():
    t = build(
        "split",
        ["s1", "s2", "s3"],
        [("src", "model-store", "s1"), ("g1", "gpu", "s3")],
        [("s1", "s2")],
    )
    with pytest.raises(TopologyError, match=r"'split' is disconnected: 2 parts: s1, s2; s3"):
        Network(t)


def test_host_without_switch_link_is_rejected():
    t = Topology.model_construct(
        name="bad",
        description="",
        switches=[Switch(name="s1", device_id=1)],
        hosts=[Host(name="h1", role="gpu", cloud="c", ip="10.0.0.1", mac="02:00:00:00:00:01")],
        links=[],
    )
    with pytest.raises(TopologyError, match=r"host 'h1' has no link to a switch"):
        Network(t)


def test_unknown_link_names_are_rejected():
    net = Network(line())
    assert net.resolve_link("s2-s1") == 0
    with pytest.raises(TopologyError, match=r"no link named 's1-s3'"):
        net.resolve_link("s1-s3")
