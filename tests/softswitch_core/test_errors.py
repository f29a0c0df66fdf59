"""Programs softswitch rejects: unsupported constructs and type/width errors, each with its
file:line:column; table writes the switch rejects, each with its P4Runtime code."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.api import (
    Exact,
    Lpm,
    Optional,
    P4SourceError,
    Program,
    Range,
    Replica,
    Switch,
    SwitchError,
    TableEntry,
    Ternary,
)

from .conftest import p4_text


def locate(text: str, marker: str) -> tuple[int, int]:
    """(line, column) of the first occurrence of `marker` in `text`, 1-based."""
    i = text.index(marker)
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1


def compile_error(tmp_path: Path, text: str, same_file: bool = True) -> P4SourceError:
    f = tmp_path / "bad.p4"
    f.write_text(text)
    with pytest.raises(P4SourceError) as ei:
        Program.from_file(f)
    if same_file:
        assert ei.value.file == str(f), ei.value
    return ei.value


# (name, template arguments, marker where the error is reported, message fragment)
ERRORS = [
    ("width_mismatch_binary", {"ingress": "apply { hdr.h.a = hdr.h.a + hdr.h.c; }"},
     "+ hdr.h.c", "bit<8> and bit<16>"),
    ("assign_wider", {"ingress": "apply { hdr.h.a = hdr.h.c; }"}, "hdr.h.c;",
     "bit<16> where bit<8>"),
    ("bool_to_bit", {"ingress": "apply { hdr.h.a = true; }"}, "true", "bool where bit<8>"),
    ("bit_as_condition", {"ingress": "apply { if (hdr.h.a) { } }"}, "hdr.h.a)",
     "expected bool"),
    ("signed_unsigned_mix", {"ingress": "apply { int<8> s = 1; hdr.h.a = hdr.h.a + s; }"},
     "+ s", "bit<8> and int<8>"),
    ("cast_width_and_sign", {"ingress": "apply { int<16> s = (int<16>) hdr.h.a; }"},
     "(int<16>) hdr", "change width and signedness"),
    ("unknown_name", {"ingress": "apply { hdr.h.a = nope; }"}, "nope", "unknown name 'nope'"),
    ("unknown_field", {"ingress": "apply { hdr.h.zz = 1; }"}, "zz", "no field 'zz'"),
    ("slice_out_of_range", {"ingress": "apply { hdr.h.a = hdr.h.b[8:1]; }"}, "[8:1]",
     "slice [8:1] out of range"),
    ("concat_of_literal", {"ingress": "apply { hdr.h.c = hdr.h.a ++ 3; }"}, "3;",
     "++ needs bit<W>"),
    ("header_union", {"decls": "header_union u_t { h_t a; }"}, "u_t", "header_union"),
    ("varbit", {"decls": "header v_t { varbit<32> x; }"}, "varbit", "varbit"),
    ("value_set", {"parser": "value_set<bit<16>>(4) vs; state start { transition accept; }"},
     "value_set", "value_set"),
    ("digest", {"ingress": "apply { digest(1, hdr.h.a); }"}, "digest(", "extern digest"),
    ("meter", {"ingress": "meter(4, MeterType.packets) m; apply { }"}, "m;", "extern meter"),
    ("function_decl", {"decls": "bit<8> f(in bit<8> x) { return x; }"}, "bit<8> f(", "function"),
    ("exit_in_parser", {"parser": "state start { exit; }"}, "exit", "exit is not allowed"),
    ("unknown_state", {"parser": "state start { transition nowhere; }"}, "nowhere",
     "unknown parser state"),
    ("missing_start", {"parser": "state begin { transition accept; }"}, "P(", "no start"),
    ("odd_header", {"decls": "header o_t { bit<7> x; }"}, "o_t", "not a whole number of bytes"),
    ("unknown_match_kind", {"ingress": "action a() { } table t { key = { hdr.h.a: fuzzy; } "
                                       "actions = { a; } } apply { t.apply(); }"},
     "hdr.h.a: fuzzy", "unknown match kind"),
    ("selector_unsupported", {"ingress": "action a() { } table t { key = { hdr.h.a: selector; }"
                                         " actions = { a; } } apply { t.apply(); }"},
     "hdr.h.a: selector", "match kind selector"),
    ("default_not_listed", {"ingress": "action a() { } action b() { } table t { key = { "
                                       "hdr.h.a: exact; } actions = { a; } default_action = b(); "
                                       "} apply { t.apply(); }"},
     "default_action", "not in the actions list"),
    ("stack_index_oob", {"hdr_fields": "h_t[2] st;", "ingress": "apply { st_ok(); }"},
     "st_ok", "unknown function"),
    ("resubmit_old_style", {"ingress": "apply { resubmit({}); }"}, "resubmit(",
     "_preserving_field_list"),
    ("field_list_unknown", {"ingress": "apply { resubmit_preserving_field_list(3); }"}, "3)",
     "@field_list(3)"),
    ("syntax", {"ingress": "apply { hdr.h.a = ]; }"}, "]; }", "expected an expression"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "marker", "message"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])  # fmt: skip
def test_compile_errors_name_the_location(tmp_path: Path, args: dict, marker: str,
                                          message: str) -> None:  # fmt: skip
    text = p4_text(**args)
    err = compile_error(tmp_path, text)
    assert message in err.message, err
    assert (err.line, err.column) == locate(text, marker), err


def test_literal_stack_index_out_of_bounds(tmp_path: Path) -> None:
    text = p4_text(hdr_fields="h_t[2] st;", ingress="apply { hdr.st[2].a = 1; }")
    err = compile_error(tmp_path, text)
    assert "index 2 out of bounds" in err.message
    assert (err.line, err.column) == locate(text, "2].a")


def test_errors_inside_included_files_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "inc.p4").write_text("\n\nheader bad_t { bit<3> x; }\n")
    text = '#include "inc.p4"\n' + p4_text()
    err = compile_error(tmp_path, text, same_file=False)
    assert err.file == str(tmp_path / "inc.p4") and (err.line, err.column) == (3, 8)


def test_missing_include_is_reported() -> None:
    with pytest.raises(P4SourceError, match="no such file"):
        Program.from_file("/nonexistent/x.p4")


def test_preprocessor_defines_and_errors(tmp_path: Path) -> None:
    body = p4_text(ingress="apply { sm.egress_spec = PORT; }")
    f = tmp_path / "d.p4"
    f.write_text("#ifndef PORT\n#error PORT must be defined\n#endif\n" + body)
    with pytest.raises(P4SourceError, match="PORT must be defined") as ei:
        Program.from_file(f)
    assert ei.value.line == 2
    sw = Switch(Program.from_file(f, defines={"PORT": "6"}))
    frame = bytes(12) + b"\x08\x00"
    assert sw.process(0, frame) == [(6, frame)]


TABLES = """
    action a(bit<8> v) { hdr.h.a = v; }
    @defaultonly action d() { }
    action b() { }
    table ex { key = { hdr.h.a: exact; hdr.h.c: exact; } actions = { a; @defaultonly d; }
               size = 2; }
    table lp { key = { hdr.h.d: lpm; } actions = { a; b; } const default_action = b(); }
    table te { key = { hdr.h.d: ternary; hdr.h.c: range; hdr.h.b: optional; }
               actions = { a; @tableonly b; } }
    table ce { key = { hdr.h.a: exact; } actions = { a; } const entries = { 1: a(2); } }
    apply { ex.apply(); lp.apply(); te.apply(); ce.apply(); }
