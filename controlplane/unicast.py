"""Unicast IPv4 routes: on every switch, one /32 per host with out port and MAC rewrite."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from controlplane.graph import Network
from controlplane.paths import Routing, compute_routing


@dataclass(frozen=True)
class Route:
    switch: str
    host: str
    ip: ipaddress.IPv4Address
    port: int  # out port on `switch`
    src_mac: str  # own port MAC
    dst_mac: str  # next switch's port MAC, or the host's MAC on its own switch
    next_hop: str  # next switch, or the host itself


@dataclass
class UnicastState:
    routes: dict[str, list[Route]]  # per switch, ordered by host IP
    unreachable: dict[str, list[str]] = field(default_factory=dict)  # switch -> hosts


def compute_unicast(net: Network, routing: Routing | None = None) -> UnicastState:
    """Routes on every switch to every host (hosts beyond a partition are listed unreachable)."""
    host_switches = sorted({h.switch for h in net.hosts.values()}, key=net.index.__getitem__)
    if routing is None:
        routing = compute_routing(net, host_switches)
    hosts = sorted(net.hosts.values(), key=lambda h: int(h.ip))
    state = UnicastState({s: [] for s in net.switches})
    for sw in net.switches:
        for h in hosts:
            if h.switch == sw:
                r = Route(sw, h.host, h.ip, h.port, h.switch_mac, h.mac, h.host)
            else:
                a = routing.next_adj(sw, h.switch)
                if a is None:
                    state.unreachable.setdefault(sw, []).append(h.host)
                    continue
                r = Route(sw, h.host, h.ip, a.port, a.src_mac, a.dst_mac, a.peer)
            state.routes[sw].append(r)
    return state
