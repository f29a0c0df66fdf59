"""Rounds on the P4 testbed (experiments.round.Backend): a testbed.network.Network whose
switches run the technology's P4 program, programmed by the control plane
(experiments.control.TechnologyControl over controlplane.testbed.ControlPlane).

What this backend measures itself: link bytes and packets from the switch interfaces' kernel
counters (/sys/class/net/<intf>/statistics); the sender's first frame from the rx_packets of
the switch port facing it (experiments.arrivals); the switches' state read back over
P4Runtime; whether the switches kept up (frames the kernel handed to a switch port against
frames its P4 ingress counted, MyIngress.in_stats code 0). Failures are applied in their mode
(net.set_link / net.set_switch: carrier or silent) and nobody tells the controller: the
switches notice (carrier, BFD), take their BIER-FRR backups at once, and report over gNMI;
the controller's records give each event's detection (the switch's time of it), reaction and
writes. Data back at a receiver before the controller's first write of the reaction counts
as repaired locally (BIER with BIER-FRR).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from experiments import switch_load
from experiments.arrivals import SYSFS, ArrivalSampler
from experiments.control import TechnologyControl
from experiments.delivery import start_receivers, start_sender
from experiments.modeltap import TapEnd
from experiments.round import SOURCE, Applied, Counters, NetworkEvent, NetworkReport, State
from experiments.schedule import NetEvent
from modelsync.launch import Channel, ReceiverSet, SenderProcess
from topologies.model import Topology
from wire.technology import Technology

OUT_BIER_FRR = 2  # MyEgress.out_stats code: a copy sent by a BIER-FRR backup (p4src/README.md)
RECONVERGE_S = 10.0  # how long a round waits for the network to be whole again


class P4Backend:
    """One P4 technology's rounds on a running testbed network; `ctl` has that technology
    selected (its pipeline pushed, its base state installed)."""

    min_outage_s = 0.005  # receivers' own kernel stamps: a few datagram spacings
    outage_in_first_pass = True  # the quiet time between the first pass and repairs is no outage
    state_delay_s = None

    def __init__(self, net: Any, topo: Topology, ctl: TechnologyControl, model: Path) -> None:
        if ctl.technology is None:
            raise RuntimeError("P4Backend: select a technology on the control first")
        self.net, self.topo, self.ctl, self.model = net, topo, ctl, model
        # what one switch process spends per frame: the auto rate stays below what they forward
        switch_cls = getattr(net, "switch_cls", None)
        self.frame_cpu_s: float | None = getattr(switch_cls, "frame_cpu_s", None)
        self.forwarding_share: float | None = getattr(switch_cls, "forwarding_share", None)
        self.technology = self.label = ctl.technology
        self._down: set[tuple[str, str]] = set()
        self._n_events = 0
        self._rx_before: dict[tuple[str, int], int] = {}
        self._stale = ""  # links the controller still had down when a round began
        self._restored_at = float("inf")
        self._state_before: list[dict[str, Any]] = []
        self._cpu_before: switch_load.CpuSample | None = None

    def set_receivers(
        self, receivers: list[str], source: str, key: str = ""
    ) -> list[dict[str, Any]]:
        change = asyncio.run(self.ctl.cp.set_receivers(receivers, source, key))
        return [
            {"action": "new-set", "switch": "", "writes": change.writes, "started_s": None,
             "duration_s": change.seconds}
        ]  # fmt: skip

    def keep_trees(self, keys: list[str]) -> None:
        """Only the trees of these deliveries stay (SR-P2MP; the others write nothing)."""
        if Technology(self.technology).replication_segments:
            asyncio.run(self.ctl.cp.keep_trees(keys))

    def arrival_sampler(self, source: str) -> ArrivalSampler:
        """The rx packets of the switch port facing the source (its first data frame)."""
        sw, port, _ = self.topo.host_attachment(source)
        stats = SYSFS / self.net.intf_name(sw, port) / "statistics"
        return ArrivalSampler({SOURCE: stats / "rx_packets"})

    def begin(self) -> None:
        self.wait_converged()
        self._state_before = asyncio.run(self.ctl.cp.read_records())
        self._rx_before = switch_rx(self.topo, self.net.intf_name)
        self._cpu_before = switch_load.sample(self._switch_pids())
        self._n_events = len(self.ctl.cp.events)

    def network_pids(self) -> list[int]:
        """The switch processes (experiments.cpu: the network's CPU over a round)."""
        return [p for p in self._switch_pids().values() if p]

    def _switch_pids(self) -> dict[str, int | None]:
        return {s.name: self.net.switch_info(s.name).pid for s in self.topo.switches}

    def link_counters(self) -> Counters:
        return read_link_counters(self.topo, self.net.intf_name)

    def tap_ends(self) -> list[TapEnd]:
        """One switch end of every link (as link_counters reads them), for per-model bytes."""
        switches = {s.name for s in self.topo.switches}
        out = []
        for lk in self.topo.links:
            sw, port, peer = (
                (lk.a, lk.a_port, lk.b) if lk.a in switches else (lk.b, lk.b_port, lk.a)
            )
            out.append(TapEnd(self.net.intf_name(sw, port or 0), out=(sw, peer)))
        return out

    def start_receivers(
        self,
        hosts: list[str],
        source: str,
        work: Path,
        records: Path,
        deadline: float,
        standby: bool = False,
        channel: Channel | None = None,
    ) -> ReceiverSet:
        model = channel.model if channel is not None else self.model
        return start_receivers(self.net, self.topo, hosts, model, source, work, records,
                               deadline, standby, channel)  # fmt: skip

    def start_sender(
        self,
        receivers: list[str],
        source: str,
        rate_mbit: float,
        records: Path,
        deadline: float,
        channel: Channel | None = None,
    ) -> SenderProcess:
        model, sid_file = self.model, self.ctl.root_sid_file
        if channel is not None:
            model, sid_file = channel.model, self.ctl.root_sid_file_for(channel.key)
        return start_sender(
            self.net, self.topo, source, receivers, self.technology, model, rate_mbit,
            records, deadline, self.ctl.bfr_ids(), sid_file, channel,
        )  # fmt: skip

    def apply(self, event: NetEvent) -> list[str]:
        kind = "switch" if event.kind.startswith("switch") else "link"
        mode: Any = event.mode
        if kind == "switch":
            self.net.set_switch(event.element, event.up, mode=mode)
        else:
            self.net.set_link(event.element, event.up, mode=mode)
        (self._down.discard if event.up else self._down.add)((kind, event.element))
        return [f"{a}-{b}" for a, b in event.pairs]

    def restore(self) -> None:
        self._restored_at = time.time()  # the controller's records after it are not the round's
        for kind, el in sorted(self._down):
            (self.net.set_switch if kind == "switch" else self.net.set_link)(el, True)
        self._down.clear()
        self.wait_converged()

    def wait_converged(self, timeout: float = RECONVERGE_S) -> bool:
        """Wait until the controller has every link up again (the switches report a port up
        once its carrier is back and its BFD session Up: a second or two), so that the next
        round starts on the whole network; False (and said in the next round's note) when
        it did not within `timeout`."""
        ctl = getattr(self.ctl, "controller", None)
        if ctl is None:
            return True
        deadline = time.monotonic() + timeout
        while ctl.down:
            if time.monotonic() > deadline:
                names = sorted(ctl.net.topo.links[i].name for i in ctl.down)
                self._stale = f"links still down for the controller at the start: {names}"
                return False
            time.sleep(0.05)
        return True

    def read_state(self, attempts: int = 3) -> State:
        """Tables, groups and counters read back from every switch; a read that times out
        (a switch process starved on a loaded machine) is tried again, `attempts` in all."""
        for attempt in range(attempts):
            try:
                raw = asyncio.run(self.ctl.cp.read_records())
                return State(switch_rows(raw), raw)
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def end(self, applied: list[Applied]) -> NetworkReport:
        with contextlib.suppress(Exception):
            self.ctl.cp.wait_events(30)
        rx_after = switch_rx(self.topo, self.net.intf_name)
        cpu_after = switch_load.sample(self._switch_pids())
        state = self.read_state()
        kernel, p4 = ingress_delta(self._rx_before, rx_after, self._state_before, state.raw)
        ok, drops = kept_up(kernel, p4)
        records = [_as_dict(x) for x in self.ctl.cp.events[self._n_events :]]
        frr = backup_copies(self._state_before, state.raw)
        events = controller_events(applied, records, frr, self._restored_at)
        stray = unexplained(applied, records, self._restored_at)
        self._restored_at = float("inf")
        notes = []
        if not ok and self._cpu_before is not None:
            peers = {
                (sw, port): peer
                for sw in {s.name for s in self.topo.switches}
                for port, (peer, _) in self.topo.neighbours(sw).items()
            }
            notes = switch_load.drop_notes(kernel, p4, self._cpu_before, cpu_after, peers)
        if self._stale:
            notes.append(self._stale)
            self._stale = ""
        if stray:
            notes.append(
                "the switches reported link changes no applied failure explains: "
                + ", ".join(
                    f"{r['link']} {'up' if r.get('up') else 'down'} ({r.get('cause')}, "
                    f"{r.get('detected_by') or '?'})"
                    for r in stray
                )
            )
        return NetworkReport(
            events, state, {"switches_kept_up": ok, "switch_drops": drops}, notes,
            records={"controller.json": records},
        )  # fmt: skip


def _as_dict(x: Any) -> dict[str, Any]:
    return x.record() if hasattr(x, "record") else dict(x)


def backup_copies(st0: list[dict[str, Any]], st1: list[dict[str, Any]]) -> dict[str, int]:
    """Per switch, the copies it sent through BIER-FRR backups in the round (MyEgress.out_stats
    code 2, BIER_FRR, summed over its ports)."""

    def per(st: list[dict[str, Any]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in st:
            frr = r.get("counter") == "MyEgress.out_stats" and r.get("code") == OUT_BIER_FRR
            if r.get("kind") == "counter" and frr:
                out[r["switch"]] = out.get(r["switch"], 0) + r["packets"]
        return out

    p0, p1 = per(st0), per(st1)
    return {sw: n - p0.get(sw, 0) for sw, n in p1.items() if n - p0.get(sw, 0) > 0}


def unexplained(
    applied: list[Applied], records: list[Mapping[str, Any]], restored: float = float("inf")
) -> list[Mapping[str, Any]]:
    """Controller records of the round (before its restoring) that no applied event of the
    same link accounts for: a link the switches took down or up on their own (a BFD session
    that missed its packets on an overloaded machine, say)."""
    out = []
    for r in records:
        if r["occurred"] >= restored:
            continue
        if not any(r.get("link") in ap.links and ap.wall - 0.05 <= r["occurred"] for ap in applied):
            out.append(r)
    return out


def controller_events(
    applied: list[Applied],
    records: list[Mapping[str, Any]],
    backups: Mapping[str, int] | None = None,
    restored: float = float("inf"),
) -> list[NetworkEvent]:
    """The round's applied events with what the controller recorded of each (controlplane
    EventRecord.record()): the records of its links in the same direction after it was
    applied and before the next event of the same links (and before the round's own
    restoring of what was still down, `restored`). detected: the switch's first
    notice; done: the last record's end; writes: all of theirs. `backups`: copies each
    switch sent through BIER-FRR backups in the round: when a switch at the failed links
    sent any, the data plane repaired locally, from the moment the switches noticed."""
    out = []
    for i, ap in enumerate(applied):
        up = ap.kind.endswith("up")
        later = [b.wall for b in applied[i + 1 :] if set(b.links) & set(ap.links)]
        until = min(later, default=restored)
        mine = [
            r
            for r in records
            if r.get("link") in ap.links
            and bool(r.get("up")) == up
            and ap.wall - 0.05 <= r["occurred"] < until
        ]
        writes = [w for r in mine for w in r.get("writes", [])]
        first = min(mine, key=lambda r: r["occurred"], default=None)
        who = None
        if first is not None:
            who = f"{first.get('detected_by') or 'controller'} ({first.get('cause')})"
        ends = {n for link in ap.links for n in link.split("-")}
        local = not up and first is not None and any((backups or {}).get(n) for n in ends)
        out.append(
            NetworkEvent(
                kind=ap.kind,
                element=ap.element,
                occurred=ap.wall,
                in_place=ap.in_place,
                detected=first["occurred"] if first else None,
                done=max((r["done"] for r in mine if r.get("done")), default=None),
                writes=writes,
                mode=ap.mode,
                detected_by=who,
                local_repair=first["occurred"] if local and first is not None else None,
                reaction_started=min((w["started"] for w in writes), default=None),
            )
        )
    return out


# -- the kernel's and the switches' counters ---------------------------------------------------
def read_link_counters(
    topo: Topology, intf_name: Callable[[str, int], str], sysfs: Path = SYSFS
) -> Counters:
    """Bytes and packets per link direction from one switch end of each link: its tx counters
    are the bytes towards the peer, its rx counters the bytes from it."""
    switches = {s.name for s in topo.switches}
    out: Counters = {}
    for lk in topo.links:
        if lk.a in switches:
            sw, port, peer = lk.a, lk.a_port or 0, lk.b
        else:
            sw, port, peer = lk.b, lk.b_port or 0, lk.a
        stats = sysfs / intf_name(sw, port) / "statistics"
        tx = (_read_int(stats / "tx_bytes"), _read_int(stats / "tx_packets"))
        rx = (_read_int(stats / "rx_bytes"), _read_int(stats / "rx_packets"))
        out[(sw, peer)] = tx
        out[(peer, sw)] = rx
    return out


def _read_int(p: Path) -> int:
    try:
        return int(p.read_text().strip())
    except (OSError, ValueError) as e:
        raise RuntimeError(f"cannot read interface counter {p}: {e}") from None


def switch_rx(
    topo: Topology, intf_name: Callable[[str, int], str], sysfs: Path = SYSFS
) -> dict[tuple[str, int], int]:
    """Frames the kernel received on every switch port."""
    out = {}
    for lk in topo.links:
        for end, port in ((lk.a, lk.a_port or 0), (lk.b, lk.b_port or 0)):
            if topo.is_switch(end):
                out[(end, port)] = _read_int(sysfs / intf_name(end, port) / "statistics" /
                                             "rx_packets")  # fmt: skip
    return out


def ingress_delta(
    rx0: Mapping[tuple[str, int], int],
    rx1: Mapping[tuple[str, int], int],
    st0: list[dict[str, Any]],
    st1: list[dict[str, Any]],
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """(frames the kernel received per switch port, frames the P4 ingress counted) in the
    round: kernel rx_packets deltas against MyIngress.in_stats code 0 (RX) deltas."""

    def ingress(st: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
        return {
            (r["switch"], r["port"]): r["packets"]
            for r in st
            if r.get("kind") == "counter"
            and r["counter"] == "MyIngress.in_stats"
            and r["code"] == 0
        }

    i0, i1 = ingress(st0), ingress(st1)
    kernel = {k: rx1[k] - rx0.get(k, 0) for k in rx1}
    p4 = {k: i1.get(k, 0) - i0.get(k, 0) for k in kernel}
    return kernel, p4


def kept_up(
    rx_packets: Mapping[tuple[str, int], int], ingress_packets: Mapping[tuple[str, int], int]
) -> tuple[bool, int]:
    """Whether the switches processed every frame the kernel handed to their ports: per
    (switch, port), frames received on the interface against frames the P4 ingress counted.
    Returns (kept up, frames dropped before the pipeline)."""
    drops = sum(max(0, n - ingress_packets.get(k, 0)) for k, n in rx_packets.items())
    return drops == 0, drops


def switch_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Controller.read_records() (read back over P4Runtime) -> switches rows (no keys)."""
    rows: list[dict[str, Any]] = []
    for r in records:
        if r.get("kind") == "read_table":
            rows.append({"switch": r["switch"], "table": r["table"], "entries": r["entries"]})
        elif r.get("kind") == "read_groups":
            rows.append(
                {"switch": r["switch"], "table": "replication_groups", "entries": r["groups"],
                 "replicas": r["replicas"]}
            )  # fmt: skip
    return rows
