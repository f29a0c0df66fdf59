"""A switch's port status: carrier and, on switch-to-switch ports, the BFD session, combined
into the one bit the data plane and the controller act on.

A port is down while it has no carrier, or while its BFD session is not Up after having
been Up once (as FRR's protocols act on BFD: a session that never came up brings nothing
down). Every change is handed to the listeners with the wall-clock time it was seen.

    mon = PortMonitor({1: "s1-eth1", 2: "s1-eth2"}, liveness_ports={2}, timers=Timers())
    mon.listen(lambda st: ...)      # PortStatus of the port that changed
    mon.start()                     # BFD sessions begin
    mon.set_carrier(2, False)       # from the switch's link reader
    mon.status() -> {port: PortStatus}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from linkmon.bfd import State, Timers
from linkmon.liveness import Liveness
from linkmon.sessions import SessionProcess

log = logging.getLogger("linkmon.status")


@dataclass(frozen=True)
class PortStatus:
    port: int
    name: str  # the interface
    carrier: bool
    session: State | None  # the BFD session's state; None: no session on this port
    session_was_up: bool  # the session has been Up at least once
    time_ns: int  # wall clock (time.time_ns()) of the last change
    session_failures: int = 0  # Up -> Down transitions so far

    @property
    def up(self) -> bool:
        if not self.carrier:
            return False
        return self.session is None or self.session == State.UP or not self.session_was_up

    @property
    def cause(self) -> str:
        """Why the port is down ("" while up): "carrier" or "liveness"."""
        if self.up:
            return ""
        return "carrier" if not self.carrier else "liveness"


Listener = Callable[[PortStatus], None]


class PortMonitor:
    def __init__(
        self,
        ports: dict[int, str],
        liveness_ports: set[int] | frozenset[int] = frozenset(),
        timers: Timers | None = None,
        carrier: dict[int, bool] | None = None,
        own_process: bool = False,
    ) -> None:
        """`own_process`: run the BFD sessions in a child process (linkmon.sessions) rather
        than a thread of this one: for a switch whose own process is busy forwarding."""
        unknown = set(liveness_ports) - set(ports)
        if unknown:
            raise ValueError(f"liveness on ports {sorted(unknown)} that the switch does not have")
        self.timers = timers or Timers()
        now = time.time_ns()
        carrier = carrier or {}
        self._status = {
            p: PortStatus(
                p,
                name,
                carrier.get(p, True),
                State.DOWN if p in liveness_ports else None,
                False,
                now,
            )
            for p, name in ports.items()
        }
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.liveness: Liveness | SessionProcess | None = None
        if liveness_ports:
            mine = {p: ports[p] for p in sorted(liveness_ports)}
            if own_process:
                self.liveness = SessionProcess(mine, self.timers, self._session)
            else:
                self.liveness = Liveness(mine, self.timers, self._session)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        if self.liveness is not None:
            self.liveness.start()
            for p, st in self._status.items():
                if not st.carrier:
                    self.liveness.set_carrier(p, False)

    def stop(self) -> None:
        if self.liveness is not None:
            self.liveness.stop()

    def status(self) -> dict[int, PortStatus]:
        with self._lock:
            return dict(self._status)

    def set_carrier(self, port: int, up: bool) -> None:
        self._update(port, carrier=up)
        if self.liveness is not None:
            self.liveness.set_carrier(port, up)

    def _session(self, port: int, old: State, new: State, at_ns: int | None = None) -> None:
        failed = old == State.UP and new != State.UP
        self._update(port, session=new, failed=failed, at_ns=at_ns)

    def _update(
        self, port: int, *, carrier: bool | None = None, session: State | None = None,
        failed: bool = False, at_ns: int | None = None,
    ) -> None:  # fmt: skip
        with self._lock:
            st = self._status.get(port)
            if st is None:
                return
            new = st
            if carrier is not None:
                new = replace(new, carrier=carrier)
            if session is not None:
                new = replace(
                    new,
                    session=session,
                    session_was_up=new.session_was_up or session == State.UP,
                    session_failures=new.session_failures + failed,
                )
            if new == st:
                return
            new = replace(new, time_ns=at_ns if at_ns is not None else time.time_ns())
            self._status[port] = new
        log.info(
            "port %d (%s): carrier %s, session %s -> %s",
            port, new.name, "up" if new.carrier else "down",
            new.session.name if new.session is not None else "none",
            "up" if new.up else f"down ({new.cause})",
        )  # fmt: skip
        for listener in self._listeners:
            try:
                listener(new)
            except Exception:
                log.exception("port %d: port-status listener failed", port)
