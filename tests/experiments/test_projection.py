"""Flow model and projection against hand-computed cases: a chain, a star, a tree with a
bottleneck, a diamond with a failure. Model 10 MB = 1e7 bytes; Mbit/s x 1e6 / 8 = bytes/s."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.flowmodel import build_net, maxmin_rates
from experiments.ideal import Wire, structural_ideal
from experiments.projection.simulator import Params, project_round
from experiments.spec import ControlTiming
from topologies.loader import from_dict
from topologies.model import Topology

MB10 = 1e7
NO_HEADERS = Wire(headers=False)


def topo(switches, hosts, links) -> Topology:
    return from_dict(
        {
            "name": "t",
            "switches": [{"name": s} for s in switches],
            "hosts": [
                {"name": h, "role": "model-store" if h == "src" else "gpu", "cloud": "c"}
                for h in hosts
            ],
            "links": [
                {"a": a, "b": b, "bw_mbit": bw, **(kw[0] if kw else {})} for a, b, bw, *kw in links
            ],
        }
    )


def run(t, tech, receivers, rate_mbit=1000.0, events=(), wire=NO_HEADERS, timing=None):
    net = build_net(t)
    p = Params(MB10, rate_mbit * 1e6, timing or ControlTiming(), wire)
    keys = {"sweep": "", "technology": tech, "repetition": 0, "round": 0}
    out, _ = project_round(net, tech, "src", receivers, list(events), p, keys)
    done = {r["receiver"]: r["completed_s"] for r in out["receivers"]}
    links = {(r["src"], r["dst"]): r["bytes"] for r in out["links"]}
    return out, done, links


def bps(mbit: float) -> float:
    return mbit * 1e6 / 8


# -- max-min -------------------------------------------------------------------------------
def test_maxmin_textbook_case() -> None:
    # edges A (cap 10), B (cap 4); f0 uses A, f1 uses A and B, f2 uses B.
    pf = np.array([0, 1, 1, 2])
    pe = np.array([0, 0, 1, 1])
    rates = maxmin_rates(pf, pe, 3, np.array([10.0, 4.0]))
    assert rates.tolist() == pytest.approx([8.0, 2.0, 2.0])


# -- chain -----------------------------------------------------------------------------------
CHAIN = topo(
    ["s1", "s2", "s3"],
    ["src", "g1"],
    [("src", "s1", 100), ("s1", "s2", 50), ("s2", "s3", 20), ("s3", "g1", 100)],
)


@pytest.mark.parametrize("tech", ["unicast", "bier", "sr-p2mp", "pim-sm"])
def test_chain_completion_and_link_bytes(tech: str) -> None:
    _, done, links = run(CHAIN, tech, ["g1"])
    assert done["g1"] == pytest.approx(MB10 / bps(20))  # 4 s over the 20 Mbit/s link
    for e in [("src", "s1"), ("s1", "s2"), ("s2", "s3"), ("s3", "g1")]:
        assert links[e] == MB10
    for e in [("s1", "src"), ("s2", "s1"), ("s3", "s2"), ("g1", "s3")]:
        assert links[e] == 0


def test_chain_with_headers_counts_frames() -> None:
    _, done, links = run(CHAIN, "bier", ["g1"], wire=Wire(mtu=1500))
    chunk = 1500 - 44 - 20 - 8 - 36  # what modelsync's sender puts in a BIER datagram
    plain, bier = chunk + 14 + 20 + 8 + 36, chunk + 14 + 20 + 8 + 36 + 44
    assert bier == 1514
    # the slowest link (20 Mbit/s) carries BIER frames; the host link carries decapsulated ones
    assert done["g1"] == pytest.approx(MB10 * bier / chunk / bps(20))
    assert links[("s2", "s3")] == round(MB10 * bier / chunk)
    assert links[("s3", "g1")] == round(MB10 * plain / chunk)


# -- star ------------------------------------------------------------------------------------
STAR = topo(
    ["s0"],
    ["src", "g1", "g2", "g3", "g4"],
    [("src", "s0", 100), ("s0", "g1", 40), ("s0", "g2", 40), ("s0", "g3", 40), ("s0", "g4", 10)],
)
GPUS = ["g1", "g2", "g3", "g4"]


def test_star_unicast_max_min() -> None:
    # g4 is held to 10 by its link; the other three share the remaining 90 of the source link.
    _out, done, links = run(STAR, "unicast", GPUS)
    for g in ("g1", "g2", "g3"):
        assert done[g] == pytest.approx(MB10 / bps(30))
    assert done["g4"] == pytest.approx(MB10 / bps(10))
    assert links[("src", "s0")] == 4 * MB10
    assert all(links[("s0", g)] == MB10 for g in GPUS)


def test_star_multicast_runs_at_the_slowest_branch() -> None:
    _out, done, links = run(STAR, "bier", GPUS)
    assert all(done[g] == pytest.approx(MB10 / bps(10)) for g in GPUS)
    assert links[("src", "s0")] == MB10  # once on the source link


def test_star_sender_pacing_is_shared_by_unicast_copies() -> None:
    _, done, _ = run(STAR, "unicast", ["g1", "g2", "g3"], rate_mbit=30)
    assert all(done[g] == pytest.approx(MB10 / bps(10)) for g in ("g1", "g2", "g3"))


# -- tree with a bottleneck ------------------------------------------------------------------
TREE = topo(
    ["s1", "s2", "s3"],
    ["src", "h2", "h3", "h4", "h5"],
    [
        ("src", "s1", 100),
        ("s1", "s2", 50),
        ("s1", "s3", 10),
        ("s2", "h2", 100),
        ("s2", "h3", 100),
        ("s3", "h4", 100),
        ("s3", "h5", 100),
    ],
)
TREE_GPUS = ["h2", "h3", "h4", "h5"]


def test_tree_unicast() -> None:
    _out, done, links = run(TREE, "unicast", TREE_GPUS)
    assert done["h2"] == done["h3"] == pytest.approx(MB10 / bps(25))
    assert done["h4"] == done["h5"] == pytest.approx(MB10 / bps(5))
    assert links[("s1", "s2")] == links[("s1", "s3")] == 2 * MB10
    assert links[("src", "s1")] == 4 * MB10
    src_egress = sum(b for (a, _), b in links.items() if a == "src")
    assert src_egress == 4 * MB10


@pytest.mark.parametrize("tech", ["bier", "sr-p2mp", "pim-sm"])
def test_tree_multicast(tech: str) -> None:
    out, done, links = run(TREE, tech, TREE_GPUS)
    assert all(done[h] == pytest.approx(MB10 / bps(10)) for h in TREE_GPUS)
    assert sum(links.values()) == 7 * MB10  # tree edge count x model bytes
    (rnd,) = out["rounds"]
    assert rnd["tree_edges"] == 7
    assert rnd["ideal_link_bytes"] == 7 * MB10
    assert rnd["ideal_time_s"] == pytest.approx(MB10 / bps(10))
    assert rnd["bottleneck_mbit"] == 10


def test_tree_state_per_technology() -> None:
    state = {
        tech: {(r["switch"], r["table"]): (r["entries"], r["replicas"]) for r in out["switches"]}
        for tech in ("unicast", "bier", "sr-p2mp", "pim-sm")
        for out in [run(TREE, tech, ["h2", "h3"])[0]]
    }
    assert state["unicast"][("s1", "ipv4_routes")] == (5, None)  # a route per host
    # BIER: an F-BM row per neighbour and a decapsulation entry per local GPU host, even off
    # the tree: s1 has neighbours s2 and s3; s3 has s1 and two GPU hosts
    assert state["bier"][("s1", "bift")] == (2, None)
    assert state["bier"][("s3", "bift")] == (3, None)
    # SR-P2MP: segments on s1 (one branch) and s2 (two branches); s3 is off the tree
    assert state["sr-p2mp"] == {
        ("s1", "sr_segment"): (2, None),
        ("s1", "replication_groups"): (1, 1),
        ("s2", "sr_segment"): (3, None),
        ("s2", "replication_groups"): (1, 2),
    }
    assert state["pim-sm"][("s2", "mroute_sg")] == (1, 2)
    assert ("s3", "mroute_sg") not in state["pim-sm"]


def test_structural_ideal_unicast_counts_copies() -> None:
    net = build_net(TREE)
    from experiments.flowmodel import shortest_paths

    paths = shortest_paths(net, "src", TREE_GPUS)
    ideal = structural_ideal(net, "unicast", paths, MB10, 1000e6)
    # s1-s3 carries two copies at 10 Mbit/s
    assert ideal["ideal_time_s"] == pytest.approx(2 * MB10 / bps(10))
    assert ideal["ideal_link_bytes"] == (4 + 2 + 2 + 4) * MB10


# -- failure on a diamond --------------------------------------------------------------------
DIAMOND = topo(
    ["s1", "s2", "s3", "s4"],
    ["src", "h2", "h3", "h4"],
    [
        ("src", "s1", 100),
        ("h2", "s4", 100),
        ("h3", "s4", 100),
        ("h4", "s2", 100),
        ("s1", "s2", 50),
        ("s2", "s4", 50),
        ("s1", "s3", 20, {"weight": 5}),
        ("s3", "s4", 20, {"weight": 5}),
    ],
)


def _down_at_1():
    from experiments.schedule import NetEvent

    return [NetEvent(1.0, "link-down", "s2-s4", (("s2", "s4"),), "silent")]  # BFD: 150 ms


def test_diamond_bier_failure_outage_and_repair() -> None:
    no_frr = ControlTiming(bier_frr=False)  # the controller's reaction
    out, done, links = run(DIAMOND, "bier", ["h2", "h3", "h4"], events=_down_at_1(), timing=no_frr)
    react = 0.150 + 0.010 + 0.001  # detection + compute + write
    sent_at_cut = bps(50) * 1.0
    deficit = bps(50) * react
    # after the reaction the stream runs at the 20 Mbit/s of the detour; after the first pass
    # (modelsync polls, then repairs) one BitString for h2 and h3 resends what they missed
    t_pass = 1.0 + react + (MB10 - bps(50) * (1 + react)) / bps(20)
    t_end = t_pass + deficit / bps(20)
    assert done == pytest.approx({"h2": t_end, "h3": t_end, "h4": t_pass})
    aff = {r["receiver"]: r for r in out["failures"] if r.get("receiver")}
    assert set(aff) == {"h2", "h3"}
    assert aff["h2"]["outage_s"] == pytest.approx(react)
    assert aff["h2"]["bytes_repaired"] == round(deficit)
    # the dead link carried exactly what was sent before the failure
    assert links[("s2", "s4")] == round(sent_at_cut)
    # s1-s3 carried the rest of the stream after the reaction plus one repair for both
    # receivers (one BitString): together exactly what they had missed since the cut
    assert links[("s1", "s3")] == round((MB10 - bps(50) * (1 + react)) + deficit)
    assert links[("s1", "s3")] == round(MB10 - sent_at_cut)


def test_diamond_unicast_failure_black_holes_then_reroutes() -> None:
    _out, done, links = run(DIAMOND, "unicast", ["h2", "h3", "h4"], events=_down_at_1())
    react = 0.161
    r0 = bps(50) / 3  # three copies share s1-s2
    left = MB10 - r0 * (1 + react)
    assert done["h4"] == pytest.approx(1 + react + left / bps(50))
    # h2 and h3 share the 20 Mbit/s detour; after the first pass each gets its lost bytes
    t_pass = 1 + react + left / bps(10)
    assert done["h2"] == done["h3"] == pytest.approx(t_pass + r0 * react / bps(10))
    # the copies sent into the dead link during the outage still crossed s1-s2
    assert links[("s1", "s2")] == round(3 * MB10 - 2 * (MB10 - r0 * (1 + react)))


def test_diamond_bier_frr_reacts_at_detection() -> None:
    from experiments.schedule import NetEvent

    out, _, _ = run(DIAMOND, "bier", ["h2"], events=_down_at_1())  # BIER-FRR on by default
    (row,) = [r for r in out["failures"] if r.get("receiver")]
    assert row["outage_s"] == pytest.approx(0.150)  # silent: BFD detects, the backup at once
    pulled = [NetEvent(1.0, "link-down", "s2-s4", (("s2", "s4"),), "carrier")]
    out, _, _ = run(DIAMOND, "bier", ["h2"], events=pulled)
    (row,) = [r for r in out["failures"] if r.get("receiver")]
    assert row["outage_s"] == pytest.approx(0.005)  # carrier loss: at the switch at once


def test_partitioned_receiver_waits_for_link_up() -> None:
    from experiments.schedule import NetEvent

    evs = [
        NetEvent(1.0, "link-down", "s2-h4", (("h4", "s2"),)),
        NetEvent(3.0, "link-up", "s2-h4", (("h4", "s2"),)),
    ]
    out, done, _ = run(DIAMOND, "sr-p2mp", ["h4"], events=evs)
    (row,) = [r for r in out["failures"] if r.get("receiver")]
    assert row["outage_s"] == pytest.approx(2.0)
    # 1 s at 50, 2 s cut (the stream ends at 1.6 s), then the lost 1e7-6.25e6 by unicast repair
    assert done["h4"] == pytest.approx(3.0 + (MB10 - bps(50)) / bps(50))


def test_new_set_cost() -> None:
    net = build_net(TREE)
    p = Params(MB10, 1000e6, ControlTiming(), NO_HEADERS)
    costs = {}
    for tech in ("unicast", "bier", "sr-p2mp", "pim-sm"):
        keys = {"sweep": "", "technology": tech, "repetition": 0, "round": 1}
        _, prev = project_round(net, tech, "src", ["h2", "h3"], [], p, keys)
        out, _ = project_round(net, tech, "src", ["h2", "h4"], [], p, keys, prev)
        (c,) = [r for r in out["control"] if r["action"] == "new-set"]
        costs[tech] = (c["writes"], c["duration_s"])
    assert costs["unicast"] == (0, 0.0)
    assert costs["bier"] == (0, 0.0)  # the sender writes another BitString
    # SR-P2MP: new instance (group + branches + SID): s1 2+2, s2 2+1, s3 2+1; the root move;
    # the old instance deleted: s1 2+1, s2 2+2
    assert costs["sr-p2mp"][0] == (4 + 3 + 3) + 1 + (3 + 4)
    assert costs["sr-p2mp"][1] == pytest.approx(0.012)
    # PIM-SM: join s1->s3 (switch link), prune none between switches
    assert costs["pim-sm"][0] == 1
    assert not math.isnan(costs["pim-sm"][1])


def test_trees_are_the_control_planes() -> None:
    """The model's trees are the ones the controller installs: BIER/unicast next hops towards
    each receiver (controlplane.paths), SR-P2MP the controller's own shortest-path tree
    (controlplane.srp2mp.compute_tree). On the default topology the two differ for cloud3
    (equal-cost ring paths), so this checks the tie-breaks too."""
    from pathlib import Path

    from controlplane.graph import Network
    from controlplane.paths import compute_routing
    from controlplane.srp2mp import compute_tree
    from experiments.flowmodel import shortest_paths
    from experiments.ideal import uses_rpf
    from experiments.spec import load_experiment
    from experiments.topology_source import build_topology

    topo = build_topology(load_experiment(Path(__file__).parents[2] / "experiments/default.yaml"))
    net = build_net(topo)
    gpus = [h.name for h in topo.gpu_hosts()]
    cp = Network(topo)

    def switch_edges(paths):
        return {
            net.edges[e] for p in paths.values() for e in p if not set(net.edges[e]) & net.hosts
        }

    _, sr_edges = compute_tree(cp, "store", gpus, "spt")
    sr = switch_edges(shortest_paths(net, "store", gpus, rpf=uses_rpf("sr-p2mp")))
    assert sr == set(sr_edges)
    routing = compute_routing(cp)
    fwd = shortest_paths(net, "store", gpus, rpf=uses_rpf("bier"))
    for g in gpus:
        dst = cp.hosts[g].switch
        hops = [net.edges[e][1] for e in fwd[g]][:-1]
        assert hops == routing.path("ms", dst)
    assert sr != switch_edges(fwd)  # the tie that makes the distinction matter


def test_auto_rate_overloads_no_link() -> None:
    from experiments.flowmodel import shortest_paths
    from experiments.ideal import AUTO_MARGIN, auto_rate

    net = build_net(TREE)
    uni = shortest_paths(net, "src", TREE_GPUS)
    # s1-s3 (10 Mbit/s) carries two of the four unicast copies: 5 each, 20 in all
    assert auto_rate(net, "unicast", uni, NO_HEADERS) == pytest.approx(20e6 * AUTO_MARGIN)
    assert auto_rate(net, "bier", uni, NO_HEADERS) == pytest.approx(10e6 * AUTO_MARGIN)
    # paced at that rate, every copy runs at the same speed (modelsync's round robin)
    p = Params(MB10, None, ControlTiming(), NO_HEADERS)
    keys = {"sweep": "", "technology": "unicast", "repetition": 0, "round": 0}
    out, _ = project_round(net, "unicast", "src", TREE_GPUS, [], p, keys)
    done = [r["completed_s"] for r in out["receivers"]]
    assert done == pytest.approx([MB10 / bps(5 * AUTO_MARGIN)] * 4)
    (rnd,) = out["rounds"]
    assert rnd["sending_rate_mbit"] == pytest.approx(20 * AUTO_MARGIN)
    assert rnd["ideal_time_s"] == pytest.approx(2 * MB10 / bps(10))  # links only
