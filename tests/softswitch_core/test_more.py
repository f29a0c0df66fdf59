"""More constructs: advance, struct expressions, enums, stack properties, signed header
fields, const entries, optional/ternary/range lookups, local headers, reject."""

from __future__ import annotations

import pytest

from softswitch.api import Exact, Optional, Range, Switch, SwitchError, TableEntry, Ternary

ETH = bytes.fromhex("02000000000102000000000288b5")


def frame(a: int = 0, b: int = 0, c: int = 0, d: int = 0, payload: bytes = b"PAY") -> bytes:
    return ETH + bytes([a, b]) + c.to_bytes(2, "big") + d.to_bytes(4, "big") + payload


def fields(f: bytes) -> tuple[int, int, int, int]:
    return f[14], f[15], int.from_bytes(f[16:18], "big"), int.from_bytes(f[18:22], "big")


def test_advance_skips_bits(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        parser="state start { pkt.extract(hdr.eth); pkt.advance(16); pkt.extract(hdr.h);"
        " transition accept; }",
        ingress="apply { sm.egress_spec = 1; }",
    )
    f = ETH + b"\xaa\xbb" + bytes(range(1, 9)) + b"Z"
    # the two skipped bytes are gone: BMv2 does not emit what the parser advanced over
    assert Switch(p).process(0, f) == [(1, ETH + bytes(range(1, 9)) + b"Z")]
    assert Switch(p).process(0, ETH + b"\xaa") == [(1, ETH + b"\xaa")]  # advance past the end


def test_struct_expressions_serializable_enums_and_stack_properties(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        decls="enum bit<8> Kind { A = 7, B = 9 } struct pair_t { bit<8> x; bit<16> y; }",
        hdr_fields="h_t[3] st;",
        ingress="""apply {
            sm.egress_spec = 1;
            pair_t q = { x = 3, y = 0x1234 };
            pair_t r = q;
            r.x = 4;
            Kind k = (Kind) hdr.h.a;
            hdr.h.b = (bit<8>) k + q.x + r.x;
            hdr.h.c = r.y;
            hdr.h.d = (bit<8>) hdr.st.size ++ hdr.st.nextIndex[7:0] ++ 16w0;
            switch (k) { Kind.B: { hdr.h.a = 0x99; } default: { } }
        }""",
    )
    assert fields(Switch(p).process(0, frame(9))[0][1]) == (0x99, 16, 0x1234, 0x00000003 << 24)


def test_signed_header_fields_round_trip(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        decls="header s_t { int<8> v; int<4> hi; bit<4> lo; }",
        hdr_fields="s_t s;",
        parser="state start { pkt.extract(hdr.eth); pkt.extract(hdr.s); transition accept; }",
        ingress="apply { sm.egress_spec = 1; hdr.s.v = hdr.s.v - 1; hdr.s.hi = hdr.s.hi >> 1;"
        " if (hdr.s.v < 0) { hdr.s.lo = 1; } }",
        deparser="p.emit(hdr.eth); p.emit(hdr.s);",
    )
    sw = Switch(p)
    assert sw.process(0, ETH + b"\x80\x80") == [(1, ETH + b"\x7f\xc0")]  # -128-1 wraps to 127
    assert sw.process(0, ETH + b"\x00\x70") == [(1, ETH + b"\xff\x31")]  # -1 < 0: lo = 1