"""


@pytest.fixture(scope="module")
def sw(tmp_path_factory: pytest.TempPathFactory) -> Switch:
    f = tmp_path_factory.mktemp("t") / "tables.p4"
    f.write_text(p4_text(ingress=TABLES))
    return Switch(Program.from_file(f))


def E(table: str, match: dict, action: str = "I.a", params: dict | None = None,
      priority: int = 0) -> TableEntry:  # fmt: skip
    return TableEntry(f"I.{table}", match, action, {"v": 1} if params is None else params,
                      priority)  # fmt: skip


BAD_WRITES = [
    ("unknown_table", E("zz", {}), "NOT_FOUND"),
    ("unknown_action", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)}, "I.zz"), "NOT_FOUND"),
    ("action_not_in_table", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)}, "I.b", {}),
     "INVALID_ARGUMENT"),
    ("defaultonly_action", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)}, "I.d", {}),
     "INVALID_ARGUMENT"),
    ("missing_exact", E("ex", {"hdr.h.a": Exact(1)}), "INVALID_ARGUMENT"),
    ("unknown_field", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1), "x": Exact(1)}),
     "INVALID_ARGUMENT"),
    ("wrong_match_type", E("ex", {"hdr.h.a": Lpm(1, 8), "hdr.h.c": Exact(1)}),
     "INVALID_ARGUMENT"),
    ("exact_too_wide", E("ex", {"hdr.h.a": Exact(256), "hdr.h.c": Exact(1)}), "OUT_OF_RANGE"),
    ("param_too_wide", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)}, params={"v": 300}),
     "OUT_OF_RANGE"),
    ("param_missing", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)}, params={}),
     "INVALID_ARGUMENT"),
    ("param_unknown", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)},
                        params={"v": 1, "w": 2}), "INVALID_ARGUMENT"),
    ("priority_on_exact", E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)}, priority=3),
     "INVALID_ARGUMENT"),
    ("lpm_host_bits", E("lp", {"hdr.h.d": Lpm(0x0A000001, 24)}), "INVALID_ARGUMENT"),
    ("lpm_prefix_too_long", E("lp", {"hdr.h.d": Lpm(0, 33)}), "INVALID_ARGUMENT"),
    ("lpm_too_wide", E("lp", {"hdr.h.d": Lpm(1 << 32, 32)}), "OUT_OF_RANGE"),
    ("ternary_outside_mask", E("te", {"hdr.h.d": Ternary(0x11, 0xF0)}, priority=1),
     "INVALID_ARGUMENT"),
    ("ternary_without_priority", E("te", {"hdr.h.d": Ternary(0x10, 0xF0)}), "INVALID_ARGUMENT"),
    ("range_inverted", E("te", {"hdr.h.c": Range(5, 4)}, priority=1), "INVALID_ARGUMENT"),
    ("range_too_wide", E("te", {"hdr.h.c": Range(0, 1 << 16)}, priority=1), "OUT_OF_RANGE"),
    ("optional_too_wide", E("te", {"hdr.h.b": Optional(256)}, priority=1), "OUT_OF_RANGE"),
    ("tableonly_ok_but_const", E("ce", {"hdr.h.a": Exact(5)}), "PERMISSION_DENIED"),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "code"), [b[1:] for b in BAD_WRITES],
                         ids=[b[0] for b in BAD_WRITES])  # fmt: skip
def test_rejected_writes_carry_p4runtime_codes(sw: Switch, entry: TableEntry, code: str) -> None:
    with pytest.raises(SwitchError) as ei:
        sw.insert_entry(entry)
    assert ei.value.code == code, ei.value


def test_entry_lifecycle_and_codes(sw: Switch) -> None:
    e1 = E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(2)})
    sw.insert_entry(e1)
    with pytest.raises(SwitchError) as ei:
        sw.insert_entry(e1)
    assert ei.value.code == "ALREADY_EXISTS"
    sw.insert_entry(E("ex", {"hdr.h.a": Exact(2), "hdr.h.c": Exact(2)}))
    with pytest.raises(SwitchError) as ei:
        sw.insert_entry(E("ex", {"hdr.h.a": Exact(3), "hdr.h.c": Exact(2)}))
    assert ei.value.code == "RESOURCE_EXHAUSTED"
    sw.modify_entry(E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(2)}, params={"v": 9}))
    assert E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(2)}, params={"v": 9}) in sw.entries(
        "I.ex"
    )
    sw.delete_entry(e1)
    with pytest.raises(SwitchError) as ei:
        sw.delete_entry(e1)
    assert ei.value.code == "NOT_FOUND"
    with pytest.raises(SwitchError) as ei:
        sw.modify_entry(e1)
    assert ei.value.code == "NOT_FOUND"
    # wildcards are normalised: a ternary with mask 0 is the same entry as an omitted field
    t1 = E("te", {"hdr.h.d": Ternary(0, 0), "hdr.h.c": Range(0, 0xFFFF)}, priority=4)
    sw.insert_entry(t1)
    assert E("te", {}, priority=4) in sw.entries("I.te")
    with pytest.raises(SwitchError) as ei:
        sw.insert_entry(E("te", {}, priority=4))
    assert ei.value.code == "ALREADY_EXISTS"
    sw.delete_entry(E("te", {}, priority=4))
    assert sw.entries("I.ce") == [E("ce", {"hdr.h.a": Exact(1)}, params={"v": 2})]


def test_default_action_rules(sw: Switch) -> None:
    with pytest.raises(SwitchError) as ei:
        sw.set_default_action("I.lp", "I.a", {"v": 1})
    assert ei.value.code == "PERMISSION_DENIED"  # const default_action
    with pytest.raises(SwitchError) as ei:
        sw.set_default_action("I.te", "I.b", {})
    assert ei.value.code == "INVALID_ARGUMENT"  # @tableonly
    sw.set_default_action("I.ex", "I.d", {})
    assert sw.default_action("I.ex") == ("I.d", {})
    with pytest.raises(SwitchError) as ei:
        sw.default_action("I.zz")
    assert ei.value.code == "NOT_FOUND"


def test_pre_and_extern_request_errors(sw: Switch) -> None:
    cases = [
        (lambda: sw.set_multicast_group(0, []), "OUT_OF_RANGE"),
        (lambda: sw.set_multicast_group(1, [Replica(512, 0)]), "OUT_OF_RANGE"),
        (lambda: sw.set_multicast_group(1, [Replica(1, 0), Replica(1, 0)]), "INVALID_ARGUMENT"),
        (lambda: sw.delete_multicast_group(77), "NOT_FOUND"),
        (lambda: sw.set_clone_session(0, []), "OUT_OF_RANGE"),
        (lambda: sw.delete_clone_session(77), "NOT_FOUND"),
        (lambda: sw.counter("I.none", 0), "NOT_FOUND"),
        (lambda: sw.register("I.none", 0), "NOT_FOUND"),
        (lambda: sw.direct_counter(E("ex", {"hdr.h.a": Exact(1), "hdr.h.c": Exact(1)})),
         "NOT_FOUND"),
    ]  # fmt: skip
    for call, code in cases:
        with pytest.raises(SwitchError) as ei:
            call()
        assert ei.value.code == code, ei.value


def test_unattached_direct_counter(tmp_path: Path) -> None:
    text = p4_text(ingress="direct_counter(CounterType.packets) dc; apply { }")
    err = compile_error(tmp_path, text)
    assert "not attached to any table" in err.message
    assert (err.line, err.column) == locate(text, "dc;")


@pytest.mark.parametrize(
    ("args", "marker"),
    [
        ({"ingress": "action a(bit<8> x, bit<8> x) { } apply { a(1, 2); }"}, "x) {"),
        ({"ingress": "apply { bit<8> v = 1; bit<8> v = 2; }"}, "v = 2"),
        ({"ingress": "action a() { } action a() { } apply { }"}, "a() { } apply"),
    ],
    ids=["param", "local", "action"],
)
def test_duplicate_declarations(tmp_path: Path, args: dict, marker: str) -> None:
    text = p4_text(**args)
    err = compile_error(tmp_path, text)
    assert "already declared" in err.message or "declared twice" in err.message
    assert (err.line, err.column) == locate(text, marker)


def test_fuzzed_programs_only_raise_p4_source_errors() -> None:
    """Mutated corpus programs: every failure is a P4SourceError about the source, never a
    crash or an internal error of the translator."""
    import random
    import re

    from softswitch.core.preprocess import preprocess

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "p4-reference"
    srcs = [preprocess(p) for p in sorted(fixtures.glob("*.p4"))]
    rng = random.Random(7)
    extra = ["(", ")", "{", "}", ";", "1", "x", ".", "<", ">", "[", "]", "bit<3>", "8w1", "++"]
    for _ in range(150):
        toks = re.findall(r"\s+|\w+|[^\w\s]", rng.choice(srcs))
        start = int(len(toks) * 0.7)  # leave core.p4/v1model.p4 alone
        for _ in range(rng.randint(1, 3)):
            j = rng.randrange(start, len(toks))
            r = rng.random()
            if r < 0.4:
                toks[j] = ""
            elif r < 0.7:
                toks[j] = rng.choice(toks[start:])
            else:
                toks.insert(j, rng.choice(extra))
        try:
            Program.from_source("".join(toks), "fuzz.p4")
        except P4SourceError as e:
            assert "internal error" not in e.message, e
