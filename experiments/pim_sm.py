"""The `pim-sm` technology with the real delivery application: one round of an experiment on
pimsm's FRR network (zebra, OSPF, pimd with a static RP, optionally bfdd; the kernel
forwards), modelsync sending the model with `--technology ip-multicast` (repairs by unicast)
to receivers that join the group over IGMP through their ordinary socket.

How the runner calls it, per (repetition, round) of a sweep point:

    from experiments.pim_sm import run_pim_round, pim_available
    why = pim_available()                    # None: FRR and Mininet are here
    res = run_pim_round(
        e, topo, k, resolve_receivers(e, topo, k), ctx.model, ctx.manifest,
        schedule(e, topo, k), ctx.out / "records" / f"{sw}pim-sm-{rep}-{k}",
        bfd=True,                            # or False; run both for the stated comparison
        keys={"sweep": sweep_label(ctx.sweep), "technology": "pim-sm",
              "repetition": rep, "round": k},
        say=bar.say,
    )
    for table, rows in res.tables.items():  # rounds, receivers, links, switches, control,
        ctx.writer.add(table, rows)         # failures: G's schemas (experiments.results)
    ctx.writer.update_environment(pim_sm=res.environment())   # timers, BFD, failure mode

(`ctx.model` is the model directory holding modelsync.manifest.json, `ctx.manifest` the
loaded Manifest.) To keep one FRR network per sweep point as for the P4 runs, start a
`pimsm.network.PimNetwork(topo, timers=timers_for(e, bfd), bfd=bfd, delay="ignore")`,
`wait_converged()`, pass it as `net=` to every round and stop it after the last
(`run_pim_experiment` does exactly that). Alone, without the runner:

    python -m experiments.pim_sm EXP.yaml [--results DIR] [--no-bfd] [--carrier]

BFD on is the fair default beside BIER: its interval is control.detection_ms / 3, the
detection time the P4 controller waits. The summary knows the technology only as `pim-sm`,
so put the run without BFD in a folder of its own (`--no-bfd`); every round's `note` and the
environment's `pim_sm` entry state BFD and every timer either way.

Per call: the FRR network is brought up (or `net=` reused; it must have the same `bfd`),
converged (OSPF Full, routes, PIM neighbours, RP, BFD); receivers start in the round's GPU
hosts; the sender in the model-store host; the round's failures are applied at their times
after the sender's first data datagram ('first pass:' in its log): `silent` by default (carrier
stays up: only OSPF's dead interval or BFD notices, as a fault inside a WAN path), or
`carrier`; a failure still in force at the end is restored. Then the records are read, every
received file is hashed against the manifest, and the network is torn down (own network).

Measurements, in the tables (times in seconds from the sender's first data datagram):
- receivers: modelsync's records (verified = modelsync's verdict and the sha256 on disk);
- links: bytes and packets per link direction from the routers' interface counters;
- switches: per router `mroute_sg` and `mroute_starg` (entries from `show ip mroute json`,
  replicas = installed data oifs), read 0.3 s after the first data datagram;
- control: `new-set` per receiver: started_s = its IGMP join, duration_s = join (or the first
  datagram sent, if later) to the first datagram it received: the tree build;
- failures: per event its row (detected_s: first OSPF adjacency or PIM neighbour loss in the
  FRR logs of the failed link's routers; reconverged_s: the last affected receiver's data
  back), and per affected receiver (its data stopped across the event and it lost chunks)
  its outage (the gap in data leaving the router port facing it, 10 ms samples) and
  packets_lost = chunks it missed and got repaired in the round (modelsync's count, on the
  first event that affected it), bytes_repaired their payload bytes;
- rounds: the structural ideal as for the other technologies; switches_kept_up and
  switch_drops NA (kernel routers, no pipeline counter); the note states BFD, the failure
  mode, every timer, the sender's own pauses during the first pass (data into the router
  port facing it stopped: CPU starvation) and any receiver's first-pass data gap that
  neither a scheduled failure nor such a pause explains.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.arrivals import outage as find_gap
from experiments.projection import NetEvent, schedule
from experiments.spec import Experiment, resolve_receivers, source_host
from modelsync.launch import MANIFEST, read_json, verify_on_disk, wait_first_pass
from modelsync.manifest import Manifest
from topologies.model import Topology

STATE_DELAY_S = 0.3  # state snapshot this long after the first data datagram
SOURCE = "__source__"
# BFD at 3 x 50 ms cuts for little more than 0.1 s: the runner's 0.1 s floor would miss some;
# 5 x the median spacing of data samples (10 ms) still applies
MIN_OUTAGE_S = 0.05  # the sampler's label for the port facing the sender


class PimRoundError(RuntimeError):
    pass


def pim_available() -> str | None:
    """None when a pim-sm round can run here; else why not."""
    import os

    if os.geteuid() != 0:
        return "not root (namespaces and FRR need it)"
    try:
        import mininet.node  # noqa: F401

        from pimsm.frr import frr_available
    except ImportError as e:
        return f"cannot import Mininet or pimsm: {e}"
    if not frr_available():
        return "FRR (zebra, ospfd, pimd) is not installed"
    return None


def timers_for(exp: Experiment, bfd: bool) -> Any:
    """pimsm's timers; with BFD, its interval from the description's detection time
    (control.detection_ms = 3 x interval, as the P4 controller's detection), so both sides
    detect a silent failure in the same time. At least 10 ms (FRR's floor)."""
    from pimsm.timers import Timers

    if not bfd:
        return Timers()
    ms = max(10, round(exp.control.detection_ms / 3))
    return Timers(bfd_tx_ms=ms, bfd_rx_ms=ms, bfd_multiplier=3)


def timers_note(t: Any, bfd: bool) -> str:
    s = (
        f"OSPF hello {t.ospf_hello_s} s dead {t.ospf_dead_s} s, SPF throttle "
        f"{t.spf_delay_ms}/{t.spf_hold_ms}/{t.spf_max_hold_ms} ms; PIM hello {t.pim_hello_s} s "
        f"hold {t.pim_hold_s} s join-prune {t.pim_join_prune_s} s; IGMP query "
        f"{t.igmp_query_s} s"
    )
    if bfd:
        s += f"; BFD {t.bfd_tx_ms}/{t.bfd_rx_ms} ms x {t.bfd_multiplier}"
    else:
        s += "; no BFD"
    return s


@dataclass
class PimRoundResult:
    """One pim-sm round: rows for the results tables plus the raw records they came from."""

    tables: dict[str, list[dict[str, Any]]]  # rounds, receivers, links, switches, control, failures
    sender: dict[str, Any]  # modelsync's SenderRecord
    receivers: list[dict[str, Any]]  # modelsync's ReceiverRecords (+ verified_on_disk)
    bfd: bool
    mode: str
    timers: dict[str, Any]
    converge_s: float | None
    rate_mbit: float
    state: list[dict[str, Any]]  # RouterMcastState per router (pimsm.records)
    events: list[dict[str, Any]]  # applied failures: kind, element, wall time, detection
    records_dir: Path
    notes: list[str] = field(default_factory=list)

    def verified(self) -> dict[str, bool]:
        return {r["receiver"]: bool(r["verified"]) for r in self.tables["receivers"]}

    def environment(self) -> dict[str, Any]:
        """What the results folder's environment.json should say about pim-sm."""
        return {
            "routers": "FRR 8.4 (zebra, staticd, ospfd, pimd" + (", bfdd)" if self.bfd else ")"),
            "bfd": self.bfd,
            "failure_mode": self.mode,
            "timers": self.timers,
            "delivery": "modelsync --technology ip-multicast, repairs by unicast",
        }


def run_pim_round(
    exp: Experiment,
    topo: Topology,
    round_index: int,
    receivers: list[str] | None,
    model_dir: Path,
    manifest: Manifest,
    failures: list[NetEvent] | None,
    out_dir: Path,
    *,
    bfd: bool,
    keys: Mapping[str, Any] | None = None,
    rate_mbit: float | None = None,
    mode: str = "silent",
    timers: Any = None,
    net: Any = None,
    prefix: str = "pim",
    keep_received: bool = False,
    say: Callable[[str], None] = print,
) -> PimRoundResult:
    """One round of `exp` on pimsm's FRR network (see the module docstring). `receivers`
    None: the round's set; `failures` None: the round's schedule; `rate_mbit` None: the
    description's rate (auto: the projection's for pim-sm). Records go to `out_dir`."""
    from pimsm.network import PimNetwork

    if mode not in ("silent", "carrier"):
        raise ValueError(f"failure mode {mode!r}: silent or carrier")
    rx_hosts = (
        list(receivers) if receivers is not None else resolve_receivers(exp, topo, round_index)
    )
    if not rx_hosts:
        raise PimRoundError(f"round {round_index}: no receivers")
    events = list(failures) if failures is not None else schedule(exp, topo, round_index)
    source = source_host(exp, topo)
    keys = dict(keys) if keys is not None else {
        "sweep": "", "technology": "pim-sm", "repetition": 0, "round": round_index,
    }  # fmt: skip
    if not (model_dir / MANIFEST).is_file():
        raise PimRoundError(f"model {model_dir}: no {MANIFEST} (prepare the model first)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rate = rate_mbit if rate_mbit is not None else _rate(exp, topo, source, rx_hosts)
    row = _round_row(topo, source, keys, rx_hosts, manifest, rate, exp)

    own = net is None
    if own:
        net = PimNetwork(
            topo, timers=timers or timers_for(exp, bfd), bfd=bfd, prefix=prefix, delay="ignore"
        )
    elif net.bfd != bfd:
        raise PimRoundError(f"the network given runs bfd={net.bfd}, the round asks bfd={bfd}")
    try:
        converge_s = None
        if own:
            net.start()
            say(f"pim-sm: FRR network up ({len(net.routers)} routers, bfd={bfd}); converging")
            converge_s = net.wait_converged(timeout=120)
            say(f"pim-sm: converged in {converge_s:.1f} s")
        res = _round(
            net, exp, topo, rx_hosts, source, model_dir, manifest, events, out_dir, keys, row,
            rate, mode, keep_received, say,
        )  # fmt: skip
        res.converge_s = converge_s
        return res
    finally:
        if own:
            net.stop()


def _rate(exp: Experiment, topo: Topology, source: str, receivers: list[str]) -> float:
    from experiments.runner import sending_rate

    return sending_rate(exp, topo, source, "pim-sm", receivers)


def _round_row(
    topo: Topology,
    source: str,
    keys: Mapping[str, Any],
    receivers: list[str],
    manifest: Manifest,
    rate: float,
    exp: Experiment,
) -> dict[str, Any]:
    """The rounds row with its structural ideal, as the runner defines it for the others."""
    from experiments.flowmodel import build_net, shortest_paths
    from experiments.projection import structural_ideal

    size = sum(f.size for f in manifest.files if f.name.endswith(".safetensors"))
    row: dict[str, Any] = {
        **keys, "receivers": len(receivers), "model_bytes": size, "sending_rate_mbit": rate,
    }  # fmt: skip
    if size:
        fnet = build_net(topo)
        paths = shortest_paths(fnet, source, receivers, rpf=True)
        given = None if exp.sending_rate_mbit == "auto" else rate * 1e6
        row.update(structural_ideal(fnet, "pim-sm", paths, size, given))
    return row


@dataclass
class _Applied:
    kind: str
    element: str
    t_sched: float
    wall: float  # time.time() when applied
    mono: float  # time.monotonic() when applied
    links: list[str]  # topology link names changed


def _round(
    net: Any,
    exp: Experiment,
    topo: Topology,
    rx_hosts: list[str],
    source: str,
    model_dir: Path,
    manifest: Manifest,
    events: list[NetEvent],
    out: Path,
    keys: dict[str, Any],
    row: dict[str, Any],
    rate: float,
    mode: str,
    keep_received: bool,
    say: Callable[[str], None],
) -> PimRoundResult:
    from pimsm import delivery
    from pimsm.arrivals import PortSampler
    from pimsm.measure import link_bytes, mcast_state_all, read_counters

    deadline = max(60.0, 6 * float(row.get("ideal_time_s") or 0) + 30)
    ports = {}
    for h in rx_hosts:
        sw, port, _ = topo.host_attachment(h)
        ports[h] = (net.nodes[sw].pid, f"eth{port}", "tx")
    sw, port, _ = topo.host_attachment(source)
    ports[SOURCE] = (net.nodes[sw].pid, f"eth{port}", "rx")  # what the sender put out
    work = out / "received"
    before = read_counters(net)
    sampler = PortSampler(ports).start()
    stop = threading.Event()
    applied: list[_Applied] = []
    down: dict[str, tuple[str, str]] = {}
    state: list[Any] = []
    errors: list[str] = []
    joins: dict[str, float] = {}
    rx = snd = None
    th_fail = th_state = None
    try:
        rx = delivery.start_receivers(
            net, rx_hosts, model_dir / MANIFEST, source, work, out, deadline + 20
        )
        now = time.time()
        joins = {h: now for h in rx_hosts}  # listening (joined) by now: an upper bound
        for h in rx_hosts:
            joins[h] = _listen_time(out / f"{h}.log") or now
        snd = delivery.start_sender(net, source, rx_hosts, model_dir, rate, out, deadline)
        first = threading.Event()

        def watch_first() -> float | None:
            t = wait_first_pass(snd.log, stop)
            if t is not None:
                first.set()
            return t

        def inject() -> None:
            t0 = watch_first()
            if t0 is None:
                return
            for ev in events:
                delay = t0 + ev.t - time.time()
                if delay > 0 and stop.wait(delay):
                    return
                if stop.is_set():
                    return
                try:
                    applied.append(_apply(net, ev, mode, down))
                except Exception as e:  # reported with the round
                    errors.append(f"{ev.kind} {ev.element} at {ev.t} s: {e}")

        def snapshot() -> None:
            while not first.is_set():
                if stop.wait(0.02):
                    return
            if stop.wait(STATE_DELAY_S):
                return
            try:
                state.extend(mcast_state_all(net, threadsafe=True))
            except Exception as e:  # the round goes on without state
                errors.append(f"multicast state: {e}")

        th_fail = threading.Thread(target=inject, name="pil-fail", daemon=True)
        th_state = threading.Thread(target=snapshot, name="pil-state", daemon=True)
        th_fail.start()
        th_state.start()
        try:
            snd.proc.wait(deadline + 30)
        except subprocess.TimeoutExpired:
            say(f"pim-sm round {keys['round']}: the sender passed its deadline; stopping it")
        rx.wait(30)
    finally:
        stop.set()
        for th in (th_fail, th_state):
            if th is not None:
                th.join(30)
        for a, b in list(down.values()):  # a failure the round outlived: plug it back
            with contextlib.suppress(Exception):
                net.restore_link(a, b)
        if snd is not None:
            snd.kill()
        if rx is not None:
            rx.kill()
        sampler.stop()
    after = read_counters(net)
    sender = read_json(out / "sender.json") or {}
    records = rx.read_records()
    for r in records:  # the adapter's own sha256 check of what is on disk
        r["verified_on_disk"] = verify_on_disk(manifest, work / r["receiver"])
    if not keep_received:
        shutil.rmtree(work, ignore_errors=True)
    t0 = sender.get("first_packet_at") or time.time()
    detections = [_detection(net, ap, mode) for ap in applied]
    tables = _tables(
        net, topo, keys, row, sender, records, joins, link_bytes(net, before, after), state,
        applied, detections, sampler, t0, mode, errors,
    )  # fmt: skip
    ev_rec = [
        {"kind": a.kind, "element": a.element, "scheduled_s": a.t_sched, "at_s": a.wall - t0,
         "links": a.links, **d}
        for a, d in zip(applied, detections, strict=True)
    ]  # fmt: skip
    timers = net.timers.model_dump()
    st = [s.model_dump() for s in state]
    (out / "arrivals.json").write_text(json.dumps(sampler.samples))
    (out / "mcast_state.json").write_text(json.dumps(st, indent=1))
    (out / "events.json").write_text(json.dumps(ev_rec, indent=1))
    (out / "timers.json").write_text(json.dumps({"bfd": net.bfd, "mode": mode, **timers}))
    rrows = tables["receivers"]
    bad = [r["receiver"] for r in rrows if not r["verified"]]
    done = [r["completed_s"] for r in rrows if r["completed_s"] is not None]
    outs = [r["outage_s"] for r in tables["failures"] if r["receiver"]]
    say(
        f"pim-sm round {keys['round'] + 1} (bfd={net.bfd}): {len(rrows) - len(bad)}/"
        f"{len(rrows)} receivers verified"
        + (f" in {max(done):.1f} s" if done else "")
        + (f"; max outage {max(outs):.2f} s" if outs else "")
        + (f"; NOT verified: {', '.join(bad)}" if bad else "")
        + (f"; errors: {'; '.join(errors)}" if errors else "")
    )
    return PimRoundResult(
        tables, sender, records, net.bfd, mode, timers, None, rate, st, ev_rec, out,
        list(net.notes) + errors,
    )  # fmt: skip


def _listen_time(log: Path) -> float | None:
    """modelsync's receiver has joined the group once it logs 'listening on'; its log lines
    carry no stamp, so the file's modification time right after that line is the bound."""
    with contextlib.suppress(OSError):
        return log.stat().st_mtime
    return None


def _apply(net: Any, ev: NetEvent, mode: str, down: dict[str, tuple[str, str]]) -> _Applied:
    """Apply one scheduled event to the FRR network; `down` tracks failed links (name ->
    ends) so that the round can restore what it outlived."""
    up = ev.kind.endswith("up")
    ap = _Applied(ev.kind, ev.element, ev.t, time.time(), time.monotonic(), [])
    for a, b in ev.pairs:
        name = net._ends(a, b).name
        ap.links.append(name)
        if up:
            if down.pop(name, None) is not None:
                net.restore_link(a, b)
        elif name not in down:
            net.fail_link(a, b, mode)
            down[name] = (a, b)
    return ap


def _detection(net: Any, ap: _Applied, mode: str) -> dict[str, Any]:
    """For a down event: the first OSPF adjacency or PIM neighbour loss logged by the routers
    at the failed links (FRR's own logs, microsecond stamps), as wall-clock time, and who
    noticed it (pimsm.events.detected_by)."""
    from pimsm.events import detected_by, link_down_events, wall_to_monotonic
    from pimsm.records import LinkEvent

    if ap.kind.endswith("up"):
        return {"detected_wall": None, "detected_by": None}
    offset = wall_to_monotonic()
    found = []
    for name in ap.links:
        with contextlib.suppress(Exception):
            found += link_down_events(
                net, LinkEvent(link=name, mode=mode, bfd=net.bfd, t_fail=ap.mono)
            )
    if not found:
        return {"detected_wall": None, "detected_by": None}
    found.sort(key=lambda e: e.t)
    return {"detected_wall": found[0].t + offset, "detected_by": detected_by(found)}


def unscheduled_gaps(
    arrivals: Mapping[str, list[float]],
    start: float,
    end: float | None,
    events: list[float],
    min_gap: float = 0.3,
) -> list[tuple[str, float, float]]:
    """Gaps in a receiver's data during the first pass (`start`..`end`, while the sender sends
    steadily) longer than `min_gap` and 5 x its median spacing that begin more than 0.5 s
    after, or end before, every applied event: an outage the protocols made on their own
    (a BFD or OSPF flap on a loaded machine, say). (receiver, gap start, seconds)."""
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


def _tables(
    net: Any,
    topo: Topology,
    keys: dict[str, Any],
    row: dict[str, Any],
    sender: dict[str, Any],
    records: list[dict[str, Any]],
    joins: dict[str, float],
    lbytes: list[Any],
    state: list[Any],
    applied: list[_Applied],
    detections: list[dict[str, Any]],
    sampler: Any,
    t0: float,
    mode: str,
    errors: list[str],
) -> dict[str, list[dict[str, Any]]]:
    from experiments.runner import receiver_rows, wan_classifier

    cloud_of = {h.name: h.cloud for h in topo.hosts}
    rrows = receiver_rows(sender, records, keys, cloud_of)
    for rr, r in zip(rrows, records, strict=True):
        rr["verified"] = bool(rr["verified"]) and r["verified_on_disk"]

    wan = wan_classifier(topo)
    cap = {lk.name: lk.bw_mbit for lk in topo.links}
    links = []
    for lb in lbytes:
        for src, dst, b, p in ((lb.a, lb.b, lb.a_to_b_bytes, lb.a_to_b_packets),
                               (lb.b, lb.a, lb.b_to_a_bytes, lb.b_to_a_packets)):  # fmt: skip
            links.append(
                {**keys, "link": lb.link, "src": src, "dst": dst, "wan": wan(src, dst),
                 "capacity_mbit": cap.get(lb.link), "bytes": b, "packets": p}
            )  # fmt: skip

    switches = []
    for st in state:
        sg = [m for m in st.mroutes if m.source != "*"]
        starg = [m for m in st.mroutes if m.source == "*"]
        for table, ms in (("mroute_sg", sg), ("mroute_starg", starg)):
            switches.append(
                {**keys, "switch": st.router, "table": table, "entries": len(ms),
                 "replicas": sum(len(m.data_oifs) for m in ms if m.installed)}
            )  # fmt: skip

    control = []
    for r in records:
        h = r["receiver"]
        j = joins.get(h)
        fp = r.get("first_packet_at")
        control.append(
            {**keys, "action": "new-set", "switch": h, "writes": None,
             "started_s": None if j is None else j - t0,
             "duration_s": None if fp is None or j is None else fp - max(j, t0)}
        )  # fmt: skip

    # A receiver is affected when its data stopped across the event and it lost chunks
    # (modelsync repaired some): a gap without loss is a stall, as the runner counts it for
    # the other technologies. Its repaired chunks go on the first event that affected it.
    counters = {r["receiver"]: r.get("counters") or {} for r in records}
    repaired = {h: c.get("repaired") for h, c in counters.items()}
    counted: set[str] = set()
    failures = []
    for i, (ap, det) in enumerate(zip(applied, detections, strict=True)):
        dw = det["detected_wall"]
        base = {**keys, "event": i, "kind": ap.kind, "element": ap.element,
                "at_s": ap.wall - t0, "detected_s": None if dw is None else dw - t0}  # fmt: skip
        per = []
        for h in sorted(repaired):
            gap = find_gap(sampler.arrivals(h), ap.wall, min_gap=MIN_OUTAGE_S)
            if gap is None or not repaired[h]:
                continue
            per.append(
                {**base, "reconverged_s": gap[1] - t0, "receiver": h,
                 "outage_s": gap[1] - gap[0],
                 "packets_lost": None if h in counted else repaired[h],
                 "bytes_repaired": None if h in counted else counters[h].get("repaired_bytes")}
            )  # fmt: skip
            counted.add(h)
        last = max((p["reconverged_s"] for p in per), default=None)
        failures.append({**base, "reconverged_s": last, "receiver": ""})
        failures += per

    note = (
        f"measurement; pim-sm on FRR routers (kernel forwarding), modelsync ip-multicast, "
        f"repairs by unicast; failures {mode}; {timers_note(net.timers, net.bfd)}"
    )
    end = sender.get("first_pass_done_at")
    walls = [ap.wall for ap in applied]
    paused = unscheduled_gaps({"sender": sampler.arrivals(SOURCE)}, t0, end, [])
    stray = unscheduled_gaps({h: sampler.arrivals(h) for h in repaired}, t0, end, walls)
    # a receiver's gap while the sender itself paused (CPU starved) is not the network's
    stray = [
        (h, a, g)
        for h, a, g in stray
        if not any(pa - 0.05 <= a and a + g <= pa + pg + 0.05 for _, pa, pg in paused)
    ]
    if paused:
        note += "; the sender paused (first pass): " + ", ".join(
            f"{g:.2f} s at {t - t0:.2f} s" for _, t, g in paused
        )
    if stray:
        note += "; data gaps no scheduled failure explains (first pass): " + ", ".join(
            f"{h} {g:.2f} s at {t - t0:.2f} s" for h, t, g in stray
        )
    if errors:
        note += "; errors: " + "; ".join(errors)
    rounds = [{**row, "switches_kept_up": None, "switch_drops": None, "note": note}]
    return {
        "rounds": rounds,
        "receivers": rrows,
        "links": links,
        "switches": switches,
        "control": control,
        "failures": failures,
    }


# -- the pim-sm part of an experiment on its own ----------------------------------------------
def run_pim_experiment(
    exp: Experiment,
    results_base: Path = Path("results"),
    base: Path | None = None,
    *,
    bfd: bool = True,
    mode: str = "silent",
    prefix: str = "pim",
    say: Callable[[str], None] = print,
) -> Path:
    """Every sweep value x repetition x round of `exp` for pim-sm alone (one FRR network per
    sweep value, as the runner keeps its P4 network), in a results folder of its own (tables
    flushed after every round). Returns the folder."""
    import tempfile

    from experiments.delivery import prepare_model
    from experiments.results import ResultsWriter, environment, new_run_dir, sweep_label
    from experiments.spec import expand_sweep, resolve_path
    from experiments.topology_source import build_topology
    from modelsync.manifest import load_manifest
    from pimsm.network import PimNetwork

    why = pim_available()
    if why is not None:
        raise PimRoundError(f"pim-sm cannot run here: {why}")
    out = new_run_dir(results_base, exp.name)
    say(f"results: {out}")
    env = environment("measurement", "frr", {"delays": "link delays not emulated (no netem)"})
    writer = ResultsWriter.create(out, exp, env)
    scratch = Path(tempfile.mkdtemp(prefix="pim-work-"))
    try:
        for value, e in expand_sweep(exp):
            topo = build_topology(e, base)
            writer.write_topology(topo, value)
            model = (
                prepare_model(
                    e.model.size, e.model.shards, None, scratch / f"model-{value}", e.seed
                )
                if e.model.dir is None
                else prepare_model(
                    None, None, resolve_path(e.model.dir, base), scratch / "model", 0
                )
            )
            manifest = load_manifest(model / MANIFEST)
            # one FRR network per sweep point: later rounds join onto what earlier ones left
            net = PimNetwork(
                topo, timers=timers_for(e, bfd), bfd=bfd, prefix=prefix, delay="ignore"
            )
            try:
                net.start()
                say(f"pim-sm: FRR network up ({len(net.routers)} routers, bfd={bfd})")
                conv = net.wait_converged(timeout=180)
                say(f"pim-sm: converged in {conv:.1f} s")
                writer.update_environment(pim_sm_converge_s=conv)
                for rep in range(e.repetitions):
                    for k in range(len(e.rounds)):
                        keys = {"sweep": sweep_label(value), "technology": "pim-sm"}
                        keys |= {"repetition": rep, "round": k}
                        sw = f"{sweep_label(value)}-" if value is not None else ""
                        res = run_pim_round(
                            e, topo, k, None, model, manifest, None,
                            out / "records" / f"{sw}pim-sm-{rep}-{k}", bfd=bfd, keys=keys,
                            mode=mode, net=net, say=say,
                        )  # fmt: skip
                        for table, rows in res.tables.items():
                            writer.add(table, rows)
                        writer.update_environment(pim_sm=res.environment())
                        writer.flush()
            finally:
                net.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        writer.update_environment(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        writer.flush()
    return out


def main(argv: list[str] | None = None) -> int:
    """python -m experiments.pim_sm EXP.yaml [--results DIR] [--no-bfd] [--carrier]"""
    import argparse
    import sys

    from experiments.spec import SpecError, load_experiment

    ap = argparse.ArgumentParser(
        prog="python -m experiments.pim_sm",
        description="the pim-sm rounds of an experiment on FRR routers, modelsync delivering",
    )
    ap.add_argument("experiment", type=Path)
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--no-bfd", action="store_true", help="OSPF dead interval detects")
    ap.add_argument("--carrier", action="store_true", help="failures drop the carrier")
    a = ap.parse_args(argv)
    try:
        exp = load_experiment(a.experiment)
        out = run_pim_experiment(
            exp, a.results, a.experiment.resolve().parent, bfd=not a.no_bfd,
            mode="carrier" if a.carrier else "silent",
        )  # fmt: skip
    except (SpecError, PimRoundError) as e:
        print(f"pim-sm: error: {e}", file=sys.stderr)
        return 2
    print(f"pim-sm: results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
