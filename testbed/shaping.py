"""Link bandwidth for both emulated networks (testbed's P4 network and pimsm's FRR routers):
one htb qdisc with one class on each end of a link, the link's rate in both buckets.

    from testbed.shaping import shaped_link
    net.addLink(a, b, cls=shaped_link(), bw=2500)     # Mininet; or Link(..., cls1=shaped_intf())

Mininet's own TCIntf stops at 1 Gbit/s: above it logs an error and leaves the link unshaped
(the testbed's log level hides it). Here every rate up to MAX_MBIT is configured as given,
and anything else is refused with ShapingError before a command runs. What a veth pair really
carries above a few Gbit/s is bounded by the CPU, not by the class (README, "Link shaping").

Why these numbers: htb's buckets hold BURST_SECONDS of traffic at the rate, at least
MIN_BURST_BYTES (Mininet's 15 kB is 120 us at 1 Gbit/s; a bucket that stays at 15 kB holds
less and less time as the rate grows, and the class falls further below its rate: README,
"Link shaping"). The ceiling's bucket (cburst) is set to the same size: tc's default for it
is about one MTU (0 at 40 Gbit/s, as the kernel reported it here). tc reads a burst as a
32-bit byte count, which sets MAX_MBIT. The quantum is explicit: with one class it has no
effect, and the one htb derives from a high rate draws a kernel warning. The kernel here has
htb and tbf but no netem or fq, so delay is not shaped here (where a kernel has netem,
Mininet's netem commands go under the class).
"""

from __future__ import annotations

import functools
import math
import socket
from dataclasses import dataclass
from typing import Any

from testbed.netns import in_netns

BURST_SECONDS = 120e-6
MIN_BURST_BYTES = 15_000
MAX_BURST_BYTES = 2**32 - 1  # tc's burst and cburst are unsigned 32-bit byte counts
MAX_MBIT = MAX_BURST_BYTES / BURST_SECONDS * 8 / 1e6  # about 286 Tbit/s
QUANTUM = 60_000
QDISC = "5:0"
CLASS = "5:1"  # where a qdisc under the class goes (pimsm's silent failure: parent 5:1)
DUMP_INTERRUPTED = "Dump was interrupted and may be inconsistent."


class ShapingError(ValueError):
    """A rate that cannot be shaped, or a tc command the kernel refused."""


def check_rate(mbit: float, where: str) -> None:
    """Refuse a rate htb cannot be given as it is; `where` names the link or interface."""
    if not isinstance(mbit, int | float) or isinstance(mbit, bool) or not math.isfinite(mbit):
        raise ShapingError(f"{where}: the rate {mbit!r} Mbit/s is not a finite number.")
    if mbit <= 0:
        raise ShapingError(f"{where}: the rate must be above 0 Mbit/s, not {mbit:g}.")
    if mbit > MAX_MBIT:
        raise ShapingError(
            f"{where}: {mbit:g} Mbit/s cannot be shaped: htb's bucket for {BURST_SECONDS * 1e6:g} "
            f"us at that rate is {burst_bytes(mbit):,} bytes, above the {MAX_BURST_BYTES:,} "
            f"bytes tc accepts (the limit is {MAX_MBIT:,.0f} Mbit/s)."
        )


def burst_bytes(mbit: float) -> int:
    return max(MIN_BURST_BYTES, math.ceil(mbit * 1e6 / 8 * BURST_SECONDS))


def htb_commands(mbit: float, where: str) -> list[str]:
    """The tc commands for one interface, with Mininet's placeholders ('%s' for tc, then the
    interface); the qdisc's default class CLASS carries every frame."""
    check_rate(mbit, where)
    burst = burst_bytes(mbit)
    return [
        f"%s qdisc add dev %s root handle {QDISC} htb default 1",
        f"%s class add dev %s parent {QDISC} classid {CLASS} htb quantum {QUANTUM} "
        f"rate {mbit:f}Mbit burst {burst} cburst {burst}",
    ]


def tc_errors(outputs: list[str]) -> list[str]:
    """What tc commands printed, less the one warning that is no error. tc prints nothing
    when it succeeds, but it looks interfaces up by dumping every link, and says so when that
    dump raced with links coming or going elsewhere (a busy machine); the command still ran."""
    lines = (line.strip() for out in outputs for line in out.splitlines())
    return [line for line in lines if line and line != DUMP_INTERRUPTED]


@functools.cache
def shaped_intf() -> type:
    """Mininet's TCIntf with htb_commands for the bandwidth (imported on first use, so that
    this module loads without Mininet)."""
    from mininet.link import TCIntf

    class ShapedIntf(TCIntf):
        def bwCmds(self, bw: float | None = None, **_: Any) -> tuple[list[str], str]:
            if bw is None:
                return [], " root "
            return htb_commands(bw, f"interface {self}"), f" parent {CLASS} "

        def config(self, **params: Any) -> dict[str, Any] | None:
            result = super().config(**params)
            said = tc_errors((result or {}).get("tcoutputs", []))  # TCIntf only logs them
            if said:
                raise ShapingError(f"interface {self}: tc refused the shaping: {'; '.join(said)}")
            return result

    return ShapedIntf


@functools.cache
def shaped_link() -> type:
    """Mininet's Link with ShapedIntf on both ends (what TCLink is to TCIntf)."""
    from mininet.link import Link

    intf = shaped_intf()

    class ShapedLink(Link):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("cls1", intf)
            kwargs.setdefault("cls2", intf)
            super().__init__(*args, **kwargs)

    return ShapedLink


@dataclass(frozen=True)
class HtbClass:
    """One htb class as the kernel holds it."""

    classid: str  # "5:1"
    rate_bit: int  # bits per second
    ceil_bit: int
    quantum: int


def read_htb(ifname: str, netns: str | None = None) -> list[HtbClass]:
    """The htb classes of an interface, read from the kernel over rtnetlink (pyroute2).
    `netns`: a namespace name or path (/proc/PID/ns/net), else this process's namespace."""
    if netns is not None:
        return in_netns(netns, lambda: read_htb(ifname))
    from pyroute2 import IPRoute

    try:  # by name, without dumping every link (a dump races with links elsewhere)
        index = socket.if_nametoindex(ifname)
    except OSError:
        raise ShapingError(f"there is no interface {ifname} in this network namespace.") from None
    with IPRoute() as ip:
        out = []
        for c in ip.get_classes(index=index):
            if c.get_attr("TCA_KIND") != "htb":
                continue
            opts = c.get_attr("TCA_OPTIONS")
            parms = opts.get_attr("TCA_HTB_PARMS")
            # rates of 2^32 bytes/s and more are only in the 64-bit attributes
            rate = opts.get_attr("TCA_HTB_RATE64") or parms["rate"]
            ceil = opts.get_attr("TCA_HTB_CEIL64") or parms["ceil"]
            handle = c["handle"]
            classid = f"{handle >> 16:x}:{handle & 0xFFFF:x}"
            out.append(HtbClass(classid, rate * 8, ceil * 8, parms["quantum"]))
        return out
