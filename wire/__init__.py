"""Packet layers shared by every part: RFC 8296 BIER (Ethertype 0xAB37), the delivery
application's header (scapy layer and struct codec), and fast frame templates.

Importing `wire` binds the scapy layers: Ether/BIER (0xAB37), BIER/IP (proto 4),
BIER/IPv6 (proto 6), BIER/Ether (proto 3), UDP(dport 50000)/Delivery.
"""

from wire.bier import (
    BIER,
    BSL_BITS,
    BSL_CODES,
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
from wire.constants import CONTROL_PORT, DATA_PORT, ETH_P_BIER, ETH_P_MPLS, MODEL_GROUP
from wire.delivery import BadDatagram, Delivery, DeliveryHeader, MsgType

__all__ = [
    "BIER",
    "BSL_BITS",
    "BSL_CODES",
    "CONTROL_PORT",
    "DATA_PORT",
    "ETH_P_BIER",
    "ETH_P_MPLS",
    "MODEL_GROUP",
    "BadDatagram",
    "Delivery",
    "DeliveryHeader",
    "MsgType",
    "bfr_ids_of",
    "bier_header_len",
    "bift_id",
    "bit_position",
    "bitstring",
    "bitstrings_by_si",
    "bsl_bits",
    "bsl_code",
    "si_of",
]
