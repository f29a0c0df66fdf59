"""Several deliveries at once (set_receivers' key): SR-P2MP keeps one tree per delivery, each
with its own root SID handed over by key, and changing one delivery's set leaves the other
trees alone; a failure rebuilds each affected tree under its own key."""

from __future__ import annotations

import asyncio

import pytest
from cpf_fabric import MemoryFabric
from cpf_topos import ring_tree, tree

from controlplane.controller import Controller


@pytest.mark.parametrize("tech", ["sr-p2mp", "srv6-p2mp"])
def test_one_tree_per_delivery(tech: str) -> None:
    topo = tree()
    fab = MemoryFabric([s.name for s in topo.switches])
    handed: list[tuple[str, object]] = []
    ctl = Controller(topo, fab, tech, on_tree_root_sid=lambda k, s: handed.append((k, s)))
    asyncio.run(ctl.install())
    a = asyncio.run(ctl.set_receivers(["g1", "g3"], "src", key="d0"))
    b = asyncio.run(ctl.set_receivers(["g3", "g4"], "src", key="d1"))
    assert [(t.key, t.receivers) for t in ctl.trees] == [("d0", ("g1", "g3")), ("d1", ("g3", "g4"))]
    assert handed == [("d0", a.root_sid), ("d1", b.root_sid)] and a.root_sid != b.root_sid
    table = "MyIngress.rep_sid" if tech == "sr-p2mp" else "MyIngress.srv6_sid"
    sids = lambda sw: {e.match for e in fab.entities(sw) if getattr(e, "table", "") == table}  # noqa: E731
    assert len(sids("s1")) == 2  # both roots at s1
    before = {sw: set(fab.entities(sw)) for sw in ("s3", "s6")}
    # a new set for d0 only: d1's tree (s1 -> s3 -> s6 and s2 -> s5) stays as it was
    c = asyncio.run(ctl.set_receivers(["g1", "g2"], "src", key="d0"))
    assert c.root_sid == a.root_sid  # d0's sender keeps its SID
    assert [(t.key, t.receivers) for t in ctl.trees] == [("d1", ("g3", "g4")), ("d0", ("g1", "g2"))]
    after = {sw: set(fab.entities(sw)) for sw in ("s3", "s6")}
    assert after == before
    assert len(sids("s1")) == 2


def test_a_failure_rebuilds_each_tree_under_its_key() -> None:
    topo = ring_tree()
    fab = MemoryFabric([s.name for s in topo.switches])
    handed: list[tuple[str, object]] = []
    ctl = Controller(topo, fab, "sr-p2mp", on_tree_root_sid=lambda k, s: handed.append((k, s)))
    asyncio.run(ctl.install())
    asyncio.run(ctl.set_receivers(["g3"], "src", key="d0"))  # s1 -> s2 -> s5
    asyncio.run(ctl.set_receivers(["g4"], "src", key="d1"))  # s1 -> s3 -> s6
    rec = asyncio.run(ctl.on_link_event("s2-s5", up=False))
    assert rec.trees_rebuilt == ["src->g3"]
    assert [(t.key, t.edges) for t in ctl.trees] == [
        ("d1", (("s1", "s3"), ("s3", "s6"))),
        ("d0", (("s1", "s3"), ("s3", "s5"))),
    ]
    assert handed[-1][0] == "d0"
