"""The `auto` sending rate stays below what the switch processes can forward: frames handled
per frame sent (in plus out at every switch), the machine's cores, the CPU one frame costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.flowmodel import build_net, shortest_paths
from experiments.ideal import Wire, capacity_rate, switch_frames
from experiments.round import sending_rate
from experiments.spec import load_experiment, resolve_receivers, source_host
from experiments.topology_source import build_topology

ROOT = Path(__file__).resolve().parents[2]


def test_frames_per_frame_sent_multicast_and_unicast() -> None:
    e = load_experiment(ROOT / "experiments" / "default.yaml")
    topo = build_topology(e, ROOT / "experiments")
    net = build_net(topo)
    src, rx = source_host(e, topo), resolve_receivers(e, topo, 0)
    bier = switch_frames(net, "bier", shortest_paths(net, src, rx))
    # the tree of all 12 GPU hosts: each of its 13 switches receives one copy; the copies
    # they send are the tree's other edges (36 edges in all: 37 = 36 + the source's)
    assert len(bier) == 13 and sum(bier.values()) == pytest.approx(37.0)
    uni = switch_frames(net, "unicast", shortest_paths(net, src, rx))
    # unicast: one receiver per frame, round robin; the store's switch sees every frame twice
    assert max(uni.values()) == pytest.approx(2.0)
    assert sum(uni.values()) == pytest.approx(8.6667, abs=1e-3)


def test_capacity_rate_of_the_default_experiment() -> None:
    e = load_experiment(ROOT / "experiments" / "default.yaml")
    topo = build_topology(e, ROOT / "experiments")
    net = build_net(topo)
    src, rx = source_host(e, topo), resolve_receivers(e, topo, 0)
    paths = shortest_paths(net, src, rx)
    wire = Wire.of(topo)
    frame_bits = 8 * (wire.mtu + 14)  # the topology's MTU (jumbo frames) plus Ethernet
    rate, limit = capacity_rate(net, "bier", paths, wire, 400e-6, 2)
    # 2 cores x 0.5 / (400 us x 37 frames) = 67.6 frames/s
    assert rate == pytest.approx(2 * 0.5 / (400e-6 * 37) * frame_bits)
    assert limit == "all switches"
    # on 64 cores one switch limits: 0.8 of a core over 3 frames per frame sent
    rate, limit = capacity_rate(net, "bier", paths, wire, 400e-6, 64)
    assert rate == pytest.approx(0.8 / (400e-6 * 3) * frame_bits)
    assert limit in {s.name for s in topo.switches}


def test_sending_rate_says_when_the_switches_chose_it() -> None:
    e = load_experiment(ROOT / "experiments" / "default.yaml")
    topo = build_topology(e, ROOT / "experiments")
    src, rx = source_host(e, topo), resolve_receivers(e, topo, 0)
    links, note = sending_rate(e, topo, src, "bier", rx)
    assert note is None and links == pytest.approx(9.5, abs=0.05)
    assert sending_rate(e, topo, src, "bier", rx, 40e-6, 2) == (links, None)
    rate, note = sending_rate(e, topo, src, "bier", rx, 400e-6, 2)
    assert rate == pytest.approx(2 * 0.5 / (400e-6 * 37) * 8 * 9014 / 1e6)
    assert note == (
        f"sending rate {rate:.1f} Mbit/s, below the links' {links:.1f}: what the switches "
        "forward with 50% of 2 cores at 400 µs of CPU per frame (all switches the limit)"
    )
    # a target that forwards in the kernel plans with a larger share of the cores
    more, note = sending_rate(e, topo, src, "bier", rx, 400e-6, 2, share=0.7)
    assert more == pytest.approx(rate * 0.7 / 0.5)
    assert note is not None and "with 70% of 2 cores" in note
    fixed = e.model_copy(update={"sending_rate_mbit": 3.0})
    assert sending_rate(fixed, topo, src, "bier", rx, 400e-6, 2) == (3.0, None)
