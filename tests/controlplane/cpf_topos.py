"""Small topologies for the control-plane tests, built with the shared Topology model."""

from __future__ import annotations

from typing import Any

from topologies.model import Topology


def build(
    name: str, switches: list[str], hosts: list[tuple[str, str, str]], links: list
) -> Topology:
    """hosts: (name, role, switch); links: (a, b) or (a, b, weight)."""
    lk: list[dict[str, Any]] = []
    for link in links:
        a, b, *w = link
        lk.append({"a": a, "b": b, "bw_mbit": 100, "weight": w[0] if w else 1})
    for h, _, sw in hosts:
        lk.append({"a": sw, "b": h, "bw_mbit": 100})
    return Topology(
        name=name,
        switches=[{"name": s, "cloud": "c"} for s in switches],
        hosts=[{"name": h, "role": r, "cloud": "c"} for h, r, _ in hosts],
        links=lk,
    )


def line() -> Topology:
    # src - s1 - s2 - s3 - g2 ; g1 on s2.  Ports: s1: 1->s2, 2->src; s2: 1->s1, 2->s3, 3->g1;
    # s3: 1->s2, 2->g2
    return build(
        "line",
        ["s1", "s2", "s3"],
        [("src", "model-store", "s1"), ("g1", "gpu", "s2"), ("g2", "gpu", "s3")],
        [("s1", "s2"), ("s2", "s3")],
    )


def diamond() -> Topology:
    # s1 -1- s2 -2- s4, s1 -2- s3 -2- s4 (equal weights: s1 reaches s4 via its lowest port, s2)
    # Ports: s1: 1->s2, 2->s3, 3->src; s2: 1->s1, 2->s4, 3->g2; s3: 1->s1, 2->s4, 3->g3;
    # s4: 1->s2, 2->s3, 3->g1
    return build(
        "diamond",
        ["s1", "s2", "s3", "s4"],
        [
            ("src", "model-store", "s1"),
            ("g1", "gpu", "s4"),
            ("g2", "gpu", "s2"),
            ("g3", "gpu", "s3"),
        ],
        [("s1", "s2"), ("s1", "s3"), ("s2", "s4"), ("s3", "s4")],
    )


def tree() -> Topology:
    # s1 root; s2, s3 children; s4, s5 under s2; s6 under s3; two GPUs on s4, one on s5, s6
    return build(
        "tree",
        ["s1", "s2", "s3", "s4", "s5", "s6"],
        [
            ("src", "model-store", "s1"),
            ("g1", "gpu", "s4"),
            ("g2", "gpu", "s4"),
            ("g3", "gpu", "s5"),
            ("g4", "gpu", "s6"),
        ],
        [("s1", "s2"), ("s1", "s3"), ("s2", "s4"), ("s2", "s5"), ("s3", "s6")],
    )


def multicloud(clouds: int = 3, leaves: int = 2, gpus: int = 2) -> Topology:
    """Clouds of one core and `leaves` leaf switches; cores meshed by WAN links (weight 10),
    each leaf dual-homed to its core and the next leaf (weight 1); the model store on c0."""
    switches, hosts, links = [], [("store", "model-store", "c0core")], []
    for c in range(clouds):
        core = f"c{c}core"
        switches.append(core)
        for i in range(leaves):
            leaf = f"c{c}l{i}"
            switches.append(leaf)
            links.append((core, leaf))
            if i:
                links.append((f"c{c}l{i - 1}", leaf, 2))
            hosts += [(f"c{c}l{i}g{j}", "gpu", leaf) for j in range(gpus)]
    for a in range(clouds):
        for b in range(a + 1, clouds):
            links.append((f"c{a}core", f"c{b}core", 10))
    return build("multicloud", switches, hosts, links)


def ring_tree():
    # the tree of cpf_topos.tree plus a spare link s3-s5 of weight 5 (links[5])
    return build(
        "rt",
        ["s1", "s2", "s3", "s4", "s5", "s6"],
        [
            ("src", "model-store", "s1"),
            ("g1", "gpu", "s4"),
            ("g2", "gpu", "s4"),
            ("g3", "gpu", "s5"),
            ("g4", "gpu", "s6"),
        ],
        [("s1", "s2"), ("s1", "s3"), ("s2", "s4"), ("s2", "s5"), ("s3", "s6"), ("s3", "s5", 5)],
    )
