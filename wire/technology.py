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
    PIM_SM = "pim-sm"  # plain IPv4 multicast to the group, routed by PIM-SM (FRR routers)

    @property
    def multicast(self) -> bool:
        """The network replicates: the source sends each byte once."""
        return self is not Technology.UNICAST

    @property
    def p4(self) -> bool:
        """Runs on the P4 switches and their controller (PIM-SM runs on FRR routers)."""
        return self is not Technology.PIM_SM

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
