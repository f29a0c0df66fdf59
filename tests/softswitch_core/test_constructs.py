"""One small program per P4_16 construct, run in-process on byte frames: exact output frames."""

from __future__ import annotations

from softswitch.api import Exact, Switch, TableEntry

ETH = bytes.fromhex("02000000000102000000000288b5")


def frame(a: int = 0, b: int = 0, c: int = 0, d: int = 0, payload: bytes = b"PAY") -> bytes:
    return ETH + bytes([a, b]) + c.to_bytes(2, "big") + d.to_bytes(4, "big") + payload


def fields(f: bytes) -> tuple[int, int, int, int]:
    return f[14], f[15], int.from_bytes(f[16:18], "big"), int.from_bytes(f[18:22], "big")


def run(prog, f: bytes, port: int = 0) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    return Switch(prog).process(port, f)


def one(prog, f: bytes, port: int = 0) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    out = run(prog, f, port)
    assert len(out) == 1 and out[0][0] == 1, out
    assert out[0][1][22:] == f[22:], "payload must follow the headers unchanged"
    return fields(out[0][1])


FWD = "sm.egress_spec = 1;"


def test_bit_arithmetic_wraps_at_the_width(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="apply { " + FWD + " hdr.h.a = hdr.h.a + 200; hdr.h.b = hdr.h.b - 1;"
        " hdr.h.c = hdr.h.c * 3; hdr.h.d = ~hdr.h.d; }"
    )
    assert one(p, frame(100, 0, 0x6000, 0x0F0F0F0F)) == (44, 255, 0x2000, 0xF0F0F0F0)


def test_signed_int8_arith_shift_negation_and_sign_extension(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="apply { "
        + FWD
        + """
        int<8> s = (int<8>) hdr.h.a;
        hdr.h.b = (bit<8>) (s >> 2);
        hdr.h.c = (bit<16>) ((int<16>) s);
        int<8> n = -s;
        hdr.h.d = ((bit<8>) n) ++ 8w0 ++ (bit<8>) (s + 8s100) ++ ((s < 0) ? 8w1 : 8w0);
    }"""
    )
    # a = 0x80 = -128: >>2 = -32 (0xe0); sext 0xff80; -(-128) = -128; -128 + 100 = -28 (0xe4)
    assert one(p, frame(0x80)) == (0x80, 0xE0, 0xFF80, 0x8000E401)
    # a = 0x05: 5 >> 2 = 1; -5 = 0xfb; 105 = 0x69
    assert one(p, frame(0x05)) == (0x05, 0x01, 0x0005, 0xFB006900)


def test_slices_concat_and_slice_assignment(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="apply { "
        + FWD
        + """
        hdr.h.a = hdr.h.d[31:24];
        hdr.h.c = hdr.h.d[3:0] ++ hdr.h.b[7:4] ++ 8w0xaa;
        hdr.h.d[15:8] = 8w0x5a;
        hdr.h.b[0:0] = 1w1;
    }"""
    )
    assert one(p, frame(0, 0x30, 0, 0x12345678)) == (0x12, 0x31, 0x83AA, 0x12345A78)


def test_shifts_comparisons_saturation_and_conditional(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="apply { "
        + FWD
        + """
        hdr.h.a = hdr.h.a |+| 8w200;
        hdr.h.b = hdr.h.b |-| 8w10;
        hdr.h.c = (hdr.h.c << 4) | (hdr.h.c >> 12);
        hdr.h.d = (hdr.h.d << 40 == 0 && hdr.h.d >= 7 || false) ? 32w1 : 32w2;
    }"""
    )
    assert one(p, frame(100, 5, 0xABCD, 7)) == (255, 0, 0xBCDA, 1)
    assert one(p, frame(10, 50, 0x0001, 6)) == (210, 40, 0x0010, 2)


def test_const_typedef_enum_error_and_casts(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        decls="""typedef bit<8> u8_t; const u8_t K = 8w7;
        enum Color { RED, GREEN } enum bit<16> Op { ADD = 0x10, SUB = 0x20 }
        error { MyError }""",
        meta_fields="Color col;",
        ingress="apply { "
        + FWD
        + """
        meta.col = Color.GREEN;
        Op o = Op.SUB;
        hdr.h.a = K + 1;
        hdr.h.c = (bit<16>) o;
        error e = error.MyError;
        if (e != error.NoError && meta.col == Color.GREEN) { hdr.h.b = (bit<8>) (bit<1>) true; }
        bool f = (bool) 1w1;
        if (f) { hdr.h.d = 32w0xffffffff + 2; }
    }""",
    )
    assert one(p, frame()) == (8, 1, 0x20, 1)


