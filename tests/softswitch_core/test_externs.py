"""v1model externs and the packet replication engine, in-process: exact frames, counters,
registers and replicas."""

from __future__ import annotations

import logging
import zlib

import pytest

from softswitch.api import Exact, Lpm, Replica, Switch, TableEntry
from softswitch.core import switch as switch_mod

ETH = bytes.fromhex("02000000000102000000000288b5")


def frame(a: int = 0, b: int = 0, c: int = 0, d: int = 0, payload: bytes = b"PAY") -> bytes:
    return ETH + bytes([a, b]) + c.to_bytes(2, "big") + d.to_bytes(4, "big") + payload


def fields(f: bytes) -> tuple[int, int, int, int]:
    return f[14], f[15], int.from_bytes(f[16:18], "big"), int.from_bytes(f[18:22], "big")


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC bit by bit (independent of softswitch's table-driven one)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def csum16(data: bytes) -> int:
    s = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return 0xFFFF - s


def test_counter_register_and_direct_counter(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        counter(4, CounterType.packets_and_bytes) cnt;
        register<bit<16>>(4) reg;
        direct_counter(CounterType.packets) dc;
        action fwd(bit<9> port) { sm.egress_spec = port; dc.count(); }
        table t { key = { hdr.h.a: exact; } actions = { fwd; NoAction; } counters = dc; }
        apply {
            cnt.count((bit<32>) hdr.h.b);
            bit<16> r;
            reg.read(r, (bit<32>) hdr.h.b);
            r = r + hdr.h.c;
            reg.write((bit<32>) hdr.h.b, r);
            hdr.h.c = reg.read((bit<32>) hdr.h.b);
            t.apply();
        }""",
    )
    sw = Switch(p)
    e = TableEntry("I.t", {"hdr.h.a": Exact(1)}, "I.fwd", {"port": 2})
    sw.insert_entry(e)
    outs = [sw.process(0, frame(a, 3, 0x8000)) for a in (1, 1, 9)]
    assert [(o[0][0], fields(o[0][1])[2]) for o in outs] == [(2, 0x8000), (2, 0), (0, 0x8000)]
    assert sw.counter("I.cnt", 3) == (3, 3 * 25)
    assert sw.counter("I.cnt", 0) == (0, 0)
    assert sw.register("I.reg", 3) == 0x8000
    assert sw.direct_counter(e) == (2, 50)  # hits only; the miss is not counted
    sw.set_register("I.reg", 3, 5)
    sw.set_counter("I.cnt", 3, 10, 20)
    sw.set_direct_counter(e, 0, 0)
    assert sw.process(0, frame(1, 3, 1))[0][1][16:18] == b"\0\6"
    assert sw.counter("I.cnt", 3) == (11, 45)
    assert sw.direct_counter(e) == (1, 25)


def test_out_of_range_indices_are_ignored(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        counter(2, CounterType.packets) cnt;
        register<bit<8>>(2) reg;
        apply { sm.egress_spec = 1; cnt.count(7); reg.write(9, 1); reg.read(hdr.h.a, 9); }""",
    )
    sw = Switch(p)
    assert fields(sw.process(0, frame(5))[0][1])[0] == 0
    assert [sw.counter("I.cnt", i) for i in (0, 1)] == [(0, 0), (0, 0)]


def test_hash_algorithms(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""apply {
            sm.egress_spec = 1;
            hash(hdr.h.c, HashAlgorithm.crc16, 16w0, { hdr.eth.src, hdr.h.a, 4w0xa }, 32w65536);
            hash(hdr.h.d, HashAlgorithm.crc32, 32w0, { hdr.eth.src, hdr.h.a, 4w0xa }, 64w1 << 32);
            hash(hdr.h.b, HashAlgorithm.identity, 8w0, { hdr.h.a, 4w0xa }, 16w256);
            hash(hdr.eth.dst, HashAlgorithm.crc16, 48w100, { hdr.h.a }, 48w1000);
            hash(hdr.eth.type, HashAlgorithm.csum16, 16w0, { hdr.eth.src }, 32w65536);
        }""",
    )
    out = Switch(p).process(0, frame(0x5C))
    f = out[0][1]
    data = ETH[6:12] + bytes([0x5C, 0xA0])  # 4w0xa padded at the end to a whole byte
    assert fields(f)[2] == crc16_arc(data)
    assert fields(f)[3] == zlib.crc32(data)
    assert fields(f)[1] == 0xA0  # identity of 0x5ca0 keeps the last byte
    assert int.from_bytes(f[:6], "big") == 100 + crc16_arc(b"\x5c") % 1000
    assert f[12:14] == csum16(ETH[6:12]).to_bytes(2, "big")


IPV4 = """
header ipv4_t { bit<4> version; bit<4> ihl; bit<8> tos; bit<16> len; bit<16> id;
    bit<3> flags; bit<13> frag; bit<8> ttl; bit<8> proto; bit<16> csum; bit<32> src;
    bit<32> dst; }"""
IPV4_LIST = """{ hdr.ip.version, hdr.ip.ihl, hdr.ip.tos, hdr.ip.len, hdr.ip.id, hdr.ip.flags,
    hdr.ip.frag, hdr.ip.ttl, hdr.ip.proto, hdr.ip.src, hdr.ip.dst }"""


def ipv4(ttl: int, good: bool = True) -> bytes:
    h = bytearray.fromhex("450000140001000000110000c00002010a000001")
    h[8] = ttl
    c = csum16(bytes(h))
    h[10:12] = (c if good else c ^ 1).to_bytes(2, "big")
    return bytes(h)


def test_verify_and_update_checksum(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        decls=IPV4,
        hdr_fields="ipv4_t ip;",
        parser="""state start { pkt.extract(hdr.eth); pkt.extract(hdr.ip); transition accept; }""",
        verify=f"verify_checksum(hdr.ip.isValid(), {IPV4_LIST}, hdr.ip.csum, "
        "HashAlgorithm.csum16);",
        ingress="""apply {
            sm.egress_spec = 1;
            if (sm.checksum_error == 1) { hdr.eth.type = 0xbad; }
            hdr.ip.ttl = hdr.ip.ttl - 1;
        }""",
        compute=f"update_checksum(hdr.ip.isValid(), {IPV4_LIST}, hdr.ip.csum, "
        "HashAlgorithm.csum16);",
        deparser="p.emit(hdr.eth); p.emit(hdr.ip);",
    )
    sw = Switch(p)
    eth = ETH[:12] + b"\x08\x00"
    assert sw.process(0, eth + ipv4(64) + b"x") == [(1, eth + ipv4(63) + b"x")]
    out = sw.process(0, eth + ipv4(64, good=False) + b"x")
    assert out == [(1, ETH[:12] + b"\x0b\xad" + ipv4(63) + b"x")]


def test_random_stays_in_bounds_and_log_msg_logs(build, caplog) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""apply {
            sm.egress_spec = 1;
            random(hdr.h.a, 8w10, 8w12);
            log_msg("a={} b={}", { hdr.h.a, hdr.h.b });
            log_msg("plain");
        }""",
    )
    sw = Switch(p)
    with caplog.at_level(logging.INFO, logger="softswitch.p4"):
        values = {fields(sw.process(0, frame(b=7))[0][1])[0] for _ in range(200)}
    assert values == {10, 11, 12}
    assert "plain" in caplog.messages
    assert any(m.startswith("a=1") and m.endswith(" b=7") for m in caplog.messages)


MCAST = """apply {
    if (hdr.h.a != 0) { sm.mcast_grp = (bit<16>) hdr.h.a; }
    else { sm.egress_spec = 1; }
    meta.x = 0x77;
}"""
MCAST_EGRESS = """apply {
    hdr.h.b = (bit<8>) sm.egress_port; hdr.h.c = sm.egress_rid;
    hdr.h.d = sm.instance_type[27:0] ++ meta.x[7:4];
}"""


def test_multicast_replicas_rid_order_and_metadata_copy(build) -> None:  # type: ignore[no-untyped-def]
    p = build(ingress=MCAST, egress=MCAST_EGRESS)
    sw = Switch(p)
    sw.set_multicast_group(5, [Replica(3, 7), Replica(1, 7), Replica(2, 9), Replica(1, 9)])
    out = sw.process(0, frame(5))
    # node rid 7 (ports 1, 3 ascending), then node rid 9 (ports 1, 2)
    assert [(port, fields(f)) for port, f in out] == [
        (1, (5, 1, 7, 0x57)),
        (3, (5, 3, 7, 0x57)),
        (1, (5, 1, 9, 0x57)),
        (2, (5, 2, 9, 0x57)),
    ]
    assert sw.multicast_groups() == {
        5: [Replica(3, 7), Replica(1, 7), Replica(2, 9), Replica(1, 9)]
    }
    assert sw.process(0, frame(6)) == []  # unconfigured group: nothing
    sw.delete_multicast_group(5)
    assert sw.process(0, frame(5)) == []
    assert [(port, fields(f)) for port, f in sw.process(0, frame(0))] == [(1, (0, 1, 0, 0x07))]


CLONE_META = "@field_list(1) bit<8> keep;"


def test_e2e_clone_truncate_and_clone_session_truncation(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        meta_fields=CLONE_META,
        ingress="apply { sm.egress_spec = 1; meta.keep = 0x42; meta.x = 0x11; }",
        egress="""apply {
            if (sm.instance_type == 0) {
                clone_preserving_field_list(CloneType.E2E, 9, 1);
                hdr.h.a = 1;
            } else {
                hdr.h.b = meta.keep; hdr.h.c = (bit<16>) meta.x;
                hdr.h.d = sm.instance_type;
                truncate(20);
            }
        }""",
    )
    sw = Switch(p)
    sw.set_clone_session(9, [Replica(4, 0)])
    out = sw.process(0, frame())
    # the E2E copy has egress's header edits, metadata reset except the field list
    assert out == [(4, (ETH + bytes([1, 0x42, 0, 0, 0, 0, 0, 2]))[:20]), (1, frame(1))]
    sw.set_clone_session(9, [Replica(4, 0)], packet_length_bytes=16)
    assert [len(f) for _, f in sw.process(0, frame())] == [16, len(frame())]
    assert sw.clone_sessions() == {9: [Replica(4, 0)]}
    sw.delete_clone_session(9)
    assert sw.process(0, frame()) == [(1, frame(1))]


def test_recirculation_is_bounded_and_counted(build, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    p = build(
        meta_fields="@field_list(1) bit<8> n;",
        ingress="apply { sm.egress_spec = 1; meta.n = meta.n + 1; hdr.h.a = meta.n; }",
        egress="apply { recirculate_preserving_field_list(1); }",
    )
    sw = Switch(p)
    assert sw.process(0, frame()) == []
    assert sw.stats["passes_dropped"] == 1
    p2 = build(
        meta_fields="@field_list(1) bit<8> n;",
        ingress="apply { sm.egress_spec = 1; meta.n = meta.n + 1; hdr.h.a = meta.n; }",
        egress="apply { if (meta.n < 3) { recirculate_preserving_field_list(1); } }",
    )
    assert Switch(p2).process(0, frame()) == [(1, frame(3))]


def test_resubmit_loop_is_bounded(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        meta_fields="@field_list(1) bit<8> n;",
        ingress="apply { meta.n = meta.n + 1; resubmit_preserving_field_list(1); }",
    )
    sw = Switch(p)
    assert sw.process(0, frame()) == []
    assert sw.stats["passes_dropped"] == 1


def test_lpm_routing_program_with_many_prefixes(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        action route(bit<9> port) { sm.egress_spec = port; }
        action drop() { mark_to_drop(sm); }
        table lpm { key = { hdr.h.d: lpm; } actions = { route; drop; } default_action = drop(); }
        apply { lpm.apply(); }""",
    )
    sw = Switch(p)
    for i in range(256):
        sw.insert_entry(TableEntry("I.lpm", {"hdr.h.d": Lpm(0x0A000000 | i << 8, 24)}, "I.route",
                                   {"port": i % 7 + 1}))  # fmt: skip
    sw.insert_entry(TableEntry("I.lpm", {"hdr.h.d": Lpm(0x0A000000, 8)}, "I.route", {"port": 9}))
    sw.insert_entry(TableEntry("I.lpm", {"hdr.h.d": Lpm(0x0A000500, 28)}, "I.route", {"port": 8}))
    assert sw.process(0, frame(d=0x0A000305))[0][0] == 3 % 7 + 1
    assert sw.process(0, frame(d=0x0A000505))[0][0] == 8
    assert sw.process(0, frame(d=0x0A000515))[0][0] == 5 % 7 + 1
    assert sw.process(0, frame(d=0x0A010000))[0][0] == 9
    assert sw.process(0, frame(d=0x0B000000)) == []
    sw.set_default_action("I.lpm", "I.route", {"port": 6})
    assert sw.process(0, frame(d=0x0B000000))[0][0] == 6
    assert sw.default_action("I.lpm") == ("I.route", {"port": 6})
    sw.reset_default_action("I.lpm")
    assert sw.default_action("I.lpm") == ("I.drop", {})


@pytest.mark.parametrize("limit", [2])
def test_copy_bound_stops_clone_storms(build, monkeypatch, limit: int) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(switch_mod, "MAX_COPIES", limit)
    p = build(ingress=MCAST, egress=MCAST_EGRESS)
    sw = Switch(p)
    sw.set_multicast_group(1, [Replica(port, 0) for port in range(1, 5)])
    assert [port for port, _ in sw.process(0, frame(1))] == [1, 2]
    assert sw.stats["copies_dropped"] == 2
