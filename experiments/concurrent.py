"""Several models at once: a round whose `deliveries` send different models from one or
several model stores to different (overlapping) receiver sets, all at the same time over
the same network.

Each delivery gets a channel of its own (modelsync.launch.Channel: data port, control port
and group), so that a host receives two models and a store sends two; the network is told of
each set under the delivery's key (SR-P2MP: a tree and a root SID per delivery, handed to its
sender; BIER: a BitString per sender; PIM-SM: a group per delivery, joined by its receivers).
The round measures what a round of one delivery measures, per receiver and model (the
`receivers` table's `model`), and the bytes per link and model from the frames themselves
(experiments.modeltap: `model_links`). Times are seconds from the round's first data packet,
the earliest of its senders'.

The pacing rate: a description's number is each sender's; `auto` gives each delivery its own
auto rate (ideal.auto_rate) slowed by one common factor until no link the deliveries share
is overloaded, and each at most its share of what the switch processes forward.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.modeltap import ModelTap
from experiments.round import (
    SOURCE,
    Backend,
    RoundError,
    RoundResult,
    State,
    deadline_s,
    link_rows,
    load_stretch,
    model_bytes,
    receiver_rows,
    receiving_s,
    sending_s,
    state_reader,
    tree_build_rows,
    wan_classifier,
)
from experiments.spec import Experiment
from modelsync.launch import (
    MANIFEST,
    Channel,
    ReceiverSet,
    SenderProcess,
    read_json,
    verify_on_disk,
)
from modelsync.launch import wait_first_pass as sender_first_pass
from modelsync.manifest import Manifest
from topologies.model import Topology
from wire.technology import MULTICAST


@dataclass
class DeliveryPlan:
    """One model's delivery in a concurrent round."""

    key: str  # the model's name: names the delivery in records, tables and the network
    model: Path  # the model directory, holding modelsync's manifest
    manifest: Manifest
    source: str
    receivers: list[str]
    channel: Channel


@dataclass
class ConcurrentPlan:
    exp: Experiment
    topo: Topology
    keys: dict[str, Any]  # sweep, technology, repetition, round
    deliveries: list[DeliveryPlan]
    records: Path  # records/<tag>/<model>/ per delivery
    received: Path  # received/<tag>/<model>/<host>/
    keep_received: bool = False
    say: Callable[[str], None] = print


# -- the plan ------------------------------------------------------------------------------
def _copies(net: Any, tech: str, paths: dict[str, list[int]]) -> np.ndarray:
    from experiments.flowmodel import tree_edges

    c = np.zeros(len(net.edges))
    if tech in MULTICAST:
        c[list(tree_edges(paths))] = 1
    else:
        for p in paths.values():
            c[p] += 1
    return c


def _paths(net: Any, tech: str, d: DeliveryPlan) -> dict[str, list[int]]:
    from experiments.flowmodel import shortest_paths
    from experiments.ideal import uses_rpf

    return shortest_paths(net, d.source, d.receivers, rpf=uses_rpf(tech))


def sending_rates(
    plan: ConcurrentPlan, tech: str, frame_cpu_s: float | None, share: float | None = None
) -> tuple[list[float], str | None]:
    """Each delivery's pacing rate (Mbit/s) and a sentence when sharing or the switches
    chose them (module docstring)."""
    e = plan.exp
    if e.sending_rate_mbit != "auto":
        return [float(e.sending_rate_mbit)] * len(plan.deliveries), None
    from experiments.flowmodel import build_net
    from experiments.ideal import Wire, auto_rate, capacity_rate

    net, wire = build_net(plan.topo), Wire.of(plan.topo)
    own, load = [], np.zeros(len(net.edges))
    for d in plan.deliveries:
        paths = _paths(net, tech, d)
        r = auto_rate(net, tech, paths, wire)
        own.append(r)
        at_source = 1 if tech in MULTICAST else len(paths)
        load += _copies(net, tech, paths) * r / at_source
    used = load > 0
    scale = float(min(1.0, np.min(net.cap[used] * 8 / load[used]))) if used.any() else 1.0
    rates = [r * scale for r in own]
    notes = []
    if scale < 0.999:
        notes.append(f"the deliveries share links: each at {scale:.0%} of its own auto rate")
    if frame_cpu_s is not None:
        cores = os.cpu_count() or 1
        for i, d in enumerate(plan.deliveries):
            paths = _paths(net, tech, d)
            cap, _limit = capacity_rate(net, tech, paths, wire, frame_cpu_s, cores, share)
            cap /= len(plan.deliveries)  # the switch processes forward for all of them
            if cap < rates[i]:
                rates[i] = cap
                notes.append(f"{d.key} at {cap / 1e6:.1f} Mbit/s: what the switches forward")
    return [r / 1e6 for r in rates], "; ".join(notes) or None


