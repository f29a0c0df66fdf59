"""One round of an experiment, on whichever network runs it.

    the receiver set made deliverable -> receivers started in the round's GPU hosts and the
    sender in the model-store host (modelsync) -> the round's failures applied at their times
    after the sender's first data frame -> completion awaited with a deadline -> records read,
    every received file hashed against the manifest -> the rows of every results table

What differs between networks sits behind `Backend`: the P4 testbed with its controller
(experiments.p4_backend) and pimsm's FRR routers (experiments.pim_sm). Everything else is
here once: the sending rate, the deadline, the rounds row with its structural ideal, the
failure thread, the receivers, links, control and failures rows, the outage per receiver
from its own arrival times (modelsync's kernel-stamped record), and the round's note.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from experiments.arrivals import gap_outage
from experiments.cpu import MachineCpu, processes_cpu_s, round_cpu_fields
from experiments.membership import (
    MembersFile,
    Membership,
    receiver_columns,
    signal_join,
    signal_leave,
)
from experiments.membership import control_rows as membership_rows
from experiments.schedule import NetEvent
from experiments.spec import Experiment
from modelsync.launch import (
    MANIFEST,
    MEMBERS,
    Channel,
    ReceiverSet,
    SenderProcess,
    read_json,
    verify_on_disk,
)
from modelsync.launch import wait_first_pass as sender_first_pass
from modelsync.manifest import Manifest
from testbed.sampling import CounterSampler
from topologies.model import Topology
from wire.technology import MULTICAST

SOURCE = "__source__"  # the arrival sampler's label for the port facing the sender
STRAY_GAP_S = 0.3  # a first-pass gap this long that no failure explains is noted
Counters = dict[tuple[str, str], tuple[int, int]]  # (src, dst) -> (bytes, packets)


class RoundError(RuntimeError):
    """A round that cannot be run as asked."""


# -- what a network provides -----------------------------------------------------------------
@dataclass
class Applied:
    """A scheduled failure event as the round applied it."""

    kind: str
    element: str
    scheduled_s: float
    wall: float  # time.time() when applied
    mono: float  # time.monotonic() when applied
    links: list[str]  # topology links it changed
    mode: str = "carrier"  # carrier | silent
    # time.time() when applying it returned: the failure was in place by then (the kernel's
    # rtnetlink lock, shared with the whole machine, can hold a change back for 0.2 s)
    in_place: float | None = None


@dataclass
class NetworkEvent:
    """A failure event as the round applied it and the network noticed it (wall clock)."""

    kind: str  # link-down | link-up | switch-down | switch-up
    element: str
    occurred: float  # when the round applied it
    in_place: float | None = None  # when applying it returned (in place by then)
    detected: float | None = None  # when the network first noticed (a switch, a router)
    done: float | None = None  # the end of the reaction, when the network records one
    writes: list[dict[str, Any]] = field(default_factory=list)  # switch, updates, started, done
    mode: str = "carrier"  # carrier | silent
    detected_by: str | None = None  # who noticed first, and how
    # when the data plane moved the traffic to a backup by itself (BIER-FRR: the switch at
    # the failure took its backup as it noticed); None: no local repair happened
    local_repair: float | None = None
    reaction_started: float | None = None  # the network's first write of its reaction


@dataclass
class State:
    """The network's forwarding state: switches rows (without the round's keys) and the raw
    records they came from (written to records/state.json)."""

    rows: list[dict[str, Any]]
    raw: list[dict[str, Any]]


@dataclass
class NetworkReport:
    """What a network adds at the end of a round."""

    events: list[NetworkEvent]
    state: State | None = None  # None: the snapshot taken during the round stands
    fields: dict[str, Any] = field(default_factory=dict)  # the rounds row's, e.g. switch_drops
    notes: list[str] = field(default_factory=list)  # for the rounds row's note
    records: dict[str, Any] = field(default_factory=dict)  # file name -> JSON, in records/


class Backend(Protocol):
    """One running network that rounds of one technology run on."""

    technology: str
    label: str  # how progress lines name it
    min_outage_s: float  # the shortest gap in a receiver's arrivals taken as an outage
    outage_in_first_pass: bool  # an outage must end within the sender's first pass
    state_delay_s: float | None  # state read this long after the first data; None: at the end
    frame_cpu_s: float | None  # CPU a switch spends per frame (the auto rate); None: no limit
    forwarding_share: float | None  # of the cores its switches may take; None: the planner's

    def set_receivers(
        self, receivers: list[str], source: str, key: str = ""
    ) -> list[dict[str, Any]] | None:
        """Make the set deliverable; the control rows (without keys) of doing so, or None
        when the network builds its tree from the receivers' joins (the round then measures
        each receiver's join to its first datagram). `key`: which of several deliveries at
        once (experiments.concurrent) the set is for."""
        ...

    def keep_trees(self, keys: list[str]) -> None:
        """Remove the trees of every delivery but `keys` (a controller's; nothing where the
        routers' state expires by itself)."""
        ...

    def arrival_sampler(self, source: str) -> CounterSampler:
        """The counter of the port facing the sender (as SOURCE), not yet started: the
        round's first data frame and the sender's pauses."""
        ...

    def begin(self) -> None:
        """Baselines, right before the round's traffic."""
        ...

    def link_counters(self) -> Counters: ...

    def tap_ends(self) -> list[Any]:
        """One end of every link (experiments.modeltap.TapEnd): bytes per link and model
        when several models are delivered at once."""
        ...

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
        """`modelsync receive` in the hosts; on `standby` (joiners) they join when signalled;
        `channel`: one of several deliveries at once (its model, ports and group)."""
        ...

    def start_sender(
        self,
        receivers: list[str],
        source: str,
        rate_mbit: float,
        records: Path,
        deadline: float,
        channel: Channel | None = None,
    ) -> SenderProcess: ...

    def apply(self, event: NetEvent) -> list[str]:
        """Apply one failure event; the topology links it changed."""
        ...

    def restore(self) -> None:
        """Bring back whatever the round's failures left down."""
        ...

    def read_state(self) -> State: ...

    def end(self, applied: list[Applied]) -> NetworkReport:
        """After the round's processes stopped: the network's events and its own findings."""
        ...


# -- the round's plan --------------------------------------------------------------------------
# CPU a receiver spends per MB it takes in (bench.modelsync_receive here: 1.4-2.1 ms per MB,
# sha256 the largest part); the larger figure
RECEIVER_CPU_S_PER_MB = 2.1e-3


def deadline_s(
    ideal_time_s: float | None, sending_s: float = 0.0, receiving_s: float = 0.0
) -> float:
    """How long the sender and receivers get: 6 x the ideal time + 30 s, at least a minute;
    the ideal here being also no shorter than `sending_s`, what the sender takes to send its
    first pass at the round's rate (below the links' when the switches' CPU chose it), nor
    than `receiving_s`, the receivers' CPU for the model on the machine's cores."""
    return max(60.0, 6 * max(float(ideal_time_s or 0), sending_s, receiving_s) + 30)


MAX_STRETCH = 10.0


def load_stretch(load: float | None = None, cores: int | None = None) -> float:
    """How much longer a round may take because other work shares the machine: its load
    (runnable processes, 1-minute average) per core, 1 to MAX_STRETCH. At load 40 on 2 cores
    a sender got a sixteenth of a core and needed 84 s for 3.4 s of sending."""
    load = os.getloadavg()[0] if load is None else load
    return min(MAX_STRETCH, max(1.0, load / (cores or os.cpu_count() or 1)))


def receiving_s(receivers: int, model_bytes: int, cores: int | None = None) -> float:
    """Seconds the receivers' CPU needs for the model on all cores (RECEIVER_CPU_S_PER_MB)."""
    return receivers * model_bytes / 1e6 * RECEIVER_CPU_S_PER_MB / (cores or os.cpu_count() or 1)


def sending_s(
    topo: Topology, tech: str, receivers: list[str], model_bytes: int, rate_mbit: float
) -> float:
    """Seconds the sender's first pass takes at `rate_mbit` (frames, headers included): the
    model once (multicast), or once per receiver (unicast)."""
    from experiments.ideal import Wire, payload_share

    if rate_mbit <= 0:
        return 0.0
    copies = 1 if tech in MULTICAST else len(receivers)
    return copies * model_bytes / payload_share(tech, Wire.of(topo)) / (rate_mbit * 1e6 / 8)


def sending_rate(
    e: Experiment,
    topo: Topology,
    source: str,
    tech: str,
    receivers: list[str],
    frame_cpu_s: float | None = None,
    cores: int | None = None,
    share: float | None = None,
) -> tuple[float, str | None]:
    """The pacing rate (Mbit/s) the sender gets, and a sentence when the switches' capacity
    chose it: the description's rate, or for `auto` the highest that overloads no link on this
    technology's paths (the projection's auto_rate) and that the switch processes can forward
    (`frame_cpu_s`: CPU seconds a switch of this network spends per frame; None: no limit;
    `share`: of the cores the switches may take, None: experiments.ideal's)."""
    if e.sending_rate_mbit != "auto":
        return float(e.sending_rate_mbit), None
    from experiments.flowmodel import build_net, shortest_paths
    from experiments.ideal import Wire, auto_rate, capacity_rate, uses_rpf

    net = build_net(topo)
    paths = shortest_paths(net, source, receivers, rpf=uses_rpf(tech))
    wire = Wire.of(topo)
    links = auto_rate(net, tech, paths, wire) / 1e6
    if frame_cpu_s is None:
        return links, None
    from experiments.ideal import SWITCH_CPU_SHARE

    cores = cores or os.cpu_count() or 1
    share = SWITCH_CPU_SHARE if share is None else share
    cap, limit = capacity_rate(net, tech, paths, wire, frame_cpu_s, cores, share)
    if cap / 1e6 >= links:
        return links, None
    return cap / 1e6, (
        f"sending rate {cap / 1e6:.1f} Mbit/s, below the links' {links:.1f}: what the switches "
        f"forward with {share:.0%} of {cores} cores at "
        f"{frame_cpu_s * 1e6:.0f} µs of CPU per frame ({limit} the limit)"
    )


def model_bytes(manifest: Manifest) -> int:
    """The model's size: its safetensors shards (the manifest's other files are metadata)."""
    return sum(f.size for f in manifest.files if f.name.endswith(".safetensors"))


def round_row(
    e: Experiment,
    topo: Topology,
    source: str,
    keys: Mapping[str, Any],
    receivers: list[str],
    manifest: Manifest,
    rate_mbit: float,
) -> dict[str, Any]:
    """The rounds row with its structural ideal (the projection's definition: model bytes
    over the bottleneck; tree edges x model bytes), computed from the topology."""
    from experiments.flowmodel import build_net, shortest_paths
    from experiments.ideal import Wire, structural_ideal, uses_rpf

    size = model_bytes(manifest)
    row: dict[str, Any] = {
        **keys, "receivers": len(receivers), "model_bytes": size, "sending_rate_mbit": rate_mbit,
    }  # fmt: skip
    if size:
        net = build_net(topo)
        paths = shortest_paths(net, source, receivers, rpf=uses_rpf(keys["technology"]))
        given = None if e.sending_rate_mbit == "auto" else rate_mbit * 1e6
        row.update(structural_ideal(net, keys["technology"], paths, size, given, Wire.of(topo)))
    return row


@dataclass
class RoundPlan:
    """One round as the sweep loop hands it over."""

    exp: Experiment
    topo: Topology
    keys: dict[str, Any]  # sweep, technology, repetition, round
    receivers: list[str]
    source: str
    model: Path  # the model directory, holding modelsync's manifest
    manifest: Manifest
    events: list[NetEvent]
    records: Path  # records and logs of this round
    received: Path  # the receivers' files: received/<host>/
    keep_received: bool = False  # else removed once hashed
    rate_mbit: float | None = None  # None: sending_rate()
    say: Callable[[str], None] = print
    # receivers joining and leaving while the model flows: (at, join | leave, host), in time
    # order (spec.membership_changes; experiments.membership applies them)
    changes: list[tuple[float, str, str]] = field(default_factory=list)


@dataclass
class RoundResult:
    tables: dict[str, list[dict[str, Any]]]  # rounds, receivers, links, switches, control, failures
    sender: dict[str, Any]  # modelsync's SenderRecord
    receivers: list[dict[str, Any]]  # modelsync's ReceiverRecords (+ verified_on_disk)
    state: list[dict[str, Any]]  # the raw state records
    events: list[dict[str, Any]]  # the applied failure events (records/events.json)
    rate_mbit: float
    errors: list[str]

    def verified(self) -> dict[str, bool]:
        return {r["receiver"]: bool(r["verified"]) for r in self.tables["receivers"]}


# A failure whose command returned this much later than it began took effect that late (the
# kernel's rtnetlink lock, which every interface and queue change takes, is held for seconds
# while another program on the machine tears down a few hundred interfaces): no longer the
# described round (a failure during the first pass at its time), so it is run again. A round
# that keeps every core busy holds its own failures back 0.1-0.2 s (128 receivers on 2 cores):
# measured from when they took effect, that is still the described round.
LATE_S = 0.5
LATE_RETRIES = 2


def held_back(events: list[dict[str, Any]]) -> str | None:
    """Why the round's failures were not applied as described (records/events.json rows):
    the first one that took effect more than LATE_S after its time; None: all in time."""
    for e in events:
        late = (e.get("in_place_s") or e["at_s"]) - e["at_s"]
        if late > LATE_S:
            return f"the machine held {e['kind']} {e['element']} back {late:.2f} s"
    return None


def run_round_in_time(backend: Backend, plan: RoundPlan) -> RoundResult:
    """run_round, again (up to LATE_RETRIES times, its records and files replaced) while a
    failure took effect late (`held_back`); the round's note says so."""
    result = run_round(backend, plan)
    said = []
    for _ in range(LATE_RETRIES):
        late = held_back(result.events)
        if late is None:
            break
        said.append(late)
        plan.say(f"{backend.label} round {plan.keys['round']}: {late}; run again")
        shutil.rmtree(plan.records, ignore_errors=True)
        shutil.rmtree(plan.received, ignore_errors=True)
        result = run_round(backend, plan)
    if said:
        for row in result.tables["rounds"]:
            row["note"] = "; ".join([row["note"], *(f"run again: {s}" for s in said)])
    return result


# -- the round ---------------------------------------------------------------------------------
def run_round(backend: Backend, plan: RoundPlan) -> RoundResult:
    """Run one round on `backend` (see the module docstring); records go to plan.records."""
    keys, source, rx_hosts = plan.keys, plan.source, list(plan.receivers)
    if not rx_hosts:
        raise RoundError(f"round {keys['round']}: no receivers")
    if not (plan.model / MANIFEST).is_file():
        raise RoundError(f"model {plan.model}: no {MANIFEST} (prepare the model first)")
    out = plan.records
    out.mkdir(parents=True, exist_ok=True)
    rate, rate_note = plan.rate_mbit, None
    if rate is None:
        rate, rate_note = sending_rate(
            plan.exp,
            plan.topo,
            source,
            backend.technology,
            rx_hosts,
            backend.frame_cpu_s,
            share=backend.forwarding_share,
        )
    row = round_row(plan.exp, plan.topo, source, keys, rx_hosts, plan.manifest, rate)
    size = model_bytes(plan.manifest)
    deadline = (
        deadline_s(
            row.get("ideal_time_s"),
            sending_s(plan.topo, backend.technology, rx_hosts, size, rate),
            receiving_s(len(rx_hosts), size),
        )
        * load_stretch()
    )

    set_rows = backend.set_receivers(rx_hosts, source)
    sampler = backend.arrival_sampler(source).start()
    stop, first = threading.Event(), threading.Event()
    applied: list[Applied] = []
    errors: list[str] = []
    snapshot: list[State] = []
    joins: dict[str, float] = {}
    rx = snd = None
    threads: list[threading.Thread] = []
    late: list[ReceiverSet] = []  # receivers of hosts that join while the model flows
    members = _membership(backend, plan)
    load = os.getloadavg()[0]
    pids = getattr(backend, "network_pids", lambda: [])()
    net_cpu1 = net_cpu2 = 0.0
    cpu0 = cpu1 = cpu2 = MachineCpu.read()
    try:
        backend.begin()
        before = backend.link_counters()
        cpu0 = MachineCpu.read()
        rx = backend.start_receivers(rx_hosts, source, plan.received, out, deadline + 20)
        cpu1, net_cpu1 = MachineCpu.read(), processes_cpu_s(pids)
        if set_rows is None:  # listening means joined: the bound of each receiver's join
            now = time.time()
            joins = {h: _listen_time(out / f"{h}.log") or now for h in rx_hosts}
        if members is not None:  # joiners listen on standby; the sender knows them all
            late.append(
                backend.start_receivers(
                    members.joiners, source, plan.received, out, deadline + 20, standby=True
                )
            )
            members.signal_join = lambda h: signal_join(_procs(rx, late), h)
            members.signal_leave = lambda h: signal_leave(_procs(rx, late), h)
            members.begin()
        targets = rx_hosts + (members.joiners if members is not None else [])
        snd = backend.start_sender(targets, source, rate, out, deadline)

        log = snd.log
        threads.append(
            apply_failures(backend, plan.events, lambda: sender_first_pass(log, stop), stop,
                           first, applied, errors)
        )  # fmt: skip
        reader = state_reader(backend, first, stop, snapshot, errors)
        if reader is not None:
            threads.append(reader)
            reader.start()
        if members is not None:
            threads.append(members.run(lambda: sender_first_pass(log, stop), stop))
        try:
            snd.proc.wait(deadline + 30)
        except subprocess.TimeoutExpired:
            plan.say(f"{backend.label} round {keys['round']}: the sender passed its deadline")
        rx.wait(30)
        for s in late:
            s.wait(30)
        cpu2, net_cpu2 = MachineCpu.read(), processes_cpu_s(pids)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
        try:  # a failure the round outlived: plug it back
            backend.restore()
        finally:
            if snd is not None:
                snd.kill()
            if rx is not None:
                rx.kill()
            for s in late:
                s.kill()
            sampler.stop()
    report = backend.end(applied)
    after = backend.link_counters()
    state = report.state or (snapshot[0] if snapshot else State([], []))
    sender = read_json(out / "sender.json") or {}
    records = rx.read_records() + [r for s in late for r in s.read_records()]
    hashed: dict[tuple[int, int], str] = {}  # the receivers share one copy per file (a store)
    for r in records:  # the round's own sha256 check of what is on disk
        r["verified_on_disk"] = verify_on_disk(plan.manifest, rx.work / r["receiver"], hashed)
    if not plan.keep_received:
        shutil.rmtree(rx.work, ignore_errors=True)
    t0 = sender.get("first_packet_at") or sampler.first_change.get(SOURCE) or time.time()

    rrows = receiver_rows(sender, records, keys, {h.name: h.cloud for h in plan.topo.hosts})
    for rr, r in zip(rrows, records, strict=True):
        rr["verified"] = bool(rr["verified"]) and r["verified_on_disk"]
    if members is not None:
        changed = receiver_columns(members.applied, records, t0)
        for rr in rrows:
            rr.update(changed.get(rr["receiver"], {}))
        errors += members.errors
    control = [{**keys, **r} for r in set_rows] if set_rows is not None else []
    if set_rows is None:  # the receivers that started the round (joiners: membership rows)
        control = tree_build_rows([r for r in records if r["receiver"] in joins], joins, t0, keys)
    pass_end = sender.get("first_pass_done_at")
    until = None
    if backend.outage_in_first_pass and pass_end:  # frames in flight still arrive for a moment
        until = pass_end + 0.1
    ev_ctrl, failures = failure_rows(report.events, records, keys, t0, backend.min_outage_s, until)
    control += ev_ctrl
    if members is not None:
        control += membership_rows(members.applied, records, keys, t0)
    notes = ["measurement", *([rate_note] if rate_note else []), *report.notes]
    notes += gap_notes(sampler, records, t0, pass_end, [a.wall for a in applied])
    if errors:
        notes.append("errors: " + "; ".join(errors))
    row.update({"switches_kept_up": None, "switch_drops": None, **report.fields})
    net_cpu = net_cpu2 - net_cpu1 if pids else None  # over wall_s, as the machine's columns
    row.update(round_cpu_fields(cpu0, cpu1, cpu2, records, sender, net_cpu, load))
    row["note"] = "; ".join(notes)
    tables = {
        "rounds": [row],
        "receivers": rrows,
        "links": link_rows(plan.topo, before, after, keys, wan_classifier(plan.topo)),
        "switches": [{**keys, **r} for r in state.rows],
        "control": control,
        "failures": failures,
    }
    ev_rec: list[dict[str, Any]] = [
        {"kind": a.kind, "element": a.element, "mode": a.mode, "scheduled_s": a.scheduled_s,
         "at_s": a.wall - t0,
         "in_place_s": None if a.in_place is None else a.in_place - t0, "links": a.links,
         "detected_by": next((e.detected_by for e in report.events
                              if e.occurred == a.wall and e.element == a.element), None)}
        for a in applied
    ]  # fmt: skip
    (out / "arrivals.json").write_text(json.dumps(sampler.samples))
    (out / "state.json").write_text(json.dumps(state.raw, indent=1))
    (out / "events.json").write_text(json.dumps(ev_rec, indent=1))
    for name, data in report.records.items():
        (out / name).write_text(json.dumps(data, indent=1))
    plan.say(_summary_line(backend.label, keys, rrows, failures, errors))
    return RoundResult(tables, sender, records, state.raw, ev_rec, rate, errors)


def _membership(backend: Backend, plan: RoundPlan) -> Membership | None:
    """The round's joins and leaves (experiments.membership), or None without any; the
    network is told through set_receivers, the receivers by signals (set once they run)."""
    if not plan.changes:
        return None
    return Membership(
        list(plan.changes), list(plan.receivers), MembersFile(plan.records / MEMBERS),
        lambda _h: None, lambda hosts: backend.set_receivers(hosts, plan.source),
        lambda _h: None,
    )  # fmt: skip


def _procs(rx: ReceiverSet | None, late: list[ReceiverSet]) -> dict[str, Any]:
    out = dict(rx.procs) if rx is not None else {}
    for s in late:
        out.update(s.procs)
    return out


def state_reader(
    backend: Backend,
    first: threading.Event,
    stop: threading.Event,
    snapshot: list[State],
    errors: list[str],
) -> threading.Thread | None:
    """A thread (not started) that snapshots the backend's state `state_delay_s` after the
    first data packet (`first`) into `snapshot`, unless `stop` comes first; a failed read is
    an error of the round, which goes on without state. None: the backend takes no snapshot."""
    if backend.state_delay_s is None:
        return None
    delay = backend.state_delay_s

    def read_state() -> None:
        while not first.is_set():
            if stop.wait(0.02):
                return
        if stop.wait(delay):
            return
        try:
            snapshot.append(backend.read_state())
        except Exception as e:  # the round goes on without state
            errors.append(f"state: {e}")

    return threading.Thread(target=read_state, name="exi-state", daemon=True)


def apply_failures(
    backend: Backend,
    events: list[NetEvent],
    first_data: Callable[[], float | None],
    stop: threading.Event,
    first: threading.Event,
    applied: list[Applied],
    errors: list[str],
) -> threading.Thread:
    """A started thread that waits for the round's first data (first_data(): its wall time,
    None if it never came: nothing is applied), sets `first`, then applies each event at
    that time + its own (backend.apply); what it applied goes to `applied`, what failed to
    `errors`. `stop` ends it early."""

    def run() -> None:
        t0 = first_data()
        if t0 is None:
            return
        first.set()
        for ev in events:
            delay = t0 + ev.t - time.time()
            if (delay > 0 and stop.wait(delay)) or stop.is_set():
                return
            wall, mono = time.time(), time.monotonic()
            try:
                links = backend.apply(ev)
            except Exception as e:  # reported with the round
                errors.append(f"{ev.kind} {ev.element} at {ev.t} s: {e}")
                continue
            applied.append(
                Applied(ev.kind, ev.element, ev.t, wall, mono, links, ev.mode, time.time())
            )

    th = threading.Thread(target=run, name="exi-failures", daemon=True)
    th.start()
    return th


def _listen_time(log: Path) -> float | None:
    """modelsync's receiver has joined the group once it logs 'listening on'; its log lines
    carry no stamp, so the file's modification time right after that line is the bound."""
    with contextlib.suppress(OSError):
        return log.stat().st_mtime
    return None


def _summary_line(
    label: str, keys: Mapping[str, Any], rrows: list[dict], failures: list[dict], errors: list
) -> str:
    stayed = [r for r in rrows if r.get("left_s") is None]  # a leaver has no model to verify
    bad = [r["receiver"] for r in stayed if not r["verified"]]
    done = [r["completed_s"] for r in stayed if r["completed_s"] is not None]
    outs = [r["outage_s"] for r in failures if r["receiver"]]
    return (
        f"{label} repetition {keys['repetition'] + 1} round {keys['round'] + 1}: "
        f"{len(stayed) - len(bad)}/{len(stayed)} receivers verified"
        + (f" in {max(done):.1f} s" if done else "")
        + (f"; max outage {max(outs):.2f} s" if outs else "")
        + (f"; NOT verified: {', '.join(bad)}" if bad else "")
        + (f"; errors: {'; '.join(errors)}" if errors else "")
    )


# -- rows ----------------------------------------------------------------------------------------
def receiver_rows(
    sender: Mapping[str, Any],
    receivers: Iterable[Mapping[str, Any]],
    keys: Mapping[str, Any],
    cloud_of: Mapping[str, str | None],
) -> list[dict[str, Any]]:
    """modelsync records -> receivers table. Times are relative to the sender's first data
    packet (completion = last shard verified - first data packet sent)."""
    t0 = sender.get("first_packet_at")

    def rel(t: float | None) -> float | None:
        return None if t is None or t0 is None else t - t0

    rows = []
    for r in receivers:
        c = r.get("counters", {})
        files = r.get("files", [])
        rows.append(
            {
                **keys,
                "receiver": r["receiver"],
                "cloud": cloud_of.get(r["receiver"]),
                "first_packet_s": rel(r.get("first_packet_at")),
                "completed_s": rel(r.get("verified_at")),
                "loaded_s": rel(r.get("loadable_at")),
                "verified": r.get("outcome") == "complete"
                and bool(files)
                and all(f.get("verified") for f in files),
                "bytes_received": c.get("bytes"),
                "packets_received": c.get("datagrams"),
                "duplicates": c.get("duplicates"),
                "corrupt": c.get("corrupt"),
                "nacks_sent": c.get("nacks_sent"),
                "chunks_repaired": c.get("repaired"),
                "bytes_repaired": c.get("repaired_bytes"),
            }
        )
    return rows


def link_rows(
    topo: Topology,
    before: Counters,
    after: Counters,
    keys: Mapping[str, Any],
    wan: Callable[[str, str], bool],
) -> list[dict[str, Any]]:
    """Bytes and packets per link direction in the round (counter deltas)."""
    rows = []
    for lk in topo.links:
        for src, dst in ((lk.a, lk.b), (lk.b, lk.a)):
            b0, p0 = before[(src, dst)]
            b1, p1 = after[(src, dst)]
            rows.append(
                {
                    **keys,
                    "link": lk.name,
                    "src": src,
                    "dst": dst,
                    "wan": wan(src, dst),
                    "capacity_mbit": lk.bw_mbit,
                    "bytes": b1 - b0,
                    "packets": p1 - p0,
                }
            )
    return rows


def wan_classifier(topo: Topology) -> Callable[[str, str], bool]:
    """A link is inside a cloud when both ends carry the same cloud label (as the projection
    counts it); every other link is WAN."""
    cloud = {s.name: s.cloud for s in topo.switches} | {h.name: h.cloud for h in topo.hosts}
    return lambda a, b: not (cloud[a] is not None and cloud[a] == cloud[b])


def tree_build_rows(
    records: list[dict[str, Any]], joins: Mapping[str, float], t0: float, keys: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """A network that builds its tree from joins: per receiver a new-set row, started_s its
    join, duration_s from the join (or the first datagram sent, if later) to the first
    datagram it received. Nothing is written by a controller."""
    rows = []
    for r in records:
        j = joins.get(r["receiver"])
        fp = r.get("first_packet_at")
        rows.append(
            {**keys, "action": "new-set", "switch": r["receiver"], "writes": None,
             "started_s": None if j is None else j - t0,
             "duration_s": None if fp is None or j is None else fp - max(j, t0)}
        )  # fmt: skip
    return rows


def failure_rows(
    events: list[NetworkEvent],
    records: list[dict[str, Any]],
    keys: Mapping[str, Any],
    t0: float,
    min_outage_s: float = 0.005,
    until: float | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(control rows, failures rows) of the round's events. Per event its row (receiver ""),
    then one per affected receiver: its data stopped across the event (the gap in its own
    kernel-stamped arrivals, `arrivals.gap_outage`, ending by `until`) and it lost frames
    (modelsync repaired chunks for it; a gap without loss is a stall, not an outage).
    packets_lost = the chunks it missed and got repaired in the round (modelsync's count) and
    bytes_repaired their payload bytes, both on the first event that affected it.
    local_repair_s: on the event's row, when the data plane took a backup by itself
    (`local_repair`, BIER-FRR); on a receiver's row, its data back when that came before the
    network's reaction wrote anything (so by the backup alone). The event's reconverged_s is
    the network's own end of the reaction where it records one, else the last affected
    receiver's data back. The control rows are the reaction's writes per switch (failure, or
    revert for an up event)."""
    counters = {r["receiver"]: r.get("counters") or {} for r in records}
    arrivals = {r["receiver"]: r.get("arrivals") for r in records}
    repaired = {h: c.get("repaired") for h, c in counters.items()}
    counted: set[str] = set()
    control, failures = [], []
    for i, ev in enumerate(events):
        up = ev.kind.endswith("up")
        base = {
            **keys, "event": i, "kind": ev.kind, "element": ev.element, "mode": ev.mode,
            "at_s": ev.occurred - t0,
            "detected_s": None if ev.detected is None else ev.detected - t0,
        }  # fmt: skip
        per = []
        for h in sorted(repaired):
            gap = gap_outage(arrivals.get(h), ev.occurred, min_outage_s, until=until,
                             in_place=ev.in_place)  # fmt: skip
            if gap is None or not repaired[h]:
                continue
            first_write = ev.reaction_started
            local = ev.local_repair is not None and (first_write is None or gap[1] < first_write)
            per.append(
                {**base, "reconverged_s": gap[1] - t0, "receiver": h,
                 "outage_s": gap[1] - gap[0],
                 "local_repair_s": gap[1] - t0 if local else None,
                 "packets_lost": None if h in counted else repaired[h],
                 "bytes_repaired": None if h in counted else counters[h].get("repaired_bytes")}
            )  # fmt: skip
            counted.add(h)
        last = max((p["reconverged_s"] for p in per), default=None)
        done = last if ev.done is None else ev.done - t0
        failures.append(
            {**base, "reconverged_s": done, "receiver": "",
             "local_repair_s": None if ev.local_repair is None else ev.local_repair - t0}
        )  # fmt: skip
        failures += per
        for w in ev.writes:
            control.append(
                {**keys, "action": "revert" if up else "failure", "switch": w["switch"],
                 "writes": w["updates"], "started_s": w["started"] - t0,
                 "duration_s": w["done"] - w["started"]}
            )  # fmt: skip
    return control, failures


def unscheduled_gaps(
    arrivals: Mapping[str, list[float]],
    start: float,
    end: float | None,
    events: list[float],
    min_gap: float = 0.3,
) -> list[tuple[str, float, float]]:
    """Gaps in a receiver's data during the first pass (`start`..`end`, while the sender sends
    steadily) longer than `min_gap` and 5 x its median spacing that begin more than 0.5 s
    after, or end before, every applied event: an outage the network made on its own
    (a protocol flap or a stalled switch on a loaded machine, say). (receiver, start, s)."""
    if end is None:
        return []
    out = []
    for h, arr in sorted(arrivals.items()):
        arr = [t for t in arr if start <= t <= end]
        gaps = sorted(b - a for a, b in itertools.pairwise(arr))
        limit = max(min_gap, 5 * gaps[len(gaps) // 2]) if gaps else min_gap
        for a, b in itertools.pairwise(arr):
            if b - a > limit and not any(a - 0.5 <= e <= b for e in events):
                out.append((h, a, b - a))
    return out


def gap_notes(
    sampler: CounterSampler,
    records: list[dict[str, Any]],
    t0: float,
    pass_end: float | None,
    applied: list[float],
) -> list[str]:
    """The sender's own pauses during the first pass (data into the port facing it stopped:
    CPU starvation), and any receiver's first-pass data gap (from its own arrival record)
    that neither a scheduled failure nor such a pause explains."""
    paused = unscheduled_gaps({"sender": sampler.arrivals(SOURCE)}, t0, pass_end, [])
    stray = []
    if pass_end is not None:
        for r in records:
            for a, b in (r.get("arrivals") or {}).get("gaps", []):
                explained = any(a - 0.5 <= e <= b for e in applied)
                if t0 <= a and b <= pass_end and b - a > STRAY_GAP_S and not explained:
                    stray.append((r["receiver"], a, b - a))
    stray = [
        (h, a, g)
        for h, a, g in stray
        if not any(pa - 0.05 <= a and a + g <= pa + pg + 0.05 for _, pa, pg in paused)
    ]
    notes = []
    if paused:
        notes.append(
            "the sender paused (first pass): "
            + ", ".join(f"{g:.2f} s at {t - t0:.2f} s" for _, t, g in paused)
        )
    if stray:
        notes.append(
            "data gaps no scheduled failure explains (first pass): " + stray_text(stray, t0)
        )
    return notes


TOGETHER_S = 0.1  # gaps beginning this close together are one stall
MANY = 5  # a stall in this many receivers or more is told once, with its count


def stray_text(stray: list[tuple[str, float, float]], t0: float) -> str:
    """Gaps (receiver, start, seconds) as text: one entry per receiver, except that gaps
    beginning together in many receivers (the whole machine stalled, as with 128 hosts on 2
    cores) are one entry with their count, so that the note stays short at scale."""
    parts: list[str] = []
    group: list[tuple[str, float, float]] = []

    def close() -> None:
        if len(group) >= MANY:
            lo, hi = min(g for _, _, g in group), max(g for _, _, g in group)
            span = f"{lo:.2f}" if hi - lo < 0.005 else f"{lo:.2f}-{hi:.2f}"
            parts.append(f"{len(group)} receivers {span} s at {group[0][1] - t0:.2f} s")
        else:
            parts.extend(f"{h} {g:.2f} s at {t - t0:.2f} s" for h, t, g in sorted(group))
        group.clear()

    for h, t, g in sorted(stray, key=lambda x: (x[1], x[0])):
        if group and t - group[0][1] > TOGETHER_S:
            close()
        group.append((h, t, g))
    close()
    return ", ".join(parts)
