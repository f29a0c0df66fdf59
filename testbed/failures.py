"""Link-failure injection: schedules of link/switch down and up events, applied like a cable
pull, each event recorded with its time and handed to subscribers (the control plane).

A link goes down as a pulled cable would: the switch-side interfaces of the link are set
administratively down, so both ends lose carrier (a host's eth0 keeps its address, route and
static neighbour entry; it just sees NO-CARRIER until the link comes back).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

Kind = Literal["down", "up"]


@dataclass(frozen=True)
class LinkEvent:
    """One applied change. `ends`: (node, port) of both ends in topology names (a host's
    port is 0). `time`: wall clock (time.time()); `offset`: seconds since the schedule began
    (None when applied by hand)."""

    time: float
    kind: Kind
    link: str
    ends: tuple[tuple[str, int], tuple[str, int]]
    cause: str
    offset: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))


Subscriber = Callable[[LinkEvent], None]


@dataclass(frozen=True)
class Action:
    at: float  # seconds after the schedule starts
    kind: Kind
    what: Literal["link", "switch"]
    name: str

    def __str__(self) -> str:
        return f"t={self.at:g}s {self.what} {self.name} {self.kind}"


@dataclass
class Schedule:
    actions: list[Action] = field(default_factory=list)

    def add(self, at: float, kind: Kind, what: Literal["link", "switch"], name: str) -> None:
        if at < 0:
            raise ValueError(f"{what} {name}: time {at:g} s must be >= 0")
        self.actions.append(Action(at, kind, what, name))
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
    ) -> Schedule:
        """Every named link and switch goes `kind` at `at`. With `duration`, it comes back
        after that long; with `flaps` > 1 the down/up cycle repeats, `up_for` seconds up
        between cycles (default: the same as `duration`)."""
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
                s.add(t, kind, what, name)  # type: ignore[arg-type]
                if duration is not None:
                    s.add(t + duration, "up" if kind == "down" else "down", what, name)  # type: ignore[arg-type]
            if duration is not None:
                t += duration + (up_for if up_for is not None else duration)
        return s


class Injectable(Protocol):
    """What a schedule needs from a network (the in-process Network, or a RemoteNetwork
    that acts on a network another process owns)."""

    def set_link(
        self, name: str, up: bool, cause: str = "", offset: float | None = None
    ) -> LinkEvent: ...

    def set_switch(self, name: str, up: bool, offset: float | None = None) -> list[LinkEvent]: ...


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
        if action.what == "link":
            new = [net.set_link(action.name, action.kind == "up", offset=offset)]
        else:
            new = net.set_switch(action.name, action.kind == "up", offset=offset)
        for ev in new:
            events.append(ev)
            if on_event is not None:
                on_event(ev)
    return events
