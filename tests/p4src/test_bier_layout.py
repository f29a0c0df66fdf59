"""The RFC 8296 BIER header on the wire, byte for byte, for a header whose fields are all
non-zero: written out by hand from RFC 8296 section 2.1 (not with any of our code), then
compared with wire's scapy layer and with what bier.p4 sends."""

from __future__ import annotations

from tests.p4src import p4model as M
from wire.bier import BIER

# bift_id 0xABCDE, TC 5, S 1, TTL 0x3F | nibble 0101, Ver v, BSL 3 (256), Entropy 0x12345 |
# OAM 2, Rsv 1, DSCP 0x2A, Proto 4, BFIR-id 0xBEEF.
FIELDS = dict(
    bift_id=0xABCDE, tc=5, s=1, ttl=0x3F, ver=1, bsl=3, entropy=0x12345,
    oam=2, rsv=1, dscp=0x2A, proto=4, bfir_id=0xBEEF,
)  # fmt: skip
WORDS_VER1 = bytes.fromhex("abcdeb3f513123459a84beef")
IDS = [1, 2, 3, 100, 256]  # bits 0, 1, 2, 99, 255 of the BitString
BITS = ((1 << 255) | (1 << 99) | 0b111).to_bytes(32, "big")


def test_wire_layer_matches_rfc8296_layout() -> None:
    hdr = BIER(**FIELDS)
    hdr.bitstring = BITS
    assert bytes(hdr) == WORDS_VER1 + BITS
    back = BIER(WORDS_VER1 + BITS)
    assert {k: back.getfieldval(k) for k in FIELDS} == FIELDS
    assert back.nibble == 0b0101


def test_bier_p4_keeps_the_layout_and_rewrites_only_ttl_and_bitstring() -> None:
    """Version must be 0 (RFC 8296: other versions are discarded); every other field is
    non-zero. The copy to neighbour A (F-BM {1, 2}) differs only in TTL and BitString."""
    b = M.bier_switch()
    b.sw.insert_entry(
        M.api.TableEntry(
            "MyIngress.bier_bift",
            {"hdr.bier.bift_id": M.api.Exact(0xABCDE)},
            "MyIngress.bier_set_slots",
            {"si": 0, "group_base": 0, "fbm0": M.fbm(1, 2), "fbm1": M.fbm(3, 4)}
            | {f"fbm{i}": 0 for i in range(2, 8)},
        )
    )
    payload = bytes(M.inner())
    eth_in = bytes.fromhex("025e00010005020000000064ab37")
    words_in = bytes.fromhex("abcdeb3f503123459a84beef")
    out = M.run(b.sw, M.SENDER_PORT, eth_in + words_in + BITS + payload)
    to_a = (
        bytes.fromhex("025e00020001025e00010001ab37")
        + bytes.fromhex("abcdeb3e503123459a84beef")
        + (0b011).to_bytes(32, "big")
        + payload
    )
    to_b = (
        bytes.fromhex("025e00030001025e00010002ab37")
        + bytes.fromhex("abcdeb3e503123459a84beef")
        + (0b100).to_bytes(32, "big")
        + payload
    )
    assert out == {1: [to_a], 2: [to_b]}
