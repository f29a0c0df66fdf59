"""Primary election by election_id and the packet_in / packet_out header packing."""

from __future__ import annotations

import pytest
from finsy.proto import U128, p4r

from softswitch.api import SwitchError
from softswitch.server.arbitration import Arbiter
from softswitch.server.p4info_index import CpmInfo, P4InfoIndex, ParamInfo
from softswitch.server.packetio import pack, unpack

OK, ALREADY_EXISTS, NOT_FOUND = 0, 6, 5


def upd(eid: int | None, device: int = 1) -> p4r.MasterArbitrationUpdate:
    m = p4r.MasterArbitrationUpdate(device_id=device)
    if eid is not None:
        m.election_id.CopyFrom(U128.encode(eid))
    return m


def statuses(notices) -> dict:
    return {
        s: (n.arbitration.status.code, U128.decode(n.arbitration.election_id)) for s, n in notices
    }


def test_highest_election_id_is_primary_and_all_are_told() -> None:
    arb = Arbiter(1)
    assert statuses(arb.arbitrate("a", upd(5))) == {"a": (OK, 5)}
    assert statuses(arb.arbitrate("b", upd(3))) == {"b": (ALREADY_EXISTS, 5)}
    assert statuses(arb.arbitrate("c", upd(9))) == {
        "a": (ALREADY_EXISTS, 9),
        "b": (ALREADY_EXISTS, 9),
        "c": (OK, 9),
    }
    assert arb.primary() == "c"
    assert arb.is_primary(U128.encode(9)) and not arb.is_primary(U128.encode(5))
    assert not arb.is_primary(None)
    # the primary leaves: the next highest takes over, everyone hears it
    assert statuses(arb.remove("c")) == {"a": (OK, 5), "b": (ALREADY_EXISTS, 5)}
    assert arb.remove("a") and arb.primary() == "b"
    assert statuses(arb.remove("b")) == {}
    assert arb.primary() is None


def test_duplicate_election_id_and_wrong_device() -> None:
    arb = Arbiter(1)
    arb.arbitrate("a", upd(5))
    with pytest.raises(SwitchError) as info:
        arb.arbitrate("b", upd(5))
    assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(SwitchError) as info:
        arb.arbitrate("b", upd(6, device=2))
    assert info.value.code == "NOT_FOUND"
    assert arb.primary() == "a"
    # a client may re-send its own id, or raise it
    assert statuses(arb.arbitrate("a", upd(5))) == {"a": (OK, 5)}


def test_client_without_election_id_is_never_primary() -> None:
    arb = Arbiter(1)
    assert statuses(arb.arbitrate("r", upd(None)))["r"][0] == NOT_FOUND
    assert arb.primary() is None


def test_packet_in_header_roundtrip() -> None:
    cpm = CpmInfo(
        1,
        "packet_in",
        [ParamInfo(1, "ingress_port", 9), ParamInfo(2, "_pad", 7), ParamInfo(3, "orig_port", 16)],
    )
    frame = bytes.fromhex("8180" + "0102") + b"payload"  # port 0x103, pad 0, orig 0x0102
    md, payload = unpack(cpm, frame)
    assert payload == b"payload"
    assert [(m.metadata_id, m.value) for m in md] == [
        (1, b"\x01\x03"),
        (2, b"\x00"),
        (3, b"\x01\x02"),
    ]
    assert pack(cpm, md) + payload == frame


def test_packet_out_header_from_corpus_p4info() -> None:
    from tests.switch.test_translate import load_p4info

    idx = P4InfoIndex(load_p4info("ref_clone_recirc"))
    po = idx.cpm["packet_out"]
    assert pack(po, [p4r.PacketMetadata(metadata_id=1, value=b"\x02")]) == b"\x01\x00"
    with pytest.raises(SwitchError) as info:
        pack(po, [p4r.PacketMetadata(metadata_id=1, value=b"\x02\x00")])
    assert info.value.code == "OUT_OF_RANGE"
