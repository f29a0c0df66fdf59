"""Measurements of a running PimNetwork: multicast state per router, bytes per link and
direction, tree build time per receiver, outage per receiver after a link failure."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pimsm.frr import CHECK_WORKERS
from pimsm.records import (
    IfCounters,
    LinkBytes,
    LinkEvent,
    MrouteEntry,
    Outage,
    PimStateEntry,
    ProbeLog,
    RouterMcastState,
    TreeBuild,
)

if TYPE_CHECKING:
    from pimsm.network import PimNetwork

Counters = dict[str, dict[str, IfCounters]]  # node -> interface -> counters


# -- multicast state --------------------------------------------------------------------
def parse_mroutes(router: str, data: Mapping) -> list[MrouteEntry]:
    out = []
    for group, sources in sorted(data.items()):
        if not isinstance(sources, Mapping):
            continue
        for source, e in sorted(sources.items()):
            if not isinstance(e, Mapping):
                continue
            out.append(
                MrouteEntry(
                    router=router,
                    group=group,
                    source=source,
                    iif=str(e.get("iif", "")),
                    oifs=sorted(e.get("oil", {})),
                    flags=str(e.get("flags", "")),
                    installed=bool(e.get("installed", 0)),
                )
            )
    return out


def parse_pim_state(router: str, data: Mapping) -> list[PimStateEntry]:
    out = []
    for group, sources in sorted(data.items()):
        if not isinstance(sources, Mapping):
            continue
        for source, e in sorted(sources.items()):
            if not isinstance(e, Mapping):
                continue
            # {iif: {oif: {...}}, "installed": 1, ...}: the iif is the one dict-valued key
            iifs = {k: v for k, v in e.items() if isinstance(v, Mapping)}
            for iif, oifs in sorted(iifs.items()):
                out.append(
                    PimStateEntry(
                        router=router,
                        group=group,
                        source=source,
                        iif=iif,
                        oifs=sorted(oifs),
                        installed=bool(e.get("installed", 0)),
                    )
                )
    return out


def kernel_mroutes(net: PimNetwork, router: str) -> list[str]:
    """`ip mroute show` in the router's namespace (through nsenter, not the node's shell: safe
    to call from a thread while another one drives the shell, a failure being applied). Where
    multicast routing is emulated, `ip` reads the emulation's table through its shim."""
    pid = net.nodes[router].pid
    r = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "mroute", "show"],
        capture_output=True, text=True, timeout=10, check=False,
        env={**os.environ, **net.mroute_env(router)},
    )  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"{router}: ip mroute show failed: {r.stderr.strip()}")
    return [ln for ln in r.stdout.splitlines() if ln.strip()]


def mcast_state(net: PimNetwork, router: str, threadsafe: bool = False) -> RouterMcastState:
    """FRR's view (show ip mroute / pim state) and the forwarding table (`ip mroute show`).
    `threadsafe` is kept for callers; the table is always read with nsenter."""
    r = net.routers[router]
    t = time.monotonic()
    mr, ps = r.show_json_many(["show ip mroute json", "show ip pim state json"])
    mroutes, state = parse_mroutes(router, mr), parse_pim_state(router, ps)
    kernel = kernel_mroutes(net, router)
    return RouterMcastState(
        router=router, t=t, mroutes=mroutes, pim_state=state, kernel_mroutes=kernel
    )


def mcast_state_all(net: PimNetwork, threadsafe: bool = False) -> list[RouterMcastState]:
    """mcast_state of every router, a few asked at once (CHECK_WORKERS), in router order."""
    with ThreadPoolExecutor(CHECK_WORKERS, thread_name_prefix="pimsm-state") as pool:
        return list(pool.map(lambda r: mcast_state(net, r, threadsafe), net.routers))


def forwarding_peers(net: PimNetwork, state: RouterMcastState, group: str) -> set[str]:
    """Topology nodes this router sends `group` to (the installed entries' data oifs)."""
    peers = set()
    for m in state.mroutes:
        if m.group == group and m.installed:
            for oif in m.data_oifs:
                peers |= {i.peer for i in net.plan.interfaces[state.router] if i.name == oif}
    return peers


