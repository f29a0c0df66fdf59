"""softswitch.build_all (`make p4`): program discovery, compiler command lines, P4Info loading
and comparison. The compilers themselves run only in the tests marked p4c (the vagrant/ VM)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from finsy.proto import p4i
from google.protobuf import json_format, text_format

from softswitch import build_all as B

REPO = Path(__file__).resolve().parents[2]
P4SRC = REPO / "p4src"


def test_find_programs_skips_include_files() -> None:
    assert [p.name for p in B.find_programs(P4SRC)] == ["bier.p4", "sr_p2mp.p4", "srv6_p2mp.p4"]


def test_find_programs_errors_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(B.BuildError, match=f"{tmp_path}/nope: no such directory"):
        B.find_programs(tmp_path / "nope")
    (tmp_path / "inc.p4").write_text("header h_t { bit<8> x; }\n")
    with pytest.raises(B.BuildError, match=re.escape("no .p4 file instantiates `main`")):
        B.find_programs(tmp_path)


def test_outputs_per_target(tmp_path: Path) -> None:
    o = B.outputs(Path("p4src/bier.p4"), tmp_path, "bmv2")
    assert o.p4info == tmp_path / "bmv2" / "bier.p4info.txtpb"
    assert o.device_config == tmp_path / "bmv2" / "bier.json"
    with pytest.raises(B.BuildError, match="unknown target 'tofino'"):
        B.outputs(Path("x.p4"), tmp_path, "tofino")


def test_p4c_command_line() -> None:
    out = B.Outputs(p4info=Path("b/bmv2/bier.p4info.txtpb"), device_config=Path("b/bmv2/bier.json"))
    cmd = B.p4c_command(Path("p4src/bier.p4"), out, {"BSL": "512", "DEBUG": ""}, [Path("inc")])
    assert cmd == [
        "p4c-bm2-ss", "--arch", "v1model", "--std", "p4-16",
        "-I", "inc",
        "-D", "BSL=512", "-D", "DEBUG",
        "--p4runtime-files", "b/bmv2/bier.p4info.txtpb",
        "-o", "b/bmv2/bier.json",
        "p4src/bier.p4",
    ]  # fmt: skip


def test_softswitch_command_line() -> None:
    out = B.Outputs(p4info=Path("b/s/x.p4info.txtpb"), device_config=Path("b/s/x.json"))
    cmd = B.softswitch_command(Path("p4src/x.p4"), out, {"BSL": "64"}, python="py")
    assert cmd == [
        "py", "-m", "softswitch.compile", "p4src/x.p4",
        "-D", "BSL=64",
        "--p4info", "b/s/x.p4info.txtpb",
        "--device-config", "b/s/x.json",
    ]  # fmt: skip


def test_parse_defines() -> None:
    assert B._parse_defines(["BSL=128", "X"]) == {"BSL": "128", "X": ""}
    with pytest.raises(B.BuildError, match="'1BAD=2': not NAME or NAME=VALUE"):
        B._parse_defines(["1BAD=2"])


def _info() -> p4i.P4Info:
    """A small P4Info in the shape p4c writes for our programs."""
    info = p4i.P4Info()
    route = info.actions.add()
    route.preamble.id, route.preamble.name = 16777217, "MyIngress.ipv4_route"
    for i, (n, w) in enumerate([("port", 9), ("dmac", 48)], 1):
        p = route.params.add()
        p.id, p.name, p.bitwidth = i, n, w
    drop = info.actions.add()
    drop.preamble.id, drop.preamble.name = 16777218, "MyIngress.ipv4_drop"
    t = info.tables.add()
    t.preamble.id, t.preamble.name, t.size = 33554433, "MyIngress.ipv4_lpm", 4096
    m = t.match_fields.add()
    m.id, m.name, m.bitwidth, m.match_type = 1, "hdr.ipv4.dst_addr", 32, p4i.MatchField.LPM
    t.action_refs.add().id = route.preamble.id
    t.action_refs.add().id = drop.preamble.id
    c = info.counters.add()
    c.preamble.name, c.size, c.spec.unit = "MyIngress.in_stats", 8192, p4i.CounterSpec.BOTH
    r = info.registers.add()
    r.preamble.name, r.size = "MyEgress.port_status", 512
    r.type_spec.bitstring.bit.bitwidth = 8
    h = info.controller_packet_metadata.add()
    h.preamble.name = "packet_in"
    f = h.metadata.add()
    f.id, f.name, f.bitwidth = 1, "ingress_port", 16
    return info


def test_compare_identical_p4infos_even_with_other_ids() -> None:
    a, b = _info(), _info()
    b.actions[0].preamble.id = 99  # ids are target-specific; names and shapes are not
    b.tables[0].action_refs[0].id = 99
    assert B.compare_p4info(a, b) == []


def test_compare_reports_every_difference() -> None:
    a, b = _info(), _info()
    b.tables[0].match_fields[0].match_type = p4i.MatchField.EXACT
    b.tables[0].match_fields[0].bitwidth = 16
    b.tables[0].size = 1024
    b.actions[0].params[0].bitwidth = 16
    del b.tables[0].action_refs[1]
    b.registers[0].size = 256
    b.controller_packet_metadata[0].metadata[0].bitwidth = 9
    b.counters[0].spec.unit = p4i.CounterSpec.PACKETS
    extra = b.tables.add()
    extra.preamble.name = "MyIngress.extra"
    assert B.compare_p4info(a, b, names=("p4c", "ss")) == [
        "table MyIngress.extra: only in ss",
        "table MyIngress.ipv4_lpm: match fields [('hdr.ipv4.dst_addr', 32, 'LPM')] (p4c)"
        " != [('hdr.ipv4.dst_addr', 16, 'EXACT')] (ss)",
        "table MyIngress.ipv4_lpm: actions ['MyIngress.ipv4_drop', 'MyIngress.ipv4_route'] (p4c)"
        " != ['MyIngress.ipv4_route'] (ss)",
        "table MyIngress.ipv4_lpm: size 4096 (p4c) != 1024 (ss)",
        "action MyIngress.ipv4_route: [('port', 9), ('dmac', 48)] (p4c)"
        " != [('port', 16), ('dmac', 48)] (ss)",
        "counter MyIngress.in_stats: ('BOTH', 8192) (p4c) != ('PACKETS', 8192) (ss)",
        "register MyEgress.port_status: (8, 512) (p4c) != (8, 256) (ss)",
        "controller header packet_in: [('ingress_port', 16)] (p4c) != [('ingress_port', 9)] (ss)",
    ]


def test_compare_missing_action_on_the_other_side() -> None:
    a, b = _info(), _info()
    del a.actions[1]
    diffs = B.compare_p4info(a, b)
    assert "action MyIngress.ipv4_drop: only in softswitch" in diffs


@pytest.mark.parametrize("suffix", [".txtpb", ".txt", ".json", ".bin"])
def test_load_p4info_formats(tmp_path: Path, suffix: str) -> None:
    info = _info()
    path = tmp_path / f"x.p4info{suffix}"
    if suffix == ".json":
        path.write_text(json_format.MessageToJson(info))
    elif suffix == ".bin":
        path.write_bytes(info.SerializeToString())
    else:
        path.write_text(text_format.MessageToString(info))
    assert B.load_p4info(path) == info


def test_load_p4info_errors(tmp_path: Path) -> None:
    with pytest.raises(B.BuildError, match=re.escape("x.p4info.txtpb: cannot read P4Info")):
        B.load_p4info(tmp_path / "x.p4info.txtpb")
    bad = tmp_path / "bad.txtpb"
    bad.write_text("tables { nonsense: 1 }")
    with pytest.raises(B.BuildError, match=re.escape("bad.txtpb: not a valid P4Info")):
        B.load_p4info(bad)
    with pytest.raises(B.BuildError, match="unknown P4Info format"):
        B.load_p4info(tmp_path / "x.yaml")


def test_main_reports_a_missing_source_dir(tmp_path: Path, capsys) -> None:
    assert B.main(["--src", str(tmp_path / "none"), "--out", str(tmp_path / "b")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_compiler_failure_is_reported_with_program_and_message(tmp_path: Path) -> None:
    src = tmp_path / "broken.p4"
    src.write_text("control X() { apply { } }\nV1Switch(X()) main;\n")
    with pytest.raises(B.BuildError, match=r"softswitch.compile .*broken.p4 failed \(exit"):
        B.build_program(src, tmp_path / "b", {}, use_p4c=False)


def _softswitch_compiler_present() -> bool:
    r = subprocess.run([sys.executable, "-c", "import softswitch.compile"], capture_output=True)
    return r.returncode == 0


needs_softswitch_compile = pytest.mark.skipif(
    not _softswitch_compiler_present(), reason="needs softswitch.compile (softswitch's compiler)"
)


@needs_softswitch_compile
def test_softswitch_build_writes_both_files(tmp_path: Path) -> None:
    for program in B.find_programs(P4SRC):
        assert B.build_program(program, tmp_path, {}, use_p4c=False) == []
        out = B.outputs(program, tmp_path, "softswitch")
        assert out.device_config.stat().st_size > 0
        info = B.load_p4info(out.p4info)
        assert any(t.preamble.name == "MyIngress.ipv4_lpm" for t in info.tables)


@pytest.mark.p4c
@needs_softswitch_compile
@pytest.mark.parametrize("bsl", ["64", "128", "256", "512"])
def test_p4c_and_softswitch_agree_on_p4info(tmp_path: Path, bsl: str) -> None:
    """The BMv2 path: p4c-bm2-ss compiles every program and its P4Info matches softswitch's."""
    assert shutil.which("p4c-bm2-ss")
    for program in B.find_programs(P4SRC):
        assert B.build_program(program, tmp_path, {"BSL": bsl}, use_p4c=True) == []
        assert B.outputs(program, tmp_path, "bmv2").device_config.stat().st_size > 0
        # not only the same interface: the same P4Info, ids and directly called actions too
        p4c = B.outputs(program, tmp_path, "bmv2").p4info
        ss = B.outputs(program, tmp_path, "softswitch").p4info
        assert B.load_p4info(ss) == B.load_p4info(p4c), program.name
