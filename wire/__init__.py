"""Packet layers shared by every part.

Modules:
- wire.constants   ports, group, Ethertypes (no scapy)
- wire.bitstring   RFC 8296 BSL codes, Proto values, BitString <-> BFR-ids with SI (no scapy)
- wire.codec       the delivery header as a struct codec (no scapy)
- wire.frames      fast frame templates: Ethernet/BIER|MPLS|IPv6/IPv4/UDP (no scapy)
- wire.srv6        SRv6 locators, Replication-SIDs, the sender's IPv6 address (no scapy)
- wire.technology  the technologies' one spelling for every part (no scapy)
- wire.bier        scapy layer BIER (RFC 8296), bound to Ether type 0xAB37; BIER->IP (proto 4),
                   BIER->IPv6 (6), BIER->Ether (3)
- wire.delivery    scapy layer Delivery, bound to UDP dport 50000 (+ the codec re-exported)

`import wire` alone imports no scapy; touching a scapy name here (wire.BIER, wire.Delivery)
imports and binds the layers.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BIER": "wire.bier",
    "Delivery": "wire.delivery",
    "BSL_BITS": "wire.bitstring",
    "BSL_CODES": "wire.bitstring",
    "bfr_ids_of": "wire.bitstring",
    "bier_header_len": "wire.bitstring",
    "bift_id": "wire.bitstring",
    "bit_position": "wire.bitstring",
    "bitstring": "wire.bitstring",
    "bitstrings_by_si": "wire.bitstring",
    "bsl_bits": "wire.bitstring",
    "bsl_code": "wire.bitstring",
    "si_of": "wire.bitstring",
    "CONTROL_PORT": "wire.constants",
    "DATA_PORT": "wire.constants",
    "ETH_P_BIER": "wire.constants",
    "ETH_P_MPLS": "wire.constants",
    "MODEL_GROUP": "wire.constants",
    "BadDatagram": "wire.codec",
    "DeliveryHeader": "wire.codec",
    "MsgType": "wire.codec",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'wire' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
