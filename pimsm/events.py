"""Protocol events from the FRR logs (microsecond stamps, `log timestamp precision 6`):
when the routers at a failed link noticed it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pimsm.records import FailureTimeline, LinkEvent, LogEvent, Outage

if TYPE_CHECKING:
    from pimsm.network import PimNetwork

_LINE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}) (\S+): (?:\[[^\]]*\])+ ?(.*)$")


def wall_to_monotonic() -> float:
    """Subtract this from a wall-clock time to get time.monotonic()."""
    return time.time() - time.monotonic()


def read_log(router: str, daemon: str, path: str | Path, offset: float) -> list[LogEvent]:
    out = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        wall = datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S.%f").timestamp()
        out.append(LogEvent(router=router, daemon=daemon, t=wall - offset, message=m.group(3)))
    return out


def link_down_events(net: PimNetwork, event: LinkEvent) -> list[LogEvent]:
    """OSPF adjacency losses and PIM neighbour losses on the failed link's two interfaces,
    after the failure, earliest first."""
    ends = net.links[event.link]
    offset = wall_to_monotonic()
    found: list[LogEvent] = []
    for router, itf in ((ends.a, ends.a_if), (ends.b, ends.b_if)):
        if router not in net.routers:
            continue
        r = net.routers[router]
        for daemon, pattern in (
            ("ospfd", rf"AdjChg: .* on {itf}:.*: Full -> "),
            ("pimd", rf"PIM NEIGHBOR DOWN: .* on interface {itf}\b"),
        ):
            rx = re.compile(pattern)
            for ev in read_log(router, daemon, r.log_path(daemon), offset):
                if ev.t >= event.t_fail - 0.001 and rx.search(ev.message):
                    found.append(ev)
    return sorted(found, key=lambda e: e.t)


# log lines this close to the first one tell of the same detection
SAME_DETECTION_S = 0.005


def detected_by(downs: list[LogEvent]) -> str | None:
    """Who noticed the failure, from its down events (earliest first): the first line, or,
    when one within SAME_DETECTION_S names BFD, that one. With BFD the OSPF adjacency goes
    down as "(InactivityTimer)" microseconds before pimd logs "BFD Session Expired", and BFD
    is what detected it."""
    if not downs:
        return None
    first = downs[0]
    near = [e for e in downs if e.t - first.t <= SAME_DETECTION_S and "BFD" in e.message]
    by = near[0] if near else first
    return f"{by.router}/{by.daemon}: {by.message}"


def failure_timeline(
    net: PimNetwork, event: LinkEvent, outages: Iterable[Outage] = ()
) -> FailureTimeline:
    downs = link_down_events(net, event)
    first = downs[0] if downs else None
    resumed = [o.t_resume for o in outages if o.affected and o.t_resume is not None]
    t_data = max(resumed) if resumed else None
    return FailureTimeline(
        link=event.link,
        mode=event.mode,
        bfd=event.bfd,
        t_fail=event.t_fail,
        t_detected=first.t if first else None,
        detected_by=detected_by(downs),
        t_data_restored=t_data,
        detection_s=None if first is None else first.t - event.t_fail,
        restore_s=None if t_data is None else t_data - event.t_fail,
    )
