"""P4Runtime entity translation and validation, driven by the corpus P4Info files."""

from __future__ import annotations

from pathlib import Path

import pytest
from finsy.proto import p4i, p4r
from google.protobuf import text_format

from softswitch.api import Exact, Lpm, Range, Replica, SwitchError, TableEntry, Ternary
from softswitch.server import bytestr
from softswitch.server import translate as tr
from softswitch.server.p4info_index import P4InfoIndex

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "p4-reference"  # ../shared
LOCAL = Path(__file__).resolve().parents[1] / "fixtures" / "p4-reference"


def load_p4info(name: str) -> p4i.P4Info:
    for base in (LOCAL, CORPUS):
        path = base / f"{name}.p4info.txtpb"
        if path.exists():
            return text_format.Parse(path.read_text(), p4i.P4Info())
    pytest.skip(f"corpus P4Info {name} not found in {LOCAL} or {CORPUS}")


@pytest.fixture(scope="module")
def l3() -> P4InfoIndex:
    return P4InfoIndex(load_p4info("ref_l3_mcast"))


LPM_T, MCAST_T, RW_T = 36020935, 35590879, 38142298
ROUTE, SET_MCAST, NOACTION = 23635045, 29171350, 21257015


def lpm_entry(value: bytes, plen: int, priority: int = 0) -> p4r.TableEntry:
    e = p4r.TableEntry(table_id=LPM_T, priority=priority)
    fm = e.match.add(field_id=1)
    fm.lpm.value, fm.lpm.prefix_len = value, plen
    a = e.action.action
    a.action_id = ROUTE
    a.params.add(param_id=1, value=b"\x01")
    a.params.add(param_id=2, value=bytes.fromhex("020000000101"))
    return e


def code_of(fn, *args) -> str:
    with pytest.raises(SwitchError) as info:
        fn(*args)
    return info.value.code


def test_bytestr_canonical_and_padded() -> None:
    assert bytestr.encode(0) == b"\x00"
    assert bytestr.encode(0x1FF) == b"\x01\xff"
    assert bytestr.decode(b"\x00\x00\x01\xff", 9, "f") == 0x1FF
    assert bytestr.decode(b"\x01\xff", 9, "f") == 0x1FF
    assert code_of(bytestr.decode, b"\x02\x00", 9, "f") == "OUT_OF_RANGE"
    assert code_of(bytestr.decode, b"", 9, "f") == "INVALID_ARGUMENT"


def test_lpm_entry_roundtrip(l3: P4InfoIndex) -> None:
    _, e = tr.entry_from_p4r(l3, lpm_entry(b"\x0a\x01\x00\x00", 16))
    assert e == TableEntry(
        "L3Ingress.ipv4_lpm",
        {"hdr.ipv4.dst": Lpm(0x0A010000, 16)},
        "L3Ingress.route",
        {"port": 1, "dmac": 0x020000000101},
        0,
    )
    back = tr.entry_to_p4r(l3, e)
    assert back.match[0].lpm.value == b"\x0a\x01\x00\x00"
    assert back.action.action.params[0].value == b"\x01"
    assert back.action.action.params[1].value == bytes.fromhex("020000000101")


def test_padded_and_canonical_give_the_same_entry(l3: P4InfoIndex) -> None:
    # 10.0.0.0/8 with the value padded to 5 bytes is the same value
    _, a = tr.entry_from_p4r(l3, lpm_entry(b"\x00\x0a\x00\x00\x00", 8))
    _, b = tr.entry_from_p4r(l3, lpm_entry(b"\x0a\x00\x00\x00", 8))
    assert a == b


@pytest.mark.parametrize(
    ("value", "plen", "code"),
    [
        (b"\x0a\x01\x00\x01", 16, "INVALID_ARGUMENT"),  # host bits set
        (b"\x0a\x01\x00\x00", 33, "INVALID_ARGUMENT"),  # prefix longer than the field
        (b"\x00", 0, "INVALID_ARGUMENT"),  # /0 must be omitted
        (b"\x01\x0a\x01\x00\x00", 16, "OUT_OF_RANGE"),  # 33-bit value
    ],
)
def test_lpm_rejections(l3: P4InfoIndex, value: bytes, plen: int, code: str) -> None:
    assert code_of(tr.entry_from_p4r, l3, lpm_entry(value, plen)) == code


def test_priority_rules(l3: P4InfoIndex) -> None:
    assert code_of(tr.entry_from_p4r, l3, lpm_entry(b"\x0a\x00\x00\x00", 8, 5)) == (
        "INVALID_ARGUMENT"
    )
    e = p4r.TableEntry(table_id=MCAST_T)
    fm = e.match.add(field_id=1)
    fm.ternary.value, fm.ternary.mask = b"\xef\x01\x00\x00", b"\xff\xff\x00\x00"
    e.action.action.action_id = NOACTION
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"  # missing priority
    e.priority = 10
    _, got = tr.entry_from_p4r(l3, e)
    assert got.match == {"hdr.ipv4.dst": Ternary(0xEF010000, 0xFFFF0000)}
    assert got.priority == 10 and got.action == "NoAction"


