"""Kernel names for a network's objects in the root namespace: the switch ports' interfaces
and the bridge baseline's bridges. Linux allows at most 15 characters (IFNAMSIZ - 1), while
topology nodes may have longer names; a user sees the node names everywhere (results,
summaries, the CLI, logs), only the kernel gets these.

A switch keeps Mininet's readable names, `<node>-eth<port>` and `<node>` for its bridge
(node = prefix + switch name), when all of them fit. A switch whose names would not fit gets
short ones, `<prefix>s<device id>-<port>` and `<prefix>s<device id>`: the part after the
last '-' is digits only, so a short name never equals a readable one (whose part after the
last '-' is `eth<port>`), and the device ids (unique per topology) keep them apart.
"""

from __future__ import annotations

from topologies.model import Topology

IFNAMSIZ = 15  # characters of an interface name (the kernel's IFNAMSIZ is 16 with the NUL)


class NamingError(ValueError):
    """No kernel name of at most IFNAMSIZ characters can be made (the prefix is too long)."""


class KernelNames:
    """switch port -> interface name, switch -> bridge name, and back."""

    def __init__(self, topo: Topology, prefix: str = "") -> None:
        self.prefix = prefix
        self._port: dict[tuple[str, int], str] = {}
        self._bridge: dict[str, str] = {}
        for s in topo.switches:
            node = prefix + s.name
            ports = list(topo.neighbours(s.name))
            names = {p: f"{node}-eth{p}" for p in ports}
            bridge = node
            if max(map(len, [bridge, *names.values()])) > IFNAMSIZ:
                short = f"{prefix}s{s.device_id}"
                names = {p: f"{short}-{p}" for p in ports}
                bridge = short
                longest = max([bridge, *names.values()], key=len)
                if len(longest) > IFNAMSIZ:
                    raise NamingError(
                        f"switch {s.name}: even its short interface name {longest!r} is "
                        f"longer than {IFNAMSIZ} characters; use a shorter prefix than "
                        f"{prefix!r}."
                    )
            self._bridge[s.name] = bridge
            for p, n in names.items():
                self._port[(s.name, p)] = n
        self._owner = {n: key for key, n in self._port.items()}
        if len(self._owner) != len(self._port):  # device ids given twice in the topology
            raise NamingError(
                f"topology {topo.name!r}: two switch ports would get the same interface name; "
                "every switch needs its own device_id."
            )

    def port(self, switch: str, port: int) -> str:
        """The interface of a switch port in the root namespace."""
        try:
            return self._port[(switch, port)]
        except KeyError:
            raise KeyError(f"switch {switch!r} has no port {port}") from None

    def bridge(self, switch: str) -> str:
        """The Linux bridge of a switch (the bridge baseline)."""
        return self._bridge[switch]

    def owner(self, intf: str) -> tuple[str, int]:
        """(switch, port) of an interface name made here."""
        return self._owner[intf]

    def ports(self) -> dict[tuple[str, int], str]:
        return dict(self._port)
