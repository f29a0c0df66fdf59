"""The controller against running softswitch processes (veth pairs, no Mininet): after
installation a frame from the sender reaches exactly the intended receivers, for unicast,
BIER and SR-P2MP, and again after a link failure the controller reacted to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cpf_net import SwitchNet, build_programs
from cpf_topos import diamond

from controlplane.controller import Controller
from controlplane.graph import Network
from controlplane.portwatch import PortWatch
from wire.frames import bier_header, ethernet, ipv4_udp, mpls_label

pytestmark = [pytest.mark.root, pytest.mark.slow]

PAYLOAD = bytes(range(64))
GROUP = "239.1.0.1"


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    return build_programs(tmp_path_factory.mktemp("cpf-build"))


def run(coro):
    return asyncio.get_event_loop().run_until_complete(coro)


@pytest.fixture
def loop():
    lp = asyncio.new_event_loop()
    asyncio.set_event_loop(lp)
    yield lp
    lp.close()


def first_hop(net: Network, host: str) -> tuple[str, str]:
    """(switch port MAC the host sends to, host MAC)."""
    h = net.hosts[host]
    return h.switch_mac, h.mac


def delivered(net: Network, host: str, inner: bytes) -> bytes:
    """What a receiver gets from BIER decapsulation or SR-P2MP pop: the inner IPv4 packet
    unchanged, in a frame from its switch port to its MAC."""
    h = net.hosts[host]
    return ethernet(h.mac, h.switch_mac, 0x0800) + inner


def test_unicast_reaches_exactly_the_receiver_before_and_after_failure(build, loop):
    topo = diamond()
    net = Network(topo)
    with SwitchNet(topo, build, "bier") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        try:
            ctl = Controller(topo, fab, "unicast")
            loop.run_until_complete(ctl.install())
            # what is on the switch is exactly what the controller computed
            for sw in ("s1", "s4"):
                got = loop.run_until_complete(fab.read_entries(sw))
                want = [e for e in ctl.installed[sw] if hasattr(e, "table")]
                assert {(e.table, e.match, e.action, e.params) for e in got} == {
                    (e.table, e.match, e.action, e.params) for e in want
                }
            dst, src = first_hop(net, "src")
            g1 = net.hosts["g1"]
            for hops_desc in ("s1-s2-s4", "after s2-s4 fails: s1-s3-s4"):
                frame = (
                    ethernet(dst, src, 0x0800)
                    + ipv4_udp("10.0.0.1", str(g1.ip), len(PAYLOAD), 40000, 50000, ttl=64)
                    + PAYLOAD
                )
                sn.drain()
                sn.send("src", frame)
                want = (
                    ethernet(g1.mac, g1.switch_mac, 0x0800)
                    + ipv4_udp("10.0.0.1", str(g1.ip), len(PAYLOAD), 40000, 50000, ttl=61)
                    + PAYLOAD
                )
                assert sn.collect({"g1"}) == {"g1": [want]}, hops_desc
                if hops_desc == "s1-s2-s4":
                    sn.set_link("s2-s4", up=False)
                    rec = loop.run_until_complete(ctl.on_link_event("s2-s4", up=False))
                    assert rec.updates > 0 and rec.occurred <= rec.detected <= rec.done
        finally:
            loop.run_until_complete(fab.close())


def test_bier_reaches_exactly_the_bitstring_receivers_before_and_after_failure(build, loop):
    topo = diamond()
    net = Network(topo)
    with SwitchNet(topo, build, "bier") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        try:
            ctl = Controller(topo, fab, "bier")
            loop.run_until_complete(ctl.install())
            inner = ipv4_udp("10.0.0.1", GROUP, len(PAYLOAD), 40000, 50000) + PAYLOAD
            dst, src = first_hop(net, "src")

            def send_to(receivers: list[str]) -> dict[str, list[bytes]]:
                ch = loop.run_until_complete(ctl.set_receivers(receivers))
                assert ch.writes == 0
                bits = ch.bitstrings[0].to_bytes(32, "big")
                frame = (
                    ethernet(dst, src, 0xAB37)
                    + bier_header(bits, bfir_id=1, bift_id=1, ttl=64)
                    + inner
                )
                sn.drain()
                sn.send("src", frame)
                return sn.collect(set(receivers))

            assert send_to(["g1", "g3"]) == {
                "g1": [delivered(net, "g1", inner)],
                "g3": [delivered(net, "g3", inner)],
            }
            assert send_to(["g2"]) == {"g2": [delivered(net, "g2", inner)]}
            sn.set_link("s2-s4", up=False)
            loop.run_until_complete(ctl.on_link_event("s2-s4", up=False))
            assert send_to(["g1", "g2", "g3"]) == {
                h: [delivered(net, h, inner)] for h in ("g1", "g2", "g3")
            }
        finally:
            loop.run_until_complete(fab.close())


def test_sr_p2mp_reaches_exactly_the_tree_receivers_before_and_after_failure(build, loop):
    topo = diamond()
    net = Network(topo)
    with SwitchNet(topo, build, "sr_p2mp") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        try:
            sids: list[int] = []
            ctl = Controller(topo, fab, "sr-p2mp", on_root_sid=sids.append)
            loop.run_until_complete(ctl.install("src", ["g1", "g3"]))
            inner = ipv4_udp("10.0.0.1", GROUP, len(PAYLOAD), 40000, 50000) + PAYLOAD
            dst, src = first_hop(net, "src")

            def send() -> dict[str, list[bytes]]:
                frame = ethernet(dst, src, 0x8847) + mpls_label(sids[-1], s=1, ttl=64) + inner
                sn.drain()
                sn.send("src", frame)
                return sn.collect({"g1", "g3"})

            want = {h: [delivered(net, h, inner)] for h in ("g1", "g3")}
            assert send() == want
            assert ctl.trees[0].edges == (("s1", "s2"), ("s1", "s3"), ("s2", "s4"))
            sn.set_link("s2-s4", up=False)
            rec = loop.run_until_complete(ctl.on_link_event("s2-s4", up=False))
            assert rec.trees_rebuilt == ["src->g1,g3"]
            assert len(sids) == 2 and sids[1] == sids[0]  # the sender keeps its label
            assert ctl.trees[0].edges == (("s1", "s3"), ("s3", "s4"))
            assert send() == want
            # the old instance is gone from every switch
            groups = loop.run_until_complete(fab.read_groups("s2"))
            assert groups == []
        finally:
            loop.run_until_complete(fab.close())


def test_testbed_facade_stream_and_counters(build):
    """The synchronous hook the testbed drives, packet-in/out on the stream channel, and
    counter records read back from the switches."""
    from types import SimpleNamespace

    from controlplane.testbed import ControlPlane

    topo = diamond()
    net = Network(topo)
    with SwitchNet(topo, build, "bier") as sn:
        infos = [
            SimpleNamespace(name=s, device_id=d, target="softswitch", grpc_addr=sn.addr[s])
            for s, d in sn.dev.items()
        ]
        cp = ControlPlane("bier", build=build)  # hears of failures from the switches (gNMI)
        try:
            cp.start(infos, topo)
            text = cp.dump_tables("s4")
            assert text.startswith("s4: ") and "MyIngress.bier_bift[hdr.bier.bift_id=1]" in text
            # LLDP from a host reaches the controller as packet-in, with its ingress port
            lldp = ethernet("01:80:c2:00:00:0e", net.hosts["g2"].mac, 0x88CC) + bytes(50)
            fab = cp.fabric
            assert fab is not None
            import time

            # subscribed since the fabric opened: a frame that arrived before the call waits
            sn.send("g2", lldp)
            time.sleep(0.5)
            payload, meta = cp._run(fab.packet_in("s2", timeout=15))
            assert payload == lldp and meta["ingress_port"] == net.hosts["g2"].port
            # packet-out with an egress port leaves unchanged through that port
            out = ethernet(net.hosts["g3"].mac, net.hosts["g3"].switch_mac, 0x88B5) + PAYLOAD
            cp._run(fab.packet_out("s3", out, net.hosts["g3"].port))
            assert sn.collect({"g3"}) == {"g3": [out]}
            # a cable pulled: nobody tells the control plane, the switches' gNMI does
            sn.set_link("s2-s4", up=False)
            deadline = time.monotonic() + 20
            while not cp.events and time.monotonic() < deadline:
                time.sleep(0.05)
            recs = [r for r in cp.wait_events() if not r.duplicate]
            (rec,) = recs
            assert rec.link == "s2-s4" and not rec.up and rec.updates > 0 and rec.error is None
            assert rec.cause == "carrier" and rec.detected_by.split()[0] in ("s2", "s4")
            assert cp.events == [rec]
            ch = asyncio.run(cp.set_receivers(["g1"]))  # from another loop, as the runner does
            assert ch.writes == 0 and ch.bitstrings == {0: 0b1}
            recs = asyncio.run(cp.read_records())
            rx = [
                r
                for r in recs
                if r["kind"] == "counter"
                and r["switch"] == "s2"
                and r["code_name"] == "RX"
                and r["port"] == net.hosts["g2"].port
            ]
            assert rx and rx[0]["packets"] >= 1
            assert any(r["kind"] == "read_groups" and r["groups"] == 7 for r in recs)
        finally:
            cp.stop()


def test_bier_frr_backup_delivers_before_the_controller_reacts(build, loop):
    """s1-s2 fails and the controller is not told: the port-status register switches s1 to
    its loop-free backup via s3 for g1 (on s4); g3 keeps its primary path."""
    topo = diamond()
    net = Network(topo)
    with SwitchNet(topo, build, "bier") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        try:
            ctl = Controller(topo, fab, "bier")
            loop.run_until_complete(ctl.install())
            inner = ipv4_udp("10.0.0.1", GROUP, len(PAYLOAD), 40000, 50000) + PAYLOAD
            dst, src = first_hop(net, "src")
            bits = ctl.desired.bier.bitstrings(["g1", "g3"])[0].to_bytes(32, "big")
            frame = ethernet(dst, src, 0xAB37) + bier_header(bits, 1, bift_id=1) + inner
            sn.set_link("s1-s2", up=False)
            import time

            # wait until the carrier loss has reached s1's port-status register
            lk = next(lk for lk in topo.links if {lk.a, lk.b} == {"s1", "s2"})
            port = lk.a_port if lk.a == "s1" else lk.b_port

            def port_down() -> bool:
                reg = fab.read_register("s1", "MyEgress.port_status")
                return bool(loop.run_until_complete(reg).get(port))

            deadline = time.monotonic() + 20
            while not port_down():
                assert time.monotonic() < deadline, f"s1 port {port}: no carrier loss in 20 s"
                time.sleep(0.05)
            sn.drain()
            sn.send("src", frame)
            assert sn.collect({"g1", "g3"}) == {
                "g1": [delivered(net, "g1", inner)],
                "g3": [delivered(net, "g3", inner)],
            }
            frr = loop.run_until_complete(fab.read_counter("s1", "MyEgress.out_stats"))
            assert frr.get(2 * 256 + 2, (0, 0))[0] == 1  # BIER_FRR on port 2 (to s3)
        finally:
            loop.run_until_complete(fab.close())


def test_sr_p2mp_compressed_transit_pushes_adjacency_sids(build, loop):
    """A chain s1-s2-s3-s4: with compress_transit, s2 and s3 hold no replication segment;
    s1 pushes their adjacency SIDs above s4's Replication-SID."""
    from cpf_topos import build as mk

    topo = mk(
        "chain4",
        ["s1", "s2", "s3", "s4"],
        [("src", "model-store", "s1"), ("g1", "gpu", "s4"), ("g2", "gpu", "s4")],
        [("s1", "s2"), ("s2", "s3"), ("s3", "s4")],
    )
    net = Network(topo)
    with SwitchNet(topo, build, "sr_p2mp") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        try:
            sids: list[int] = []
            ctl = Controller(topo, fab, "sr-p2mp", compress_transit=True, on_root_sid=sids.append)
            loop.run_until_complete(ctl.install("src", ["g1", "g2"]))
            assert list(ctl.trees[0].segments) == ["s1", "s4"]
            for sw in ("s2", "s3"):
                ents = loop.run_until_complete(fab.read_entries(sw, "MyIngress.rep_sid"))
                assert ents == []
            inner = ipv4_udp("10.0.0.1", GROUP, len(PAYLOAD), 40000, 50000) + PAYLOAD
            dst, src = first_hop(net, "src")
            frame = ethernet(dst, src, 0x8847) + mpls_label(sids[-1], s=1, ttl=64) + inner
            sn.drain()
            sn.send("src", frame)
            assert sn.collect({"g1", "g2"}) == {
                "g1": [delivered(net, "g1", inner)],
                "g2": [delivered(net, "g2", inner)],
            }
        finally:
            loop.run_until_complete(fab.close())


