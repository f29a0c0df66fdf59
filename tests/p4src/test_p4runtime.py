"""A few of the p4src packet tests again, end to end: a switch process on veth pairs,
programmed over P4Runtime (testsupport/harness.py), against softswitch and against BMv2
(skipped where simple_switch_grpc / p4c-bm2-ss are absent)."""

from __future__ import annotations

import ipaddress

import grpc
import pytest
from scapy.layers.l2 import Ether

from linkmon.bfd import State, Timers
from linkmon.status import PortMonitor
from softswitch import api
from softswitch.server import bytestr
from testbed.netns import in_netns
from testbed.port_agent import make_writer
from tests.p4src import p4model as M
from testsupport.harness import P4RTClient, Testbed, program_config, sh, write_error_codes

# BMv2 runs where simple_switch_grpc and p4c-bm2-ss are (pytest -m "bmv2 or p4c" selects it)
TARGETS = ["softswitch", pytest.param("bmv2", marks=[pytest.mark.bmv2, pytest.mark.p4c])]
PORT_STATUS = "MyEgress.port_status"
SRV6_SIDS = ("5f00:0:1:1:86a1::", "5f00:0:2:1:86a2::", "5f00:0:7:1:86a7::")
pytestmark = pytest.mark.slow


def _extra(target: str) -> list[str]:
    # softswitch writes the port-status register itself; BMv2 has no such agent
    return ["--port-status-register", PORT_STATUS] if target == "softswitch" else []


def _program(c: P4RTClient, target: str, name: str) -> None:
    p4info, blob = program_config(target, M.P4SRC / name)
    c.set_pipeline(p4info, blob)
    c.write(c.insert(c.table_entry(e.table, e.match, e.action, e.params))
            for e in M.port_mac_entries(range(1, 6)))  # fmt: skip


def _write_entries(c: P4RTClient, entries: list[api.TableEntry]) -> None:
    c.write(
        c.insert(c.table_entry(e.table, e.match, e.action, e.params, e.priority)) for e in entries
    )


def _write_groups(c: P4RTClient, groups: dict[int, list[api.Replica]]) -> None:
    c.write(
        c.insert(c.multicast_group(g, [(r.port, r.instance) for r in reps]))
        for g, reps in groups.items()
    )


@pytest.mark.parametrize("target", TARGETS)
def test_bier_replication_and_bfer_over_p4runtime(target: str) -> None:
    with Testbed(target, ports=[1, 2, 3, 4, 5], extra_args=_extra(target)) as tb:
        c = tb.client()
        _program(c, target, "bier.p4")
        entries, groups = M.bier_entries(M.default_hops())
        _write_entries(c, entries)
        _write_groups(c, groups)
        sent = M.bier_frame([1, 3, 6])
        tb.send(M.SENDER_PORT, M.frame_bytes(sent))
        tb.expect(
            {
                1: [M.bier_copy(sent, 1, M.NBR_A, [1])],
                2: [M.bier_copy(sent, 2, M.NBR_B, [3])],
                4: [M.decapsulated(sent, 4, M.HOST6)],
            }
        )


@pytest.mark.parametrize("target", TARGETS)
def test_bier_frr_when_the_port_status_register_says_down(target: str) -> None:
    """The register written from outside, as the controller (softswitch) or the testbed's
    port agent (BMv2) does. BMv2's P4Runtime server (PI) does not implement register writes:
    it answers UNIMPLEMENTED, and the register is written over BMv2's Thrift server."""
    with Testbed(target, ports=[1, 2, 3, 4, 5], extra_args=_extra(target)) as tb:
        c = tb.client()
        _program(c, target, "bier.p4")
        entries, groups = M.bier_entries(M.default_hops())
        _write_entries(c, entries)
        _write_groups(c, groups)
        reg = p4r_register(c, PORT_STATUS, 1, 1)
        if target == "bmv2":
            with pytest.raises(grpc.RpcError) as exc:
                c.write([c.modify(reg)])
            assert write_error_codes(exc.value) == ["UNIMPLEMENTED"]
            assert tb.thrift_port is not None
            make_writer(tb.thrift_port, PORT_STATUS).write({1: 1})
        else:
            c.write([c.modify(reg)])
        sent = M.bier_frame([1, 2])
        tb.send(M.SENDER_PORT, M.frame_bytes(sent))
        tb.expect({2: [M.bier_copy(sent, 2, M.NBR_B, [1, 2])]})


