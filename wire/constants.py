"""Numbers every part agrees on (docs/contracts.md)."""

from __future__ import annotations

DATA_PORT = 50000  # receivers listen here (unicast and the model group)
CONTROL_PORT = 50001  # NACKs and reports, unicast to the sender
MODEL_GROUP = "239.1.0.1"  # inner IPv4 destination of every multicast technology

ETH_P_IP = 0x0800
ETH_P_MPLS = 0x8847
ETH_P_IPV6 = 0x86DD
ETH_P_BIER = 0xAB37  # RFC 8296 non-MPLS BIER over Ethernet

IP_PROTO_UDP = 17
DEFAULT_TTL = 64
