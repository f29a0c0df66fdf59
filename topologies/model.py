"""Typed topology model: the contract between topologies/, controlplane/, experiments/ and the
projection model.

A topology is switches, hosts and links. Every host has exactly one link, to a switch. Port
numbers on a switch are given in the file or assigned deterministically (1, 2, ... in the order
the switch's links appear). Addresses are assigned deterministically from the host's position
unless given.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

HostRole = Literal["model-store", "gpu"]

CPU_PORT = 255  # reserved on every switch for packet-in/packet-out; never a data port
# Node names: up to 32 characters. No '-' (it joins the ends of a link's name, "s1-s2"); the
# testbed maps names too long for a kernel interface to short ones (testbed.names).
NODE_NAME = r"^[a-zA-Z][a-zA-Z0-9_]{0,31}$"
# Link MTU: bytes of an Ethernet frame's payload (IP packet, plus a BIER or MPLS header).
# 9000 (jumbo frames, as GPU clusters run) unless the topology or a link says otherwise;
# 1280 at least (the delivery's control datagrams fit), 65000 at most (a veth's limit, with
# room for the Ethernet header in a switch's 64 KiB receive buffer).
DEFAULT_MTU = 9000
MIN_MTU, MAX_MTU = 1280, 65000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Switch(_Strict):
    name: str = Field(pattern=NODE_NAME)
    # P4Runtime device id; assigned 1, 2, ... in file order when absent.
    device_id: int | None = Field(default=None, ge=0)
    cloud: str | None = None


class Host(_Strict):
    name: str = Field(pattern=NODE_NAME)
    role: HostRole
    cloud: str
    ip: ipaddress.IPv4Address | None = None
    mac: str | None = Field(default=None, pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


class Link(_Strict):
    a: str
    b: str
    # 0 on a host's end (its only interface, eth0), so that a dumped topology loads back.
    a_port: int | None = Field(default=None, ge=0, le=510)
    b_port: int | None = Field(default=None, ge=0, le=510)
    bw_mbit: float = Field(gt=0)
    delay_ms: float = Field(default=0.0, ge=0)
    weight: int = Field(default=1, ge=1)
    mtu: int | None = Field(default=None, ge=MIN_MTU, le=MAX_MTU)  # None: the topology's

    @property
    def name(self) -> str:
        return f"{self.a}-{self.b}"


class Topology(_Strict):
    name: str
    description: str = ""
    mtu: int = Field(default=DEFAULT_MTU, ge=MIN_MTU, le=MAX_MTU)  # every link's, unless given
    switches: list[Switch]
    hosts: list[Host]
    links: list[Link]

    # Name indices built once at validation: lookups stay O(1) on 10,000-host topologies.
    _switch_by_name: dict[str, Switch] = PrivateAttr(default_factory=dict)
    _host_by_name: dict[str, Host] = PrivateAttr(default_factory=dict)
    _host_link: dict[str, Link] = PrivateAttr(default_factory=dict)

    @field_validator("switches")
    @classmethod
    def _unique_switches(cls, v: list[Switch]) -> list[Switch]:
        _no_duplicates([s.name for s in v], "switch name")
        return v

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, v: list[Host]) -> list[Host]:
        _no_duplicates([h.name for h in v], "host name")
        return v

    @model_validator(mode="after")
    def _resolve(self) -> Topology:
        switch_names = {s.name for s in self.switches}
        host_names = {h.name for h in self.hosts}
        clash = switch_names & host_names
        if clash:
            raise ValueError(f"names used by both a switch and a host: {sorted(clash)}")
        host_links: dict[str, int] = {}
        for i, link in enumerate(self.links):
            for end in (link.a, link.b):
                if end not in switch_names and end not in host_names:
                    raise ValueError(f"links[{i}] ({link.name}): unknown node {end!r}")
                if end in host_names:
                    host_links[end] = host_links.get(end, 0) + 1
            if link.a == link.b:
                raise ValueError(f"links[{i}] ({link.name}): a link needs two different ends")
            if link.a in host_names and link.b in host_names:
                raise ValueError(f"links[{i}] ({link.name}): a host must connect to a switch")
        for h in self.hosts:
            n = host_links.get(h.name, 0)
            if n != 1:
                raise ValueError(f"host {h.name!r} has {n} links; every host needs exactly one")
        self._assign_ports(switch_names)
        self._assign_ids_and_addresses()
        return self

    def _assign_ports(self, switch_names: set[str]) -> None:
        used: dict[str, set[int]] = {s: set() for s in switch_names}
        for i, link in enumerate(self.links):
            for end, port in ((link.a, link.a_port), (link.b, link.b_port)):
                if end not in used and port not in (None, 0):
                    raise ValueError(f"links[{i}] ({link.name}): host {end} has only port 0")
                if end in used and port is not None:
                    if port in (0, CPU_PORT):
                        raise ValueError(
                            f"links[{i}] ({link.name}): port {port} of {end} is reserved"
                        )
                    if port in used[end]:
                        raise ValueError(
                            f"links[{i}] ({link.name}): port {port} of {end} used twice"
                        )
                    used[end].add(port)
        for link in self.links:
            for end, attr in ((link.a, "a_port"), (link.b, "b_port")):
                if end in used and getattr(link, attr) is None:
                    port = 1
                    while port in used[end] or port == CPU_PORT:
                        port += 1
                    used[end].add(port)
                    object.__setattr__(link, attr, port)
                elif end not in used:
                    object.__setattr__(link, attr, 0)  # the host side: its only interface, eth0

    def _assign_ids_and_addresses(self) -> None:
        taken = {s.device_id for s in self.switches if s.device_id is not None}
        next_id = 1
        for s in self.switches:
            if s.device_id is None:
                while next_id in taken:
                    next_id += 1
                object.__setattr__(s, "device_id", next_id)
                taken.add(next_id)
        for k, h in enumerate(self.hosts, start=1):
            if h.ip is None:
                object.__setattr__(h, "ip", ipaddress.IPv4Address(0x0A000000 + k))
            if h.mac is None:
                object.__setattr__(h, "mac", "02:00:00:%02x:%02x:%02x" % _bytes3(k))
        _no_duplicates([str(h.ip) for h in self.hosts], "host ip")
        _no_duplicates([h.mac for h in self.hosts], "host mac")
        self._switch_by_name = {s.name: s for s in self.switches}
        self._host_by_name = {h.name: h for h in self.hosts}
        self._host_link = {}
        for link in self.links:
            for end in (link.a, link.b):
                if end in self._host_by_name:
                    self._host_link[end] = link

    # -- queries ---------------------------------------------------------------------------
    def switch(self, name: str) -> Switch:
        try:
            return self._switch_by_name[name]
        except KeyError:
            raise KeyError(f"no switch named {name!r}") from None

    def host(self, name: str) -> Host:
        try:
            return self._host_by_name[name]
        except KeyError:
            raise KeyError(f"no host named {name!r}") from None

    def is_switch(self, name: str) -> bool:
        return name in self._switch_by_name

    def host_attachment(self, host: str) -> tuple[str, int, Link]:
        """The switch a host hangs off, the switch's port towards it, and the link."""
        link = self._host_link.get(host)
        if link is None:
            raise KeyError(f"no link for host {host!r}")
        if link.a == host:
            return link.b, link.b_port or 0, link
        return link.a, link.a_port or 0, link

    def switch_links(self) -> list[Link]:
        """Links whose both ends are switches."""
        names = {s.name for s in self.switches}
        return [lk for lk in self.links if lk.a in names and lk.b in names]

    def link_between(self, a: str, b: str) -> Link:
        """The link joining nodes a and b (either order); "a-b" names it as a string."""
        for link in self.links:
            if {link.a, link.b} == {a, b}:
                return link
        raise KeyError(f"no link between {a!r} and {b!r}")

    def link_mtu(self, link: Link) -> int:
        """The MTU of a link: its own, else the topology's."""
        return link.mtu or self.mtu

    def path_mtu(self) -> int:
        """The largest Ethernet payload every link carries: what a sender sizes its frames to,
        as a stream may take any link (after a failure, a reroute)."""
        return min((self.link_mtu(lk) for lk in self.links), default=self.mtu)

    def neighbours(self, switch: str) -> dict[int, tuple[str, int]]:
        """A switch's ports: port -> (peer node, peer port; 0 for a host's eth0)."""
        out: dict[int, tuple[str, int]] = {}
        for link in self.links:
            if link.a == switch:
                out[link.a_port or 0] = (link.b, link.b_port or 0)
            elif link.b == switch:
                out[link.b_port or 0] = (link.a, link.a_port or 0)
        return dict(sorted(out.items()))

    def gpu_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.role == "gpu"]

    def model_stores(self) -> list[Host]:
        return [h for h in self.hosts if h.role == "model-store"]


def switch_port_mac(device_id: int, port: int) -> str:
    """The MAC address a switch uses as source on a port (deterministic, locally administered)."""
    return "02:5e:%02x:%02x:%02x:%02x" % (
        (device_id >> 8) & 0xFF,
        device_id & 0xFF,
        (port >> 8) & 0xFF,
        port & 0xFF,
    )


def _bytes3(k: int) -> tuple[int, int, int]:
    return (k >> 16) & 0xFF, (k >> 8) & 0xFF, k & 0xFF


def _no_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"duplicate {what}: {n!r}")
        seen.add(n)
