"""The eBPF backend's C emitter: what it accepts (every project and corpus program builds with
clang), what it refuses (an EbpfUnsupported error naming the construct and its source line),
and the byte layouts the control plane writes into the maps."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from softswitch.core.model import ActionInfo, ActionRefInfo, KeyInfo, ParamInfo, TableInfo
from softswitch.core.program import Program
from softswitch.ebpf.build import compile_c
from softswitch.ebpf.emit import emit_c
from softswitch.ebpf.errors import EbpfUnsupported
from softswitch.ebpf.layout import chunks, pack_bytes, unpack_value
from softswitch.ebpf.tablelayout import TableLayout
from tests.softswitch_core.conftest import p4_text
from testsupport import corpus

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = [("p4src/bier.p4", {"BSL": str(b)}) for b in (64, 128, 256, 512)] + [
    ("p4src/sr_p2mp.p4", {}),
    ("p4src/srv6_p2mp.p4", {}),
]


def programs() -> list[tuple[Path, dict]]:
    out = [(REPO / p, d) for p, d in PROGRAMS]
    d = corpus.corpus_dir()
    if d is not None:
        out += [(d / f"{n}.p4", {}) for n in corpus.programs()]
    return out


@pytest.mark.clang
@pytest.mark.parametrize("path,defines", programs(), ids=lambda x: str(x)[-30:])
def test_programs_build_with_clang(path: Path, defines: dict) -> None:
    prog = Program.from_file(path, defines=defines)
    c = emit_c(prog.source, prog.name)
    obj = compile_c(c.source, "test_" + path.stem)
    assert obj.read_bytes()[:4] == b"\x7fELF"
    assert 'SEC("tc")\nint ss_ingress' in c.source and "int ss_egress" in c.source


def source_with(marker: str, **parts: str) -> tuple[str, int]:
    text = p4_text(**parts)
    line = text[: text.index(marker)].count("\n") + 1
    return text, line


@pytest.mark.parametrize(
    "what,parts,marker",
    [
        (
            "operator *",
            {"meta_fields": "bit<128> w;", "ingress": "apply { meta.w = meta.w * meta.w; }"},
            "meta.w = meta.w * meta.w",
        ),
        (
            "run-time amount",
            {
                "meta_fields": "bit<128> w;",
                "ingress": "apply { meta.w = meta.w << meta.x; }",
            },
            "meta.w = meta.w << meta.x",
        ),
        (
            "int<W> wider than 64 bits",
            {
                "meta_fields": "int<128> s; bit<128> w;",
                "ingress": "apply { meta.w = (bit<128>) meta.s; }",
            },
            "meta.w = (bit<128>) meta.s",
        ),
        (
            "select on bit<72>",
            {
                "hdr_fields": "wide_t wd;",
                "decls": "header wide_t { bit<72> v; }",
                "parser": "state start { pkt.extract(hdr.wd); "
                "transition select(hdr.wd.v) { 1: accept; default: accept; } }",
            },
            "transition select(hdr.wd.v)",
        ),
    ],
)
def test_unsupported_constructs_are_named_with_their_line(
    what: str, parts: dict, marker: str, tmp_path: Path
) -> None:
    text, line = source_with(marker, **parts)
    (tmp_path / "prog.p4").write_text(text)
    prog = Program.from_file(tmp_path / "prog.p4")  # the Python backend runs it
    with pytest.raises(EbpfUnsupported) as exc:
        emit_c(prog.source, prog.name)
    assert (Path(exc.value.file).name, exc.value.line) == ("prog.p4", line)
    assert "the eBPF backend does not support" in str(exc.value)
    assert what in str(exc.value)


def test_packing_of_unaligned_and_wide_fields_round_trips() -> None:
    # fields of 3, 13, 72, 9 and 31 bits back to back, starting at bit 5 of the first byte
    widths = [3, 13, 72, 9, 31]
    offs = [5]
    for w in widths[:-1]:
        offs.append(offs[-1] + w)
    nbytes = (offs[-1] + widths[-1] + 7) // 8
    values = [(0x5A5A5A5A5A5A5A5A5A5A5 * (i + 3)) & ((1 << w) - 1) for i, w in enumerate(widths)]
    expect = 0
    for v, off, w in zip(values, offs, widths, strict=True):
        expect |= v << (8 * nbytes - off - w)
    # evaluate the generated C statements with Python semantics (same operators)
    env = {f"v{i}": ([v >> (64 * k) & (2**64 - 1) for k in range(2)] if w > 64 else v)
           for i, (v, w) in enumerate(zip(values, widths, strict=True))}  # fmt: skip
    buf = [0] * nbytes
    items = [(f"v{i}", off, w) for i, (off, w) in enumerate(zip(offs, widths, strict=True))]
    for stmt in pack_bytes(items, nbytes, "buf"):
        exec(stmt.replace("(u8)", "0xff & ").rstrip(";"), {}, {**env, "buf": buf})
    assert int.from_bytes(bytes(buf), "big") == expect
    for i, (off, w) in enumerate(zip(offs, widths, strict=True)):
        scope = {"buf": buf, "d": [0, 0], "x": 0}
        for stmt in unpack_value("buf", off, w, "d" if w > 64 else "x"):
            exec(stmt.replace("(u64)", "").rstrip(";"), {}, scope)
        got = scope["d"][0] | scope["d"][1] << 64 if w > 64 else scope["x"]
        assert got == values[i]
    assert sum(c.n for c in chunks(5, 13)) == 13


def table(keys: list[KeyInfo]) -> TableLayout:
    loc = None
    a = ActionInfo("I.fwd", "A_fwd", [ParamInfo("port", 9), ParamInfo("mac", 48)], [], loc)
    info = TableInfo("I.t", "T_t", keys, [ActionRefInfo(a, "TABLE_AND_DEFAULT")], a, [0, 0],
                     False, 16, [], loc)  # fmt: skip
    return TableLayout(info, 0)


def test_lpm_trie_key_puts_exact_fields_first_and_the_prefix_left_aligned() -> None:
    t = table([KeyInfo("h.v", 20, "lpm"), KeyInfo("h.x", 12, "exact")])
    assert t.mode == "lpm"
    key = t.pack_key(((0xABCD0, 16), 0xF0F))
    # prefixlen: 2 bytes of the exact field, then 16 bits of the 20-bit prefix
    assert key == struct.pack("<I", 16 + 16) + bytes.fromhex("0f0f") + bytes.fromhex("abcd00")
    assert t.pack_key((None, 1))[:4] == struct.pack("<I", 16)


def test_values_and_scan_entries_carry_action_slot_and_params() -> None:
    t = table([KeyInfo("h.v", 16, "ternary"), KeyInfo("h.r", 8, "range")])
    assert t.mode == "scan"
    v = t.pack_value(0, 7, (3, 0x020000000001))
    assert v == struct.pack("<IIQQ", 0, 7, 3, 0x020000000001)
    e = t.pack_entry(((0x1200, 0xFF00), None), v)
    assert e == v + struct.pack("<QQQQ", 0x1200, 0xFF00, 0, 0xFF)


@pytest.mark.clang
def test_auto_mode_gives_a_program_clang_refuses_to_the_python_backend(tmp_path: Path) -> None:
    """Eight 512-bit ternary keys: the scan table's lookup key (512 bytes) does not fit the
    BPF stack, so clang refuses the C; --backend auto's Fallback runs it in Python."""
    from softswitch.core.switch import Switch
    from softswitch.ebpf.backend import EbpfBackend
    from softswitch.ebpf.selection import Fallback

    keys = " ".join(f"hdr.big.k{i}: ternary;" for i in range(8))
    text = p4_text(
        decls="header big_t { " + " ".join(f"bit<512> k{i};" for i in range(8)) + " }",
        hdr_fields="big_t big;",
        ingress="action a() { sm.egress_spec = 1; } "
        f"table t {{ key = {{ {keys} }} actions = {{ a; NoAction; }} }} "
        "apply { t.apply(); }",
    )
    (tmp_path / "prog.p4").write_text(text)
    blob = Program.from_file(tmp_path / "prog.p4").device_config()
    modes: list[str] = []
    fb = Fallback(EbpfBackend([], None), modes.append)
    program = fb.load(blob)  # emitted fine
    sw = fb.new_switch(program, None)
    assert isinstance(sw, Switch) and modes == ["python"]