def test_local_headers_and_header_parameters(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        action bump(inout h_t x) { x.a = x.a + 1; }
        apply {
            sm.egress_spec = 1;
            h_t tmp;
            tmp = hdr.h;
            bump(tmp);
            hdr.h.b = tmp.a;
            if (!tmp.isValid()) { hdr.h.c = 1; }
            h_t none;
            if (!none.isValid()) { hdr.h.d = 2; }
        }""",
    )
    assert fields(Switch(p).process(0, frame(5))[0][1]) == (5, 6, 0, 2)


def test_reject_state_keeps_the_frame(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        parser="state start { pkt.extract(hdr.eth); transition select(hdr.eth.type) {"
        " 0x88b5: reject; default: accept; } }",
        ingress="apply { sm.egress_spec = 1; if (sm.parser_error == error.NoError) {"
        " hdr.eth.dst = 1; } }",
    )
    sw = Switch(p)
    assert sw.process(0, frame()) == [(1, bytes.fromhex("000000000001") + frame()[6:])]


CONST_TABLES = """
    action set(bit<8> v) { hdr.h.b = v; }
    table t { key = { hdr.h.a: ternary; hdr.h.c: range; } actions = { set; }
        const entries = {
            priority = 10: (0x10 &&& 0xf0, 0 .. 100): set(1);
            priority = 20: (0x11, _): set(2);
            priority = 5: (_, 50 .. 60): set(3);
        }
        default_action = set(9); }
    apply { sm.egress_spec = 1; t.apply(); }
"""


def test_const_entries_with_priorities(build) -> None:  # type: ignore[no-untyped-def]
    sw = Switch(build(ingress=CONST_TABLES))
    got = {
        (a, c): fields(sw.process(0, frame(a, 0, c))[0][1])[1]
        for a, c in ((0x12, 7), (0x11, 7), (0x11, 500), (0x05, 55), (0x05, 61))
    }
    assert got == {(0x12, 7): 1, (0x11, 7): 2, (0x11, 500): 2, (0x05, 55): 3, (0x05, 61): 9}
    assert len(sw.entries("I.t")) == 3


def test_ternary_range_optional_lookup_and_modify_keeps_counter(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        direct_counter(CounterType.packets_and_bytes) dc;
        action set(bit<8> v) { hdr.h.b = v; }
        table t { key = { hdr.h.a: ternary; hdr.h.c: range; hdr.h.d: optional; }
                  actions = { set; } counters = dc; }
        apply { sm.egress_spec = 1; t.apply(); }""",
    )
    sw = Switch(p)
    e1 = TableEntry("I.t", {"hdr.h.a": Ternary(0x10, 0xF0)}, "I.set", {"v": 1}, 10)
    e2 = TableEntry("I.t", {"hdr.h.c": Range(5, 9), "hdr.h.d": Optional(7)}, "I.set", {"v": 2}, 20)
    sw.insert_entry(e1)
    sw.insert_entry(e2)

    def b(a: int, c: int, d: int) -> int:
        return fields(sw.process(0, frame(a, 0, c, d))[0][1])[1]

    assert [b(0x1F, 0, 0), b(0x1F, 5, 7), b(0x00, 9, 7), b(0x00, 9, 8), b(0x00, 10, 7)] == [
        1,
        2,
        2,
        0,
        0,
    ]
    assert sw.direct_counter(e1) == (1, 25)
    sw.modify_entry(TableEntry("I.t", {"hdr.h.a": Ternary(0x10, 0xF0)}, "I.set", {"v": 5}, 10))
    assert b(0x1F, 0, 0) == 5
    assert sw.direct_counter(e1) == (2, 50)


def test_process_rejects_bad_ports(build) -> None:  # type: ignore[no-untyped-def]
    sw = Switch(build())
    with pytest.raises(SwitchError) as ei:
        sw.process(512, frame())
    assert ei.value.code == "OUT_OF_RANGE"