def test_bier_frr_on_carrier_loss_without_the_controller() -> None:
    """softswitch sets port_status[1] when port 1 loses carrier; the backup takes over."""
    with Testbed("softswitch", ports=[1, 2, 3, 4, 5], extra_args=_extra("softswitch")) as tb:
        c = tb.client()
        _program(c, "softswitch", "bier.p4")
        entries, groups = M.bier_entries(M.default_hops())
        _write_entries(c, entries)
        _write_groups(c, groups)
        sent = M.bier_frame([1, 2])
        tb.send(M.SENDER_PORT, M.frame_bytes(sent))
        tb.expect({1: [M.bier_copy(sent, 1, M.NBR_A, [1, 2])]})
        # the switch end goes down (the harness's set_carrier downs the host end, whose
        # capture socket then fails with ENETDOWN); softswitch sees port 1 without carrier
        sh("ip", "link", "set", tb.switch_iface(1), "down")
        _wait_register(c, PORT_STATUS, 1, 1)
        tb.send(M.SENDER_PORT, M.frame_bytes(sent))
        tb.expect({2: [M.bier_copy(sent, 2, M.NBR_B, [1, 2])]})
        sh("ip", "link", "set", tb.switch_iface(1), "up")  # carrier back: primary again
        _wait_register(c, PORT_STATUS, 1, 0)
        tb.send(M.SENDER_PORT, M.frame_bytes(sent))
        tb.expect({1: [M.bier_copy(sent, 1, M.NBR_A, [1, 2])]})


def test_bier_frr_on_a_silent_failure_detected_by_bfd() -> None:
    """A BFD session on port 1 (the peer runs linkmon in the host namespace): the peer falls
    silent, carrier stays up; the switch's session expires, port_status[1] becomes 1 and the
    backup takes over, without the controller. The peer back: primary again."""
    extra = [*_extra("softswitch"), "--bfd-port", "1", "--bfd-interval-ms", "50"]
    with Testbed("softswitch", ports=[1, 2, 3, 4, 5], extra_args=extra) as tb:
        c = tb.client()
        _program(c, "softswitch", "bier.p4")
        entries, groups = M.bier_entries(M.default_hops())
        _write_entries(c, entries)
        _write_groups(c, groups)

        def peer() -> PortMonitor:
            iface = f"{tb.tag}h1"
            mon = in_netns(tb.ns(1), lambda: PortMonitor({1: iface}, {1}, Timers(50, 3)))
            mon.start()
            return mon

        far = peer()
        try:
            _wait_for(lambda: far.status()[1].session == State.UP, "session never Up")
            sent = M.bier_frame([1, 2])
            tb.send(M.SENDER_PORT, M.frame_bytes(sent))
            tb.expect({1: [M.bier_copy(sent, 1, M.NBR_A, [1, 2])]})
            far.stop()  # silent: no more BFD packets, carrier untouched
            _wait_register(c, PORT_STATUS, 1, 1)
            tb.send(M.SENDER_PORT, M.frame_bytes(sent))
            tb.expect({2: [M.bier_copy(sent, 2, M.NBR_B, [1, 2])]})
            far = peer()
            _wait_register(c, PORT_STATUS, 1, 0)
            tb.send(M.SENDER_PORT, M.frame_bytes(sent))
            tb.expect({1: [M.bier_copy(sent, 1, M.NBR_A, [1, 2])]})
        finally:
            far.stop()


