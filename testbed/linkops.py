"""Failures applied to root-namespace interfaces over rtnetlink (pyroute2), in the testbed's
own process: a cable pull (administratively down) or the zero-length queue of a silent
failure (testbed.failures) is in place within a millisecond of the time the testbed records
for it. A forked `ip` or `tc` took 2-35 ms on a loaded machine, time that the failure's
detection then seemed to take.

    with RootLinks() as links:
        links.set_up("s1-eth2", False)       # the cable is pulled
        links.silent("s1-eth3", True)        # s1-eth3 drops everything it sends
"""

from __future__ import annotations

from types import TracebackType

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from testbed.failures import FAIL_QDISC
from testbed.shaping import CLASS, QDISC

TC_H_ROOT = 0xFFFFFFFF


def tc_handle(text: str) -> int:
    """ "5:1" -> 0x00050001, "99:" -> 0x00990000 (tc's hexadecimal major:minor)."""
    major, _, minor = text.partition(":")
    return (int(major, 16) << 16) | int(minor or "0", 16)


class LinkOpError(RuntimeError):
    pass


class RootLinks:
    def __init__(self) -> None:
        self._ip = IPRoute()

    def __enter__(self) -> RootLinks:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._ip.close()

    def _index(self, intf: str) -> int:
        found = self._ip.link_lookup(ifname=intf)
        if not found:
            raise LinkOpError(f"interface {intf} does not exist")
        return int(found[0])

    def set_up(self, intf: str, up: bool) -> None:
        """Administratively up or down (down: both ends of the cable lose carrier)."""
        try:
            self._ip.link("set", index=self._index(intf), state="up" if up else "down")
        except NetlinkError as e:
            raise LinkOpError(f"ip link set dev {intf} {'up' if up else 'down'}: {e}") from None

    def shaped(self, index: int) -> bool:
        """Whether testbed.shaping's htb root is on the interface."""
        return any(
            q.get_attr("TCA_KIND") == "htb"
            and q["handle"] == tc_handle(QDISC)
            and q["parent"] == TC_H_ROOT
            for q in self._ip.get_qdiscs(index=index)
        )

    def silent_point(self, intf: str) -> tuple[int, int]:
        """(interface index, the parent a silent failure's queue goes under): the link's htb
        class when testbed.shaping shaped it, else the root. Asked before the failure is
        timed: it reads every qdisc of the interface."""
        index = self._index(intf)
        return index, tc_handle(CLASS) if self.shaped(index) else TC_H_ROOT

    def silent(self, intf: str, on: bool, point: tuple[int, int] | None = None) -> None:
        """`intf` drops every frame it sends (`on`: a pfifo of length 0 at `point`, see
        silent_point), or stops doing so; carrier untouched."""
        index, parent = point or self.silent_point(intf)
        handle = tc_handle(FAIL_QDISC)
        try:
            if on:
                self._ip.tc("add", "pfifo", index=index, handle=handle, parent=parent, limit=0)
            else:
                self._ip.tc("del", index=index, handle=handle, parent=parent)
        except NetlinkError as e:
            raise LinkOpError(
                f"{intf}: cannot {'start' if on else 'stop'} dropping what it sends: {e}"
            ) from None
