"""The delivery technologies, one spelling for every part: the experiment description, the
control plane, modelsync's command line and records, the results tables.

A `Technology` is a `str` (StrEnum): it compares equal to its spelling and is written as it.
"""

from __future__ import annotations

from enum import StrEnum


class Technology(StrEnum):
    UNICAST = "unicast"  # ingress replication: one IPv4/UDP copy per receiver
    BIER = "bier"  # RFC 8296 frames, BitString per receiver set (P4 switches)
    SR_P2MP = "sr-p2mp"  # SR-MPLS replication segments (P4 switches)
    SRV6_P2MP = "srv6-p2mp"  # SR-P2MP over SRv6: Replication-SIDs are IPv6 addresses (P4)
    PIM_SM = "pim-sm"  # plain IPv4 multicast to the group, routed by PIM-SM (FRR routers)
    PIM_SSM = "pim-ssm"  # the same to a 232/8 group the receivers join for the source (no RP)

    @property
    def multicast(self) -> bool:
        """The network replicates: the source sends each byte once."""
        return self is not Technology.UNICAST

    @property
    def ip_multicast(self) -> bool:
        """Plain IPv4 multicast routed by PIM on FRR routers: one UDP copy to the group."""
        return self in (Technology.PIM_SM, Technology.PIM_SSM)

    @property
    def p4(self) -> bool:
        """Runs on the P4 switches and their controller (PIM-SM and PIM-SSM on FRR routers)."""
        return not self.ip_multicast

    @property
    def replication_segments(self) -> bool:
        """SR-P2MP (over MPLS or SRv6): a controller writes a tree instance per receiver set
        and hands the sender the root's Replication-SID."""
        return self in (Technology.SR_P2MP, Technology.SRV6_P2MP)

    @property
    def raw_frames(self) -> bool:
        """The sender builds whole frames (the encapsulation) on an AF_PACKET socket."""
        return self in (Technology.BIER, Technology.SR_P2MP, Technology.SRV6_P2MP)

    @classmethod
    def parse(cls, name: str) -> Technology:
        """The technology spelled `name`; ValueError naming the spellings otherwise."""
        try:
            return cls(name)
        except ValueError:
            raise ValueError(
                f"unknown technology {name!r}; one of {', '.join(t.value for t in cls)}"
            ) from None


MULTICAST: frozenset[Technology] = frozenset(t for t in Technology if t.multicast)
P4: tuple[Technology, ...] = tuple(t for t in Technology if t.p4)
