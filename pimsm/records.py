"""Plain records of what a PIM-SM run measured (pydantic, so they dump to JSON as they are).

Times are time.monotonic() seconds (CLOCK_MONOTONIC: one clock for every namespace).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Rec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MrouteEntry(_Rec):
    """One row of FRR's `show ip mroute json`: source "*" for (*,G)."""

    router: str
    group: str
    source: str
    iif: str
    oifs: list[str]  # as FRR lists them, `pimreg` (the register vif) included
    flags: str
    installed: bool

    @property
    def data_oifs(self) -> list[str]:
        return [o for o in self.oifs if o != "pimreg"]


class PimStateEntry(_Rec):
    """One (S,G)/(*,G) of `show ip pim state json` with its outgoing interfaces."""

    router: str
    group: str
    source: str
    iif: str
    oifs: list[str]
    installed: bool


class RouterMcastState(_Rec):
    router: str
    t: float
    mroutes: list[MrouteEntry]
    pim_state: list[PimStateEntry]
    kernel_mroutes: list[str]  # `ip mroute show` lines: what the kernel forwards with

    @property
    def entries(self) -> int:
        """Multicast state entries pimd holds on this router ((S,G) plus (*,G))."""
        return len(self.mroutes)

    @property
    def replicas(self) -> int:
        """Outgoing data interfaces over the installed entries (copies made per packet of
        every entry, summed)."""
        return sum(len(m.data_oifs) for m in self.mroutes if m.installed)


class IfCounters(_Rec):
    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int


class LinkBytes(_Rec):
    """Bytes and packets sent over one topology link per direction (sender's tx counter, so
    frames a failed link drops are not counted) between two counter snapshots."""

    link: str
    a: str
    b: str
    a_to_b_bytes: int
    b_to_a_bytes: int
    a_to_b_packets: int
    b_to_a_packets: int


class ProbeLog(_Rec):
    """A probe receiver's or sniffer's log."""

    host: str
    t_join: float | None
    t_leave: float | None
    arrivals: list[tuple[int, float]]  # (sequence number, arrival time)


class TreeBuild(_Rec):
    """From a host's join (IGMP report sent) to the first group datagram it receives, with
    the sender already sending: the time PIM needs to graft the host onto the tree."""

    receiver: str
    t_join: float
    t_first_data: float | None
    seconds: float | None


class LinkEvent(_Rec):
    link: str  # "a-b"
    mode: str  # carrier | silent
    bfd: bool
    t_fail: float
    t_restore: float | None = None


class Outage(_Rec):
    """A receiver's longest gap in arrivals after a link failure, until IGP and PIM repaired
    the tree. outage_s is measured from the failure (or the last datagram before it, if
    later) to the datagram that ended the gap; None if nothing arrived after the failure."""

    receiver: str
    link: str
    mode: str
    bfd: bool
    t_fail: float
    t_last_before: float | None
    t_resume: float | None
    outage_s: float | None
    lost_datagrams: int | None
    affected: bool  # the gap is longer than 3 nominal send intervals
    recovered: bool


class LogEvent(_Rec):
    router: str
    daemon: str
    t: float  # monotonic, converted from the log's wall-clock stamp
    message: str


class FailureTimeline(_Rec):
    """When the routers at a failed link noticed (first OSPF adjacency loss or PIM neighbour
    loss on that link's interfaces, from their logs) and when the last affected receiver got
    data again."""

    link: str
    mode: str
    bfd: bool
    t_fail: float
    t_detected: float | None
    detected_by: str | None  # router/daemon: the log message
    t_data_restored: float | None  # the latest t_resume among affected receivers
    detection_s: float | None
    restore_s: float | None
