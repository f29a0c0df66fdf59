"""Links with a middle that can be pulled without taking either end down.

A plain Mininet link is one veth pair, and pulling it means taking an end down (IFF_UP
cleared). BMv2 cannot live with that: it reads all its ports in one thread through libpcap,
and once a port is taken down its packet socket reports ENETDOWN, after which libpcap 1.10's
pcap_next_ex waits for a frame on that one port (poll with a 1 ms timeout, in a loop). The
switch then forwards nothing on any port while the port is down, and nothing ever again if no
frame reaches that port after it comes back (measured with simple_switch 1.15.5 and libpcap
1.10.3: 800 frames/s between two other ports fell to 0 and stayed there).

A real cable pull only takes the carrier away. A CableLink is two veth pairs joined in the
root namespace by tc (mirred redirect both ways):

    end A <-veth-> middle A ==tc== middle B <-veth-> end B

Pulling it takes the two middles down: both ends lose carrier and stay administratively up,
as ports do when a cable is unplugged. Frames keep their 802.1Q tags across the middle.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from testbed.shaping import shaped_link


class CableError(RuntimeError):
    pass


def middle_names(prefix: str, index: int) -> tuple[str, str]:
    """The middle interfaces of the index-th link of a network (root namespace). The '-'
    right after the prefix keeps them apart from every port and bridge name (those go on
    with a node name, which starts with a letter)."""
    return f"{prefix}-w{index}a", f"{prefix}-w{index}b"


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise CableError(f"`{' '.join(cmd)}` failed: {r.stderr.strip() or 'no message'}.")


def join(mid_a: str, mid_b: str) -> None:
    """Whatever enters one middle leaves through the other (clsact ingress, u32 match-all:
    the classifier this kernel has; matchall and flower may be missing)."""
    for src, dst in ((mid_a, mid_b), (mid_b, mid_a)):
        _run(["tc", "qdisc", "add", "dev", src, "clsact"])
        _run(
            ["tc", "filter", "add", "dev", src, "ingress", "protocol", "all", "u32", "match",
             "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", dst]
        )  # fmt: skip
    for m in (mid_a, mid_b):
        # nothing of the kernel's own (IPv6 router solicitations and the like) on the wire
        _run(["sysctl", "-q", "-w", f"net.ipv6.conf.{m}.disable_ipv6=1"])
        _run(["ip", "link", "set", "dev", m, "up"])


class CableLink(shaped_link()):
    """A shaped link (testbed.shaping: htb on both ends) whose ends are joined through two
    middles.
    `middle=(mid_a, mid_b)`: mid_a pairs with node1's end, mid_b with node2's."""

    def __init__(self, node1: Any, node2: Any, middle: tuple[str, str], **params: Any) -> None:
        self.middle = middle
        super().__init__(node1, node2, **params)

    def makeIntfPair(
        self,
        intfname1: str,
        intfname2: str,
        addr1: str | None = None,
        addr2: str | None = None,
        node1: Any = None,
        node2: Any = None,
        deleteIntfs: bool = True,
    ) -> None:
        root = os.getpid()  # this process runs in the root namespace, where the middles go
        for node, intf, addr, mid in (
            (node1, intfname1, addr1, self.middle[0]),
            (node2, intfname2, addr2, self.middle[1]),
        ):
            mac = f" address {addr}" if addr else ""
            out = node.cmd(f"ip link add name {intf}{mac} type veth peer name {mid} netns {root}")
            if out.strip():
                raise CableError(f"cannot create the veth pair {intf}/{mid}: {out.strip()}.")
        join(*self.middle)
