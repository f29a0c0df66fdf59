"""PacketIn / PacketOut: the @controller_header headers described by the P4Info's
controller_packet_metadata, packed MSB-first in field order, as the program's deparser emits
them and its parser extracts them."""

from __future__ import annotations

from finsy.proto import p4r

from softswitch.server import bytestr
from softswitch.server.errors import error
from softswitch.server.p4info_index import CpmInfo


def header_bytes(cpm: CpmInfo) -> int:
    bits = cpm.bitwidth
    if bits % 8:
        raise error(
            "INVALID_ARGUMENT", f"controller header {cpm.name} is {bits} bits, not whole bytes"
        )
    return bits // 8


def pack(cpm: CpmInfo, metadata: list[p4r.PacketMetadata]) -> bytes:
    """The packet_out header for a PacketOut's metadata; absent fields are 0."""
    values: dict[int, int] = {}
    by_id = {f.id: f for f in cpm.fields}
    for m in metadata:
        f = by_id.get(m.metadata_id)
        if f is None:
            raise error("INVALID_ARGUMENT", f"{cpm.name}: unknown metadata id {m.metadata_id}")
        if m.metadata_id in values:
            raise error("INVALID_ARGUMENT", f"{cpm.name}: metadata {f.name} given twice")
        values[m.metadata_id] = bytestr.decode(m.value, f.bitwidth, f"{cpm.name}.{f.name}")
    acc = 0
    for f in cpm.fields:
        acc = (acc << f.bitwidth) | values.get(f.id, 0)
    return acc.to_bytes(header_bytes(cpm), "big")


def unpack(cpm: CpmInfo, frame: bytes) -> tuple[list[p4r.PacketMetadata], bytes]:
    """Split a frame the program sent to the CPU port into packet_in metadata and payload."""
    n = header_bytes(cpm)
    if len(frame) < n:
        raise error("INTERNAL", f"frame to CPU port shorter ({len(frame)} B) than {cpm.name}")
    acc = int.from_bytes(frame[:n], "big")
    out: list[p4r.PacketMetadata] = []
    shift = cpm.bitwidth
    for f in cpm.fields:
        shift -= f.bitwidth
        value = (acc >> shift) & ((1 << f.bitwidth) - 1)
        out.append(p4r.PacketMetadata(metadata_id=f.id, value=bytestr.encode(value)))
    return out, frame[n:]