def test_exact_lookup_with_two_keys(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        action set(bit<8> v) { hdr.h.b = v; }
        table t { key = { hdr.h.a: exact; hdr.h.c: exact; } actions = { set; NoAction; } }
        apply { sm.egress_spec = 1; t.apply(); }""",
    )
    sw = Switch(p)
    sw.insert_entry(
        TableEntry("I.t", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(2)}, "I.set", {"v": 7})
    )
    assert fields(sw.process(0, frame(1, 0, 2))[0][1])[1] == 7
    assert fields(sw.process(0, frame(1, 0, 3))[0][1])[1] == 0


def test_shift_by_a_packet_value_is_bounded(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="apply { sm.egress_spec = 1; hdr.h.a = hdr.h.a << hdr.h.d;"
        " hdr.h.c = hdr.h.c << hdr.h.b; hdr.h.b = 8w1 << 9; }"
    )
    sw = Switch(p)
    # a shift by 2**31 must not build a 2**31-bit int: the result is simply 0
    assert fields(sw.process(0, frame(0xFF, 3, 0x0101, 0x80000000))[0][1]) == (
        0,
        0,
        0x0808,
        1 << 31,
    )
    assert fields(sw.process(0, frame(0x81, 20, 0xFFFF, 1))[0][1]) == (0x02, 0, 0, 1)


def test_const_entries_without_priorities_match_in_program_order(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        action set(bit<8> v) { hdr.h.b = v; }
        table t { key = { hdr.h.a: ternary; } actions = { set; }
            const entries = { 0x10 &&& 0xf0: set(1); 0x11: set(2); _: set(3); } }
        apply { sm.egress_spec = 1; t.apply(); }""",
    )
    sw = Switch(p)
    # p4c gives the first entry the highest priority (3, 2, 1): the first match wins
    assert [fields(sw.process(0, frame(a))[0][1])[1] for a in (0x11, 0x21, 0x1F)] == [1, 3, 1]
    assert sorted(e.priority for e in sw.entries("I.t")) == [1, 2, 3]


def test_mutated_frames_never_hit_an_internal_error() -> None:
    import random
    from pathlib import Path

    from softswitch.api import Program
    from testsupport.corpus import apply_setup, load_corpus

    rng = random.Random(5)
    for cp in load_corpus(Path(__file__).resolve().parents[1] / "fixtures" / "p4-reference"):
        sw = Switch(Program.from_file(cp.p4), cpu_port=cp.cpu_port)
        apply_setup(sw, cp.setup)
        for _ in range(400):
            f = bytearray(rng.choice(cp.cases).in_frame)
            for _ in range(rng.randint(0, 4)):
                if f and rng.random() < 0.7:
                    f[rng.randrange(len(f))] = rng.randrange(256)
                else:
                    f = f[: rng.randrange(len(f) + 1)]
            sw.process(rng.choice(cp.ports), bytes(f))
        assert sw.stats["errors"] == 0, cp.name


def test_lookahead_of_a_header(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        hdr_fields="h_t peek;",
        parser="state start { pkt.extract(hdr.eth); hdr.peek = pkt.lookahead<h_t>();"
        " pkt.extract(hdr.h); transition accept; }",
        ingress="apply { sm.egress_spec = 1; hdr.h.b = hdr.peek.a; }",
        deparser="p.emit(hdr.eth); p.emit(hdr.peek); p.emit(hdr.h);",
    )
    out = Switch(p).process(0, frame(7, 1, 2, 3))
    # the peeked copy is valid and emitted, the real extract still sees the same bytes
    assert out == [(1, frame(7, 1, 2, 3, b"") + frame(7, 7, 2, 3)[14:])]


def test_bool_and_serializable_enum_header_fields(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        decls="enum bit<7> Kind { A = 1, B = 2 } header f_t { bool up; Kind k; bit<8> v; }",
        hdr_fields="f_t f;",
        parser="state start { pkt.extract(hdr.eth); pkt.extract(hdr.f); transition accept; }",
        ingress="""apply {
            sm.egress_spec = 1;
            if (hdr.f.up && hdr.f.k == Kind.B) { hdr.f.v = 0xbb; }
            hdr.f.up = !hdr.f.up;
            hdr.f.k = Kind.A;
        }""",
        deparser="p.emit(hdr.eth); p.emit(hdr.f);",
    )
    sw = Switch(p)
    assert sw.process(0, ETH + b"\x82\x00Z") == [(1, ETH + b"\x01\xbbZ")]  # up, B -> v = 0xbb
    assert sw.process(0, ETH + b"\x02\x05Z") == [(1, ETH + b"\x81\x05Z")]  # not up