# -- bytes per link ---------------------------------------------------------------------
def read_counters(net: PimNetwork) -> Counters:
    snap: Counters = {}
    for name in net.nodes:
        data = json.loads(net.cmd(name, "ip -s -j link show"))
        snap[name] = {
            d["ifname"]: IfCounters(
                rx_bytes=d["stats64"]["rx"]["bytes"],
                tx_bytes=d["stats64"]["tx"]["bytes"],
                rx_packets=d["stats64"]["rx"]["packets"],
                tx_packets=d["stats64"]["tx"]["packets"],
            )
            for d in data
            if "stats64" in d
        }
    return snap


def link_bytes(net: PimNetwork, before: Counters, after: Counters) -> list[LinkBytes]:
    out = []
    for ends in net.links.values():

        def tx(node: str, itf: str, what: str) -> int:
            return getattr(after[node][itf], what) - getattr(before[node][itf], what)

        out.append(
            LinkBytes(
                link=ends.name,
                a=ends.a,
                b=ends.b,
                a_to_b_bytes=tx(ends.a, ends.a_if, "tx_bytes"),
                b_to_a_bytes=tx(ends.b, ends.b_if, "tx_bytes"),
                a_to_b_packets=tx(ends.a, ends.a_if, "tx_packets"),
                b_to_a_packets=tx(ends.b, ends.b_if, "tx_packets"),
            )
        )
    return out


# -- probe logs, tree build, outage -----------------------------------------------------
def read_probe_log(host: str, path: str | Path) -> ProbeLog:
    t_join = t_leave = None
    arrivals: list[tuple[int, float]] = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        parts = line.split()
        if len(parts) != 3:
            continue  # a line cut short by a kill: ignore it
        try:
            event, value, t = parts[0], int(parts[1]), float(parts[2])
        except ValueError as e:
            raise ValueError(f"{path}:{n}: not a probe log line: {line!r}") from e
        if event == "data":
            arrivals.append((value, t))
        elif event == "join":
            t_join = t
        elif event == "leave":
            t_leave = t
    return ProbeLog(host=host, t_join=t_join, t_leave=t_leave, arrivals=arrivals)


def tree_build(log: ProbeLog) -> TreeBuild:
    if log.t_join is None:
        raise ValueError(f"probe log of {log.host} has no join")
    first = next((t for _, t in log.arrivals if t >= log.t_join), None)
    return TreeBuild(
        receiver=log.host,
        t_join=log.t_join,
        t_first_data=first,
        seconds=None if first is None else first - log.t_join,
    )


def outage(
    log: ProbeLog, event: LinkEvent, interval_s: float, t_end: float | None = None
) -> Outage:
    """The longest arrival gap of one receiver from event.t_fail until t_end (default: its last
    arrival). A gap still open at t_end that is the longest so far: not recovered."""
    arr = sorted(a for a in log.arrivals if t_end is None or a[1] <= t_end)
    before = [a for a in arr if a[1] <= event.t_fail]
    after = [a for a in arr if a[1] > event.t_fail]
    last = before[-1] if before else None
    best: tuple[float, tuple[int, float] | None, tuple[int, float]] | None = None
    prev = last
    for a in after:
        start = event.t_fail if prev is None else max(prev[1], event.t_fail)
        gap = a[1] - start
        if best is None or gap > best[0]:
            best = (gap, prev, a)
        prev = a
    if t_end is not None:
        # a gap still open at t_end (longer than the longest closed one) means the receiver has
        # not recovered yet, whatever trickled in right after the failure
        trailing = t_end - max(prev[1] if prev else event.t_fail, event.t_fail)
        if trailing > 3 * interval_s and (best is None or trailing > best[0]):
            best = None
    if best is None:
        return Outage(
            receiver=log.host,
            link=event.link,
            mode=event.mode,
            bfd=event.bfd,
            t_fail=event.t_fail,
            t_last_before=last[1] if last else None,
            t_resume=None,
            outage_s=None,
            lost_datagrams=None,
            affected=True,
            recovered=False,
        )
    gap, gap_prev, resume = best
    return Outage(
        receiver=log.host,
        link=event.link,
        mode=event.mode,
        bfd=event.bfd,
        t_fail=event.t_fail,
        t_last_before=last[1] if last else None,
        t_resume=resume[1],
        outage_s=gap,
        lost_datagrams=None if gap_prev is None else max(0, resume[0] - gap_prev[0] - 1),
        affected=gap > 3 * interval_s,
        recovered=True,
    )


def outages(
    logs: Iterable[ProbeLog], event: LinkEvent, interval_s: float, t_end: float | None = None
) -> list[Outage]:
    return [outage(lg, event, interval_s, t_end) for lg in logs]
