"""Frames from the fast templates, dissected by scapy field by field."""

from __future__ import annotations

from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from wire.bier import BIER, bfr_ids_of, bitstring
from wire.delivery import Delivery, DeliveryHeader, MsgType, decode, pack_into
from wire.frames import bier_template, ipv4_checksum, sr_p2mp_template, srv6_p2mp_template

SW_MAC = "02:5e:00:01:00:03"
HOST_MAC = "02:00:00:00:00:01"


def _fill(tpl, payload: bytes, chunk: int) -> bytes:  # type: ignore[no-untyped-def]
    hdr = DeliveryHeader(MsgType.DATA, 2, 0xAA55, chunk, 9, 1000, len(payload), 0, 77)
    o = tpl.dgram_offset
    tpl.buf[o + 36 : o + 36 + len(payload)] = payload
    pack_into(tpl.buf, o, hdr)
    return bytes(tpl.finish(36 + len(payload)))


def _check_ip_udp(f: Ether, dgram_len: int) -> None:
    ip = f[IP]
    assert ip.version == 4 and ip.ihl == 5 and ip.ttl == 64 and ip.proto == 17
    assert ip.src == "10.0.0.1" and ip.dst == "239.1.0.1"
    assert ip.flags == "DF" and ip.len == 20 + 8 + dgram_len
    raw_ip = bytes(ip)[:20]
    assert ipv4_checksum(raw_ip[:10] + b"\0\0" + raw_ip[12:]) == ip.chksum
    assert f[UDP].sport == 50000 and f[UDP].dport == 50000
    assert f[UDP].len == 8 + dgram_len and f[UDP].chksum == 0


def test_bier_frame_field_by_field() -> None:
    bs = bitstring([1, 4, 5], bsl=256)
    tpl = bier_template(SW_MAC, HOST_MAC, "10.0.0.1", bs, bfir_id=42, max_datagram=1500)
    for chunk, payload in ((0, b"a" * 1000), (8, b"tail")):  # full, then a short last chunk
        raw = _fill(tpl, payload, chunk)
        f = Ether(raw)
        assert f.dst == SW_MAC and f.src == HOST_MAC and f.type == 0xAB37
        b = f[BIER]
        assert (b.nibble, b.ver, b.bsl, b.proto, b.bfir_id) == (5, 0, 3, 4, 42)
        assert (b.ttl, b.s, b.tc, b.entropy, b.oam, b.rsv, b.dscp) == (64, 1, 0, 0, 0, 0, 0)
        assert bfr_ids_of(b.bitstring) == [1, 4, 5]
        _check_ip_udp(f, 36 + len(payload))
        d = f[Delivery]
        assert (d.shard, d.chunk, d.chunk_count, d.model_id, d.session) == (2, chunk, 9, 0xAA55, 77)
        assert bytes(d.payload) == payload
        assert decode(bytes(f[UDP].payload)).payload_len == len(payload)


def test_bier_template_prefix_swap() -> None:
    tpl = bier_template(SW_MAC, HOST_MAC, "10.0.0.1", bitstring([1]), 1, 1500)
    tpl.set_l2_prefix(bytes(tpl.buf[:14]) + bytes(tpl.buf[14:26]) + bitstring([2]))
    assert bfr_ids_of(Ether(_fill(tpl, b"x", 0))[BIER].bitstring) == [2]


def test_sr_p2mp_frame_field_by_field() -> None:
    tpl = sr_p2mp_template(SW_MAC, HOST_MAC, "10.0.0.1", root_sid=16001, max_datagram=1500)
    raw = _fill(tpl, b"z" * 333, 3)
    f = Ether(raw)
    assert f.type == 0x8847 and f.dst == SW_MAC and f.src == HOST_MAC
    m = f[MPLS]
    assert (m.label, m.s, m.ttl, m.cos) == (16001, 1, 64, 0)
    _check_ip_udp(f, 36 + 333)
    assert f[Delivery].chunk == 3 and bytes(f[Delivery].payload) == b"z" * 333


SID = "5f00:0:3:1:86a0::"


def test_srv6_p2mp_frame_field_by_field() -> None:
    tpl = srv6_p2mp_template(SW_MAC, HOST_MAC, "10.0.0.1", "fd00::a00:1", SID, 1500)
    for chunk, payload in ((0, b"q" * 900), (5, b"end")):  # a full chunk, then a short one
        f = Ether(_fill(tpl, payload, chunk))
        assert f.type == 0x86DD and f.dst == SW_MAC and f.src == HOST_MAC
        v6 = f[IPv6]
        assert (v6.version, v6.tc, v6.fl, v6.nh, v6.hlim) == (6, 0, 0, 4, 64)
        assert (v6.src, v6.dst) == ("fd00::a00:1", SID)
        assert v6.plen == 20 + 8 + 36 + len(payload)  # the inner IPv4 packet, whole
        _check_ip_udp(f, 36 + len(payload))
        assert f[Delivery].chunk == chunk and bytes(f[Delivery].payload) == payload


def test_srv6_template_new_root_sid_keeps_the_lengths() -> None:
    from wire.frames import srv6_p2mp_prefix

    tpl = srv6_p2mp_template(SW_MAC, HOST_MAC, "10.0.0.1", "fd00::a00:1", SID, 1500)
    _fill(tpl, b"x" * 10, 0)
    tpl.set_l2_prefix(srv6_p2mp_prefix(SW_MAC, HOST_MAC, "fd00::a00:1", "5f00:0:3:1:86a1::"))
    f = Ether(_fill(tpl, b"x" * 10, 1))  # same datagram length as before the swap
    assert f[IPv6].dst == "5f00:0:3:1:86a1::" and f[IPv6].plen == 20 + 8 + 36 + 10