def test_plain_entries_are_initial_and_modifiable(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        action set(bit<8> v) { hdr.h.b = v; }
        table t { key = { hdr.h.a: exact; } actions = { set; } entries = { 1: set(5); } }
        apply { sm.egress_spec = 1; t.apply(); }""",
    )
    info = next(t for t in p.p4info.tables if t.preamble.name == "I.t")
    assert info.has_initial_entries and not info.is_const_table
    sw = Switch(p)
    assert fields(sw.process(0, frame(1))[0][1])[1] == 5
    sw.modify_entry(TableEntry("I.t", {"hdr.h.a": Exact(1)}, "I.set", {"v": 6}))
    sw.insert_entry(TableEntry("I.t", {"hdr.h.a": Exact(2)}, "I.set", {"v": 7}))
    assert [fields(sw.process(0, frame(a))[0][1])[1] for a in (1, 2)] == [6, 7]


@pytest.mark.parametrize("rows", [20, 300])  # unrolled into code, and the generic scan
def test_scan_lookup_picks_the_highest_priority_match(build, rows: int) -> None:  # type: ignore[no-untyped-def]
    import random

    from softswitch.core import lookup_gen

    assert (rows > lookup_gen.MAX_UNROLLED_ROWS) == (rows == 300)
    p = build(
        ingress="""
        action set(bit<8> v) { hdr.h.b = v; }
        table t { key = { hdr.h.a: ternary; hdr.h.c: range; hdr.h.d: exact; }
                  actions = { set; } size = 512; }
        apply { sm.egress_spec = 1; t.apply(); }""",
    )
    sw = Switch(p)
    rng = random.Random(rows)
    entries = []
    for prio in rng.sample(range(1, 10_000), rows):
        value, mask = rng.randrange(256), rng.choice([0xFF, 0xF0, 0x0F, 0x00])
        lo = rng.randrange(64)
        hi = lo + rng.randrange(64)
        d = rng.randrange(3)
        v = rng.randrange(1, 256)
        match = {"hdr.h.c": Range(lo, hi), "hdr.h.d": Exact(d)}
        if mask:
            match["hdr.h.a"] = Ternary(value & mask, mask)
        sw.insert_entry(TableEntry("I.t", match, "I.set", {"v": v}, prio))
        entries.append((prio, value & mask, mask, lo, hi, d, v))
    entries.sort(reverse=True)
    for _ in range(400):
        a, c, d = rng.randrange(256), rng.randrange(130), rng.randrange(3)
        hits = ((v, dd) for _, val, m, lo, hi, dd, v in entries if a & m == val and lo <= c <= hi)
        want = next((v for v, dd in hits if dd == d), 0)
        assert fields(sw.process(0, frame(a, 0, c, d))[0][1])[1] == want, (a, c, d)


def test_lookup_function_held_across_a_write_sees_the_new_entries(build) -> None:  # type: ignore[no-untyped-def]
    from softswitch.core.tables import Table

    p = build(
        ingress="""
        action set(bit<8> v) { hdr.h.b = v; }
        table t { key = { hdr.h.a: exact; } actions = { set; NoAction; } }
        apply { sm.egress_spec = 1; t.apply(); }""",
    )
    sw = Switch(p)
    table: Table = sw.tables["I.t"]
    sw.insert_entry(TableEntry("I.t", {"hdr.h.a": Exact(1)}, "I.set", {"v": 7}))
    held = table.lookup  # built on its first call, after the write
    assert held(None, 1)[1] == (7,)
    sw.insert_entry(TableEntry("I.t", {"hdr.h.a": Exact(2)}, "I.set", {"v": 9}))
    stale = table.lookup
    assert stale(None, 2)[1] == (9,)
    assert stale(None, 2)[1] == (9,) and table.lookup is not stale  # built once, then reused
    assert fields(sw.process(0, frame(2))[0][1])[1] == 9