def joint_ideal(plan: ConcurrentPlan, tech: str) -> dict[str, float]:
    """The rounds row's ideal for all deliveries at once: every link carries each model once
    per copy through it, in frames of the path MTU with their headers; the ideal time is the
    largest load over capacity (the senders' pacing not counted)."""
    from experiments.flowmodel import build_net
    from experiments.ideal import Wire, efficiency

    net, wire = build_net(plan.topo), Wire.of(plan.topo)
    eff = efficiency(net, tech, wire)
    load, edges = np.zeros(len(net.edges)), np.zeros(len(net.edges), dtype=bool)
    for d in plan.deliveries:
        c = _copies(net, tech, _paths(net, tech, d))
        load += c * model_bytes(d.manifest) / eff
        edges |= c > 0
    t = np.where(edges, load / np.maximum(net.cap, 1e-300), 0.0)
    i = int(np.argmax(t))
    return {
        "ideal_time_s": float(t[i]),
        "bottleneck_mbit": float(net.cap[i] * 8 / 1e6),
        "ideal_link_bytes": float(load.sum()),
        "tree_edges": int(edges.sum()),
    }


def source_bytes(plan: ConcurrentPlan, tech: str) -> float:
    """What the description's source ideally puts on its link: each of its models' frames
    once (multicast) or once per receiver (unicast)."""
    from experiments.ideal import Wire, payload_share
    from experiments.spec import source_host

    src, share = source_host(plan.exp, plan.topo), payload_share(tech, Wire.of(plan.topo))
    return sum(
        model_bytes(d.manifest) / share * (1 if tech in MULTICAST else len(d.receivers))
        for d in plan.deliveries
        if d.source == src
    )


