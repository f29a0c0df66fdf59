"""Receivers joining and leaving while the model flows, in a round on any network.

The round's receiver set starts, and the joiners' receivers with it on standby (listening,
silent, not in the group); at the description's times after the first data packet
(`spec.Round.changes`) a GPU host joins or a receiver leaves:
- join: its receiver joins (SIGUSR2: over IP multicast its socket's IGMP report is the join;
  it asks the sender for everything), then the network is told as for a new set
  (`Backend.set_receivers` with the new set: SR-P2MP's controller changes the tree
  make-before-break, BIER and unicast write nothing), then the sender (the members file,
  which modelsync re-reads: BIER sets the host's bit, unicast starts its stream, and every
  technology polls it and repairs what it missed);
- leave: the sender first (no more copies, BIER's bit cleared, no more polls), then the
  network (SR-P2MP's tree without it), then its receiver leaves (SIGUSR1: it drops the group,
  an IGMP leave, and logs for a while what still arrives).
What it costs and how long the network took comes from the records: a joiner's first datagram
and verified model after its join, the last datagram a leaver got after its leave.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Change:
    """One join or leave as the round applied it (wall-clock times)."""

    kind: str  # join | leave
    host: str
    scheduled_s: float
    at: float = 0.0  # joined: its receiver listening; left: the leave began
    writes: int | None = None  # the network's writes for it (None: it has no controller)
    write_s: float | None = None  # how long those writes took


@dataclass
class MembersFile:
    """The members file the sender follows."""

    path: Path

    def write(self, members: list[str], open_: bool) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"members": list(members), "open": open_}))
        tmp.replace(self.path)


@dataclass
class Membership:
    """A round's joins and leaves, applied by a thread after the first data packet."""

    changes: list[tuple[float, str, str]]  # (at, join | leave, host), in time order
    members: list[str]  # who receives now
    file: MembersFile
    signal_join: Callable[[str], None]  # its receiver, waiting on standby, joins
    set_receivers: Callable[[list[str]], list[dict[str, Any]] | None]
    signal_leave: Callable[[str], None]
    applied: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def joiners(self) -> list[str]:
        return [h for _, kind, h in self.changes if kind == "join"]

    def begin(self) -> None:
        """Before the sender starts: who receives, and whether joiners may still come."""
        self.file.write(self.members, bool(self.changes))

    def run(
        self, first_data: Callable[[], float | None], stop: threading.Event
    ) -> threading.Thread:
        def apply_all() -> None:
            t0 = first_data()
            if t0 is None:
                return
            for at, kind, host in self.changes:
                delay = t0 + at - time.time()
                if (delay > 0 and stop.wait(delay)) or stop.is_set():
                    return
                try:
                    self.applied.append(self._apply(at, kind, host))
                except Exception as e:  # reported with the round
                    self.errors.append(f"{kind} {host} at {at} s: {e}")
            with contextlib.suppress(OSError):
                self.file.write(self.members, False)  # no more joiners: the session may end

        th = threading.Thread(target=apply_all, name="exi-membership", daemon=True)
        th.start()
        return th

    def _apply(self, at: float, kind: str, host: str) -> Change:
        ch = Change(kind, host, at)
        if kind == "join":
            ch.at = time.time()
            self.signal_join(host)
            self.members = [*self.members, host]
            self._tell_network(ch)
            self.file.write(self.members, True)
        else:
            ch.at = time.time()
            self.members = [h for h in self.members if h != host]
            self.file.write(self.members, True)
            self._tell_network(ch)
            self.signal_leave(host)
        return ch

    def _tell_network(self, ch: Change) -> None:
        t = time.perf_counter()
        rows = self.set_receivers(list(self.members))
        if rows is not None:
            ch.writes = sum(int(r.get("writes") or 0) for r in rows)
            ch.write_s = time.perf_counter() - t


def signal_leave(procs: Mapping[str, Any], host: str) -> None:
    """Ask a running receiver to leave (modelsync receive: SIGUSR1)."""
    procs[host].send_signal(signal.SIGUSR1)


def signal_join(procs: Mapping[str, Any], host: str) -> None:
    """Ask a receiver on standby to join (modelsync receive --standby: SIGUSR2)."""
    procs[host].send_signal(signal.SIGUSR2)


def receiver_columns(
    applied: list[Change], records: list[dict[str, Any]], t0: float
) -> dict[str, dict[str, float | None]]:
    """Per receiver that joined or left: joined_s, left_s (seconds from the first data
    packet) and stopped_s, how long after its leave the last datagram still reached it."""
    last = {r["receiver"]: (r.get("arrivals") or {}).get("last") for r in records}
    out: dict[str, dict[str, float | None]] = {}
    for ch in applied:
        cols = out.setdefault(ch.host, {"joined_s": None, "left_s": None, "stopped_s": None})
        if ch.kind == "join":
            cols["joined_s"] = ch.at - t0
        else:
            cols["left_s"] = ch.at - t0
            end = last.get(ch.host)
            cols["stopped_s"] = max(0.0, end - ch.at) if end is not None else 0.0
    return out


def control_rows(
    applied: list[Change], records: list[dict[str, Any]], keys: Mapping[str, Any], t0: float
) -> list[dict[str, Any]]:
    """A control row per join or leave: the network's writes and their time where a
    controller changed something (SR-P2MP's tree), else (a network that builds its tree from
    joins) for a join the time from it to the joiner's first datagram, for a leave to the
    last datagram that still reached the leaver."""
    first = {r["receiver"]: r.get("first_packet_at") for r in records}
    last = {r["receiver"]: (r.get("arrivals") or {}).get("last") for r in records}
    rows = []
    for ch in applied:
        if ch.writes is not None:
            writes, duration = ch.writes, ch.write_s
        else:
            end = first.get(ch.host) if ch.kind == "join" else last.get(ch.host)
            writes, duration = None, None if end is None else max(0.0, end - ch.at)
        rows.append(
            {**keys, "action": ch.kind, "switch": ch.host, "writes": writes,
             "started_s": ch.at - t0, "duration_s": duration}
        )  # fmt: skip
    return rows