def test_header_validity_list_and_struct_assignment(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        hdr_fields="h_t h2;",
        ingress="apply { "
        + FWD
        + """
        hdr.h2 = hdr.h;
        hdr.h2.a = 0x42;
        hdr.h = { 1, 2, 3, 4 };
        if (hdr.h2.isValid()) { hdr.h2.setInvalid(); hdr.h.b = 0x22; }
    }""",
        deparser="p.emit(hdr);",
    )
    out = run(p, frame(9, 9, 9, 9))
    assert out == [(1, ETH + bytes.fromhex("0122000300000004") + b"PAY")]
    p2 = build(
        hdr_fields="h_t h2;",
        ingress="apply { " + FWD + " hdr.h2.setValid(); hdr.h2.a = 7; hdr.h.setInvalid(); }",
        deparser="p.emit(hdr);",
    )
    assert run(p2, frame(1, 2, 3, 4)) == [(1, ETH + bytes([7]) + bytes(7) + b"PAY")]


def test_actions_with_directional_and_data_parameters(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        bit<8> cl = 3;
        action add(inout bit<8> v, in bit<8> by, out bit<16> old) { old = (bit<16>) v; v = v + by; }
        action setb(bit<8> b) { hdr.h.b = b; cl = cl + b; }
        table t { key = { hdr.h.a: exact; } actions = { setb; } }
        apply {
            """
        + FWD
        + """
            bit<16> o;
            add(hdr.h.a, cl, o);
            hdr.h.c = o;
            t.apply();
            hdr.h.d = (bit<32>) cl;
        }""",
    )
    sw = Switch(p)
    sw.insert_entry(TableEntry("I.t", {"hdr.h.a": Exact(13)}, "I.setb", {"b": 4}))
    out = sw.process(0, frame(10))
    assert [(port, fields(f)) for port, f in out] == [(1, (13, 4, 10, 7))]


def test_if_else_switch_hit_miss_exit_and_return(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        action a1() { hdr.h.b = 1; }
        action a2() { hdr.h.b = 2; }
        action stop() { hdr.h.b = 3; exit; }
        table t { key = { hdr.h.a: exact; } actions = { a1; a2; stop; NoAction; }
                  default_action = NoAction(); }
        table t2 { key = { hdr.h.a: exact; } actions = { a1; NoAction; } }
        apply {
            """
        + FWD
        + """
            switch (t.apply().action_run) {
                a1:
                a2: { hdr.h.c = 0x12; }
                default: { hdr.h.c = 0xdd; }
            }
            if (t2.apply().hit) { hdr.h.d = 1; } else if (!t2.apply().miss) { hdr.h.d = 2; }
            else { hdr.h.d = 3; }
            if (hdr.h.a == 4) { return; }
            hdr.h.a = 0xee;
        }""",
    )
    sw = Switch(p)
    for a, act in ((1, "I.a1"), (2, "I.a2"), (3, "I.stop"), (4, "I.a1")):
        sw.insert_entry(TableEntry("I.t", {"hdr.h.a": Exact(a)}, act))
    sw.insert_entry(TableEntry("I.t2", {"hdr.h.a": Exact(2)}, "I.a1"))
    got = {a: fields(sw.process(0, frame(a))[0][1]) for a in (1, 2, 3, 4, 5)}
    assert got == {
        1: (0xEE, 1, 0x12, 3),
        2: (0xEE, 1, 0x12, 1),  # t2 hit runs a1 again
        3: (3, 3, 0, 0),  # exit inside the action ends ingress
        4: (4, 1, 0x12, 3),  # return ends the apply block
        5: (0xEE, 0, 0xDD, 3),
    }


def test_parser_select_masks_ranges_tuples_default_and_locals(build) -> None:  # type: ignore[no-untyped-def]
    parser = """
    bit<8> seen = 0;
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) { 0x88b5: parse_h; default: accept; }
    }
    state parse_h {
        pkt.extract(hdr.h);
        seen = hdr.h.a;
        transition select(hdr.h.a, hdr.h.b) {
            (0x10 &&& 0xf0, 0): s_mask;
            (0x20 .. 0x2f, _): s_range;
            (8w0x30, 1): s_exact;
            default: s_default;
        }
    }
    state s_mask { meta.x = 1; transition done; }
    state s_range { meta.x = 2; transition done; }
    state s_exact { meta.x = 3; transition done; }
    state s_default { meta.x = 4; transition done; }
    state done { meta.y = seen; transition accept; }
    """
    p = build(parser=parser, ingress="apply { " + FWD + " hdr.h.c = meta.x ++ meta.y; }")
    assert one(p, frame(0x1F, 0))[2] == 0x011F
    assert one(p, frame(0x1F, 1))[2] == 0x041F
    assert one(p, frame(0x2A, 9))[2] == 0x022A
    assert one(p, frame(0x30, 1))[2] == 0x0330
    assert one(p, frame(0x30, 2))[2] == 0x0430


