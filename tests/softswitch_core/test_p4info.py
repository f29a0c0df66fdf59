"""P4Info equal to p4c's, entity by entity, for every corpus program and for p4src/ (p4c's
P4Infos of it in the corpus's p4src-golden/); ids; the compile CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from finsy.proto import p4i
from google.protobuf import text_format

from softswitch.api import P4SourceError, Program, Switch
from softswitch.core.p4info import aliases, jenkins_one_at_a_time

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "p4-reference"
P4SRC = Path(__file__).resolve().parents[2] / "p4src"
PROGRAMS = sorted(p.name.removesuffix(".p4") for p in FIXTURES.glob("*.p4"))
ENTITY_LISTS = [
    "tables",
    "actions",
    "action_profiles",
    "counters",
    "direct_counters",
    "meters",
    "direct_meters",
    "controller_packet_metadata",
    "value_sets",
    "registers",
    "digests",
    "externs",
]


def _expected(name: str) -> p4i.P4Info:
    return text_format.Parse((FIXTURES / f"{name}.p4info.txtpb").read_text(), p4i.P4Info())


@pytest.mark.parametrize("name", PROGRAMS)
def test_p4info_matches_p4c_entity_by_entity(name: str) -> None:
    exp = _expected(name)
    got = Program.from_file(FIXTURES / f"{name}.p4").p4info
    assert got.pkg_info == exp.pkg_info
    for kind in ENTITY_LISTS:
        e = {x.preamble.id: x for x in getattr(exp, kind)}
        g = {x.preamble.id: x for x in getattr(got, kind)}
        assert sorted(g) == sorted(e), f"{kind}: ids differ"
        for i in e:
            assert g[i] == e[i], f"{kind} {e[i].preamble.name} differs"
        # same order as p4c
        assert [x.preamble.id for x in getattr(got, kind)] == [
            x.preamble.id for x in getattr(exp, kind)
        ]
    assert got.HasField("type_info") == exp.HasField("type_info")
    assert got == exp


@pytest.mark.parametrize("name", ["bier", "sr_p2mp"])
def test_p4src_p4info_equals_p4c_golden(name: str) -> None:
    """p4c-bm2-ss 1.2.5.16's P4Info of p4src/NAME.p4 (-I p4src), kept in the corpus; among
    others its directly called actions (count_in, drop_in, to_cpu, ...) have no parameters.
    When p4src changes, `make corpus` from a refreshed p4-reference updates the golden files;
    the p4c-marked test in tests/vm/test_build_all.py compares with a live p4c."""
    golden = FIXTURES / "p4src-golden" / f"{name}.p4info.txtpb"
    exp = text_format.Parse(golden.read_text(), p4i.P4Info())
    got = Program.from_file(P4SRC / f"{name}.p4").p4info
    direct = [a for a in exp.actions if a.preamble.name == "MyIngress.count_in"]
    assert len(direct) == 1 and list(direct[0].params) == []
    assert text_format.MessageToString(got) == text_format.MessageToString(exp)
    assert got == exp


def test_directly_called_action_has_parameters_only_where_a_table_lists_it(
    tmp_path: Path,
) -> None:
    """p4c turns the parameters of an action that only a control body calls into locals; one
    that a table also lists keeps them."""
    f = tmp_path / "direct.p4"
    f.write_text(
        PROG_WITH_IDS.replace(
            "apply { t1.apply(); t2.apply(); }",
            "action only_direct(bit<8> v) { hdr.h.a = v; }\n"
            "    apply { t1.apply(); t2.apply(); only_direct(8w1); a1(8w2); }",
        )
    )
    acts = {a.preamble.name: a for a in Program.from_file(f).p4info.actions}
    assert list(acts["I.only_direct"].params) == []
    assert [(p.id, p.name, p.bitwidth) for p in acts["I.a1"].params] == [(7, "x", 8)]


def test_jenkins_hash_gives_p4c_ids() -> None:
    # values read from the corpus P4Info files (p4c 1.2.5.16)
    assert 0x02 << 24 | jenkins_one_at_a_time("L3Ingress.ipv4_lpm") & 0xFFFFFF == 36020935
    assert 0x01 << 24 | jenkins_one_at_a_time("NoAction") & 0xFFFFFF == 21257015
    assert 0x04 << 24 | jenkins_one_at_a_time("packet_in_t") & 0xFFFFFF == 80671331


def test_aliases_are_shortest_unique_suffix() -> None:
    got = aliases(["I.drop", "E.drop", "I.fwd", "NoAction", "A.B.x", "C.B.x"])
    assert got == {
        "I.drop": "I.drop",
        "E.drop": "E.drop",
        "I.fwd": "fwd",
        "NoAction": "NoAction",
        "A.B.x": "A.B.x",
        "C.B.x": "C.B.x",
    }


PROG_WITH_IDS = """
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; }
struct hs { h_t h; }
struct m_t { }
parser P(packet_in p, out hs hdr, inout m_t m, inout standard_metadata_t sm) {
    state start { p.extract(hdr.h); transition accept; }
}
control V(inout hs hdr, inout m_t m) { apply { } }
control I(inout hs hdr, inout m_t m, inout standard_metadata_t sm) {
    @id(0x01000005) action a1(@id(7) bit<8> x) { hdr.h.a = x; }
    @id(9) action a2() { }
    @name(".global_t") table t1 { key = { hdr.h.a: exact @name("akey"); }
        actions = { a1; @defaultonly a2; }
        const default_action = a2(); size = 16; }
    table t2 { key = { hdr.h.a: ternary; } actions = { a1; }
        const entries = { 1 &&& 0xff : a1(3); } }
    apply { t1.apply(); t2.apply(); }
}
control E(inout hs hdr, inout m_t m, inout standard_metadata_t sm) { apply { } }
control C(inout hs hdr, inout m_t m) { apply { } }
control D(packet_out p, in hs hdr) { apply { p.emit(hdr.h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""


def test_id_annotations_names_scopes_and_const_tables(tmp_path: Path) -> None:
    f = tmp_path / "ids.p4"
    f.write_text(PROG_WITH_IDS)
    info = Program.from_file(f).p4info
    acts = {a.preamble.name: a for a in info.actions}
    assert acts["I.a1"].preamble.id == 0x01000005
    assert acts["I.a2"].preamble.id == 0x01000009  # prefix added to a bare @id
    assert acts["I.a1"].params[0].id == 7
    tabs = {t.preamble.name: t for t in info.tables}
    t1 = tabs["global_t"]
    assert t1.match_fields[0].name == "akey"
    assert t1.const_default_action_id == 0x01000009
    assert [r.scope for r in t1.action_refs] == [
        p4i.ActionRef.TABLE_AND_DEFAULT,
        p4i.ActionRef.DEFAULT_ONLY,
    ]
    assert list(t1.action_refs[1].annotations) == ["@defaultonly"]
    assert t1.size == 16
    t2 = tabs["I.t2"]
    assert t2.is_const_table and t2.has_initial_entries and t2.size == 1024
    assert t2.initial_default_action.action_id == acts["NoAction"].preamble.id


def test_wrong_id_prefix_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.p4"
    f.write_text(PROG_WITH_IDS.replace("@id(9) action a2", "@id(0x02000009) action a2"))
    with pytest.raises(P4SourceError, match="prefix"):
        _ = Program.from_file(f).p4info


def test_compile_cli_writes_p4c_identical_text_and_a_loadable_device_config(tmp_path: Path) -> None:
    src = FIXTURES / "ref_clone_recirc.p4"
    p4info = tmp_path / "out" / "x.txtpb"
    dev = tmp_path / "out" / "x.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "softswitch.compile",
            str(src),
            "--p4info",
            str(p4info),
            "--device-config",
            str(dev),
            "-D",
            "UNUSED=1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert p4info.read_text() == (FIXTURES / "ref_clone_recirc.p4info.txtpb").read_text()
    prog = Program.from_device_config(dev.read_bytes())
    assert prog.p4info == _expected("ref_clone_recirc")
    assert prog.defines == {"UNUSED": "1"}
    sw = Switch(prog, cpu_port=255)
    frame = bytes.fromhex("0180010203040506070809")
    assert sw.process(255, frame) == [(3, frame[2:])]


def test_compile_cli_reports_source_errors_with_location(tmp_path: Path) -> None:
    f = tmp_path / "broken.p4"
    f.write_text(PROG_WITH_IDS.replace("hdr.h.a = x;", "hdr.h.a = x + 16w1;"))
    r = subprocess.run(
        [sys.executable, "-m", "softswitch.compile", str(f)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 1
    assert f"{f}:12:" in r.stderr and "bit<8> and bit<16>" in r.stderr


def test_device_config_rejects_garbage() -> None:
    with pytest.raises(P4SourceError, match="not a softswitch device config"):
        Program.from_device_config(b"{}")
    with pytest.raises(P4SourceError, match="not a softswitch device config"):
        Program.from_device_config(b"\x00\x01")


def test_field_ids_follow_p4c_allocator() -> None:
    from softswitch.core.ast import Annotation
    from softswitch.core.lexer import Loc
    from softswitch.core.p4info import field_ids

    def ann(n: int | None) -> list[Annotation]:
        return [] if n is None else [Annotation(Loc("x", 1, 1), "id", [n], str(n))]

    # an @id'd field uses up its position; the others take the lowest free numbers in order
    assert field_ids([ann(None), ann(None), ann(None)]) == [1, 2, 3]
    assert field_ids([ann(2), ann(None), ann(None)]) == [2, 3, 4]
    assert field_ids([ann(None), ann(1), ann(None)]) == [2, 1, 3]
    assert field_ids([ann(None), ann(None), ann(9)]) == [1, 2, 9]


def test_brief_and_description_become_doc(tmp_path: Path) -> None:
    f = tmp_path / "doc.p4"
    f.write_text(
        PROG_WITH_IDS.replace(
            "@id(9) action a2", '@brief("short") @description("long") @id(9) action a2'
        )
    )
    a2 = next(a for a in Program.from_file(f).p4info.actions if a.preamble.name == "I.a2")
    assert (a2.preamble.doc.brief, a2.preamble.doc.description) == ("short", "long")
    assert list(a2.preamble.annotations) == []