@pytest.mark.parametrize("target", TARGETS)
def test_sr_p2mp_bud_node_over_p4runtime(target: str) -> None:
    with Testbed(target, ports=[1, 2, 3, 4, 5], extra_args=_extra(target)) as tb:
        c = tb.client()
        _program(c, target, "sr_p2mp.p4")
        d2, host4 = M.port_mac(2, 1), M.host_mac(4)
        c.write([c.insert(c.multicast_group(10, [(2, 1), (4, 3)]))])
        lbl = {"hdr.mpls[0].label": api.Exact(16001)}
        _write_entries(
            c,
            [
                api.TableEntry("MyIngress.rep_sid", lbl, "MyIngress.replicate", {"group": 10}),
                api.TableEntry(
                    "MyEgress.sr_branch",
                    lbl | {"standard_metadata.egress_rid": api.Exact(1)},
                    "MyEgress.branch_swap",
                    {"sid": 16002, "dmac": M.mac_int(d2)},
                ),
                api.TableEntry(
                    "MyEgress.sr_branch",
                    lbl | {"standard_metadata.egress_rid": api.Exact(3)},
                    "MyEgress.branch_pop_deliver",
                    {"host_mac": M.mac_int(host4)},
                ),
            ],
        )
        sent = M.mpls_frame([(16001, 64)], dst=M.port_mac(1, 1), src=M.port_mac(9, 1))
        tb.send(1, M.frame_bytes(sent))
        out2 = M.mpls_frame([(16002, 63)], dst=d2, src=M.port_mac(1, 2))
        tb.expect({2: [M.frame_bytes(out2)], 4: [M.delivered_ipv4(4, host4)]})


