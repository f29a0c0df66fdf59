"""Controller logic on an in-memory fabric: installation, zero-write BIER receiver sets,
SR make-before-break, link events with detection delay and minimal diffs, roll-back."""

from __future__ import annotations

import asyncio
import time

import pytest
from cpf_fabric import MemoryFabric
from cpf_topos import multicloud, ring_tree, tree

from controlplane.controller import Controller
from controlplane.desired import compute_desired
from controlplane.errors import (
    ControlPlaneError,
    LabelBlockExhausted,
    ReceiverError,
    WriteError,
)
from controlplane.graph import Network


def run(coro):
    return asyncio.run(coro)


def make(topo, tech, **kw):
    fab = MemoryFabric([s.name for s in topo.switches])
    return Controller(topo, fab, tech, **kw), fab


def test_install_writes_exactly_the_desired_state():
    topo = multicloud(clouds=2, leaves=2, gpus=2)
    ctl, fab = make(topo, "bier")
    run(ctl.install())
    want = compute_desired(Network(topo), "bier")
    for sw, ents in want.per_switch.items():
        assert fab.entities(sw) == set(ents)


def test_bier_new_receiver_set_needs_no_writes():
    topo = multicloud(clouds=2, leaves=2, gpus=2)
    ctl, fab = make(topo, "bier")
    run(ctl.install())
    n = len(fab.log)
    ch = run(ctl.set_receivers(["c0l0g0", "c1l1g1"]))
    assert ch.writes == 0 and len(fab.log) == n
    assert ch.bitstrings == {0: 0b10000001}
    with pytest.raises(ReceiverError, match=r"'ghost' is not a GPU host"):
        run(ctl.set_receivers(["ghost"]))


def test_sr_receiver_change_is_make_before_break():
    topo = tree()
    sids = []
    ctl, fab = make(topo, "sr-p2mp", on_root_sid=sids.append)
    run(ctl.install("src", ["g1", "g4"]))
    assert sids == [100000]
    first_calls = len(fab.calls)
    ch = run(ctl.set_receivers(["g1", "g3", "g4"]))
    # the sender keeps its label: the root's SID entry moves to the new instance's group
    assert ch.root_sid == sids[-1] == 100000
    # three write rounds: install the new instance, move the root, delete the old one
    assert len(fab.calls) == first_calls + 3
    assert fab.calls[-2] == {"s1": 1}
    log = fab.log[-ch.writes :]
    kinds = [u.kind for _, u in log]
    move = kinds.index("MODIFY")
    assert set(kinds[:move]) == {"INSERT"} and set(kinds[move + 1 :]) == {"DELETE"}
    sw, u = log[move]
    assert sw == "s1" and u.entity.table == "MyIngress.rep_sid"
    assert u.entity.params == (("group", 257),) and u.entity.match[0][1] == 100000
    # nothing of the old instance remains; the new root branches use the other rid range
    s1 = fab.entities("s1")
    rids = sorted(e.match[1][1] for e in s1 if getattr(e, "table", "") == "MyEgress.sr_branch")
    assert rids == [32769, 32770]
    assert {e.group for e in s1 if not hasattr(e, "table")} == {257}
    assert ch.cost.tree_nodes == 6 and ch.cost.replication_nodes == 6
    assert ch.cost.writes == ch.writes
    assert ctl.labels.in_use == {100000, *range(100005, 100010)}


def test_link_failure_reacts_at_once_and_writes_only_the_diff():
    topo = ring_tree()
    ctl, fab = make(topo, "unicast")
    run(ctl.install())
    before = len(fab.log)
    t0 = time.time()
    rec = run(ctl.on_link_event("s2-s5", up=False, occurred=t0))
    assert rec.occurred == t0
    assert rec.occurred <= rec.detected <= rec.computed <= rec.done
    assert sorted(w.switch for w in rec.writes) == ["s1", "s2", "s3", "s5"]
    assert rec.updates == len(fab.log) - before == 1 + 1 + 1 + 4
    assert all(rec.computed <= w.started <= w.done <= rec.done for w in rec.writes)
    r = rec.record()
    assert r["kind"] == "link_event" and r["cause"] == "reported"
    # back up: the original state again
    run(ctl.on_link_event("s2-s5", up=True))
    want = compute_desired(Network(topo), "unicast")
    assert all(fab.entities(s) == set(e) for s, e in want.per_switch.items())


def test_port_events_take_a_link_down_with_its_first_end_and_up_with_its_last():
    from controlplane.portwatch import PortEvent

    topo = ring_tree()
    ctl, _ = make(topo, "unicast")
    run(ctl.install())
    lk = next(lk for lk in topo.links if lk.name == "s2-s5")
    a, b = (lk.a, lk.a_port), (lk.b, lk.b_port)
    rec = run(ctl.on_port_event(PortEvent(*a, False, "liveness", 10.0, 10.1)))
    assert (rec.link, rec.up, rec.cause, rec.detected_by) == (
        "s2-s5",
        False,
        "liveness",
        f"{a[0]} port {a[1]}",
    )
    assert (rec.occurred, rec.detected) == (10.0, 10.1) and rec.updates > 0
    again = run(ctl.on_port_event(PortEvent(*b, False, "liveness", 10.02, 10.12)))
    assert again.duplicate and len(ctl.events) == 1  # the other end: nothing new
    half = run(ctl.on_port_event(PortEvent(*a, True, "", 20.0, 20.1)))
    assert half.duplicate and ctl.down  # one end back: the link is still down
    back = run(ctl.on_port_event(PortEvent(*b, True, "", 20.2, 20.3)))
    assert (back.up, back.cause, back.duplicate) == (True, "port-status", False)
    assert not ctl.down and back.updates > 0
    assert run(ctl.on_port_event(PortEvent("s2", 99, False, "carrier", 1.0, 1.0))) is None


