"""IPv4 unicast and packet-in/packet-out, the same in bier.p4, sr_p2mp.p4 and srv6_p2mp.p4 (in
process)."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from softswitch import api
from tests.p4src import p4model as M

PROGRAMS = ["bier.p4", "sr_p2mp.p4", "srv6_p2mp.p4"]
NEXT = M.port_mac(2, 1)
HOST = M.host_mac(9)


def _routed_switch(name: str) -> api.Switch:
    sw = M.switch(name)
    M.route(sw, "10.0.0.0", 8, 2, NEXT)
    M.route(sw, "10.0.0.9", 32, 3, HOST)
    return sw


def _sent(dst: str, ttl: int = 64) -> M.Packet:
    return Ether(dst=M.port_mac(1, 1), src=M.host_mac(1)) / M.inner(dst=dst, ttl=ttl)


def _routed(sent: M.Packet, port: int, dmac: str) -> bytes:
    out = sent.copy()
    out[Ether].dst, out[Ether].src = dmac, M.port_mac(M.DEVICE_ID, port)
    out[IP].ttl -= 1
    del out[IP].chksum  # scapy recomputes it
    return M.frame_bytes(out)


def _in(sw: api.Switch, code: int, port: int = 1) -> int:
    return sw.counter("MyIngress.in_stats", code * 256 + port)[0]


@pytest.mark.parametrize("name", PROGRAMS)
def test_longest_prefix_wins_with_mac_rewrite_ttl_and_checksum(name: str) -> None:
    sw = _routed_switch(name)
    host, other = _sent("10.0.0.9"), _sent("10.0.0.5")
    assert M.run(sw, 1, host) == {3: [_routed(host, 3, HOST)]}
    assert M.run(sw, 1, other) == {2: [_routed(other, 2, NEXT)]}
    assert _in(sw, M.IN_IPV4_ROUTED) == 2
    assert sw.counter("MyIngress.in_stats", M.IN_RX * 256 + 1) == (2, len(bytes(host)) * 2)


@pytest.mark.parametrize("name", PROGRAMS)
def test_no_route_ttl_and_bad_checksum_drops_are_counted(name: str) -> None:
    sw = _routed_switch(name)
    assert M.run(sw, 1, _sent("192.168.1.1")) == {}
    assert _in(sw, M.IN_DROP_NO_ROUTE) == 1
    assert M.run(sw, 1, _sent("10.0.0.9", ttl=1)) == {}
    assert _in(sw, M.IN_DROP_TTL) == 1
    bad = bytearray(M.frame_bytes(_sent("10.0.0.9")))
    bad[14 + 10] ^= 0xFF  # corrupt the IPv4 header checksum
    assert M.run(sw, 1, bytes(bad)) == {}
    assert _in(sw, M.IN_DROP_BAD_CHECKSUM) == 1


@pytest.mark.parametrize("name", PROGRAMS)
def test_unicast_to_a_port_without_carrier_is_dropped(name: str) -> None:
    sw = _routed_switch(name)
    sw.set_register("MyEgress.port_status", 3, 1)
    assert M.run(sw, 1, _sent("10.0.0.9")) == {}
    assert sw.counter("MyEgress.out_stats", M.OUT_DROP_PORT_DOWN * 256 + 3)[0] == 1


@pytest.mark.parametrize("name", PROGRAMS)
def test_unsupported_ethertype_is_dropped(name: str) -> None:
    sw = _routed_switch(name)
    arp = Ether(dst="ff:ff:ff:ff:ff:ff", src=M.host_mac(1), type=0x0806) / (b"\x00" * 28)
    assert M.run(sw, 1, arp) == {}
    assert _in(sw, M.IN_DROP_UNSUPPORTED) == 1


@pytest.mark.parametrize("name", PROGRAMS)
def test_liveness_frames_stay_on_the_port_and_are_counted_apart_from_drops(name: str) -> None:
    sw = _routed_switch(name)
    bfd = Ether(dst="01:80:c2:00:00:0e", src=M.port_mac(2, 1), type=0x88B5) / (b"\x20" * 24)
    assert M.run(sw, 2, bfd) == {}  # neither forwarded nor sent to the controller
    assert _in(sw, M.IN_LIVENESS, port=2) == 1
    assert _in(sw, M.IN_DROP_UNSUPPORTED, port=2) == 0
    assert sw.counter("MyIngress.in_stats", M.IN_RX * 256 + 2)[0] == 1


@pytest.mark.parametrize("name", PROGRAMS)
def test_lldp_goes_to_the_cpu_with_packet_in(name: str) -> None:
    sw = _routed_switch(name)
    lldp = M.frame_bytes(
        Ether(dst="01:80:c2:00:00:0e", src=M.port_mac(7, 3), type=0x88CC) / (b"\x02\x07" * 10)
    )
    # packet_in: ingress_port (16 bits), reason (16 bits: 1 = LLDP), then the frame unchanged
    assert M.run(sw, 4, lldp) == {M.CPU_PORT: [struct.pack("!HH", 4, 1) + lldp]}
    assert sw.counter("MyEgress.out_stats", M.OUT_TO_CPU * 256 + 255)[0] == 1


@pytest.mark.parametrize("name", PROGRAMS)
def test_punt_acl_sends_matching_frames_to_the_cpu(name: str) -> None:
    sw = _routed_switch(name)
    sw.insert_entry(
        api.TableEntry(
            "MyIngress.punt",
            {
                "hdr.ethernet.ether_type": api.Ternary(0x0800, 0xFFFF),
                "hdr.ipv4.dst_addr": api.Ternary(M.ip_int("10.0.0.9"), 0xFFFFFFFF),
            },
            "MyIngress.punt_to_cpu",
            priority=10,
        )
    )
    sent = M.frame_bytes(_sent("10.0.0.9"))
    assert M.run(sw, 1, sent) == {M.CPU_PORT: [struct.pack("!HH", 1, 2) + sent]}
    assert M.run(sw, 1, _sent("10.0.0.5")) == {2: [_routed(_sent("10.0.0.5"), 2, NEXT)]}


@pytest.mark.parametrize("name", PROGRAMS)
def test_packet_out_to_a_port_leaves_unchanged(name: str) -> None:
    sw = _routed_switch(name)
    probe = M.frame_bytes(
        Ether(dst="01:80:c2:00:00:0e", src=M.port_mac(1, 3), type=0x88CC) / (b"\x01" * 30)
    )
    assert M.run(sw, M.CPU_PORT, struct.pack("!H", 3) + probe) == {3: [probe]}
    assert _in(sw, M.IN_PACKET_OUT, 255) == 1


@pytest.mark.parametrize("name", PROGRAMS)
def test_packet_out_with_port_zero_goes_through_the_pipeline(name: str) -> None:
    sw = _routed_switch(name)
    sent = _sent("10.0.0.9")
    assert M.run(sw, M.CPU_PORT, struct.pack("!H", 0) + M.frame_bytes(sent)) == {
        3: [_routed(sent, 3, HOST)]
    }


@pytest.mark.parametrize("name", PROGRAMS)
def test_truncated_frames_are_dropped_and_counted(name: str) -> None:
    """Runts and headers cut short end as parser errors: dropped, counted, nothing else."""
    sw = _routed_switch(name)
    bier = M.frame_bytes(M.bier_frame([1]))
    mpls = M.frame_bytes(M.mpls_frame([(16001, 64), (16002, 64)], dst=NEXT, src=HOST))
    for frame in (b"\x02\x00\x00", bier[: 14 + 20], mpls[: 14 + 2]):
        assert M.run(sw, 1, frame) == {}
    assert _in(sw, M.IN_DROP_UNSUPPORTED) == 3
