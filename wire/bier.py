"""RFC 8296 BIER header (non-MPLS encapsulation, Ethertype 0xAB37) as a scapy layer.

scapy's contrib BIER layer numbers BSL one too low and is not bound to 0xAB37, so the
project defines its own. Layout (RFC 8296 section 2.1, every field):

    BIFT-id(20) TC(3) S(1) TTL(8)
    Nibble(4)=0101 Ver(4) BSL(4) Entropy(20)
    OAM(2) Rsv(2) DSCP(6) Proto(6) BFIR-id(16)
    BitString (2^(BSL+5) bits)

Bit positions follow RFC 8279: BFR-id k lives in set identifier SI = (k-1) div BSL at bit
position ((k-1) mod BSL) + 1, and bit position 1 is the least significant (last) bit of the
BitString on the wire.
"""

from __future__ import annotations

from scapy.fields import BitEnumField, BitField, ShortField, StrLenField
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers

from wire.bitstring import (  # noqa: F401  (re-exported: wire.bier is the public name)
    BIER_FIXED_LEN,
    BIER_NIBBLE,
    BSL_BITS,
    BSL_CODES,
    PROTO_ETHERNET,
    PROTO_IPV4,
    PROTO_IPV6,
    PROTO_MPLS_DOWNSTREAM,
    PROTO_MPLS_UPSTREAM,
    PROTO_NAMES,
    PROTO_OAM,
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
from wire.constants import ETH_P_BIER


class BIER(Packet):
    """RFC 8296 BIER header, non-MPLS encapsulation."""

    name = "BIER"
    fields_desc = [
        BitField("bift_id", 0, 20),
        BitField("tc", 0, 3),
        BitField("s", 1, 1),
        BitField("ttl", 64, 8),
        BitField("nibble", BIER_NIBBLE, 4),
        BitField("ver", 0, 4),
        BitField("bsl", BSL_CODES[256], 4),
        BitField("entropy", 0, 20),
        BitField("oam", 0, 2),
        BitField("rsv", 0, 2),
        BitField("dscp", 0, 6),
        BitEnumField("proto", PROTO_IPV4, 6, PROTO_NAMES),
        ShortField("bfir_id", 0),
        # Sized by the BSL field; an absent BitString is filled with zeros of that size.
        StrLenField("bitstring", b"", length_from=lambda p: BSL_BITS.get(p.bsl, 0) // 8),
    ]

    def self_build(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        want = BSL_BITS.get(self.bsl, 0) // 8
        if self.bitstring is None or len(self.bitstring) == 0:
            self.bitstring = bytes(want)
        if len(self.bitstring) != want:
            raise ValueError(
                f"BIER BitString is {len(self.bitstring)} bytes, BSL code {self.bsl} needs {want}"
            )
        return super().self_build(*args, **kwargs)

    def mysummary(self) -> str:
        return self.sprintf("BIER bfir=%bfir_id% bsl=%bsl% proto=%proto% ttl=%ttl%")


bind_layers(Ether, BIER, type=ETH_P_BIER)
bind_layers(BIER, IP, proto=PROTO_IPV4)
bind_layers(BIER, IPv6, proto=PROTO_IPV6)
bind_layers(BIER, Ether, proto=PROTO_ETHERNET)
