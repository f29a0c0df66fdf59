"""Deterministic addressing for the FRR (PIM-SM) flavour of a topology.

These are real routed hosts, so host addressing differs from contracts.md's /32 scheme:

- router loopback (OSPF router-id, RP address): 10.255.D_hi.D_lo/32, D = the switch's device_id
- router-router link j (0-based, topology order of switch-switch links): a /31 from
  10.254.0.0/16; the link's `a` end gets the even address, `b` the odd one
- host k (1-based, topology order of all hosts): its own /24, 10.(100 + k div 256).(k mod 256).0/24,
  router .1, host .2; the host's default route points at .1 (source .2)
- the host also keeps its topology address (contracts.md, 10.0.0.k) as a /32 on eth0; the
  attached router has a static route to it, redistributed into OSPF, so unicast to 10.0.0.k
  (NACKs, reports) works too. Multicast leaves a host with the source .2 of its /24.

Interface names live inside each node's own namespace: a router's port p is `eth<p>`, a host's
only interface is `eth0`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from topologies.model import Link, Topology

LINK_BLOCK = ipaddress.IPv4Network("10.254.0.0/16")
MAX_HOSTS = (254 - 100) * 256 - 1


@dataclass(frozen=True)
class RouterIf:
    """One interface of a router: its name, address and what is on the other side."""

    name: str
    address: ipaddress.IPv4Interface
    peer: str  # the node on the other end (router or host name, topology names)
    peer_address: ipaddress.IPv4Address
    kind: str  # "core" (router-router) or "host"
    port: int
    link: Link


@dataclass(frozen=True)
class HostAddr:
    name: str
    address: ipaddress.IPv4Interface
    gateway: ipaddress.IPv4Address
    router: str
    router_if: str
    contract_ip: ipaddress.IPv4Address  # the topology's (contracts.md) 10.0.0.k, kept as a /32


@dataclass(frozen=True)
class Plan:
    """Every address in the routed network, derived from the topology alone."""

    loopbacks: dict[str, ipaddress.IPv4Address]
    interfaces: dict[str, list[RouterIf]]  # router -> interfaces in port order
    hosts: dict[str, HostAddr]
    rp_router: str
    rp_address: ipaddress.IPv4Address

    def interface(self, router: str, peer: str) -> RouterIf:
        for itf in self.interfaces[router]:
            if itf.peer == peer:
                return itf
        raise KeyError(f"router {router!r} has no interface towards {peer!r}")


def loopback(device_id: int) -> ipaddress.IPv4Address:
    if not 1 <= device_id <= 0xFFFF:
        raise ValueError(f"device_id {device_id} outside 1..65535: no loopback for it")
    return ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.255.0.0")) + device_id)


def host_subnet(k: int) -> ipaddress.IPv4Network:
    if not 1 <= k <= MAX_HOSTS:
        raise ValueError(f"host number {k} outside 1..{MAX_HOSTS}")
    return ipaddress.IPv4Network(f"10.{100 + k // 256}.{k % 256}.0/24")


def rp_router_for(topo: Topology) -> str:
    """The static RP: the router the (first) model-store host hangs off."""
    stores = topo.model_stores()
    if not stores:
        raise ValueError(f"topology {topo.name!r} has no model-store host: no router for the RP")
    return topo.host_attachment(stores[0].name)[0]


def plan(topo: Topology) -> Plan:
    loops = {s.name: loopback(int(s.device_id or 0)) for s in topo.switches}
    ifs: dict[str, list[RouterIf]] = {s.name: [] for s in topo.switches}
    hosts: dict[str, HostAddr] = {}
    host_index = {h.name: k for k, h in enumerate(topo.hosts, start=1)}
    core_j = 0
    for link in topo.links:
        a_sw, b_sw = topo.is_switch(link.a), topo.is_switch(link.b)
        if a_sw and b_sw:
            if core_j >= LINK_BLOCK.num_addresses // 2:
                raise ValueError(f"link {link.name}: more router-router links than {LINK_BLOCK}")
            base = int(LINK_BLOCK.network_address) + 2 * core_j
            core_j += 1
            a_addr, b_addr = ipaddress.IPv4Address(base), ipaddress.IPv4Address(base + 1)
            ifs[link.a].append(
                RouterIf(
                    f"eth{link.a_port}",
                    ipaddress.IPv4Interface(f"{a_addr}/31"),
                    link.b,
                    b_addr,
                    "core",
                    int(link.a_port or 0),
                    link,
                )
            )
            ifs[link.b].append(
                RouterIf(
                    f"eth{link.b_port}",
                    ipaddress.IPv4Interface(f"{b_addr}/31"),
                    link.a,
                    a_addr,
                    "core",
                    int(link.b_port or 0),
                    link,
                )
            )
        else:
            host, router = (link.b, link.a) if a_sw else (link.a, link.b)
            port = int((link.a_port if a_sw else link.b_port) or 0)
            net = host_subnet(host_index[host])
            gw, addr = net.network_address + 1, net.network_address + 2
            ifs[router].append(
                RouterIf(
                    f"eth{port}",
                    ipaddress.IPv4Interface(f"{gw}/{net.prefixlen}"),
                    host,
                    addr,
                    "host",
                    port,
                    link,
                )
            )
            hosts[host] = HostAddr(
                host,
                ipaddress.IPv4Interface(f"{addr}/{net.prefixlen}"),
                gw,
                router,
                f"eth{port}",
                ipaddress.IPv4Address(str(topo.host(host).ip)),
            )
    for name in ifs:
        ifs[name].sort(key=lambda i: i.port)
    rp = rp_router_for(topo)
    return Plan(loops, ifs, hosts, rp, loops[rp])
