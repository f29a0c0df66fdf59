"""Link-failure injection: schedules of link/switch down and up events, each event recorded
with its time and handed to subscribers (the experiment's records; the control plane learns
of failures from the switches, not from here).

Two modes, the same for the P4 network and the FRR network (pimsm):
- `carrier`, a pulled cable: the switch-side interfaces of the link are set administratively
  down, so both ends lose carrier (a host's eth0 keeps its address, route and static
  neighbour entry; it just sees NO-CARRIER until the link comes back);
- `silent`, a fault inside a WAN path: both ends drop every frame they send (a zero-length
  queue, `silent_command`) while carrier stays up, so only a liveness protocol (BFD) or a
  routing protocol's dead interval can notice.
A whole switch fails by every one of its links failing at once, in either mode.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from testbed.shaping import CLASS, QDISC

Kind = Literal["down", "up"]
Mode = Literal["carrier", "silent"]
MODES: tuple[Mode, ...] = ("carrier", "silent")
FAIL_QDISC = "99:"  # the zero-length queue's handle


def silent_command(intf: str, on: bool, shaped: bool) -> str:
    """The tc command that makes `intf` drop every frame it sends (`on`), or stop doing so.
    A pfifo of length 0 goes under the link's htb class when the link is shaped (as
    testbed.shaping shapes both networks' links), else at the root; carrier is not touched."""
    where = f"parent {CLASS}" if shaped else "root"
    if on:
        return f"tc qdisc add dev {intf} {where} handle {FAIL_QDISC} pfifo limit 0"
    return f"tc qdisc del dev {intf} {where} handle {FAIL_QDISC}"


def is_shaped(tc_qdisc_show: str) -> bool:
    """Whether `tc qdisc show dev X` shows the htb root that testbed.shaping puts on a link."""
    root = f"qdisc htb {QDISC.split(':')[0]}: root"
    return any(ln.startswith(root) for ln in tc_qdisc_show.splitlines())


def check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"failure mode {mode!r}: one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class LinkEvent:
    """One applied change. `ends`: (node, port) of both ends in topology names (a host's
    port is 0). `time`: wall clock (time.time()) when the change began; `offset`: seconds
    since the schedule began (None when applied by hand); `mode`: how the link failed (an
    "up" event: how it had)."""

    time: float
    kind: Kind
    link: str
    ends: tuple[tuple[str, int], tuple[str, int]]
    cause: str
    offset: float | None = None
    mode: Mode = "carrier"

    def to_json(self) -> str:
        return json.dumps(asdict(self))


Subscriber = Callable[[LinkEvent], None]


@dataclass(frozen=True)
class Action:
    at: float  # seconds after the schedule starts
    kind: Kind
    what: Literal["link", "switch"]
    name: str
    mode: Mode = "carrier"

    def __str__(self) -> str:
        how = f" ({self.mode})" if self.kind == "down" else ""
        return f"t={self.at:g}s {self.what} {self.name} {self.kind}{how}"


@dataclass
class Schedule:
    actions: list[Action] = field(default_factory=list)

    def add(
        self,
        at: float,
        kind: Kind,
        what: Literal["link", "switch"],
        name: str,
        mode: Mode = "carrier",
    ) -> None:
        if at < 0:
            raise ValueError(f"{what} {name}: time {at:g} s must be >= 0")
        self.actions.append(Action(at, kind, what, name, check_mode(mode)))
        self.actions.sort(key=lambda a: a.at)

    @classmethod
    def build(
        cls,
        links: list[str] = (),  # type: ignore[assignment]
        switches: list[str] = (),  # type: ignore[assignment]
        at: float = 0.0,
        duration: float | None = None,
        flaps: int = 1,
        up_for: float | None = None,
        kind: Kind = "down",
        mode: Mode = "carrier",
    ) -> Schedule:
        """Every named link and switch goes `kind` at `at` (failing the `mode` way). With
        `duration`, it comes back after that long; with `flaps` > 1 the down/up cycle
        repeats, `up_for` seconds up between cycles (default: the same as `duration`)."""
        if not links and not switches:
            raise ValueError("name at least one --link or --switch")
        if flaps < 1:
            raise ValueError("--flap: must be >= 1")
        if flaps > 1 and duration is None:
            raise ValueError("--flap needs --for (how long each cycle is down)")
        if duration is not None and duration <= 0:
            raise ValueError("--for: must be > 0")
        s = cls()
        targets = [("link", n) for n in links] + [("switch", n) for n in switches]
        t = at
        for _ in range(flaps):
            for what, name in targets:
                back: Kind = "up" if kind == "down" else "down"
                s.add(t, kind, what, name, mode)  # type: ignore[arg-type]
                if duration is not None:
                    s.add(t + duration, back, what, name, mode)  # type: ignore[arg-type]
            if duration is not None:
                t += duration + (up_for if up_for is not None else duration)
        return s


class Injectable(Protocol):
    """What a schedule needs from a network (the in-process Network, or a RemoteNetwork
    that acts on a network another process owns)."""

    def set_link(
        self,
        name: str,
        up: bool,
        cause: str = "",
        offset: float | None = None,
        mode: Mode = "carrier",
    ) -> LinkEvent: ...

    def set_switch(
        self, name: str, up: bool, offset: float | None = None, mode: Mode = "carrier"
    ) -> list[LinkEvent]: ...


def run_schedule(
    net: Injectable,
    schedule: Schedule,
    on_event: Subscriber | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[LinkEvent]:
    """Apply the actions at their times (relative to now), blocking until the last one."""
    t0 = time.monotonic()
    events: list[LinkEvent] = []
    for action in schedule.actions:
        while (wait := t0 + action.at - time.monotonic()) > 0:
            if stop is not None and stop():
                return events
            time.sleep(min(wait, 0.05))
        offset = time.monotonic() - t0
        up = action.kind == "up"
        if action.what == "link":
            new = [net.set_link(action.name, up, offset=offset, mode=action.mode)]
        else:
            new = net.set_switch(action.name, up, offset=offset, mode=action.mode)
        for ev in new:
            events.append(ev)
            if on_event is not None:
                on_event(ev)
    return events