def test_failed_install_on_real_switches_is_rolled_back(build, loop):
    """One entry the controller wants is already on s3 (written by someone else): s3 refuses
    the INSERT; everything the controller wrote on any switch is removed again."""
    from controlplane.entities import Update
    from controlplane.errors import WriteError

    topo = diamond()
    with SwitchNet(topo, build, "bier") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        try:
            ctl = Controller(topo, fab, "bier")
            foreign = next(
                e
                for e in ctl._compute(ctl.net, []).per_switch["s3"]
                if getattr(e, "table", "") == "MyIngress.ipv4_lpm"
            )
            loop.run_until_complete(fab.write("s3", [Update("INSERT", foreign)]))
            with pytest.raises(
                WriteError,
                match=r"switch s3: write of INSERT MyIngress.ipv4_lpm"
                r".*ALREADY_EXISTS.*rolled back",
            ):
                loop.run_until_complete(ctl.install())
            for sw in ("s1", "s2", "s3", "s4"):
                left = loop.run_until_complete(fab.read_entries(sw))
                assert left == ([foreign] if sw == "s3" else []), sw
                assert loop.run_until_complete(fab.read_groups(sw)) == []
        finally:
            loop.run_until_complete(fab.close())


def test_port_watch_reacts_without_being_told(build, loop):
    """Nobody reports the failure: the switches do, over gNMI (controlplane.portwatch)."""
    import time

    topo = diamond()
    net = Network(topo)
    with SwitchNet(topo, build, "bier") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        watch = None
        try:
            ctl = Controller(topo, fab, "unicast")
            loop.run_until_complete(ctl.install())
            watch = PortWatch(dict(sn.addr), ctl.on_port_event)
            loop.run_until_complete(watch.start())
            sn.set_link("s2-s4", up=False)
            deadline = time.monotonic() + 20
            while not ctl.events and time.monotonic() < deadline:
                loop.run_until_complete(asyncio.sleep(0.1))
            (rec,) = ctl.events
            assert (rec.link, rec.up, rec.cause) == ("s2-s4", False, "carrier")
            deadline = time.monotonic() + 20
            while not rec.done and time.monotonic() < deadline:
                loop.run_until_complete(asyncio.sleep(0.05))
            assert rec.done and rec.updates > 0 and ctl.down == {2}
            g1 = net.hosts["g1"]
            dst, src = first_hop(net, "src")
            udp = ipv4_udp("10.0.0.1", str(g1.ip), len(PAYLOAD), 40000, 50000, ttl=64)
            sn.drain()
            sn.send("src", ethernet(dst, src, 0x0800) + udp + PAYLOAD)
            want = (
                ethernet(g1.mac, g1.switch_mac, 0x0800)
                + ipv4_udp("10.0.0.1", str(g1.ip), len(PAYLOAD), 40000, 50000, ttl=61)
                + PAYLOAD
            )
            assert sn.collect({"g1"}) == {"g1": [want]}
        finally:
            if watch is not None:
                loop.run_until_complete(watch.stop())
            loop.run_until_complete(fab.close())


