"""End to end on real FRR routers: the diamond topology as namespaces running zebra, OSPF,
pimd (and bfdd), the kernel forwarding the group 239.1.0.1.

Model store h1 on s1 (the RP); GPU hosts h2, h3, h4 on s4; primary path s1-s2-s4 (cost 2),
backup s1-s3-s4 (cost 10). h2 and h3 join, h4 never does; h3 leaves; then s1-s2 fails
silently (carrier stays up, so only the OSPF dead interval or BFD can notice).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pimsm.events import failure_timeline, link_down_events
from pimsm.measure import (
    forwarding_peers,
    link_bytes,
    mcast_state,
    outage,
    read_counters,
    tree_build,
)
from pimsm.network import PimNetwork
from pimsm.records import LinkEvent
from pimsm.session import ProbeSession
from testbed.shaping import HtbClass, read_htb
from topologies.model import Topology

pytestmark = [pytest.mark.root, pytest.mark.frr, pytest.mark.mininet, pytest.mark.slow]

RATE = 100.0  # datagrams per second
SIZE = 200  # UDP payload bytes


def _data_after(log, t: float) -> list[float]:
    return [ta for _, ta in log.arrivals if ta > t]


def _window_bytes(net: PimNetwork, seconds: float) -> dict[str, tuple[int, int]]:
    before = read_counters(net)
    time.sleep(seconds)
    after = read_counters(net)
    return {lb.link: (lb.a_to_b_bytes, lb.b_to_a_bytes) for lb in link_bytes(net, before, after)}


@pytest.mark.parametrize(
    ("bfd", "mode"),
    [(False, "silent"), (True, "silent"), (False, "carrier")],
    ids=["silent-ospf-dead", "silent-bfd", "carrier"],
)
def test_diamond_join_leave_failover(diamond: Topology, bfd: bool, mode: str) -> None:
    net = PimNetwork(diamond, bfd=bfd, prefix="pim")
    try:
        net.start()
        net.wait_converged(timeout=60)
        # multicast routing is on (pimd holds the mroute socket, the kernel's or the
        # emulation's); unicast reaches a host's contract address (10.0.0.1: h1)
        assert net.dataplane in ("kernel", "emulated")
        assert all(net.multicast_routing_on(r) for r in ("s1", "s2", "s3", "s4"))
        net.cmd("h4", "ping -c1 -W3 10.0.0.1")
        s = ProbeSession(net, "h1", rate=RATE, size=SIZE)
        for h in ("h2", "h3", "h4"):
            s.sniff(h)
        s.start_sender()
        time.sleep(1.0)  # the source is live (registered at the RP) before anyone joins
        s.join("h2")
        s.join("h3")
        s.wait_receiving(["h2", "h3"], timeout=20)

        # tree build: join to first datagram, present and sane
        for h in ("h2", "h3"):
            tb = tree_build(s.receiver_log(h))
            assert tb.seconds is not None and 0 < tb.seconds < 10, tb

        # exactly the joined hosts: state on s4 forwards to h2 and h3 only; the group never
        # reaches h4's wire; the tree runs s1 -> s2 -> s4 and s3 is off it
        time.sleep(1.0)
        assert forwarding_peers(net, mcast_state(net, "s4"), "239.1.0.1") == {"h2", "h3"}
        assert forwarding_peers(net, mcast_state(net, "s1"), "239.1.0.1") == {"s2"}
        assert forwarding_peers(net, mcast_state(net, "s3"), "239.1.0.1") == set()
        win = _window_bytes(net, 2.0)
        data = RATE * 2.0 * (SIZE + 8 + 20 + 14)  # bytes on the wire in the window
        assert win["s1-s2"][0] > 0.8 * data and win["s2-s4"][0] > 0.8 * data
        assert win["s4-h2"][0] > 0.8 * data and win["s4-h3"][0] > 0.8 * data
        assert win["s1-s3"][0] < 0.05 * data and win["s4-h4"][0] < 0.05 * data
        assert s.sniff_log("h4").arrivals == []

        # h3 leaves (IGMP leave): its wire goes quiet while h2 keeps receiving
        s.leave("h3")
        t_leave = s.receiver_log("h3").t_leave
        assert t_leave is not None
        time.sleep(3.0)
        quiet_from = time.monotonic() - 1.5
        assert _data_after(s.sniff_log("h3"), quiet_from) == []
        assert len(_data_after(s.receiver_log("h2"), quiet_from)) > 0.8 * RATE * 1.5
        assert forwarding_peers(net, mcast_state(net, "s4"), "239.1.0.1") == {"h2"}

        # the primary link fails silently; h2 receives again over s1-s3-s4
        ev = s.fail_link("s1", "s2", mode)
        bound = net.timers.repair_bound_s(bfd)
        deadline = ev.t_fail + bound + 3.0
        o = None
        while time.monotonic() < deadline:
            time.sleep(0.25)
            o = outage(s.receiver_log("h2"), ev, s.interval_s, t_end=time.monotonic())
            if o.recovered and time.monotonic() - (o.t_resume or 0) > 1.0:
                break
        assert o is not None and o.recovered, o
        assert o.outage_s is not None and 0 < o.outage_s < bound, (o, bound)
        if mode == "silent":  # nothing notices for a while: datagrams are lost
            assert o.affected and o.lost_datagrams is not None and o.lost_datagrams > 0, o
        print(
            f"\noutage {mode} bfd={bfd}: {o.outage_s:.3f} s, {o.lost_datagrams} lost (<{bound} s)"
        )

        # the routers at s1-s2 noticed (FRR's own logs): at once on carrier loss, else within
        # the dead interval or the BFD detection time (plus scheduling slack)
        tl = failure_timeline(net, ev, [o])
        assert tl.detection_s is not None and tl.detected_by is not None, tl
        limit = 1.0 if mode == "carrier" else net.timers.detection_bound_s(bfd) + 1.0
        assert 0 <= tl.detection_s < limit, tl
        # Who noticed: FRR 8.4's ospfd logs a BFD-triggered adjacency loss as
        # "(InactivityTimer)" like an expired dead interval, so the daemon that logged first
        # (ospfd or pimd, both told by bfdd at once) does not say it; pimd's neighbour loss
        # names BFD ("BFD Session Expired"). With BFD, the detection above came before the
        # OSPF dead interval (hello 1 s, dead 3 s) could expire.
        downs = link_down_events(net, ev)
        by_bfd = [e for e in downs if "BFD" in e.message]
        assert bool(by_bfd) == (bfd and mode == "silent"), downs
        if by_bfd:
            assert 0 <= by_bfd[0].t - ev.t_fail < limit, downs
            assert limit < net.timers.ospf_dead_s - net.timers.ospf_hello_s
        print(f"detected after {tl.detection_s:.3f} s: {tl.detected_by}")

        assert forwarding_peers(net, mcast_state(net, "s1"), "239.1.0.1") >= {"s3"}
        assert "s4" in forwarding_peers(net, mcast_state(net, "s3"), "239.1.0.1")
        win = _window_bytes(net, 1.0)
        assert win["s1-s3"][0] > 0.8 * data / 2 and win["s3-s4"][0] > 0.8 * data / 2
        assert win["s1-s2"] == (0, 0)  # the failed link carries nothing, either way
        assert s.sniff_log("h4").arrivals == []

        # the link comes back: OSPF prefers it again and the tree returns to s1-s2-s4
        ev = s.restore_link(ev)
        deadline = time.monotonic() + net.timers.repair_bound_s(False) + 3.0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if forwarding_peers(net, mcast_state(net, "s2"), "239.1.0.1") == {"s4"}:
                break
        assert forwarding_peers(net, mcast_state(net, "s2"), "239.1.0.1") == {"s4"}
        time.sleep(1.0)
        win = _window_bytes(net, 1.0)
        assert win["s2-s4"][0] > 0.8 * data / 2
        s.stop()
    finally:
        net.stop()
    assert net.leftovers() == []
    assert net.run_dir is not None and not net.run_dir.exists()


def test_switch_failure_with_bfd(diamond: Topology) -> None:
    """s2 (on the primary path) goes silent on every link: BFD notices, the tree moves to s3."""
    with PimNetwork(diamond, bfd=True, prefix="pim") as net:
        net.wait_converged(timeout=60)
        s = ProbeSession(net, "h1", rate=RATE, size=SIZE)
        s.start_sender()
        time.sleep(1.0)
        s.join("h2")
        s.wait_receiving(["h2"], timeout=20)
        t_fail = net.fail_switch("s2", "silent")
        ev = LinkEvent(link="s1-s2", mode="silent", bfd=True, t_fail=t_fail)
        bound = net.timers.repair_bound_s(True)
        o = None
        while time.monotonic() < t_fail + bound + 3.0:
            time.sleep(0.25)
            o = outage(s.receiver_log("h2"), ev, s.interval_s, t_end=time.monotonic())
            if o.recovered and time.monotonic() - (o.t_resume or 0) > 1.0:
                break
        assert o is not None and o.recovered and o.affected, o
        assert o.outage_s is not None and 0 < o.outage_s < bound
        assert "s4" in forwarding_peers(net, mcast_state(net, "s3"), "239.1.0.1")
        net.restore_switch("s2")
        s.stop()
    assert net.leftovers() == []


def test_exception_inside_tears_everything_down(pair: Topology) -> None:
    net = PimNetwork(pair, prefix="pim")
    with pytest.raises(RuntimeError, match="boom"), net:
        assert net.leftovers()  # daemons and shells are running
        raise RuntimeError("boom")
    assert net.leftovers() == []
    assert net.run_dir is not None and not net.run_dir.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_tears_everything_down(pair_spec: dict, tmp_path: Path, sig: int) -> None:
    script = tmp_path / "up.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys, time
            from pimsm.network import PimNetwork
            from topologies.model import Topology
            topo = Topology.model_validate(json.loads({json.dumps(json.dumps(pair_spec))}))
            with PimNetwork(topo, prefix="pim") as net:
                print("READY", net.tag, net.run_dir, flush=True)
                time.sleep(120)
            """
        )
    )
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split() if p.stdout else []
        assert line[:1] == ["READY"], line
        tag, run_dir = line[1], Path(line[2])
        assert run_dir.exists() and _pids_naming(tag)
        p.send_signal(sig)
        p.wait(30)
        # SIGTERM: SystemExit(143); SIGINT: KeyboardInterrupt through the `with`
        assert p.returncode == (128 + signal.SIGTERM if sig == signal.SIGTERM else -signal.SIGINT)
        assert _pids_naming(tag) == [] and not run_dir.exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_clean_after_sigkill(pair_spec: dict, tmp_path: Path) -> None:
    """A run killed with SIGKILL cannot tear down; `python -m pimsm clean` does it after."""
    script = tmp_path / "up.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, time
            from pimsm.network import PimNetwork
            from topologies.model import Topology
            topo = Topology.model_validate(json.loads({json.dumps(json.dumps(pair_spec))}))
            net = PimNetwork(topo, prefix="pim")
            net.start()
            print("READY", net.tag, net.run_dir, flush=True)
            time.sleep(120)
            """
        )
    )
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    tag = run_dir = None
    try:
        line = p.stdout.readline().split() if p.stdout else []
        assert line[:1] == ["READY"], line
        tag, run_dir = line[1], Path(line[2])
        p.kill()
        p.wait(10)
        assert _pids_naming(tag)  # the daemons outlive their parent
        r = subprocess.run(
            [sys.executable, "-m", "pimsm", "clean", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert _pids_naming(tag) == [] and not run_dir.exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if run_dir is not None and run_dir.exists():
            from pimsm.network import clean_run_dir

            clean_run_dir(run_dir)


def test_experiment_run_on_pair(pair: Topology) -> None:
    from pimsm.experiment import run

    res = run(pair, rate=50.0, steady_s=1.0)
    assert res.rp_router == "s1" and res.rp_address == "10.255.0.1"
    assert res.host_addresses == {"h1": "10.100.1.2", "h2": "10.100.2.2"}
    (tb,) = res.tree_builds
    assert tb.receiver == "h2" and tb.seconds is not None and tb.seconds > 0
    s2 = next(st for st in res.state if st.router == "s2")
    assert {(m.source, tuple(m.data_oifs)) for m in s2.mroutes if m.installed} >= {
        ("10.100.1.2", ("eth2",))
    }
    by_link = {lb.link: lb for lb in res.steady_link_bytes}
    assert by_link["s1-s2"].a_to_b_packets >= 0.8 * 50.0 * 1.0
    assert by_link["s2-h2"].a_to_b_packets >= 0.8 * 50.0 * 1.0
    assert res.failure is None and res.outages == []


def test_links_above_1_gbit_are_shaped_at_their_rate(pair_spec: dict) -> None:
    """s1-s2 at 40 Gbit/s (above what Mininet's TCIntf shapes, and above the 32-bit rate of
    tc's older attribute): both routers' ends hold it, read back from the kernel, and a
    silent failure still puts its qdisc under that class."""
    pair_spec["links"][1]["bw_mbit"] = 40_000
    topo = Topology.model_validate(pair_spec)
    with PimNetwork(topo, prefix="pim") as net:
        ends = next(e for e in net.links.values() if {e.a, e.b} == {"s1", "s2"})
        want = [HtbClass("5:1", 40_000_000_000, 40_000_000_000, 60000)]
        for node, ifname in ((ends.a, ends.a_if), (ends.b, ends.b_if)):
            assert read_htb(ifname, f"/proc/{net.nodes[node].pid}/ns/net") == want
        net.fail_link("s1", "s2", "silent")
        assert "qdisc pfifo 99: parent 5:1 limit 0p" in net.cmd(
            "s1", f"tc qdisc show dev {ends.a_if}"
        )
        net.restore_link("s1", "s2")
        assert "pfifo" not in net.cmd("s1", f"tc qdisc show dev {ends.a_if}")
    assert net.leftovers() == []


def _pids_naming(tag: str) -> list[int]:
    found = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                cl = Path(f"/proc/{e}/cmdline").read_bytes()
            except OSError:
                continue
            if tag.encode() in cl:
                found.append(int(e))
    return found


def test_carrier_failure_of_a_host_link_restores_the_hosts_route(pair: Topology) -> None:
    """Carrier mode takes both ends down, and the kernel drops the host's default route with
    its interface; restoring the link brings the route back (routers get theirs from zebra)."""
    with PimNetwork(pair, prefix="pim") as net:
        net.wait_converged(timeout=60)
        route = net.cmd("h2", "ip route show default").strip()
        assert route.startswith("default via")
        net.fail_link("h2", "s2", "carrier")
        assert net.cmd("h2", "ip route show default").strip() == ""
        net.restore_link("h2", "s2")
        assert net.cmd("h2", "ip route show default").strip() == route
        net.wait_converged(timeout=60)  # OSPF learns h2's subnet again
        net.cmd("h2", "ping -c1 -W5 10.0.0.1")  # the store's contract address, across s1
    assert net.leftovers() == []