def test_sr_tree_on_failed_link_is_rebuilt_around_it():
    topo = ring_tree()
    ctl, _ = make(topo, "sr-p2mp")
    run(ctl.install("src", ["g3"]))  # s1 -> s2 -> s5
    rec = run(ctl.on_link_event("s2-s5", up=False))
    assert rec.trees_rebuilt == ["src->g3"]
    assert [t.edges for t in ctl.trees] == [(("s1", "s3"), ("s3", "s5"))]
    assert rec.root_sids == [ctl.trees[0].root_sid]
    # an unaffected tree stays as it is
    run(ctl.set_receivers(["g4"], "src"))
    rec2 = run(ctl.on_link_event("s2-s4", up=False))
    assert rec2.trees_rebuilt == []


def test_failed_install_rolls_back_everything():
    topo = tree()
    ctl, fab = make(topo, "bier")
    fab.fail_on = ("s3", 5)
    with pytest.raises(
        WriteError,
        match=r"switch s3: write of .* failed: RESOURCE_EXHAUSTED.*"
        r"rolled back",
    ):
        run(ctl.install())
    assert all(not fab.state[s] for s in fab.state)
    assert all(not v for v in ctl.installed.values())


def test_label_block_exhausted_leaves_switches_untouched():
    topo = tree()
    ctl, fab = make(topo, "sr-p2mp", label_block=(100, 103))
    with pytest.raises(LabelBlockExhausted):
        run(ctl.install("src", ["g1", "g3", "g4"]))
    assert fab.log == [] and ctl.labels.in_use == set()


def test_state_records_count_entries_per_table():
    topo = tree()
    ctl, _ = make(topo, "bier")
    run(ctl.install())
    recs = [r for r in ctl.state_records() if r["switch"] == "s4"]
    tables = {r["table"]: r["entries"] for r in recs if r["kind"] == "table"}
    # s4: ports 1 (s2), 2 (g1), 3 (g2); 6 hosts; 1 SI; next hops s2, g1, g2
    assert tables == {
        "MyEgress.port_mac": 3,
        "MyIngress.ipv4_lpm": 5,
        "MyIngress.bier_bift": 1,
        "MyEgress.bier_nh": 3,
    }
    groups = next(r for r in recs if r["kind"] == "groups")
    assert (groups["groups"], groups["replicas"]) == (7, 12)


def test_sr_partition_keeps_reachable_receivers_and_restores_all_on_repair():
    topo = ring_tree()  # s4 (g1, g2) hangs off s2 only
    ctl, _ = make(topo, "sr-p2mp")
    run(ctl.install("src", ["g1", "g3"]))
    rec = run(ctl.on_link_event("s2-s4", up=False))
    assert rec.unreachable_hosts == ["g1", "g2"]
    assert [t.receivers for t in ctl.trees] == [("g3",)]
    rec = run(ctl.on_link_event("s2-s4", up=True))
    assert rec.unreachable_hosts == []
    assert [t.receivers for t in ctl.trees] == [("g1", "g3")]
    # a link the tree never used comes back: no new instance
    run(ctl.on_link_event("s3-s5", up=False))
    rec = run(ctl.on_link_event("s3-s5", up=True))
    assert rec.trees_rebuilt == [] and rec.updates == 0


def test_host_link_failure_reports_the_host_unreachable():
    topo = ring_tree()
    ctl, _ = make(topo, "bier")
    run(ctl.install())
    rec = run(ctl.on_link_event("s6-g4", up=False))
    assert rec.unreachable_hosts == ["g4"] and rec.updates == 0


def test_a_change_reported_twice_is_handled_once():
    topo = ring_tree()
    ctl, fab = make(topo, "unicast")
    run(ctl.install())
    first = run(ctl.on_link_event("s2-s5", up=False))
    n = len(fab.log)
    again = run(ctl.on_link_event("s5-s2", up=False, cause="port-status"))
    assert not first.duplicate and again.duplicate and len(fab.log) == n
    assert ctl.events == [first]


@pytest.mark.parametrize("name", ["sr", "ip-multicast", "pim-sm"])
def test_a_technology_is_spelled_as_everywhere_and_runs_on_p4(name: str) -> None:
    topo = tree()
    with pytest.raises(ControlPlaneError, match=f"unknown technology '{name}'; one of "
                       "unicast, bier, sr-p2mp, srv6-p2mp$"):  # fmt: skip
        make(topo, name)
    assert make(topo, "sr-p2mp")[0].technology == "sr-p2mp"
