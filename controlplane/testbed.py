"""The control plane as the testbed's hook (testbed/hooks.py): a synchronous facade over the
asyncio Controller, which runs on its own event loop in a background thread.

    cp = ControlPlane(technology="bier")
    net.attach(cp)                          # start(switches, topo): connect, push, install
    asyncio.run(cp.set_receivers([...]))    # awaitable from any loop -> ReceiverChange
    ...                                     # failures: from the switches (gNMI port status)
    cp.events, cp.state_records(), asyncio.run(cp.read_records()); cp.stop()

Switch and event objects are duck-typed (name, device_id, target, grpc_addr; time, kind,
link) so that this module imports nothing of the testbed (and so nothing of Mininet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from controlplane import show
from controlplane.client import REPO, Fabric, SwitchConn, program_files
from controlplane.controller import Controller, EventRecord, ReceiverChange
from controlplane.desired import PROGRAM, p4_technology
from controlplane.entities import McGroup
from controlplane.errors import ControlPlaneError
from controlplane.portwatch import PortEvent, PortWatch
from topologies.model import Topology

LOG = logging.getLogger("controlplane")


class ControlPlane:
    def __init__(
        self,
        technology: str = "bier",
        build: Path | None = None,
        sender: str | None = None,
        receivers: list[str] | None = None,
        watch_ports: bool = True,
        **controller_kw: Any,
    ) -> None:
        """`watch_ports`: subscribe to every switch's port status over gNMI (its `gnmi_addr`,
        else its P4Runtime address) and react to what the switches report
        (controlplane.portwatch); how the controller learns of failures. False: it learns
        of none (a test that drives `controller.on_link_event` itself)."""
        try:
            self.technology = p4_technology(technology)
        except ValueError as e:
            raise ControlPlaneError(str(e)) from None
        self.build = build or REPO / "build"
        self.sender, self.receivers = sender, receivers
        self.controller_kw = controller_kw
        self.watch_ports = watch_ports
        self.portwatch: PortWatch | None = None
        self.controller: Controller | None = None
        self.fabric: Fabric | None = None
        self.pending: list[Future] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="controlplane", daemon=True
        )
        self._thread.start()

    def _run(self, coro: Any, timeout: float | None = 120.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- the testbed hook ------------------------------------------------------------------
    def start(self, switches: list[Any], topo: Topology) -> None:
        p4 = [s for s in switches if getattr(s, "grpc_addr", None)]
        if not p4:
            LOG.warning("controlplane: no P4Runtime switch (bridges only): nothing to program")
            return
        targets = {s.target for s in p4}
        if len(targets) != 1:
            raise ControlPlaneError(f"switches of several targets {sorted(targets)}: one at a time")
        p4info, blob = program_files(PROGRAM[self.technology], targets.pop(), self.build)
        conns = [SwitchConn(s.name, s.grpc_addr, int(s.device_id)) for s in p4]
        self.fabric = Fabric(conns, p4info, blob)
        self.controller = Controller(topo, self.fabric, self.technology, **self.controller_kw)
        self._run(self.fabric.open())
        self._run(self.controller.install(self.sender, self.receivers))
        if self.watch_ports:
            # a switch that serves no port status (gnmi_addr None) is not heard from
            addrs = {s.name: getattr(s, "gnmi_addr", s.grpc_addr) for s in p4}
            deaf = sorted(n for n, a in addrs.items() if not a)
            if deaf:
                LOG.warning(
                    "controlplane: switches %s serve no port status: their failures go unseen",
                    ", ".join(deaf),
                )
            addrs = {n: a for n, a in addrs.items() if a}
            self.portwatch = PortWatch(addrs, self._port_event)
            self._run(self.portwatch.start())
            # a port already down when the watch began (a failure during the install)
            for (sw, port), cause in self.portwatch.down_ports().items():
                now = time.time()
                self._run(self._port_event(PortEvent(sw, port, False, cause, now, now)))

    async def _port_event(self, ev: PortEvent) -> None:
        """On the control plane's loop: the reaction runs in the background, recorded."""
        assert self.controller is not None
        fut = asyncio.run_coroutine_threadsafe(self.controller.on_port_event(ev), self._loop)
        fut.add_done_callback(_log_failure)
        self.pending.append(fut)

    def dump_tables(self, switch: str) -> str:
        if self.fabric is None:
            return "control plane not started"
        if switch not in self.fabric.switches:
            return f"no switch {switch!r}; the switches are {', '.join(self.fabric.switches)}"
        entries = self._run(self.fabric.read_entries(switch))
        groups: list[McGroup] = self._run(self.fabric.read_groups(switch))
        widths = show.schema_widths(self.fabric.switches[switch].p4info)
        return show.tables(switch, entries, groups, widths)

    def stop(self) -> None:
        if self.portwatch is not None:
            with contextlib.suppress(Exception):
                self._run(self.portwatch.stop(), timeout=10)
        try:
            if self.fabric is not None:
                self._run(self.fabric.close(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    # -- for the experiment runner: awaitable from any event loop ---------------------------
    # finsy's connections live on this object's own loop; these coroutines forward to it, so
    # `asyncio.run(cp.install(...))` from the runner works call after call.
    async def _forward(self, coro: Any) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def install(self, sender: str | None = None, receivers: list[str] | None = None) -> Any:
        assert self.controller is not None, "start() first"
        return await self._forward(self.controller.install(sender, receivers))

    async def set_receivers(
        self, receivers: list[str], sender: str | None = None, key: str = ""
    ) -> ReceiverChange:
        assert self.controller is not None, "start() first"
        return await self._forward(self.controller.set_receivers(receivers, sender, key))

    async def keep_trees(self, keys: list[str]) -> int:
        assert self.controller is not None, "start() first"
        return await self._forward(self.controller.keep_trees(keys))

    async def read_records(self) -> list[dict[str, Any]]:
        """Read back from the switches: entries per table, groups, counters."""
        assert self.controller is not None, "start() first"
        return await self._forward(self.controller.read_records())

    @property
    def events(self) -> list[EventRecord]:
        return self.controller.events if self.controller else []

    def wait_reaction(self, link: str, up: bool, timeout: float = 30.0) -> EventRecord:
        """Wait until the controller has heard of `link` going up or down from a switch and
        finished reacting to it; that reaction's record (later reports of the same change by
        the link's other end are duplicates, not reactions)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.events:
                if (rec.link, rec.up) == (link, up) and not rec.duplicate and rec.done:
                    return rec
            time.sleep(0.01)
        state = "up" if up else "down"
        raise TimeoutError(f"no switch reported {link} {state} within {timeout:.0f} s")

    def wait_events(self, timeout: float = 60.0) -> list[EventRecord]:
        """Wait for every link-event reaction scheduled so far; their records."""
        out = [f.result(timeout) for f in self.pending]
        self.pending = []
        return out

    def state_records(self) -> list[dict[str, Any]]:
        return self.controller.state_records() if self.controller else []


def _log_failure(fut: Future) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        LOG.error("controlplane: link event reaction failed: %s", fut.exception())