# -- the round -----------------------------------------------------------------------------
def run_concurrent_round(backend: Backend, plan: ConcurrentPlan) -> RoundResult:
    """Run the deliveries of one round at once on `backend` (module docstring)."""
    keys, ds = plan.keys, plan.deliveries
    tech = backend.technology
    if len(ds) < 2:
        raise RoundError(f"round {keys['round']}: a concurrent round has two or more deliveries")
    for d in ds:
        if not d.receivers:
            raise RoundError(f"round {keys['round']}: delivery of {d.key} has no receivers")
        if not (d.model / MANIFEST).is_file():
            raise RoundError(f"model {d.model}: no {MANIFEST} (prepare the model first)")
    out = plan.records
    out.mkdir(parents=True, exist_ok=True)
    rates, rate_note = sending_rates(plan, tech, backend.frame_cpu_s, backend.forwarding_share)
    size = sum(model_bytes(d.manifest) for d in ds)
    row: dict[str, Any] = {
        **keys, "receivers": sum(len(d.receivers) for d in ds), "model_bytes": size,
        "sending_rate_mbit": sum(rates), **joint_ideal(plan, tech),
        "ideal_source_bytes": source_bytes(plan, tech),
    }  # fmt: skip
    deadline = load_stretch() * max(
        deadline_s(
            row["ideal_time_s"],
            sending_s(plan.topo, tech, d.receivers, model_bytes(d.manifest), r),
            receiving_s(row["receivers"], model_bytes(d.manifest)),
        )
        for d, r in zip(ds, rates, strict=True)
    )
    backend.keep_trees([d.key for d in ds])  # earlier rounds' trees go: state is this round's
    set_rows = [(d, backend.set_receivers(d.receivers, d.source, d.key)) for d in ds]
    sampler = backend.arrival_sampler(ds[0].source).start()
    ids = {d.manifest.model_id_int: d.key for d in ds}
    tap = ModelTap(backend.tap_ends(), ids)
    stop, first = threading.Event(), threading.Event()
    errors: list[str] = []
    snapshot: list[State] = []
    joins: dict[str, dict[str, float]] = {}
    rxs: list[ReceiverSet] = []
    snds: list[SenderProcess] = []
    threads: list[threading.Thread] = []
    try:
        backend.begin()
        before = backend.link_counters()
        tap.start()
        for d in ds:
            rxs.append(
                backend.start_receivers(d.receivers, d.source, plan.received / d.key,
                                        out / d.key, deadline + 20, channel=d.channel)
            )  # fmt: skip
            now = time.time()
            joins[d.key] = {h: _mtime(out / d.key / f"{h}.log") or now for h in d.receivers}
        for d, r in zip(ds, rates, strict=True):
            snds.append(
                backend.start_sender(d.receivers, d.source, r, out / d.key, deadline, d.channel)
            )

        def first_data() -> None:
            if sender_first_pass(snds[0].log, stop) is not None:
                first.set()

        threads.append(threading.Thread(target=first_data, name="exi-first", daemon=True))
        reader = state_reader(backend, first, stop, snapshot, errors)
        if reader is not None:
            threads.append(reader)
        for th in threads:
            th.start()
        end = time.monotonic() + deadline + 30
        for s in snds:
            try:
                s.proc.wait(max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                plan.say(f"{backend.label} round {keys['round']}: a sender passed its deadline")
        for rx in rxs:
            rx.wait(30)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
        for s in snds:
            s.kill()
        for rx in rxs:
            rx.kill()
        sampler.stop()
        tap.stop()
    report = backend.end([])
    after = backend.link_counters()
    try:
        backend.keep_trees([])  # the deliveries ended; their trees go
    except Exception as e:  # the round's measurement stands
        errors.append(f"removing the trees: {e}")
    state = report.state or (snapshot[0] if snapshot else State([], []))
    senders = {d.key: read_json(out / d.key / "sender.json") or {} for d in ds}
    firsts = [s["first_packet_at"] for s in senders.values() if s.get("first_packet_at")]
    t0 = min(firsts) if firsts else sampler.first_change.get(SOURCE) or time.time()
    cloud_of = {h.name: h.cloud for h in plan.topo.hosts}
    rrows: list[dict[str, Any]] = []
    control: list[dict[str, Any]] = []
    records_all: list[dict[str, Any]] = []
    hashed: dict[tuple[int, int], str] = {}
    for d, rx, (_, srows) in zip(ds, rxs, set_rows, strict=True):
        records = rx.read_records()
        for r in records:
            r["verified_on_disk"] = verify_on_disk(d.manifest, rx.work / r["receiver"], hashed)
        rows = receiver_rows({"first_packet_at": t0}, records, keys, cloud_of)
        for rr, r in zip(rows, records, strict=True):
            rr["verified"] = bool(rr["verified"]) and r["verified_on_disk"]
            rr["model"] = d.key
        rrows += rows
        records_all += records
        if srows is not None:  # the delivery's set made deliverable: its key in `switch`
            control += [{**keys, **r, "switch": d.key} for r in srows]
        else:  # joins build the tree: per receiver its join to its first datagram
            control += tree_build_rows(records, joins[d.key], t0, keys)
    if not plan.keep_received:
        for rx in rxs:
            shutil.rmtree(rx.work, ignore_errors=True)
    notes = ["measurement", f"{len(ds)} models at once: " + ", ".join(d.key for d in ds)]
    notes += [rate_note] if rate_note else []
    notes += report.notes
    for d, s in senders.items():
        if s.get("outcome") != "complete":
            notes.append(f"{d}: the sender ended {s.get('outcome', 'without a record')}")
    if errors:
        notes.append("errors: " + "; ".join(errors))
    row.update({"switches_kept_up": None, "switch_drops": None, **report.fields})
    row["note"] = "; ".join(notes)
    names = {(lk.a, lk.b): lk.name for lk in plan.topo.links}
    names |= {(b, a): n for (a, b), n in names.items()}
    tables = {
        "rounds": [row],
        "receivers": rrows,
        "links": link_rows(plan.topo, before, after, keys, wan_classifier(plan.topo)),
        "switches": [{**keys, **r} for r in state.rows],
        "control": control,
        "failures": [],
        "model_links": tap.rows(keys, names),
    }
    (out / "state.json").write_text(json.dumps(state.raw, indent=1))
    for name, data in report.records.items():
        (out / name).write_text(json.dumps(data, indent=1))
    plan.say(_summary_line(backend.label, keys, rrows))
    return RoundResult(tables, senders, records_all, state.raw, [], sum(rates), errors)


def _mtime(p: Path) -> float | None:
    try:
        return p.stat().st_mtime
    except OSError:
        return None


def _summary_line(label: str, keys: dict[str, Any], rrows: list[dict[str, Any]]) -> str:
    parts = []
    for model in dict.fromkeys(r["model"] for r in rrows):
        mine = [r for r in rrows if r["model"] == model]
        ok = [r for r in mine if r["verified"]]
        done = [r["completed_s"] for r in mine if r["completed_s"] is not None]
        parts.append(
            f"{model} {len(ok)}/{len(mine)} verified" + (f" in {max(done):.1f} s" if done else "")
        )
    return f"{label} repetition {keys['repetition'] + 1} round {keys['round'] + 1}: " + "; ".join(
        parts
    )