def test_ternary_and_range_rejections(l3: P4InfoIndex) -> None:
    e = p4r.TableEntry(table_id=MCAST_T, priority=1)
    e.action.action.action_id = NOACTION
    fm = e.match.add(field_id=1)
    fm.ternary.value, fm.ternary.mask = b"\xef\x01\x00\x01", b"\xff\xff\x00\x00"
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"  # value outside mask
    fm.ternary.value, fm.ternary.mask = b"\x00", b"\x00"
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"  # zero mask not omitted
    del e.match[:]
    r = e.match.add(field_id=2)
    r.range.low, r.range.high = b"\x07\xd0", b"\x03\xe8"
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"  # low > high
    r.range.low, r.range.high = b"\x03\xe8", b"\x07\xd0"
    _, got = tr.entry_from_p4r(l3, e)
    assert got.match == {"hdr.udp.dport": Range(1000, 2000)}


def test_exact_fields_required_and_kind_checked(l3: P4InfoIndex) -> None:
    e = p4r.TableEntry(table_id=RW_T)
    e.action.action.action_id = NOACTION
    e.match.add(field_id=1).exact.value = b"\x0a"
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"  # egress_port missing
    e.match.add(field_id=2).ternary.value = b"\x02"
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"  # wrong kind
    del e.match[1]
    e.match.add(field_id=2).exact.value = b"\x02\x00"  # 512 does not fit bit<9>
    assert code_of(tr.entry_from_p4r, l3, e) == "OUT_OF_RANGE"
    del e.match[1]
    e.match.add(field_id=2).exact.value = b"\x00\x02"
    _, got = tr.entry_from_p4r(l3, e)
    assert got.match == {"sm.egress_rid": Exact(10), "sm.egress_port": Exact(2)}


def test_action_checks(l3: P4InfoIndex) -> None:
    e = lpm_entry(b"\x0a\x00\x00\x00", 8)
    e.action.action.action_id = SET_MCAST  # not an action of ipv4_lpm
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"
    e = lpm_entry(b"\x0a\x00\x00\x00", 8)
    del e.action.action.params[1]
    assert code_of(tr.entry_from_p4r, l3, e) == "INVALID_ARGUMENT"  # dmac missing
    e = lpm_entry(b"\x0a\x00\x00\x00", 8)
    e.action.action.params[0].value = b"\x02\x00"  # port 512
    assert code_of(tr.entry_from_p4r, l3, e) == "OUT_OF_RANGE"
    e.table_id = 1234
    assert code_of(tr.entry_from_p4r, l3, e) == "NOT_FOUND"


def test_replicas_port_and_deprecated_egress_port() -> None:
    rs = [p4r.Replica(port=b"\x00\x03", instance=1), p4r.Replica(egress_port=4, instance=2)]
    assert tr.replicas_from_p4r(rs, "g") == [Replica(3, 1), Replica(4, 2)]
    dup = [p4r.Replica(port=b"\x03", instance=1), p4r.Replica(egress_port=3, instance=1)]
    assert code_of(tr.replicas_from_p4r, dup, "g") == "INVALID_ARGUMENT"
    assert code_of(tr.replicas_from_p4r, [p4r.Replica(egress_port=600)], "g") == "OUT_OF_RANGE"
    assert tr.replicas_to_p4r([Replica(3, 1)])[0].port == b"\x03"


def test_wildcards_omitted_on_read(l3: P4InfoIndex) -> None:
    e = TableEntry(
        "L3Ingress.mcast_sel",
        {"hdr.ipv4.dst": Ternary(0, 0), "hdr.udp.dport": Range(5000, 5000)},
        "L3Ingress.set_mcast",
        {"grp": 3},
        5,
    )
    pe = tr.entry_to_p4r(l3, e)
    assert [m.field_id for m in pe.match] == [2]
    assert pe.match[0].range.low == bytestr.encode(5000)


def test_optional_match_and_wildcard() -> None:
    info = p4i.P4Info()
    t = info.tables.add()
    t.preamble.id, t.preamble.name = 1, "I.t"
    t.match_fields.add(id=1, name="f", bitwidth=12, match_type=p4i.MatchField.OPTIONAL)
    t.action_refs.add(id=2)
    a = info.actions.add()
    a.preamble.id, a.preamble.name = 2, "I.a"
    idx = P4InfoIndex(info)
    e = p4r.TableEntry(table_id=1, priority=3)
    e.action.action.action_id = 2
    _, got = tr.entry_from_p4r(idx, e)  # field omitted: wildcard
    assert got.match == {} and got.priority == 3
    e.match.add(field_id=1).optional.value = b"\x00\x0f\xff"
    _, got = tr.entry_from_p4r(idx, e)
    assert got.match == {"f": tr.Optional(0xFFF)}
    assert tr.entry_to_p4r(idx, got).match[0].optional.value == b"\x0f\xff"
    e.match[0].optional.value = b"\x10\x00"
    assert code_of(tr.entry_from_p4r, idx, e) == "OUT_OF_RANGE"
    e.match[0].optional.value = b"\x01"
    e.priority = 0  # optional fields need a priority
    assert code_of(tr.entry_from_p4r, idx, e) == "INVALID_ARGUMENT"
