"""One round of one technology in the flow model: the model's stream from the source to the
round's receivers (one multicast flow over the tree, or one unicast flow per receiver),
the round's failures and the technology's reaction to them, the repairs after the first
pass, and the rows of every results table.

`RoundSimulation` runs the flows (experiments.flowmodel.FlowSim) from event to event. Its
events, each handled by a method of its own:
- `link_down`: the links go down; the receivers behind them are cut (the source keeps
  sending into the dead link); the technology's reaction is scheduled (`restore`);
- `link_up`: the links come back; cut receivers whose installed path works again get data
  at once; the return to the shortest paths is scheduled (`revert`);
- `restore`: the reaction to a failure is in place: its cut receivers are rerouted, and
  what they missed is resent after the first pass (BIER: one BitString for those cut by
  the same event; SR-P2MP, PIM-SM and unicast: a unicast copy per receiver);
- `revert`: every live flow back on the shortest paths of the repaired network, no loss;
- `stale_expired`: PIM-SM's stale branches of the previous tree lose their state.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from experiments.flowmodel import Flow, FlowSim, Net, shortest_paths
from experiments.ideal import (
    Wire,
    auto_rate,
    efficiency,
    payload_share,
    structural_ideal,
    uses_rpf,
)
from experiments.projection.mechanisms import (
    PIM_JP_HOLD_S,
    new_set_cost,
    reaction_s,
    segment_switches,
    stale_branches,
    switch_hops,
    switch_state,
)
from experiments.schedule import NetEvent
from experiments.spec import ControlTiming
from wire.technology import MULTICAST

Paths = dict[str, list[int]]  # receiver -> directed edge ids from the source


@dataclass
class Params:
    model_bytes: float
    rate_bps: float | None  # sender's pacing rate, bits/s, all copies together; None: auto
    timing: ControlTiming
    wire: Wire = field(default_factory=Wire)


@dataclass
class Cut:
    """A receiver cut off from a flow by a failure."""

    flow: Flow
    receiver: str
    event: int
    t: float


class RoundSimulation:
    """One round (see the module docstring); `run()` gives the rows of every results table and
    the paths used (for the next round's new-set cost). `keys` holds sweep, technology,
    repetition, round; `previous` the previous round's paths (None: the first round)."""

    def __init__(
        self,
        net: Net,
        tech: str,
        source: str,
        receivers: list[str],
        events: list[NetEvent],
        p: Params,
        keys: dict[str, Any],
        previous: Paths | None = None,
    ) -> None:
        net.down.clear()
        self.net, self.tech, self.source, self.receivers = net, tech, source, receivers
        self.p, self.keys, self.previous = p, keys, previous
        self.paths = self.route(receivers)
        rate = p.rate_bps if p.rate_bps is not None else auto_rate(net, tech, self.paths, p.wire)
        self.rate_bps = rate
        pacer = rate / 8 * payload_share(tech, p.wire)
        self.sim = FlowSim(net, efficiency(net, tech, p.wire), pacer)
        size = float(p.model_bytes)
        if tech in MULTICAST:
            self.stream = [self.sim.add("stream", size, dict(self.paths))]
        else:
            self.stream = [self.sim.add("stream", size, {r: self.paths[r]}) for r in receivers]
        self.serving: dict[str, list[Flow]] = {r: [] for r in receivers}
        for f in self.stream:
            for r in f.paths:
                self.serving[r].append(f)
        self.failures: list[dict[str, Any]] = []  # event rows
        self.control: list[dict[str, Any]] = []
        self.outages: dict[int, list[dict[str, Any]]] = {}  # per event, its receivers' rows
        self.event_info: dict[int, dict[str, Any]] = {}
        self.cuts: list[Cut] = []
        self.repaired: dict[str, float] = dict.fromkeys(receivers, 0.0)
        self.pending: list[tuple[int, str, float]] = []  # (event, receiver, bytes lost)
        self.events_seen = 0
        self._queue: list[tuple[float, int, Callable[[float, Any], None], Any]] = []
        self._seq = 0
        for ev in events:
            self._at(ev.t, self.link_up if ev.up else self.link_down, ev)
        # PIM-SM: stale branches carry the stream until their state's hold time runs out
        self.stale: set[int] = set()
        if tech in ("pim-sm", "pim-ssm") and previous:
            self.stale = stale_branches(net, previous, self.paths)
        self.stale_sent: float | None = None
        if self.stale:
            self._at(PIM_JP_HOLD_S, self.stale_expired, None)

    # -- helpers ---------------------------------------------------------------------------
    def route(self, receivers: list[str], partial: bool = False) -> Paths:
        """Paths on the links that are up; `partial`: unreachable receivers left out."""
        return shortest_paths(
            self.net, self.source, receivers, rpf=uses_rpf(self.tech), skip_unreachable=partial
        )

    def _at(self, t: float, handler: Callable[[float, Any], None], arg: Any) -> None:
        heapq.heappush(self._queue, (t, self._seq, handler, arg))  # same time: in order given
        self._seq += 1

    def _first_pass_done(self) -> bool:
        return all(f.done for f in self.stream)

    def _still_cut(self) -> None:
        self.cuts[:] = [c for c in self.cuts if c.receiver in c.flow.cut]

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> tuple[dict[str, list[dict]], Paths]:
        sim = self.sim
        while True:
            if self.pending and self._first_pass_done():
                self._release_repairs()
            t_next = self._queue[0][0] if self._queue else None
            sim.run_until(t_next, stop=lambda: bool(self.pending) and self._first_pass_done())
            if self.pending and self._first_pass_done():
                continue
            if not self._queue:
                break
            t, _, handler, arg = heapq.heappop(self._queue)
            handler(t, arg)
        unreachable = {c.receiver for c in self.cuts if c.receiver in c.flow.cut}
        for c in self.cuts:
            if c.receiver in c.flow.cut:
                del c.flow.cut[c.receiver]
                del c.flow.paths[c.receiver]
        sim.run_until(None)
        stale_wire = 0.0
        if self.stale:
            # the branch got what the source sent while the state lived (the stream's rate
            # fits: kernel forwarding drops on a slower branch rather than slowing the source)
            sent = self.stale_sent
            if sent is None:
                sent = sum(f.size for f in self.stream)
            for e in self.stale:
                sim.payload[e] += sent
                stale_wire += sent / sim.eff[e]
        out = self._tables()
        # FRR prunes these branches at once in some runs: measured bytes fall between the
        # total and the total less this (experiments.validation compares against that interval)
        out["rounds"][0]["stale_link_bytes"] = float(stale_wire)
        out["failures"] = list(self.failures)
        for rows_ in self.outages.values():
            out["failures"].extend(rows_)
        for r in sorted(unreachable):
            out["failures"].append({**self.keys, "receiver": r, "outage_s": float("nan")})
            for row in out["receivers"]:
                if row["receiver"] == r:
                    row.update(completed_s=float("nan"), loaded_s=float("nan"), verified=False)
        cost = new_set_cost(self.net, self.tech, self.p.timing, self.paths, self.previous)
        out["control"] = [
            {
                **self.keys,
                "action": "install" if self.previous is None else "new-set",
                "switch": "",
                "writes": cost.writes,
                "started_s": -cost.duration_s,
                "duration_s": cost.duration_s,
            },
            *self.control,
        ]
        self.net.down.clear()
        return out, self.paths

    # -- events ----------------------------------------------------------------------------
    def link_down(self, t: float, ev: NetEvent) -> None:
        net, p, tech = self.net, self.p, self.tech
        net.down |= {e for a, b in ev.pairs for e in net.link_edges(a, b)}
        eid = self.events_seen
        self.events_seen += 1
        self.outages[eid] = []
        hit = self._cut_receivers(eid, t)
        hops = self._repair_hops(hit) if tech in ("pim-sm", "pim-ssm") else 0
        size = len(segment_switches(net, tech, self.route(self.receivers, partial=True)))
        react = reaction_s(tech, p.timing, hops, size, ev.mode)
        det = t + p.timing.detection_ms(ev.mode) * 1e-3
        self.event_info[eid] = {
            "event": eid,
            "kind": ev.kind,
            "element": ev.element,
            "mode": ev.mode,
            "at_s": t,
            "detected_s": det,
        }
        self.failures.append(
            {**self.keys, **self.event_info[eid], "reconverged_s": t + react, "receiver": ""}
        )
        self._at(t + react, self.restore, eid)
        self.control.append(
            {
                **self.keys,
                "action": "failure",
                "switch": "",
                "writes": self._failure_writes(hit),
                "started_s": det,
                "duration_s": react - p.timing.detection_ms(ev.mode) * 1e-3,
            }
        )
        self.sim.changed()

    def link_up(self, t: float, ev: NetEvent) -> None:
        net, p = self.net, self.p
        net.down -= {e for a, b in ev.pairs for e in net.link_edges(a, b)}
        up_id = self.events_seen
        self.events_seen += 1
        self.failures.append(
            {
                **self.keys,
                "event": up_id,
                "kind": ev.kind,
                "element": ev.element,
                "mode": ev.mode,
                "at_s": t,
                "detected_s": t + p.timing.detection_ms(ev.mode) * 1e-3,
                "reconverged_s": t + reaction_s(self.tech, p.timing, 0, mode=ev.mode),
                "receiver": "",
            }
        )
        # Cut receivers whose installed path works again get data before any reaction.
        for c in [c for c in self.cuts if c.receiver in c.flow.cut]:
            full = c.flow.paths[c.receiver]
            if not any(e in net.down for e in full):
                self._reattach(c, full, t, t)
        self._still_cut()
        self._at(t + reaction_s(self.tech, p.timing, 0, mode=ev.mode), self.revert, None)
        self.sim.changed()

    def restore(self, t: float, eid: int) -> None:
        mine = [c for c in self.cuts if c.event == eid and c.receiver in c.flow.cut]
        if mine:
            fresh = self.route(sorted({c.receiver for c in mine}), partial=True)
            for c in mine:
                if c.receiver in fresh:
                    self._reattach(c, fresh[c.receiver], t, t)
        self._still_cut()
        self.sim.changed()

    def revert(self, t: float, _: Any) -> None:
        live = [f for f in self.sim.flows if not f.done]
        targets = sorted({r for f in live for r in f.paths if r not in f.cut})
        if targets:
            fresh = self.route(targets)
            for f in live:
                for r in f.paths:
                    if r not in f.cut:
                        f.paths[r] = fresh[r]
        self.sim.changed()

    def stale_expired(self, t: float, _: Any) -> None:
        self.stale_sent = sum(f.size if f.done else f.sent for f in self.stream)

    # -- cuts and repairs ------------------------------------------------------------------
    def _cut_receivers(self, eid: int, t: float) -> list[Cut]:
        hit: list[Cut] = []
        for f in self.sim.flows:
            for r, path in f.paths.items():
                if r in f.cut:
                    continue
                pos = next((i for i, e in enumerate(path) if e in self.net.down), None)
                if pos is None:
                    continue
                if f.done:
                    continue  # this receiver already has this flow's bytes
                f.cut[r] = pos
                f.cut_sent[r] = f.sent
                c = Cut(f, r, eid, t)
                self.cuts.append(c)
                hit.append(c)
        self.sim.changed()
        return hit

    def _reattach(self, c: Cut, new_path: list[int], t: float, t_react: float) -> None:
        f = c.flow
        sent = f.size if f.done else f.sent
        deficit = max(0.0, sent - f.cut_sent.pop(c.receiver))
        del f.cut[c.receiver]
        f.paths[c.receiver] = new_path
        self.repaired[c.receiver] += deficit
        self.outages[c.event].append(
            {
                **self.keys,
                **self.event_info[c.event],
                "receiver": c.receiver,
                "outage_s": t - c.t,
                "reconverged_s": t_react,
                "packets_lost": int(np.ceil(deficit / self.p.wire.chunk(self.tech))),
                "bytes_repaired": round(deficit),
            }
        )
        if deficit > 0:
            # modelsync repairs after its first pass: POLL, NACKs, resend what each misses
            self.pending.append((c.event, c.receiver, deficit))

    def _release_repairs(self) -> None:
        """BIER: one BitString per group of receivers that lost the same bytes (cut by the
        same event); SR-P2MP, PIM-SM and unicast: one unicast copy per receiver."""
        groups: dict[tuple[int, int], list[str]] = {}
        for eid, r, deficit in self.pending:
            key = (eid, round(deficit)) if self.tech == "bier" else (eid, len(groups))
            groups.setdefault(key, []).append(r)
        sizes = {(eid, r): d for eid, r, d in self.pending}
        self.pending.clear()
        live = self.route(sorted({r for rs in groups.values() for r in rs}), partial=True)
        for (eid, _), rs in groups.items():
            rs = [r for r in rs if r in live]
            if not rs:
                continue
            size = max(sizes[(eid, r)] for r in rs)
            rf = self.sim.add("repair", size, {r: live[r] for r in rs})
            for r in rs:
                self.serving[r].append(rf)

    def _repair_hops(self, hit: list[Cut]) -> int:
        """PIM-SM: how many hops the re-join travels (new links not on the current tree)."""
        if not hit:
            return 0
        fresh = self.route(sorted({c.receiver for c in hit}), True)
        if not fresh:
            return 0
        have: set[int] = set()
        for f in {id(c.flow): c.flow for c in hit}.values():
            have.update(f.carrying_edges())
        return max(switch_hops(self.net, fresh[r], have) for r in fresh)

    def _failure_writes(self, hit: list[Cut]) -> int:
        """Switches whose state the reaction rewrites (batched: one write per switch); PIM-SM:
        join messages (no controller writes)."""
        touched: set[str] = set()
        for c in hit:
            for e in c.flow.paths[c.receiver]:
                u = self.net.edges[e][0]
                if u not in self.net.hosts:
                    touched.add(u)
        return len(touched)

    # -- rows ------------------------------------------------------------------------------
    def _tables(self) -> dict[str, list[dict]]:
        net, tech, p, keys, sim = self.net, self.tech, self.p, self.keys, self.sim
        chunk = p.wire.chunk(tech)
        cloud = {h.name: h.cloud for h in net.topo.hosts}
        rec_rows = []
        for r in self.receivers:
            served = self.serving[r]
            final = next((f.paths[r] for f in reversed(served) if r in f.paths), self.paths[r])
            lat = float(net.delay[final].sum())
            done = max(f.finish for f in served if f.finish is not None) + lat
            rec_rows.append(
                {
                    **keys,
                    "receiver": r,
                    "cloud": cloud[r],
                    "first_packet_s": float(net.delay[self.paths[r]].sum()),
                    "completed_s": done,
                    "loaded_s": done,
                    "verified": True,
                    "bytes_received": int(p.model_bytes),
                    "packets_received": int(np.ceil(p.model_bytes / chunk)),
                    "duplicates": 0,
                    "corrupt": 0,
                    "nacks_sent": 0 if self.repaired[r] == 0 else 1,
                    "chunks_repaired": int(np.ceil(self.repaired[r] / chunk)),
                    "bytes_repaired": round(self.repaired[r]),
                }
            )
        link_rows = []
        wire_bytes = sim.payload / sim.eff
        for e, (u, v) in enumerate(net.edges):
            lk = net.topo.links[net.link_of[e]]
            link_rows.append(
                {
                    **keys,
                    "link": lk.name,
                    "src": u,
                    "dst": v,
                    "wan": bool(net.wan[e]),
                    "capacity_mbit": float(net.cap[e] * 8 / 1e6),
                    "bytes": round(wire_bytes[e]),
                    "packets": round(sim.payload[e] / chunk),
                }
            )
        n_gpu = len(net.topo.gpu_hosts())
        sw_rows = [
            {**keys, "switch": s, "table": tab, "entries": n, "replicas": rep}
            for s, tab, n, rep in switch_state(net, tech, self.paths, n_gpu)
        ]
        given = None if p.rate_bps is None else self.rate_bps  # auto: links only
        ideal = structural_ideal(net, tech, self.paths, p.model_bytes, given, p.wire)
        round_row = {
            **keys,
            "receivers": len(self.receivers),
            "model_bytes": int(p.model_bytes),
            "sending_rate_mbit": self.rate_bps / 1e6,
            **ideal,
            "switches_kept_up": pd.NA,
            "switch_drops": pd.NA,
            "note": "projection (flow model), not a measurement",
        }
        return {
            "receivers": rec_rows,
            "links": link_rows,
            "switches": sw_rows,
            "rounds": [round_row],
        }


def project_round(
    net: Net,
    tech: str,
    source: str,
    receivers: list[str],
    events: list[NetEvent],
    p: Params,
    keys: dict[str, Any],
    previous: Paths | None = None,
) -> tuple[dict[str, list[dict]], Paths]:
    """Rows for every results table for one round, and the paths used (for the next round's
    new-set cost). `keys` holds sweep, technology, repetition, round."""
    return RoundSimulation(net, tech, source, receivers, events, p, keys, previous).run()
