"""The delivery application's header as a scapy layer (bound to UDP dport 50000), and the
struct codec of wire.codec re-exported. Layout: see wire/codec.py."""

from __future__ import annotations

import struct
import zlib

from scapy.fields import (
    ByteEnumField,
    ByteField,
    IntField,
    ShortField,
    XIntField,
    XLongField,
    XShortField,
)
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from wire.codec import (
    CRC_OFFSET,
    FLAG_REPAIR,
    HEADER,
    HEADER_LEN,
    MAGIC,
    MAX_PAYLOAD,
    VERSION,
    BadDatagram,
    DeliveryHeader,
    MsgType,
    decode,
    encode,
    pack_into,
)
from wire.constants import DATA_PORT


class Delivery(Packet):
    """scapy view of the same header (for building and checking frames in tests)."""

    name = "Delivery"
    fields_desc = [
        XShortField("magic", MAGIC),
        ByteField("version", VERSION),
        ByteEnumField("type", MsgType.DATA, {int(t): t.name for t in MsgType}),
        ByteField("flags", 0),
        ByteField("reserved", 0),
        ShortField("shard", 0),
        XLongField("model_id", 0),
        IntField("chunk", 0),
        IntField("chunk_count", 1),
        ShortField("chunk_size", 0),
        ShortField("payload_len", None),
        ShortField("round", 0),
        ShortField("session", 0),
        XIntField("crc32", None),
    ]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.payload_len is None:
            pkt = pkt[:26] + struct.pack("!H", len(pay)) + pkt[28:]
        if self.crc32 is None:
            crc = zlib.crc32(pkt[:CRC_OFFSET] + b"\0\0\0\0" + pay)
            pkt = pkt[:CRC_OFFSET] + struct.pack("!I", crc)
        return pkt + pay


bind_layers(UDP, Delivery, dport=DATA_PORT)

__all__ = [
    "CRC_OFFSET",
    "FLAG_REPAIR",
    "HEADER",
    "HEADER_LEN",
    "MAGIC",
    "MAX_PAYLOAD",
    "VERSION",
    "BadDatagram",
    "Delivery",
    "DeliveryHeader",
    "MsgType",
    "decode",
    "encode",
    "pack_into",
]
