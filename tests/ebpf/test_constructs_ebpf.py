"""P4 constructs one by one on the eBPF backend against the Python backend: small programs
(from tests/softswitch_core's template) that push random header values through signed and
saturating arithmetic, shifts by run-time amounts, slices and concatenation, casts, values
wider than 64 bits, tables with every match kind and priorities (wide keys too), header
stacks with push and pop, hashes and checksums, registers, counters, lookahead, truncation,
E2E clones and recirculation. Each program gets random frames; every frame out of every port
and every counter and register cell must be the Python backend's."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from softswitch.core.program import Program
from softswitch.core.switch import Switch
from softswitch.entries import Exact, Lpm, Optional, Range, Replica, TableEntry, Ternary
from tests.ebpf.rig import Rig
from tests.ebpf.test_differential import compare, python_outputs
from tests.softswitch_core.conftest import p4_text

pytestmark = [pytest.mark.ebpf, pytest.mark.slow]
PORTS = [0, 1, 2, 3]

WIDE_DECLS = "header w_t { bit<128> v; bit<72> u; bit<56> r; bit<8> k; }"
WIDE_PARSER = """
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) { 0x88b5: parse_h; default: accept; }
    }
    state parse_h { pkt.extract(hdr.h); pkt.extract(hdr.w); transition accept; }
"""
STACK_DECLS = "header l_t { bit<20> label; bit<3> tc; bit<1> bos; bit<8> ttl; }"
STACK_PARSER = """
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) { 0x8847: parse_l; 0x88b5: parse_h; default: accept; }
    }
    state parse_l {
        pkt.extract(hdr.l.next);
        transition select(hdr.l.last.bos) { 1: parse_h; default: parse_l; }
    }
    state parse_h {
        bit<8> peek = pkt.lookahead<bit<8>>();
        meta.x = peek;
        pkt.extract(hdr.h);
        transition accept;
    }
