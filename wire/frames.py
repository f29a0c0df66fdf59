"""Whole frames the sender puts on an AF_PACKET socket, built with struct (fast) and, for
checking, with scapy.

    BIER:    Ethernet(0xAB37) / BIER(RFC 8296) / IPv4 / UDP / delivery header / payload
    SR-P2MP: Ethernet(0x8847) / MPLS(root Replication-SID, S=1) / IPv4 / UDP / header / payload
    SRv6:    Ethernet(0x86DD) / IPv6(dst root Replication-SID, Next Header 4) / IPv4 / UDP /
             header / payload

`FrameTemplate` keeps one preallocated buffer whose fixed prefix is written once; per chunk the
sender writes the delivery datagram at `dgram_offset` and calls `finish(n)`, which patches the
IPv4 total length and checksum and the UDP length (UDP checksum 0: allowed for IPv4, and the
delivery header's CRC-32 protects the datagram end to end), and an outer IPv6 header's payload
length.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from wire.bitstring import BIER_NIBBLE, PROTO_IPV4, bier_header_len, bsl_code
from wire.constants import (
    DATA_PORT,
    DEFAULT_TTL,
    ETH_P_BIER,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_P_MPLS,
    IP_PROTO_UDP,
    MODEL_GROUP,
)
from wire.srv6 import IPV6_LEN, NEXT_HEADER_IPV4
from wire.technology import Technology

ETH_LEN = 14
IPV4_LEN = 20
UDP_LEN = 8
MPLS_LEN = 4


def mac_bytes(mac: str) -> bytes:
    """'02:00:00:00:00:01' -> 6 bytes, with a clear error for a bad address."""
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"MAC address {mac!r} must have 6 ':'-separated octets")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"MAC address {mac!r} has a non-hex octet") from None


def ethernet(dst_mac: str, src_mac: str, ethertype: int) -> bytes:
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype)


def ipv4_checksum(header: bytes | bytearray | memoryview) -> int:
    """RFC 791 header checksum (the checksum field must be zero in `header`)."""
    if len(header) % 2:
        header = bytes(header) + b"\0"
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(
    src_ip: str, dst_ip: str, payload_len: int, sport: int, dport: int, ttl: int = DEFAULT_TTL
) -> bytes:
    """IPv4 (DF, id 0, no options) + UDP (checksum 0) headers for a UDP payload."""
    total = IPV4_LEN + UDP_LEN + payload_len
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        0,
        0x4000,
        ttl,
        IP_PROTO_UDP,
        0,
        socket.inet_aton(src_ip),
        socket.inet_aton(dst_ip),
    )
    hdr = hdr[:10] + struct.pack("!H", ipv4_checksum(hdr)) + hdr[12:]
    return hdr + struct.pack("!HHHH", sport, dport, UDP_LEN + payload_len, 0)


def bier_header(
    bitstring: bytes,
    bfir_id: int,
    *,
    bift_id: int = 0,
    tc: int = 0,
    s: int = 1,
    ttl: int = DEFAULT_TTL,
    ver: int = 0,
    entropy: int = 0,
    oam: int = 0,
    rsv: int = 0,
    dscp: int = 0,
    proto: int = PROTO_IPV4,
) -> bytes:
    """RFC 8296 header bytes; the BSL comes from len(bitstring)."""
    code = bsl_code(len(bitstring) * 8)
    for name, value, bits in (
        ("bift_id", bift_id, 20),
        ("tc", tc, 3),
        ("s", s, 1),
        ("ttl", ttl, 8),
        ("ver", ver, 4),
        ("entropy", entropy, 20),
        ("oam", oam, 2),
        ("rsv", rsv, 2),
        ("dscp", dscp, 6),
        ("proto", proto, 6),
        ("bfir_id", bfir_id, 16),
    ):
        if not 0 <= value < (1 << bits):
            raise ValueError(f"BIER field {name}={value} does not fit in {bits} bits")
    w0 = bift_id << 12 | tc << 9 | s << 8 | ttl
    w1 = BIER_NIBBLE << 28 | ver << 24 | code << 20 | entropy
    w2 = oam << 30 | rsv << 28 | dscp << 22 | proto << 16 | bfir_id
    return struct.pack("!III", w0, w1, w2) + bitstring


def mpls_label(label: int, tc: int = 0, s: int = 1, ttl: int = DEFAULT_TTL) -> bytes:
    if not 0 <= label < (1 << 20):
        raise ValueError(f"MPLS label {label} does not fit in 20 bits")
    return struct.pack("!I", label << 12 | tc << 9 | s << 8 | ttl)


def ipv6_header(
    src: ipaddress.IPv6Address | str,
    dst: ipaddress.IPv6Address | str,
    payload_len: int,
    next_header: int = NEXT_HEADER_IPV4,
    hop_limit: int = DEFAULT_TTL,
) -> bytes:
    """RFC 8200 fixed header: version 6, traffic class and flow label 0."""
    for name, value, bits in (("payload_len", payload_len, 16), ("next_header", next_header, 8),
                              ("hop_limit", hop_limit, 8)):  # fmt: skip
        if not 0 <= value < (1 << bits):
            raise ValueError(f"IPv6 field {name}={value} does not fit in {bits} bits")
    return (
        struct.pack("!IHBB", 6 << 28, payload_len, next_header, hop_limit)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
    )


class FrameTemplate:
    """A reusable frame buffer: fixed L2/encap prefix, then IPv4/UDP, then the datagram."""

    def __init__(
        self,
        l2_prefix: bytes,
        src_ip: str,
        dst_ip: str,
        max_datagram: int,
        sport: int = DATA_PORT,
        dport: int = DATA_PORT,
        ttl: int = DEFAULT_TTL,
        outer_ipv6: bool = False,
    ) -> None:
        self.ip_offset = len(l2_prefix)
        self.dgram_offset = self.ip_offset + IPV4_LEN + UDP_LEN
        self.buf = bytearray(self.dgram_offset + max_datagram)
        self.view = memoryview(self.buf)
        self.buf[: self.ip_offset] = l2_prefix
        self.buf[self.ip_offset : self.dgram_offset] = ipv4_udp(
            src_ip, dst_ip, 0, sport, dport, ttl
        )
        self._ip_head = bytes(self.buf[self.ip_offset : self.dgram_offset - UDP_LEN])
        self._csum: dict[int, int] = {}  # IPv4 checksum per datagram length
        self._len = -1
        # an outer IPv6 header right before the IPv4 packet: its payload length is patched too
        self._ipv6_len_at = self.ip_offset - IPV6_LEN + 4 if outer_ipv6 else None

    def finish(self, dgram_len: int) -> memoryview:
        """Patch the length fields for a datagram of `dgram_len` bytes; return the frame."""
        if dgram_len != self._len:
            total = IPV4_LEN + UDP_LEN + dgram_len
            csum = self._csum.get(dgram_len)
            if csum is None:
                head = bytearray(self._ip_head)
                struct.pack_into("!H", head, 2, total)
                struct.pack_into("!H", head, 10, 0)
                csum = self._csum[dgram_len] = ipv4_checksum(head)
            o = self.ip_offset
            struct.pack_into("!H", self.buf, o + 2, total)
            struct.pack_into("!H", self.buf, o + 10, csum)
            struct.pack_into("!H", self.buf, o + IPV4_LEN + 4, UDP_LEN + dgram_len)
            if self._ipv6_len_at is not None:
                struct.pack_into("!H", self.buf, self._ipv6_len_at, total)
            self._len = dgram_len
        return self.view[: self.dgram_offset + dgram_len]

    def set_l2_prefix(self, l2_prefix: bytes) -> None:
        """Swap the prefix for one of the same length (e.g. another BitString)."""
        if len(l2_prefix) != self.ip_offset:
            raise ValueError(f"prefix is {len(l2_prefix)} bytes, template has {self.ip_offset}")
        self.buf[: self.ip_offset] = l2_prefix
        if self._ipv6_len_at is not None:
            self._len = -1  # the new prefix's IPv6 payload length is patched by finish()


def bier_prefix(
    dst_mac: str, src_mac: str, bitstring: bytes, bfir_id: int, **bier_fields: int
) -> bytes:
    """Ethernet(0xAB37) + BIER header."""
    return ethernet(dst_mac, src_mac, ETH_P_BIER) + bier_header(bitstring, bfir_id, **bier_fields)


def sr_p2mp_prefix(dst_mac: str, src_mac: str, root_sid: int, ttl: int = DEFAULT_TTL) -> bytes:
    """Ethernet(0x8847) + one MPLS label (the root Replication-SID, S=1)."""
    return ethernet(dst_mac, src_mac, ETH_P_MPLS) + mpls_label(root_sid, s=1, ttl=ttl)


def srv6_p2mp_prefix(
    dst_mac: str,
    src_mac: str,
    src: ipaddress.IPv6Address | str,
    root_sid: ipaddress.IPv6Address | str,
    hop_limit: int = DEFAULT_TTL,
) -> bytes:
    """Ethernet(0x86DD) + IPv6 to the root Replication-SID, Next Header 4 (IPv4); the payload
    length is patched per frame by the template."""
    return ethernet(dst_mac, src_mac, ETH_P_IPV6) + ipv6_header(
        src, root_sid, 0, hop_limit=hop_limit
    )


def bier_template(
    dst_mac: str,
    src_mac: str,
    src_ip: str,
    bitstring: bytes,
    bfir_id: int,
    max_datagram: int,
    group: str = MODEL_GROUP,
    dport: int = DATA_PORT,
    **bier_fields: int,
) -> FrameTemplate:
    return FrameTemplate(
        bier_prefix(dst_mac, src_mac, bitstring, bfir_id, **bier_fields),
        src_ip,
        group,
        max_datagram,
        dport=dport,
    )


def sr_p2mp_template(
    dst_mac: str,
    src_mac: str,
    src_ip: str,
    root_sid: int,
    max_datagram: int,
    group: str = MODEL_GROUP,
    dport: int = DATA_PORT,
) -> FrameTemplate:
    return FrameTemplate(
        sr_p2mp_prefix(dst_mac, src_mac, root_sid), src_ip, group, max_datagram, dport=dport
    )


def srv6_p2mp_template(
    dst_mac: str,
    src_mac: str,
    src_ip: str,
    src6: ipaddress.IPv6Address | str,
    root_sid: ipaddress.IPv6Address | str,
    max_datagram: int,
    group: str = MODEL_GROUP,
    dport: int = DATA_PORT,
) -> FrameTemplate:
    return FrameTemplate(
        srv6_p2mp_prefix(dst_mac, src_mac, src6, root_sid), src_ip, group, max_datagram,
        dport=dport, outer_ipv6=True,
    )  # fmt: skip


def ipv4_template(
    dst_mac: str, src_mac: str, src_ip: str, dst_ip: str, max_datagram: int
) -> FrameTemplate:
    """Plain Ethernet/IPv4/UDP (used by the benchmark and for raw unicast)."""
    return FrameTemplate(ethernet(dst_mac, src_mac, ETH_P_IP), src_ip, dst_ip, max_datagram)


def overhead(technology: str, bsl: int = 256) -> int:
    """Bytes a technology adds in front of the IPv4 packet inside the Ethernet payload (BIER
    header, MPLS label, IPv6 header)."""
    if technology == Technology.BIER:
        return bier_header_len(bsl)
    if technology == Technology.SR_P2MP:
        return MPLS_LEN
    if technology == Technology.SRV6_P2MP:
        return IPV6_LEN
    return 0  # unicast, pim-sm: plain IPv4