def test_primary_election_second_controller_with_lower_id_is_refused(build, loop):
    from cpf_topos import build as mk

    from controlplane.client import Fabric
    from controlplane.errors import ControlPlaneError

    topo = mk("one", ["s1"], [("src", "model-store", "s1"), ("g1", "gpu", "s1")], [])
    with SwitchNet(topo, build, "bier") as sn:
        first = sn.fabric()
        loop.run_until_complete(first.open())
        try:
            f = sn.fabric()
            second = Fabric(f.conns, f.p4info, f.device_config, election_id=5)
            with pytest.raises(
                ControlPlaneError,
                match=r"switch s1: another controller is "
                r"primary \(its election id (10|higher) > ours 5\)",
            ):
                loop.run_until_complete(second.open())
            assert second.switches == {}
        finally:
            loop.run_until_complete(first.close())


def test_shell_reads_a_running_switch_as_backup(build, loop):
    """p4runtime-sh (its own venv) connects to a switch the controller programs, as a
    backup client, and sees the pipeline's tables."""
    import argparse
    import subprocess

    from cpf_topos import build as mk

    from controlplane import shell

    try:  # created once, from PyPI (a fresh clone has none; tests/switch shares it)
        shell.shell_python()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create {shell.VENV} with p4runtime-shell from PyPI: {exc}")
    topo = mk("one", ["s1"], [("src", "model-store", "s1"), ("g1", "gpu", "s1")], [])
    with SwitchNet(topo, build, "bier") as sn:
        fab = sn.fabric()
        loop.run_until_complete(fab.open())
        try:
            cmd = shell.command(
                "s1", argparse.Namespace(device_id=1, topo=None, addr=sn.addr["s1"], primary=False)
            )
            r = subprocess.run(
                cmd, input="print('N', len(list(tables)))\nexit\n", capture_output=True,
                text=True, timeout=120,
            )  # fmt: skip
            assert r.returncode == 0, r.stderr
            assert "only have read access" in r.stdout and "N 5" in r.stdout
        finally:
            loop.run_until_complete(fab.close())