"""

PROGRAMS = {
    "arithmetic": dict(
        meta_fields="int<8> s8; int<16> s16; bit<24> w24; int<32> s32;",
        ingress="""
    apply {
        if (!hdr.h.isValid()) { sm.egress_spec = 2; return; }
        meta.s8 = (int<8>) hdr.h.a;
        meta.s16 = (int<16>) meta.s8;
        meta.s32 = (int<32>) hdr.h.d;
        hdr.h.c = (bit<16>) (meta.s16 >> 3) ^ (bit<16>) (meta.s16 << 2);
        hdr.h.b = (bit<8>) (meta.s8 |+| (int<8>) hdr.h.b);
        meta.y = hdr.h.b |-| hdr.h.a;
        hdr.h.a = hdr.h.a << hdr.h.b[3:0];
        meta.w24 = hdr.h.a ++ hdr.h.c;
        hdr.h.d = (bit<32>) meta.w24 + hdr.h.d * 3 - (bit<32>) (meta.s32 >> 5);
        hdr.h.b = (hdr.h.d > 1000) ? meta.y - 1 : meta.y + hdr.h.b % 7;
        hdr.h.d[15:8] = -hdr.h.a;
        meta.s32 = meta.s32 |-| -32s7;
        if (meta.s32 < 0 && hdr.h.c != 0) { hdr.h.c = hdr.h.c / (hdr.h.c[7:0] ++ 8w0); }
        meta.z = (bit<16>) (meta.s32 * -32s3)[31:16];
        hdr.h.c = hdr.h.c & ~meta.z | (bit<16>) ((bit<1>) meta.flag);
        sm.egress_spec = (bit<9>) hdr.h.a[1:0];
    }""",
    ),
    "wide": dict(
        decls=WIDE_DECLS,
        hdr_fields="w_t w;",
        meta_fields="bit<128> m; bit<256> big;",
        parser=WIDE_PARSER,
        ingress="""
    apply {
        if (!hdr.w.isValid()) { sm.egress_spec = 2; return; }
        meta.m = hdr.w.v ^ (hdr.w.v << 7) | (bit<128>) hdr.h.d;
        hdr.w.u = hdr.w.u + 72w1;
        hdr.w.r = hdr.w.u[71:16];
        if (meta.m[127:64] == meta.m[63:0] || hdr.w.v > meta.m) { hdr.h.a = 1; }
        hdr.h.d = meta.m[95:64];
        meta.big = meta.m ++ hdr.w.v;
        hdr.w.v = meta.big[191:64] - (~hdr.w.v >> 3);
        hdr.w.k = (bit<8>) (hdr.w.u & 72w0xff);
        if ((hdr.w.v & 128w0xffff0000) != 0) { sm.egress_spec = 1; } else { sm.egress_spec = 3; }
    }""",
        deparser="p.emit(hdr.eth); p.emit(hdr.h); p.emit(hdr.w);",
    ),
    "tables": dict(
        decls=WIDE_DECLS,
        hdr_fields="w_t w;",
        parser=WIDE_PARSER,
        ingress="""
    direct_counter(CounterType.packets_and_bytes) hits;
    action set(bit<9> port, bit<8> a) { sm.egress_spec = port; hdr.h.a = a; }
    action wide(bit<128> v) { hdr.w.v = v; sm.egress_spec = 1; }
    action drop() { mark_to_drop(sm); }
    table t_exact { key = { hdr.w.v: exact; hdr.h.b: exact; } actions = { set; wide; drop; }
                    default_action = drop(); counters = hits; }
    table t_lpm { key = { hdr.w.v: lpm; } actions = { set; wide; NoAction; } }
    table t_tern { key = { hdr.h.c: ternary; hdr.h.a: range; hdr.w.k: optional; }
                   actions = { set; NoAction; } }
    apply {
        if (!hdr.w.isValid()) { sm.egress_spec = 2; return; }
        switch (t_tern.apply().action_run) {
            set: { return; }
        }
        if (!t_exact.apply().hit) {
            if (t_lpm.apply().miss) { hdr.h.b = 0xee; sm.egress_spec = 3; }
        }
    }""",
        deparser="p.emit(hdr.eth); p.emit(hdr.h); p.emit(hdr.w);",
    ),
    "stacks_hashes": dict(
        decls=STACK_DECLS,
        hdr_fields="l_t[3] l;",
        parser=STACK_PARSER,
        ingress="""
    register<bit<32>>(16) seen;
    register<bit<72>>(4) wide_reg;
    counter(16, CounterType.packets_and_bytes) cnt;
    apply {
        if (!hdr.h.isValid()) { sm.egress_spec = 2; return; }
        hash(hdr.h.c, HashAlgorithm.crc16, 16w7, { hdr.eth.src, hdr.h.a, hdr.h.d }, 32w60000);
        hash(hdr.h.d, HashAlgorithm.crc32, 32w0, { hdr.eth.dst, hdr.h.b }, 64w4294967296);
        hash(meta.z, HashAlgorithm.identity, 16w0, { hdr.h.a, hdr.h.d, 4w3 }, 32w977);
        hash(meta.y, HashAlgorithm.xor16, 8w1, { hdr.h.c, hdr.eth.type }, 16w200);
        hash(meta.x, HashAlgorithm.csum16, 8w0, { hdr.h.b, hdr.h.d }, 16w256);
        bit<32> r;
        seen.read(r, (bit<32>) hdr.h.a[3:0]);
        seen.write((bit<32>) hdr.h.a[3:0], r + (bit<32>) meta.x + 1);
        bit<72> wr;
        wide_reg.read(wr, (bit<32>) hdr.h.b[1:0]);
        wide_reg.write((bit<32>) hdr.h.b[1:0], wr + (bit<72>) hdr.h.d);
        cnt.count((bit<32>) hdr.h.b[4:0]);
        if (hdr.l[0].isValid()) {
            if (hdr.h.a[0:0] == 1) { hdr.l.push_front(1); hdr.l[0].setValid();
                                     hdr.l[0].label = (bit<20>) meta.z; hdr.l[0].ttl = meta.y; }
            else { hdr.l.pop_front(1); }
            if (!hdr.l[0].isValid()) { hdr.eth.type = 0x88b5; }
        }
        hdr.h.b = meta.x ^ meta.y;
        sm.egress_spec = (bit<9>) hdr.h.c[1:0];
        if (hdr.h.a[7:6] == 3) { truncate(30); }
    }""",
        deparser="p.emit(hdr.eth); p.emit(hdr.l); p.emit(hdr.h);",
    ),
    "clones_recirculation": dict(
        meta_fields="@field_list(1) bit<8> pass_;",
        ingress="""
    apply {
        if (!hdr.h.isValid()) { sm.egress_spec = 2; return; }
        sm.egress_spec = (bit<9>) hdr.h.a[1:0];
        hdr.h.c = hdr.h.c + (bit<16>) meta.pass_;
    }""",
        egress="""
    apply {
        if (!hdr.h.isValid()) { return; }
        hdr.h.b = (bit<8>) sm.instance_type;
        if (sm.instance_type == 0 && hdr.h.a[2:2] == 1) {
            clone_preserving_field_list(CloneType.E2E, 5, 1);
        }
        if (sm.instance_type == 0 && hdr.h.a[3:3] == 1 && meta.pass_ == 0) {
            meta.pass_ = 1;
            recirculate_preserving_field_list(1);
        }
    }""",
    ),
}


def frames(rng: random.Random, name: str, n: int) -> list[tuple[int, bytes]]:
    out = []
    for _ in range(n):
        eth = bytes.fromhex("020000000101") + rng.randbytes(6)
        kind = rng.random()
        if name == "stacks_hashes" and kind < 0.5:
            labels = b""
            depth = rng.randint(1, 4)
            for i in range(depth):
                word = rng.getrandbits(32) & ~(1 << 8)
                if i == depth - 1 and rng.random() < 0.9:
                    word |= 1 << 8
                labels += word.to_bytes(4, "big")
            f = eth + b"\x88\x47" + labels + rng.randbytes(rng.randint(0, 12))
        elif kind < 0.9:
            body = rng.randbytes(8 + (44 if name in ("wide", "tables") else 0))
            if name == "tables" and rng.random() < 0.5:
                body = body[:8] + TABLE_VALUES[rng.randrange(len(TABLE_VALUES))] + body[24:]
            f = eth + b"\x88\xb5" + body + rng.randbytes(rng.randint(0, 20))
        else:
            f = eth + rng.randbytes(2) + rng.randbytes(rng.randint(0, 40))
        out.append((rng.choice(PORTS), f))
    return out


TABLE_VALUES = [(0x0102030405060708090A0B0C0D0E0F10 + i * 0x1111).to_bytes(16, "big")
                for i in range(4)]  # fmt: skip


def table_entries(rng: random.Random) -> list[TableEntry]:
    out = []
    for i, raw in enumerate(TABLE_VALUES[:3]):
        v = int.from_bytes(raw, "big")
        out.append(TableEntry("I.t_exact", {"hdr.w.v": Exact(v), "hdr.h.b": Exact(i * 3)},
                              "I.set", {"port": i % 4, "a": 0x40 + i}))  # fmt: skip
    for plen in (8, 64, 100, 128):
        v = int.from_bytes(TABLE_VALUES[rng.randrange(4)], "big")
        v &= ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
        out.append(TableEntry("I.t_lpm", {"hdr.w.v": Lpm(v, plen)}, "I.wide",
                              {"v": rng.getrandbits(128)}))  # fmt: skip
    for prio in range(1, 6):
        m: dict = {"hdr.h.c": Ternary(rng.getrandbits(16) & 0xF00F, 0xF00F)}
        if rng.random() < 0.7:
            lo = rng.randrange(256)
            m["hdr.h.a"] = Range(lo, rng.randint(lo, 255))
        if rng.random() < 0.5:
            m["hdr.w.k"] = Optional(rng.randrange(256))
        out.append(TableEntry("I.t_tern", m, "I.set", {"port": prio % 4, "a": prio}, prio))
    return out


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_construct_programs_equal_the_python_backend(name: str, tmp_path: Path) -> None:
    (tmp_path / "prog.p4").write_text(p4_text(**PROGRAMS[name]))
    prog = Program.from_file(tmp_path / "prog.p4")
    rng = random.Random(name)
    with Rig(PORTS) as rig:
        py = Switch(prog)
        eb = rig.load(prog)
        if name == "tables":
            for e in table_entries(rng):
                py.insert_entry(e)
                eb.insert_entry(e)
        if name == "clones_recirculation":
            for sw in (py, eb):
                sw.set_clone_session(5, [Replica(3, 0)], packet_length_bytes=40)
        fs = frames(rng, name, 400)
        want = python_outputs(py, fs)
        assert sum(map(len, want.values())) > 200  # most frames leave somewhere
        compare(rig.run_many(fs), want, PORTS)
        if name == "tables":
            for e in (x for x in table_entries(random.Random(name)) if x.table == "I.t_exact"):
                assert eb.direct_counter(e) == py.direct_counter(e)
        if name == "stacks_hashes":
            for reg, n in (("I.seen", 16), ("I.wide_reg", 4)):
                assert [eb.register(reg, i) for i in range(n)] == [
                    py.register(reg, i) for i in range(n)
                ]
            assert [eb.counter("I.cnt", i) for i in range(16)] == [
                py.counter("I.cnt", i) for i in range(16)
            ]
        assert eb.stats() == {k: 0 for k in eb.stats()}
