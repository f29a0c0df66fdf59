"""How the controller hears of failures: every switch's port status over gNMI (the switch's
OpenConfig leaves, linkmon/gnmi.py), ON_CHANGE, as Stratum-based fabrics report ports.

    watch = PortWatch({"s1": "127.0.0.1:9560", ...}, on_event)
    await watch.start()       # initial state of every port, then a reader per switch
    watch.up("s1", 2)         # what the switch last said about port 2
    await watch.stop()

`on_event(PortEvent)` is called (and awaited when it returns an awaitable) on the watch's
event loop for every port whose status changes after the initial state: down when its
oper-status is DOWN (carrier lost) or its BFD session is not UP after a failure (the same
rule as linkmon.status.PortStatus.up). `detected` is the switch's own time of the change (the
notification's timestamp), `received` the controller's time of arrival.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from finsy import GNMIClient, GNMIPath
from finsy.gnmiclient import GNMIClientError, GNMIUpdate

from controlplane.errors import ControlPlaneError

LOG = logging.getLogger("controlplane.portwatch")

IFINDEX = GNMIPath("interfaces/interface[name=*]/state/ifindex")
OPER_STATUS = GNMIPath("interfaces/interface[name=*]/state/oper-status")
BFD_STATE = GNMIPath("bfd/interfaces/interface[id=*]/peers/peer[local-discriminator=*]/state")


@dataclass(frozen=True)
class PortEvent:
    switch: str
    port: int
    up: bool
    cause: str  # why it is down: "carrier" or "liveness"; "" when up
    detected: float  # wall clock (s) of the change at the switch
    received: float  # wall clock (s) the notification reached the controller


@dataclass
class _Port:
    name: str
    number: int
    carrier: bool = True
    session: str | None = None  # the BFD session's state; None: no session
    failures: int = 0

    @property
    def up(self) -> bool:
        return self.carrier and (self.session in (None, "UP") or self.failures == 0)

    @property
    def cause(self) -> str:
        return "" if self.up else ("carrier" if not self.carrier else "liveness")


@dataclass
class _Switch:
    name: str
    address: str
    client: GNMIClient | None = None
    ports: dict[str, _Port] = field(default_factory=dict)  # by interface name
    task: asyncio.Task | None = None


Handler = Callable[[PortEvent], Awaitable[None] | None]


class PortWatch:
    def __init__(self, addresses: dict[str, str], on_event: Handler) -> None:
        self.switches = {n: _Switch(n, a) for n, a in addresses.items()}
        self.on_event = on_event
        self.events: list[PortEvent] = []

    async def start(self, timeout: float = 30.0) -> None:
        """Subscribe to every switch; returns once each has sent its initial state."""
        try:
            await asyncio.wait_for(
                asyncio.gather(*(self._open(s) for s in self.switches.values())), timeout
            )
        except BaseException:
            await self.stop()
            raise

    async def _open(self, sw: _Switch) -> None:
        client = GNMIClient(sw.address)
        await client.open()
        sw.client = client
        try:
            for u in await client.get(IFINDEX):
                sw.ports[u.path["name"]] = _Port(u.path["name"], int(u.value))
            sub = client.subscribe()
            sub.on_change(OPER_STATUS, BFD_STATE)
            async for u in sub.synchronize():
                self._apply(sw, u)
        except GNMIClientError as e:
            raise ControlPlaneError(
                f"switch {sw.name}: no port status over gNMI at {sw.address}: {e}"
            ) from e
        sw.task = asyncio.create_task(self._read(sw, sub), name=f"portwatch-{sw.name}")

    async def _read(self, sw: _Switch, sub) -> None:
        try:
            async for u in sub.updates():
                received = time.time()
                port = self._apply(sw, u)
                if port is None:
                    continue
                detected = u.timestamp / 1e9
                ev = PortEvent(sw.name, port.number, port.up, port.cause, detected, received)
                self.events.append(ev)
                try:
                    r = self.on_event(ev)
                    if asyncio.iscoroutine(r):
                        await r
                except Exception:
                    LOG.exception("port event handler failed for %s", ev)
        except asyncio.CancelledError:
            raise
        except GNMIClientError as e:
            LOG.warning("switch %s: gNMI subscription ended: %s", sw.name, e)

    def _apply(self, sw: _Switch, u: GNMIUpdate) -> _Port | None:
        """Record one leaf; the port when its up/down state changed."""
        path = u.path
        name = path["id"] if path.first == "bfd" else path["name"]
        port = sw.ports.get(name)
        if port is None:
            return None
        before = port.up
        leaf = path.last
        if leaf == "oper-status":
            port.carrier = u.value == "UP"
        elif leaf == "session-state":
            port.session = str(u.value)
        elif leaf == "failure-transitions":
            port.failures = int(u.value)
        return port if port.up != before else None

    def up(self, switch: str, port: int) -> bool | None:
        for p in self.switches[switch].ports.values():
            if p.number == port:
                return p.up
        return None

    def down_ports(self) -> dict[tuple[str, int], str]:
        """(switch, port) -> cause, for every port down now."""
        return {
            (s.name, p.number): p.cause
            for s in self.switches.values()
            for p in s.ports.values()
            if not p.up
        }

    async def stop(self) -> None:
        tasks = [s.task for s in self.switches.values() if s.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in self.switches.values():
            s.task = None
            if s.client is not None:
                await s.client.close()
                s.client = None
