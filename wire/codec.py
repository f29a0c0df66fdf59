"""The delivery application's header (inside UDP, port 50000): struct codec (no scapy).

Layout, 36 bytes, big-endian:

    off  size  field
      0     2  magic        0x4D44 ("MD")
      2     1  version      1
      3     1  type         1 DATA, 2 POLL (report your state), 3 FIN (everyone is done)
      4     1  flags        bit 0: repair (sent in answer to a NACK)
      5     1  reserved     0
      6     2  shard        index into the manifest's file list
      8     8  model_id     first 8 bytes of the manifest's digest
     16     4  chunk        chunk index in the shard
     20     4  chunk_count  chunks in the shard
     24     2  chunk_size   nominal payload bytes per chunk (offset = chunk * chunk_size)
     26     2  payload_len  payload bytes that follow the header
     28     2  round        0 = first pass, n = n-th repair round
     30     2  session      random per sender process (a restarted sender gets a new one)
     32     4  crc32        zlib CRC-32 of header (this field zero) and payload

A datagram is valid only if its length is exactly 36 + payload_len and the CRC matches, so
truncated, padded, corrupt and naively forged datagrams are all told apart and counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

try:  # ISA-L's CRC-32 (carry-less multiplication): zlib's very checksum, 5-8x faster
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal is a dependency; zlib computes the same
    from zlib import crc32

MAGIC = 0x4D44
VERSION = 1
HEADER = struct.Struct("!HBBBBHQIIHHHHI")
HEADER_LEN = HEADER.size  # 36
CRC_OFFSET = 32
FLAG_REPAIR = 0x01
MAX_PAYLOAD = 0xFFFF - HEADER_LEN - 28


class MsgType(IntEnum):
    DATA = 1
    POLL = 2
    FIN = 3


class BadDatagram(ValueError):
    """A datagram that is not a valid delivery datagram; `reason` says why (for counting)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeliveryHeader:
    type: int
    shard: int
    model_id: int
    chunk: int
    chunk_count: int
    chunk_size: int
    payload_len: int
    round: int = 0
    session: int = 0
    flags: int = 0


def pack_into(
    buf: bytearray | memoryview, offset: int, hdr: DeliveryHeader, payload_crc: int | None = None
) -> None:
    """Write the header at buf[offset:]; the payload must already be at buf[offset+36:].

    The CRC covers header and payload; it is computed here from the buffer.
    """
    HEADER.pack_into(
        buf,
        offset,
        MAGIC,
        VERSION,
        hdr.type,
        hdr.flags,
        0,
        hdr.shard,
        hdr.model_id,
        hdr.chunk,
        hdr.chunk_count,
        hdr.chunk_size,
        hdr.payload_len,
        hdr.round,
        hdr.session,
        0,
    )
    end = offset + HEADER_LEN + hdr.payload_len
    crc = crc32(memoryview(buf)[offset:end])
    struct.pack_into("!I", buf, offset + CRC_OFFSET, crc)


def encode(hdr: DeliveryHeader, payload: bytes = b"") -> bytes:
    """Header + payload as one datagram."""
    if len(payload) != hdr.payload_len:
        raise ValueError(f"payload is {len(payload)} bytes, header says {hdr.payload_len}")
    buf = bytearray(HEADER_LEN + len(payload))
    buf[HEADER_LEN:] = payload
    pack_into(buf, 0, hdr)
    return bytes(buf)


def decode(data: bytes | bytearray | memoryview) -> DeliveryHeader:
    """Parse and check a datagram; raises BadDatagram with a countable reason."""
    n = len(data)
    if n < HEADER_LEN:
        raise BadDatagram("truncated", f"{n} bytes, header needs {HEADER_LEN}")
    (
        magic,
        version,
        mtype,
        flags,
        _rsv,
        shard,
        model_id,
        chunk,
        count,
        csize,
        plen,
        rnd,
        session,
        crc,
    ) = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise BadDatagram("bad_magic", f"magic 0x{magic:04x}")
    if version != VERSION:
        raise BadDatagram("bad_version", f"version {version}")
    if n != HEADER_LEN + plen:
        raise BadDatagram("bad_length", f"{n} bytes, header says {HEADER_LEN}+{plen}")
    mv = memoryview(data)
    calc = crc32(mv[CRC_OFFSET + 4 :], crc32(b"\0\0\0\0", crc32(mv[:CRC_OFFSET])))
    if calc != crc:
        raise BadDatagram("bad_crc", f"crc 0x{crc:08x}, computed 0x{calc:08x}")
    if mtype not in (MsgType.DATA, MsgType.POLL, MsgType.FIN):
        raise BadDatagram("bad_type", f"type {mtype}")
    return DeliveryHeader(mtype, shard, model_id, chunk, count, csize, plen, rnd, session, flags)
