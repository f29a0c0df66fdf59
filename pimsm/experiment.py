"""One PIM-SM measurement run with the probe stream, as plain records: what the experiment
runner calls for the `pim-sm` technology (or builds on with its own delivery application)."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from pimsm.events import failure_timeline
from pimsm.measure import link_bytes, mcast_state_all, outage, read_counters, tree_build
from pimsm.network import DelayPolicy, FailureMode, PimNetwork
from pimsm.records import (
    FailureTimeline,
    LinkBytes,
    LinkEvent,
    Outage,
    RouterMcastState,
    TreeBuild,
)
from pimsm.session import ProbeSession
from pimsm.timers import Timers
from topologies.model import Topology


class PimRunResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topology: str
    bfd: bool
    timers: Timers
    rp_router: str
    rp_address: str
    host_addresses: dict[str, str]
    converge_s: float  # all daemons started -> OSPF Full, routes, PIM neighbours, RP, BFD up
    rate_pps: float
    payload_bytes: int
    tree_builds: list[TreeBuild]
    state: list[RouterMcastState]  # with every receiver joined, before any failure
    steady_link_bytes: list[LinkBytes]  # over `steady_s` with every receiver joined
    steady_s: float
    failure: LinkEvent | None
    outages: list[Outage]
    timeline: FailureTimeline | None
    state_after_failure: list[RouterMcastState]
    notes: list[str]


def run(
    topo: Topology,
    *,
    bfd: bool = False,
    receivers: list[str] | None = None,
    fail: tuple[str, str] | None = None,
    mode: FailureMode = "silent",
    rate: float = 100.0,
    size: int = 200,
    steady_s: float = 2.0,
    timers: Timers | None = None,
    prefix: str = "pim",
    delay: DelayPolicy = "refuse",
) -> PimRunResult:
    """Bring the network up, start the probe sender on the model store, join `receivers`
    (default: every GPU host) one after another, record state and bytes, then (if `fail`)
    fail that link and record the outage per receiver. Tears everything down."""
    rx = receivers if receivers is not None else [h.name for h in topo.gpu_hosts()]
    with PimNetwork(topo, timers=timers, bfd=bfd, prefix=prefix, delay=delay) as net:
        converge_s = net.wait_converged(timeout=120)
        s = ProbeSession(net, rate=rate, size=size)
        s.start_sender()
        time.sleep(1.0)
        for h in rx:
            s.join(h)
        s.wait_receiving(rx, timeout=30)
        time.sleep(1.0)
        builds = [tree_build(s.receiver_log(h)) for h in rx]
        state = mcast_state_all(net)
        before = read_counters(net)
        time.sleep(steady_s)
        steady = link_bytes(net, before, read_counters(net))
        ev, outs, state_after, timeline = None, [], [], None
        if fail is not None:
            ev = s.fail_link(fail[0], fail[1], mode)
            bound = net.timers.repair_bound_s(bfd)
            deadline = ev.t_fail + bound + 3.0
            while time.monotonic() < deadline:
                time.sleep(0.25)
                now = time.monotonic()
                outs = [outage(s.receiver_log(h), ev, s.interval_s, now) for h in rx]
                if all(o.recovered and now - (o.t_resume or 0) > 1.0 for o in outs):
                    break
            state_after = mcast_state_all(net)
            timeline = failure_timeline(net, ev, outs)
        s.stop()
        return PimRunResult(
            topology=topo.name,
            bfd=bfd,
            timers=net.timers,
            rp_router=net.plan.rp_router,
            rp_address=str(net.plan.rp_address),
            host_addresses={h: str(a.address.ip) for h, a in net.plan.hosts.items()},
            converge_s=converge_s,
            rate_pps=rate,
            payload_bytes=size,
            tree_builds=builds,
            state=state,
            steady_link_bytes=steady,
            steady_s=steady_s,
            failure=ev,
            outages=outs,
            timeline=timeline,
            state_after_failure=state_after,
            notes=list(net.notes),
        )
