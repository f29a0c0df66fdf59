"""The delivery header: struct codec, scapy layer, and error reasons."""

from __future__ import annotations

import struct
import zlib

import pytest

from wire.delivery import (
    HEADER_LEN,
    BadDatagram,
    Delivery,
    DeliveryHeader,
    MsgType,
    decode,
    encode,
)

HDR = DeliveryHeader(
    type=MsgType.DATA,
    shard=7,
    model_id=0x0123456789ABCDEF,
    chunk=0x01020304,
    chunk_count=0x05060708,
    chunk_size=1400,
    payload_len=5,
    round=3,
    session=0xBEEF,
    flags=1,
)


def test_layout_byte_for_byte() -> None:
    raw = encode(HDR, b"hello")
    assert len(raw) == HEADER_LEN + 5 == 41
    fixed = bytes.fromhex("4d440101010000070123456789abcdef0102030405060708057800050003beef")
    assert raw[:32] == fixed
    assert raw[32:36] == struct.pack("!I", zlib.crc32(fixed + b"\0\0\0\0" + b"hello"))
    assert raw[36:] == b"hello"


def test_roundtrip_and_scapy_agree() -> None:
    raw = encode(HDR, b"hello")
    assert decode(raw) == HDR
    sc = (
        Delivery(
            type=1,
            flags=1,
            shard=7,
            model_id=HDR.model_id,
            chunk=HDR.chunk,
            chunk_count=HDR.chunk_count,
            chunk_size=1400,
            round=3,
            session=0xBEEF,
        )
        / b"hello"
    )
    assert bytes(sc) == raw
    back = Delivery(raw)
    assert back.crc32 == struct.unpack("!I", raw[32:36])[0]
    assert back.payload_len == 5 and bytes(back.payload) == b"hello"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r[:20], "truncated"),
        (lambda r: r[:-1], "bad_length"),
        (lambda r: r + b"\0", "bad_length"),
        (lambda r: b"XX" + r[2:], "bad_magic"),
        (lambda r: r[:2] + b"\x09" + r[3:], "bad_version"),
        (lambda r: r[:-1] + bytes([r[-1] ^ 1]), "bad_crc"),
        (lambda r: r[:10] + bytes([r[10] ^ 0x80]) + r[11:], "bad_crc"),
    ],
)
def test_bad_datagrams_are_named(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadDatagram) as err:
        decode(mutate(encode(HDR, b"hello")))
    assert err.value.reason == reason


def test_payload_length_must_match() -> None:
    with pytest.raises(ValueError, match="header says 5"):
        encode(HDR, b"four")
