"""RFC 8296 BIER layer and BitString helpers."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import wire  # noqa: F401  (binds the layers)
from wire.bier import (
    BIER,
    bfr_ids_of,
    bier_header_len,
    bift_id,
    bit_position,
    bitstring,
    bitstrings_by_si,
    bsl_bits,
    bsl_code,
    si_of,
)
from wire.frames import bier_header

# Every field non-zero and distinct, so that a field shifted by one bit shows.
FIELDS = dict(
    bift_id=0xABCDE,
    tc=5,
    s=1,
    ttl=0x3C,
    ver=0x9,
    entropy=0x12345,
    oam=2,
    rsv=1,
    dscp=0x2E,
    proto=4,
    bfir_id=0xBEEF,
)


def _expected_bits(bits_of_bitstring: str) -> bytes:
    """The RFC 8296 figure written out as a string of bits, field by field."""
    f = FIELDS
    bits = (
        format(f["bift_id"], "020b")
        + format(f["tc"], "03b")
        + format(f["s"], "01b")
        + format(f["ttl"], "08b")
        + "0101"  # Nibble
        + format(f["ver"], "04b")
        + "0011"  # BSL code 3 = 256 bits
        + format(f["entropy"], "020b")
        + format(f["oam"], "02b")
        + format(f["rsv"], "02b")
        + format(f["dscp"], "06b")
        + format(f["proto"], "06b")
        + format(f["bfir_id"], "016b")
        + bits_of_bitstring
    )
    assert len(bits) % 8 == 0
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def test_rfc8296_layout_byte_for_byte() -> None:
    # BFR-ids 1, 2 and 256 in SI 0: bit positions 1, 2 and 256 (bit 1 = last bit on the wire).
    bs_bits = "1" + "0" * 253 + "11"
    expected = _expected_bits(bs_bits)
    assert len(expected) == 12 + 32
    bs = bitstring([1, 2, 256], bsl=256)
    assert bs == int(bs_bits, 2).to_bytes(32, "big")
    assert bytes(BIER(bsl=3, bitstring=bs, **FIELDS)) == expected
    assert bier_header(bs, **FIELDS) == expected
    # First words spelled out as hex as well.
    assert expected[:12].hex() == "abcdeb3c593123459b84beef"


def test_dissect_every_field() -> None:
    bs = bitstring([3, 200], bsl=256)
    raw = bier_header(bs, **FIELDS)
    p = BIER(raw)
    for name, value in FIELDS.items():
        assert getattr(p, name) == value, name
    assert p.nibble == 0b0101
    assert p.bsl == 3
    assert p.bitstring == bs
    assert bfr_ids_of(p.bitstring) == [3, 200]


@pytest.mark.parametrize("bsl", [64, 128, 256, 512, 1024, 2048, 4096])
def test_bitstring_sized_by_bsl(bsl: int) -> None:
    assert bsl_bits(bsl_code(bsl)) == bsl
    ids = [1, bsl]
    bs = bitstring(ids, bsl=bsl)
    frame = (
        Ether(dst="02:5e:00:01:00:01", src="02:00:00:00:00:01")
        / BIER(bsl=bsl_code(bsl), bitstring=bs, bfir_id=9)
        / IP(src="10.0.0.1", dst="239.1.0.1")
        / UDP(sport=1, dport=2)
        / b"x"
    )
    raw = bytes(frame)
    assert raw[12:14] == b"\xab\x37"
    assert len(raw) == 14 + bier_header_len(bsl) + 20 + 8 + 1
    back = Ether(raw)
    assert back[BIER].bitstring == bs
    assert back[IP].dst == "239.1.0.1"
    assert back[UDP].load == b"x"


def test_codes_match_rfc_not_scapy_contrib() -> None:
    # RFC 8296: 1=64, 2=128, 3=256, ... 7=4096 (scapy contrib uses 0 for 64).
    assert [bsl_code(b) for b in (64, 128, 256, 512, 1024, 2048, 4096)] == [1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="BSL 100"):
        bsl_code(100)
    with pytest.raises(ValueError, match="BSL code 0"):
        bsl_bits(0)


def test_si_and_bit_positions() -> None:
    assert si_of(1) == 0 and bit_position(1) == 1
    assert si_of(256) == 0 and bit_position(256) == 256
    assert si_of(257) == 1 and bit_position(257) == 1
    by_si = bitstrings_by_si([1, 257, 300, 512, 513], bsl=256)
    assert sorted(by_si) == [0, 1, 2]
    assert bfr_ids_of(by_si[0], si=0) == [1]
    assert bfr_ids_of(by_si[1], si=1) == [257, 300, 512]
    assert bfr_ids_of(by_si[2], si=2) == [513]
    assert by_si[1][-1] == 0x01 and by_si[1][0] == 0x80
    with pytest.raises(ValueError, match="SI 1, not SI 0"):
        bitstring([257], si=0)
    with pytest.raises(ValueError, match="BFR-id 0"):
        si_of(0)


def test_bift_id_encoding() -> None:
    assert bift_id(256, si=2, sd=1) == (3 << 16) | (1 << 8) | 2


def test_wrong_bitstring_size_is_refused() -> None:
    with pytest.raises(ValueError, match="BitString is 8 bytes"):
        bytes(BIER(bsl=3, bitstring=b"\0" * 8))
    with pytest.raises(ValueError, match="ttl=256"):
        bier_header(bytes(32), bfir_id=1, ttl=256)
