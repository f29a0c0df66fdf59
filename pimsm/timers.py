"""Protocol timers of the PIM-SM network, stated once so results can quote them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Timers(BaseModel):
    """Every timer the generated FRR configuration sets (FRR 8.4 units noted per field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ospf_hello_s: int = Field(1, ge=1, le=65535)
    ospf_dead_s: int = Field(3, ge=1, le=65535)
    # timers throttle spf DELAY INITIAL-HOLD MAX-HOLD (milliseconds)
    spf_delay_ms: int = Field(0, ge=0, le=600000)
    spf_hold_ms: int = Field(50, ge=0, le=600000)
    spf_max_hold_ms: int = Field(500, ge=0, le=600000)
    # minimum interval between originations / arrivals of one LSA (ms); FRR's default 5000/1000
    lsa_throttle_ms: int = Field(0, ge=0, le=5000)
    lsa_min_arrival_ms: int = Field(0, ge=0, le=600000)
    pim_hello_s: int = Field(1, ge=1, le=65535)
    pim_hold_s: int = Field(4, ge=1, le=65535)
    pim_join_prune_s: int = Field(5, ge=1, le=65535)
    igmp_query_s: int = Field(5, ge=1, le=1800)
    igmp_max_response_ds: int = Field(10, ge=1, le=250)  # deciseconds
    igmp_last_member_query_ds: int = Field(3, ge=1, le=255)  # deciseconds
    igmp_last_member_query_count: int = Field(2, ge=1, le=255)
    bfd_tx_ms: int = Field(100, ge=10, le=60000)
    bfd_rx_ms: int = Field(100, ge=10, le=60000)
    bfd_multiplier: int = Field(3, ge=2, le=255)

    @model_validator(mode="after")
    def _consistent(self) -> Timers:
        if self.ospf_dead_s <= self.ospf_hello_s:
            raise ValueError(
                f"ospf_dead_s ({self.ospf_dead_s}) must exceed ospf_hello_s ({self.ospf_hello_s})"
            )
        if self.pim_hold_s <= self.pim_hello_s:
            raise ValueError(
                f"pim_hold_s ({self.pim_hold_s}) must exceed pim_hello_s ({self.pim_hello_s})"
            )
        if self.igmp_query_s * 10 < self.igmp_max_response_ds:
            raise ValueError("igmp_max_response_ds must not exceed igmp_query_s (FRR's rule)")
        return self

    @property
    def join_prune_hold_s(self) -> float:
        """How long (S,G) join state lives without a refresh: 3.5 x the join/prune interval
        (RFC 7761 4.11, the default Holdtime of a Join/Prune message)."""
        return 3.5 * self.pim_join_prune_s

    def detection_bound_s(self, bfd: bool) -> float:
        """Worst time to notice a silent link failure: BFD detection time or the OSPF dead
        interval (a failure that drops the carrier is seen at once by both ends)."""
        if bfd:
            return self.bfd_multiplier * max(self.bfd_tx_ms, self.bfd_rx_ms) / 1000.0
        return float(self.ospf_dead_s)

    def repair_bound_s(self, bfd: bool) -> float:
        """A generous upper bound on the outage after a failure: detection, SPF hold-down at
        its maximum, and one PIM join/prune period in case the triggered join was lost."""
        return (
            self.detection_bound_s(bfd)
            + (self.spf_delay_ms + self.spf_max_hold_ms) / 1000.0
            + self.pim_join_prune_s
            + 2.0  # scheduling slack on a loaded 2-core machine
        )