def test_lookahead_verify_and_parser_errors(build) -> None:  # type: ignore[no-untyped-def]
    parser = """
    state start {
        pkt.extract(hdr.eth);
        meta.x = (bit<8>) pkt.lookahead<bit<4>>();
        verify(meta.x != 0xf, error.NoMatch);
        pkt.extract(hdr.h);
        transition accept;
    }"""
    p = build(
        parser=parser,
        ingress="apply { "
        + FWD
        + """
        if (sm.parser_error == error.PacketTooShort) { hdr.eth.type = 1; }
        if (sm.parser_error == error.NoMatch) { hdr.eth.type = 2; }
        hdr.eth.dst = (bit<48>) meta.x;
    }""",
    )
    sw = Switch(p)
    # lookahead sees 0x3 (top nibble of h.a)
    assert fields(sw.process(0, frame(0x3A))[0][1])[0] == 0x3A
    assert sw.process(0, frame(0x3A))[0][1][:6] == bytes.fromhex("000000000003")
    # verify fails: h not extracted, its bytes stay as payload, error NoMatch
    f = frame(0xF0)
    assert sw.process(0, f) == [(1, bytes.fromhex("00000000000f") + f[6:12] + b"\0\2" + f[14:])]
    # 2 bytes after Ethernet: h extract fails with PacketTooShort, bytes kept
    short = ETH + b"\x40\x01"
    assert sw.process(0, short) == [(1, bytes.fromhex("000000000004") + ETH[6:12] + b"\0\1\x40\1")]
    # nothing after Ethernet: the lookahead itself fails
    assert sw.process(0, ETH) == [(1, bytes(6) + ETH[6:12] + b"\0\1")]


def test_header_stack_next_last_push_pop(build) -> None:  # type: ignore[no-untyped-def]
    text_parser = """
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) { 0x88b5: more; default: accept; }
    }
    state more {
        pkt.extract(hdr.s.next);
        transition select(hdr.s.last.v) { 0: accept; default: more; }
    }"""
    p = build(
        decls="header v_t { bit<8> v; }",
        hdr_fields="v_t[3] s;",
        parser=text_parser,
        ingress="""apply {
            sm.egress_spec = 1;
            if (hdr.s[0].v == 1) { hdr.s.pop_front(1); }
            if (hdr.s[0].v == 2) { hdr.s.push_front(2); hdr.s[0].setValid(); hdr.s[0].v = 9; }
            hdr.eth.type = (bit<16>) hdr.s.lastIndex;
        }""",
        deparser="p.emit(hdr.eth); p.emit(hdr.s);",
    )
    sw = Switch(p)
    # 5,6,0: three labels, nothing popped or pushed, lastIndex 2
    assert sw.process(0, ETH + bytes([5, 6, 0]) + b"X") == [(1, ETH[:12] + b"\0\2\5\6\0X")]
    # 1,7,0: pop -> [7, 0]; lastIndex 1
    assert sw.process(0, ETH + bytes([1, 7, 0]) + b"X") == [(1, ETH[:12] + b"\0\1\7\0X")]
    # 2,3,0: push 2 -> [9, invalid, 2] (3 and 0 fall off the end); emit skips the invalid one
    assert sw.process(0, ETH + bytes([2, 3, 0]) + b"X") == [(1, ETH[:12] + b"\0\2\x09\2X")]
    # 1,1,1,1: the 4th extract overflows (StackOutOfBounds) and stays payload; pop -> [1, 1]
    out = sw.process(0, ETH + bytes([1, 1, 1, 1]) + b"X")
    assert out == [(1, ETH[:12] + b"\0\1\1\1\1X")]


def test_struct_emit_and_deparser_order(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="apply { " + FWD + " hdr.h.a = 1; }",
        deparser="p.emit(hdr.h); p.emit(hdr.eth);",
    )
    f = frame()
    assert run(p, f) == [(1, bytes([1]) + f[15:22] + f[:14] + b"PAY")]


def test_egress_spec_defaults_to_port_0_and_drop_port(build) -> None:  # type: ignore[no-untyped-def]
    p = build(ingress="apply { if (hdr.h.a == 1) { mark_to_drop(sm); } }")
    assert run(p, frame(0), port=3) == [(0, frame(0))]
    assert run(p, frame(1), port=3) == []
    p2 = build(ingress="apply { sm.egress_spec = 511; }")
    assert run(p2, frame(0)) == []


def test_standard_metadata_as_bmv2_fills_it(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="apply { sm.egress_spec = 2; hdr.h.a = (bit<8>) sm.ingress_port;"
        " hdr.h.d = sm.packet_length; }",
        egress="apply { hdr.h.b = (bit<8>) sm.egress_port; hdr.h.c = (bit<16>) sm.instance_type; }",
    )
    out = run(p, frame(payload=b"1234567890"), port=7)
    assert [(port, fields(f)) for port, f in out] == [(2, (7, 2, 0, 32))]


def test_actions_calling_actions_keep_their_parameters(build) -> None:  # type: ignore[no-untyped-def]
    p = build(
        ingress="""
        action inner(bit<8> v) { hdr.h.a = v; }
        action outer(bit<8> v) { inner(v + 1); hdr.h.b = v; }
        table t { key = { hdr.h.c: exact; } actions = { outer; } default_action = outer(7); }
        apply { sm.egress_spec = 1; t.apply(); outer(20); hdr.h.d = (bit<32>) hdr.h.a; }""",
    )
    assert one(p, frame()) == (21, 20, 0, 21)