@pytest.mark.parametrize("target", TARGETS)
def test_srv6_p2mp_bud_node_over_p4runtime(target: str) -> None:
    """End.Replicate with a 128-bit exact key, a branch to node 2 and the local decapsulation;
    a node without a segment routes by locator (128-bit LPM)."""
    sid, sid2, sid7 = (int(ipaddress.IPv6Address(a)) for a in SRV6_SIDS)
    with Testbed(target, ports=[1, 2, 3, 4, 5], extra_args=_extra(target)) as tb:
        c = tb.client()
        _program(c, target, "srv6_p2mp.p4")
        d2, n5, host4 = M.port_mac(2, 1), M.port_mac(5, 1), M.host_mac(4)
        c.write([c.insert(c.multicast_group(300, [(2, 1), (4, 3)]))])
        da = {"hdr.ipv6.dst_addr": api.Exact(sid)}
        _write_entries(
            c,
            [
                api.TableEntry("MyIngress.srv6_sid", da, "MyIngress.end_replicate", {"group": 300}),
                api.TableEntry(
                    "MyEgress.srv6_branch",
                    da | {"standard_metadata.egress_rid": api.Exact(1)},
                    "MyEgress.branch_replicate",
                    {"sid": sid2, "dmac": M.mac_int(d2)},
                ),
                api.TableEntry(
                    "MyEgress.srv6_branch",
                    da | {"standard_metadata.egress_rid": api.Exact(3)},
                    "MyEgress.branch_decap",
                    {"host_mac": M.mac_int(host4)},
                ),
                api.TableEntry(
                    "MyIngress.srv6_locator",
                    {"hdr.ipv6.dst_addr": api.Lpm(sid7 >> 80 << 80, 48)},
                    "MyIngress.locator_route",
                    {"port": 5, "dmac": M.mac_int(n5)},
                ),
            ],
        )
        up = M.port_mac(9, 1)
        tb.send(1, M.frame_bytes(M.srv6_frame(SRV6_SIDS[0], 64, dst=M.port_mac(1, 1), src=up)))
        out2 = M.srv6_frame(SRV6_SIDS[1], 63, dst=d2, src=M.port_mac(1, 2))
        tb.expect({2: [M.frame_bytes(out2)], 4: [M.delivered_ipv4(4, host4)]})
        tb.send(1, M.frame_bytes(M.srv6_frame(SRV6_SIDS[2], 64, dst=M.port_mac(1, 1), src=up)))
        out5 = M.srv6_frame(SRV6_SIDS[2], 63, dst=n5, src=M.port_mac(1, 5))
        tb.expect({5: [M.frame_bytes(out5)]})


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", ["bier.p4", "sr_p2mp.p4", "srv6_p2mp.p4"])
def test_unicast_and_packet_io_over_p4runtime(target: str, name: str) -> None:
    with Testbed(target, ports=[1, 2, 3], extra_args=_extra(target)) as tb:
        c = tb.client()
        _program(c, target, name)
        nxt = M.port_mac(2, 1)
        _write_entries(
            c,
            [
                api.TableEntry(
                    "MyIngress.ipv4_lpm",
                    {"hdr.ipv4.dst_addr": api.Lpm(M.ip_int("10.0.0.0"), 8)},
                    "MyIngress.ipv4_route",
                    {"port": 2, "dmac": M.mac_int(nxt)},
                )
            ],
        )
        sent = Ether(dst=M.port_mac(1, 1), src=M.host_mac(1)) / M.inner(dst="10.0.0.7")
        tb.send(1, M.frame_bytes(sent))
        out = sent.copy()
        out[Ether].dst, out[Ether].src = nxt, M.port_mac(1, 2)
        out["IP"].ttl -= 1
        tb.expect({2: [M.frame_bytes(out)]})
        # the role counters are readable over P4Runtime
        assert _counter(c, "MyIngress.in_stats", M.IN_IPV4_ROUTED * 256 + 1) == 1
        assert _counter(c, "MyEgress.out_stats", M.OUT_TX * 256 + 2) == 1

        # packet-in: LLDP from port 3 reaches the controller with ingress_port 3, reason 1
        lldp = M.frame_bytes(
            Ether(dst="01:80:c2:00:00:0e", src=M.port_mac(7, 1), type=0x88CC) / (b"\x02" * 40)
        )
        tb.send(3, lldp)
        pin = c.packet_in(timeout=5)
        assert pin.payload == lldp
        meta = {m.metadata_id: int.from_bytes(m.value, "big") for m in pin.metadata}
        assert meta == {1: 3, 2: 1}

        # packet-out to port 3: the frame leaves unchanged
        probe = M.frame_bytes(
            Ether(dst="01:80:c2:00:00:0e", src=M.port_mac(1, 3), type=0x88CC) / (b"\x01" * 40)
        )
        c.packet_out(probe, {"egress_port": 3})
        tb.expect({3: [probe]})


# ---------------------------------------------------------------------------- externs
def _counter(c: P4RTClient, name: str, index: int) -> int:
    from finsy.proto import p4r

    assert c.index is not None
    cid = next(i for i, a in c.index.counters.items() if a.name == name)
    ent = p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=cid))
    ent.counter_entry.index.index = index
    (got,) = c.read(ent)
    return got.counter_entry.data.packet_count


def p4r_register(c: P4RTClient, name: str, index: int, value: int):  # type: ignore[no-untyped-def]
    from finsy.proto import p4d, p4r

    assert c.index is not None
    e = p4r.RegisterEntry(register_id=c.index.registers_by_name[name].id)
    e.index.index = index
    e.data.CopyFrom(p4d.P4Data(bitstring=bytestr.encode(value)))
    return e


def _wait_for(cond, what: str, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _wait_register(c: P4RTClient, name: str, index: int, value: int, timeout: float = 5) -> None:
    import time

    from finsy.proto import p4r

    deadline = time.monotonic() + timeout
    while True:
        ent = p4r.Entity(register_entry=p4r_register(c, name, index, 0))
        ent.register_entry.ClearField("data")
        got = c.read(ent)
        if got and int.from_bytes(got[0].register_entry.data.bitstring, "big") == value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}[{index}] did not become {value} within {timeout} s")
        time.sleep(0.05)
