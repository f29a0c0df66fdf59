"""The experiment runner: `python -m experiments run EXP.yaml` (make run-experiment).

Per sweep value one network (testbed.network.Network, switches started without a program),
then per technology: its pipeline pushed and base state installed by the control plane
(experiments.control.TechnologyControl over controlplane.testbed.ControlPlane), and per
repetition and round:

    new receiver set (controller) -> receivers started in the GPU hosts (modelsync) ->
    sender in the model-store host -> failures injected at their times after the first data
    packet (net.set_link/set_switch; the network hands the events to the controller) ->
    completion awaited with a deadline -> records collected -> tables written

What the runner measures itself: link bytes and packets from the switch interfaces' kernel
counters (/sys/class/net/<intf>/statistics), before and after each round; whether the
switches kept up (frames the kernel handed to a switch port against frames its P4 ingress
counted); each receiver's arrivals (experiments.arrivals) for its outage after a failure;
the sha256 of every file on every receiver's disk. Nothing is estimated: a value no part
provides stays NA.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments import switch_logs
from experiments.arrivals import SYSFS, ArrivalSampler, outage
from experiments.control import TechnologyControl
from experiments.delivery import (
    MANIFEST,
    load_manifest,
    prepare_model,
    read_json,
    remove_received,
    start_receivers,
    start_sender,
    verify_on_disk,
)
from experiments.projection import NetEvent, schedule
from experiments.results import ResultsWriter, environment, new_run_dir, sweep_label
from experiments.spec import (
    Experiment,
    expand_sweep,
    resolve_path,
    resolve_receivers,
    source_host,
)
from experiments.topology_source import build_topology
from modelsync.launch import wait_first_pass
from topologies.model import Topology

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = ("bier", "sr_p2mp")
PORT_STATUS_REGISTER = "MyEgress.port_status"  # declared by every program in p4src/ (README)


class RunnerUnavailable(RuntimeError):
    """Something the runner needs is not there; `missing` says what and why."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("the experiment runner cannot run: " + "; ".join(missing))


def prerequisites() -> list[str]:
    """What a measured run needs here and is missing (empty: it can run)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (Mininet creates namespaces and links): run as root")
    for mod, why in (
        ("mininet.net", "Mininet (the emulated network)"),
        ("testbed.network", "the testbed (testbed.network)"),
        ("controlplane.testbed", "the control plane (controlplane.testbed)"),
        ("modelsync.cli", "the model delivery (modelsync)"),
    ):
        try:
            importlib.import_module(mod)
        except ImportError as e:
            missing.append(f"{why}: {e}")
    return missing


def ensure_programs(build: Path, target: str, say: Callable[[str], None]) -> None:
    """The P4 programs compiled into build/<target>/ (softswitch.build_all) when missing."""
    need = [build / target / f"{p}.{ext}" for p in PROGRAMS for ext in ("json", "p4info.txtpb")]
    if all(p.is_file() for p in need):
        return
    say(f"compiling the P4 programs into {build}/ (python -m softswitch.build_all)")
    r = subprocess.run(
        [sys.executable, "-m", "softswitch.build_all", "--out", str(build)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    missing = [str(p) for p in need if not p.is_file()]
    if r.returncode != 0 or missing:
        # build_all's report is short (one line per program or P4Info difference): whole
        why = (r.stderr or r.stdout).strip() or "it printed nothing"
        wrote = f"; {', '.join(missing)} not written" if missing else ""
        raise RunnerUnavailable(
            [
                f"the P4 programs for {target} (python -m softswitch.build_all exited with "
                f"{r.returncode}{wrote}). Its report:\n{why}"
            ]
        )


def inject_failures(
    net: Any, events: list[NetEvent], t0: Callable[[], float | None], stop: threading.Event
) -> tuple[threading.Thread, set[tuple[str, str]]]:
    """Apply the schedule in a thread: each event at t0() + its time (wall clock), as a cable
    pull (net.set_link / net.set_switch; the network hands the events to the controller).
    t0() waits for the round's first data packet (None: it never came; nothing is applied).
    Returns the thread and the set of (kind, element) left down, for the runner to restore."""
    down: set[tuple[str, str]] = set()

    def run() -> None:
        start = t0()
        if start is None:
            return
        for ev in events:
            delay = start + ev.t - time.time()
            if delay > 0 and stop.wait(delay):
                return
            if stop.is_set():
                return
            up = ev.kind.endswith("up")
            kind = "switch" if ev.kind.startswith("switch") else "link"
            if kind == "switch":
                net.set_switch(ev.element, up)
            else:
                net.set_link(ev.element, up)
            (down.discard if up else down.add)((kind, ev.element))

    th = threading.Thread(target=run, name="exi-failures", daemon=True)
    th.start()
    return th, down


# -- measurements the runner takes itself ----------------------------------------------------
Counters = dict[tuple[str, str], tuple[int, int]]  # (src, dst) -> (bytes, packets)


def read_link_counters(
    topo: Topology, intf_name: Callable[[str, int], str], sysfs: Path = Path("/sys/class/net")
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


def link_rows(
    topo: Topology,
    before: Counters,
    after: Counters,
    keys: Mapping[str, Any],
    wan: Callable[[str, str], bool],
) -> list[dict[str, Any]]:
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


def kept_up(
    rx_packets: Mapping[tuple[str, int], int], ingress_packets: Mapping[tuple[str, int], int]
) -> tuple[bool, int]:
    """Whether the switches processed every frame the kernel handed to their ports: per
    (switch, port), frames received on the interface against frames the P4 ingress counted.
    Returns (kept up, frames dropped before the pipeline)."""
    drops = sum(max(0, n - ingress_packets.get(k, 0)) for k, n in rx_packets.items())
    return drops == 0, drops


# -- converters from the collaborators' records to the results tables ------------------------
def receiver_rows(
    sender: Mapping[str, Any],
    receivers: Iterable[Mapping[str, Any]],
    keys: Mapping[str, Any],
    cloud_of: Mapping[str, str],
) -> list[dict[str, Any]]:
    """modelsync records -> receivers table. Times are relative to the sender's first data
    packet (DESIGN.md: completion = last shard verified - first data packet sent)."""
    t0 = sender.get("first_packet_at")
    rows = []
    for r in receivers:
        c = r.get("counters", {})
        files = r.get("files", [])

        def rel(t: float | None) -> float | None:
            return None if t is None or t0 is None else t - t0

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


def switch_rows(records: Iterable[Mapping[str, Any]], keys: Mapping[str, Any]) -> list[dict]:
    """Controller.read_records() (read back over P4Runtime) -> switches table."""
    rows = []
    for r in records:
        if r.get("kind") == "read_table":
            rows.append(
                {**keys, "switch": r["switch"], "table": r["table"], "entries": r["entries"]}
            )
        elif r.get("kind") == "read_groups":
            rows.append(
                {
                    **keys,
                    "switch": r["switch"],
                    "table": "replication_groups",
                    "entries": r["groups"],
                    "replicas": r["replicas"],
                }
            )
    return rows


def event_rows(
    events: Iterable[Mapping[str, Any]], t0: float, keys: Mapping[str, Any], first_id: int = 0
) -> tuple[list[dict], list[dict]]:
    """Controller link-event timelines (EventRecord.record()) -> (control rows, failure rows).
    Outage per affected receiver needs the receivers' gap records; until modelsync records
    them the failure rows carry the network's timeline only."""
    control, failures = [], []
    for i, e in enumerate(events, start=first_id):
        up = bool(e.get("up"))
        failures.append(
            {
                **keys,
                "event": i,
                "kind": "link-up" if up else "link-down",
                "element": e.get("link"),
                "at_s": e["occurred"] - t0,
                "detected_s": (e["detected"] - t0) if e.get("detected") else None,
                "reconverged_s": (e["done"] - t0) if e.get("done") else None,
                "receiver": "",
            }
        )
        for w in e.get("writes", []):
            control.append(
                {
                    **keys,
                    "action": "revert" if up else "failure",
                    "switch": w["switch"],
                    "writes": w["updates"],
                    "started_s": w["started"] - t0,
                    "duration_s": w["done"] - w["started"],
                }
            )
    return control, failures


def pim_rows(result: Any, keys: Mapping[str, Any]) -> dict[str, list[dict]]:
    """pimsm.experiment.PimRunResult (FRR routers, probe stream) -> switches, control and
    failure rows. Multicast state per router from FRR's `show ip mroute json`; the tree build
    per receiver (join to first datagram) as the new-set cost; the outage per receiver after
    the failure. Its link bytes are the probe's, not a model delivery's: not a links row."""
    r = result.model_dump() if hasattr(result, "model_dump") else dict(result)
    out: dict[str, list[dict]] = {"switches": [], "control": [], "failures": []}
    for st in r["state"]:
        sg = sum(1 for m in st["mroutes"] if m["source"] != "*")
        out["switches"].append(
            {**keys, "switch": st["router"], "table": "mroute_sg", "entries": sg}
        )
        out["switches"].append(
            {
                **keys,
                "switch": st["router"],
                "table": "mroute_starg",
                "entries": len(st["mroutes"]) - sg,
            }
        )
    for b in r["tree_builds"]:
        out["control"].append(
            {
                **keys,
                "action": "new-set",
                "switch": b["receiver"],  # the join of this receiver, hop by hop
                "writes": None,  # PIM signals; nothing is written by a controller
                "started_s": 0.0,
                "duration_s": b["seconds"],
            }
        )
    ev = r.get("failure")
    if ev:
        t0 = ev["t_fail"]
        out["failures"].append(
            {**keys, "event": 0, "kind": "link-down", "element": ev["link"], "at_s": 0.0,
             "receiver": ""}
        )  # fmt: skip
        for o in r["outages"]:
            if not o["affected"]:
                continue
            out["failures"].append(
                {
                    **keys,
                    "event": 0,
                    "kind": "link-down",
                    "element": o["link"],
                    "at_s": 0.0,
                    "reconverged_s": None if o["t_resume"] is None else o["t_resume"] - t0,
                    "receiver": o["receiver"],
                    "outage_s": o["outage_s"],
                    "packets_lost": o["lost_datagrams"],
                }
            )
    return out


# -- the whole run -----------------------------------------------------------------------------
@dataclass
class Context:
    """What one sweep point's rounds share."""

    exp: Experiment
    sweep: Any
    topo: Topology
    net: Any
    ctl: TechnologyControl
    writer: ResultsWriter
    out: Path
    scratch: Path
    received: Path  # receivers' files, per round: received/<round tag>/<host>/
    keep: bool  # keep them (else removed once checked)
    model: Path
    manifest: Any
    source: str
    say: Callable[[str], None]
    interrupted: threading.Event


def run_experiment(
    exp: Experiment,
    results_base: Path = Path("results"),
    base: Path | None = None,
    say: Callable[[str], None] = print,
    build: Path | None = None,
    prefix: str | None = None,
    progress: bool = True,
    keep_received: Path | None = None,
) -> Path:
    """Every sweep value x technology x repetition x round on one network per sweep value,
    results flushed after each round (Ctrl-C keeps what was measured, tears the network
    down), the projection stored beside the measurement (prediction/). The files received
    are checked (sha256) and removed after each round, or kept under `keep_received`."""
    missing = prerequisites()
    if missing:
        raise RunnerUnavailable(missing)
    from testbed.switches import choose_target

    switch_cls, note = choose_target(exp.target)
    target = switch_cls.target
    build = build or REPO / "build"
    ensure_programs(build, target, say)
    out = new_run_dir(results_base, exp.name)
    say(f"results: {out} (written after every round; Ctrl-C keeps what was measured)")
    scratch = Path(tempfile.mkdtemp(prefix="exi-work-"))
    env = environment(
        "measurement",
        target,
        {"target_note": note, "delays": "link delays not emulated (no netem)"},
    )
    writer = ResultsWriter.create(out, exp, env)  # the description as given, sweep included
    bar = _Progress(exp, progress, say)
    finished = False
    try:
        with bar:
            for value, e in expand_sweep(exp):
                topo = build_topology(e, base)
                _run_sweep_point(
                    e, value, topo, out, scratch, writer, bar, build, prefix, base, keep_received
                )
        finished = True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        kept = switch_logs.settle(out, writer, finished)
        if kept is not None:
            say(kept)
            writer.update_environment(switch_logs=kept)
        writer.update_environment(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        writer.flush()
    from experiments.validation import predict_beside

    try:
        predict_beside(out)
    except Exception as ex:  # the measurement stands without its prediction; say why
        say(f"prediction beside the measurement failed: {type(ex).__name__}: {ex}")
    return out


def _run_sweep_point(
    e: Experiment,
    value: Any,
    topo: Topology,
    out: Path,
    scratch: Path,
    writer: ResultsWriter,
    bar: _Progress,
    build: Path,
    prefix: str | None,
    base: Path | None = None,
    keep_received: Path | None = None,
) -> None:
    from testbed.network import Network

    say = bar.say
    pfx = prefix or "exi" + "".join(random.choices(string.ascii_lowercase, k=2))
    top_id = max(s.device_id for s in topo.switches)  # switch N serves on base + N
    net = Network(
        topo, e.target, None, prefix=pfx, grpc_port_base=_grpc_base(top_id),
        log_dir=switch_logs.log_dir(out, value), delay="ignore", say=say,
        # The switches mark ports without carrier in the programs' register themselves: the
        # data plane drops copies to them and BIER-FRR switches to its backups at once.
        port_status_register=PORT_STATUS_REGISTER,
    )  # fmt: skip
    say(f"{net.target_note}; switches start without a program, the controller pushes it")
    writer.write_topology(topo, value)
    ctl = TechnologyControl(
        build, scratch / "root-sid", e.control.detection_ms / 1000, e.control.bier_frr
    )
    try:
        net.start()
        net.attach(ctl)
        model = (
            prepare_model(e.model.size, e.model.shards, e.model.dir, out / "model", e.seed)
            if e.model.dir is None
            else prepare_model(None, None, resolve_path(e.model.dir, base), scratch / "model", 0)
        )
        ctx = Context(
            e, value, topo, net, ctl, writer, out, scratch,
            keep_received or scratch, keep_received is not None, model,
            load_manifest(model / MANIFEST), source_host(e, topo), say, threading.Event(),
        )  # fmt: skip
        for tech in e.technologies:
            if tech == "pim-sm":
                _run_pim(ctx, bar)
                continue
            _run_technology(ctx, tech, bar)
    finally:
        ctl.stop()
        net.stop()


def _run_pim(ctx: Context, bar: _Progress, bfd: bool = True) -> None:
    """PIM-SM rounds (experiments.pim_sm): the model delivered by modelsync over IP multicast
    on pimsm's FRR network (kernel forwarding, OSPF, pimd, BFD at the description's detection
    time), brought up and converged once for all its rounds."""
    from experiments.pim_sm import pim_available, run_pim_round, timers_for
    from pimsm.network import PimNetwork

    e = ctx.exp
    why = pim_available()
    if why is not None:
        bar.say(f"pim-sm: not run: {why}")
        ctx.writer.update_environment(not_run_pim_sm=why)
        bar.skip("pim-sm", e)
        return
    pnet = PimNetwork(ctx.topo, timers=timers_for(e, bfd), bfd=bfd, prefix="exi", delay="ignore")
    try:
        pnet.start()
        bar.say(f"pim-sm: FRR network up ({len(pnet.routers)} routers, bfd={bfd}); converging")
        bar.say(f"pim-sm: converged in {pnet.wait_converged(timeout=120):.1f} s")
        sw = f"{sweep_label(ctx.sweep)}-" if ctx.sweep is not None else ""
        for rep in range(e.repetitions):
            for k in range(len(e.rounds)):
                keys = {"sweep": sweep_label(ctx.sweep), "technology": "pim-sm"}
                keys |= {"repetition": rep, "round": k}
                bar.begin("pim-sm", rep, k)
                tag = f"{sw}pim-sm-{rep}-{k}"
                res = run_pim_round(
                    e, ctx.topo, k, None, ctx.model, ctx.manifest, None,
                    ctx.out / "records" / tag, bfd=bfd, keys=keys, net=pnet,
                    keep_received=ctx.keep, say=bar.say,
                )  # fmt: skip
                for table, rows in res.tables.items():
                    ctx.writer.add(table, rows)
                ctx.writer.update_environment(pim_sm=res.environment())
                ctx.writer.flush()
                bar.advance()
    finally:
        pnet.stop()


def _run_technology(ctx: Context, tech: str, bar: _Progress) -> None:
    e = ctx.exp
    bar.say(f"{tech}: pushing the pipeline and installing the base state")
    inst = ctx.ctl.select(tech)
    keys0 = {"sweep": sweep_label(ctx.sweep), "technology": tech, "repetition": 0, "round": 0}
    ctx.writer.add("control", [{**keys0, "action": "install", "switch": "", **inst}])
    for rep in range(e.repetitions):
        for k in range(len(e.rounds)):
            keys = {**keys0, "repetition": rep, "round": k}
            bar.begin(tech, rep, k)
            _run_round(ctx, tech, keys)
            ctx.writer.flush()
            bar.advance()


def _run_round(ctx: Context, tech: str, keys: dict[str, Any]) -> None:
    e, topo, net, ctl, source = ctx.exp, ctx.topo, ctx.net, ctx.ctl, ctx.source
    k = keys["round"]
    receivers = resolve_receivers(e, topo, k)
    rate = sending_rate(e, topo, source, tech, receivers)
    row = _round_row(e, topo, source, keys, receivers, ctx.model, rate)
    change = asyncio.run(ctl.cp.set_receivers(receivers, source))
    ctrl = [
        {**keys, "action": "new-set", "switch": "", "writes": change.writes,
         "started_s": None, "duration_s": change.seconds}
    ]  # fmt: skip
    deadline = max(60.0, 6 * float(row.get("ideal_time_s") or 0) + 30)
    sw = f"{sweep_label(ctx.sweep)}-" if ctx.sweep is not None else ""
    tag = f"{sw}{tech}-{keys['repetition']}-{k}"
    rec_dir = ctx.out / "records" / tag
    rx = start_receivers(
        net, topo, receivers, ctx.model, source, ctx.received / tag, rec_dir, deadline + 20
    )
    snd = None
    sampler = ArrivalSampler(_arrival_counters(topo, net, source, receivers)).start()
    stop = threading.Event()
    th: threading.Thread | None = None
    down: set[tuple[str, str]] = set()
    try:
        before_state = asyncio.run(ctl.cp.read_records())
        before = read_link_counters(topo, net.intf_name)
        rx_before = _switch_rx(topo, net)
        n_events = len(ctl.cp.events)

        snd_log = rec_dir / "sender.log"

        def first_packet() -> float | None:
            # modelsync logs "first pass:" right before its first data frame; frames seen
            # earlier on the ports are control traffic
            return wait_first_pass(snd_log, stop)

        th, down = inject_failures(net, schedule(e, topo, k), first_packet, stop)
        snd = start_sender(
            net, topo, source, receivers, tech, ctx.model, rate, rec_dir, deadline,
            ctl.bfr_ids(), ctl.root_sid_file,
        )  # fmt: skip
        try:
            snd.proc.wait(deadline + 30)
        except subprocess.TimeoutExpired:
            ctx.say(f"{tech} round {k}: the sender passed its deadline; stopping it")
        records = rx.collect(timeout=30)
    finally:
        stop.set()
        if th is not None:
            th.join(5)
        for kind, el in sorted(down):  # a failure the round outlived: plug it back
            (net.set_switch if kind == "switch" else net.set_link)(el, True)
        if snd is not None:
            snd.kill()
        rx.kill()
        sampler.stop()
    with contextlib.suppress(Exception):
        ctl.cp.wait_events(30)
    after = read_link_counters(topo, net.intf_name)
    rx_after = _switch_rx(topo, net)
    after_state = asyncio.run(ctl.cp.read_records())
    sender = read_json(rec_dir / "sender.json") or {}
    (rec_dir / "arrivals.json").write_text(json.dumps(sampler.samples))
    for r in records:  # the runner's own sha256 check of what is on disk
        r["verified_on_disk"] = verify_on_disk(ctx.manifest, rx.work / r["receiver"])
    if not ctx.keep:
        remove_received(rx)
    t0 = sender.get("first_packet_at") or sampler.first_change.get(SOURCE) or time.time()
    cloud_of = {h.name: h.cloud for h in topo.hosts}
    rrows = receiver_rows(sender, records, keys, cloud_of)
    for rr, r in zip(rrows, records, strict=True):
        rr["verified"] = bool(rr["verified"]) and r["verified_on_disk"]
    events = [_as_dict(x) for x in ctl.cp.events[n_events:]]
    ev_ctrl, ev_fail = event_rows(events, t0, keys)
    pass_end = (sender.get("first_pass_done_at") or float("inf")) + 0.1  # frames in flight
    ev_fail += outage_rows(events, sampler, records, keys, t0, pass_end)
    ok, drops = kept_up(*_ingress_delta(rx_before, rx_after, before_state, after_state))
    row.update(switches_kept_up=ok, switch_drops=drops)
    if not ok:
        row["note"] = f"measurement; switches dropped {drops} frames before their pipeline"
    w = ctx.writer
    w.add("receivers", rrows)
    w.add("links", link_rows(topo, before, after, keys, wan_classifier(topo)))
    w.add("switches", switch_rows(after_state, keys))
    w.add("control", ctrl + ev_ctrl)
    w.add("failures", ev_fail)
    w.add("rounds", [row])
    bad = [r["receiver"] for r in rrows if not r["verified"]]
    done = [r["completed_s"] for r in rrows if r["completed_s"] is not None]
    ctx.say(
        f"{tech} repetition {keys['repetition'] + 1} round {k + 1}: {len(rrows) - len(bad)}/"
        f"{len(rrows)} receivers verified"
        + (f" in {max(done):.1f} s" if done else "")
        + (f"; NOT verified: {', '.join(bad)}" if bad else "")
        + ("" if ok else f"; switches dropped {drops} frames")
    )


SOURCE = "__source__"


def _arrival_counters(topo: Topology, net: Any, source: str, receivers: list[str]) -> dict:
    """Per receiver the tx_packets of the switch port facing it; for the source the rx
    packets of the switch port facing it (its first data frame)."""
    out = {}
    for h in receivers:
        sw, port, _ = topo.host_attachment(h)
        out[h] = SYSFS / net.intf_name(sw, port) / "statistics" / "tx_packets"
    sw, port, _ = topo.host_attachment(source)
    out[SOURCE] = SYSFS / net.intf_name(sw, port) / "statistics" / "rx_packets"
    return out


def outage_rows(
    events: list[dict[str, Any]],
    sampler: ArrivalSampler,
    records: list[dict[str, Any]],
    keys: Mapping[str, Any],
    t0: float,
    first_pass_end: float = float("inf"),
) -> list[dict[str, Any]]:
    """Per link event and affected receiver: the outage (the gap in its arrivals at the switch
    port facing it, ~10 ms resolution, `arrivals.outage`), within the sender's first pass (the
    quiet time before the repairs is no outage). A receiver is affected when its arrivals
    stopped across the event and it lost frames (modelsync repaired chunks for it): a gap
    without loss is a stall, not an outage. packets_lost = the chunks it missed and got
    repaired in the round (modelsync's count) and bytes_repaired their payload bytes, both
    given on the first event that affected it."""
    counters = {r["receiver"]: r.get("counters") or {} for r in records}
    repaired = {h: c.get("repaired") for h, c in counters.items()}
    rows, counted = [], set()
    for i, ev in enumerate(events):
        for h in sorted(repaired):
            arr = [t for t in sampler.arrivals(h) if t <= first_pass_end]
            gap = outage(arr, ev["occurred"])
            if gap is None or repaired[h] == 0:
                continue
            rows.append(
                {
                    **keys,
                    "event": i,
                    "kind": "link-up" if ev.get("up") else "link-down",
                    "element": ev.get("link"),
                    "at_s": ev["occurred"] - t0,
                    "detected_s": (ev["detected"] - t0) if ev.get("detected") else None,
                    "reconverged_s": gap[1] - t0,
                    "receiver": h,
                    "outage_s": gap[1] - gap[0],
                    "packets_lost": None if h in counted else repaired[h],
                    "bytes_repaired": None if h in counted else counters[h].get("repaired_bytes"),
                }
            )
            counted.add(h)
    return rows


def _switch_rx(topo: Topology, net: Any) -> dict[tuple[str, int], int]:
    out = {}
    for lk in topo.links:
        for end, port in ((lk.a, lk.a_port or 0), (lk.b, lk.b_port or 0)):
            if topo.is_switch(end):
                out[(end, port)] = _read_int(
                    SYSFS / net.intf_name(end, port) / "statistics" / "rx_packets"
                )
    return out


def _ingress_delta(
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


def _grpc_base(n: int) -> int:
    """A block of free local TCP ports for the switches' P4Runtime servers (base + device id)."""
    for _ in range(100):
        base = random.randrange(20000, 40000)
        try:
            for p in range(base, base + n + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RunnerUnavailable(["no free block of local TCP ports for the switches"])


class _Progress:
    """Progress per technology, repetition and round (rich), lines printed above it."""

    def __init__(self, exp: Experiment, enabled: bool, say: Callable[[str], None]) -> None:
        n = len(expand_sweep(exp)) * len(exp.technologies) * exp.repetitions * len(exp.rounds)
        self.exp, self.total, self._say = exp, n, say
        self.progress = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), transient=False,
            )  # fmt: skip
            self.task = self.progress.add_task("rounds", total=n)

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def say(self, msg: str) -> None:
        if self.progress is not None:
            self.progress.console.print(msg, markup=False, highlight=False)
        else:
            self._say(msg)

    def begin(self, tech: str, rep: int, k: int) -> None:
        e = self.exp
        name = e.rounds[k].name or str(k)
        desc = (
            f"{tech}: repetition {rep + 1}/{e.repetitions}, round {k + 1}/{len(e.rounds)} ({name})"
        )
        if self.progress is not None:
            self.progress.update(self.task, description=desc)
        else:
            self._say(desc)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def skip(self, tech: str, e: Experiment) -> None:
        self.advance(e.repetitions * len(e.rounds))


def sending_rate(
    e: Experiment, topo: Topology, source: str, tech: str, receivers: list[str]
) -> float:
    """The pacing rate (Mbit/s) the sender gets: the description's, or for `auto` the highest
    that overloads no link on this technology's paths (the projection's auto_rate)."""
    if e.sending_rate_mbit != "auto":
        return float(e.sending_rate_mbit)
    from experiments.flowmodel import build_net, shortest_paths
    from experiments.projection import Wire, auto_rate, uses_rpf

    net = build_net(topo)
    paths = shortest_paths(net, source, receivers, rpf=uses_rpf(tech))
    return auto_rate(net, tech, paths, Wire()) / 1e6


def _as_dict(x: Any) -> dict[str, Any]:
    return x.record() if hasattr(x, "record") else dict(x)


def _round_row(
    e: Experiment,
    topo: Topology,
    source: str,
    keys: Mapping[str, Any],
    receivers: list[str],
    model: Path,
    rate_mbit: float,
) -> dict:
    """The round's record with its structural ideal (the same definition the projection uses:
    model bytes over the bottleneck; tree edges x model bytes), computed from the topology."""
    from experiments.flowmodel import build_net, shortest_paths
    from experiments.projection import structural_ideal, uses_rpf

    size = sum(f.stat().st_size for f in model.glob("*.safetensors")) if model.is_dir() else None
    row: dict[str, Any] = {
        **keys,
        "receivers": len(receivers),
        "model_bytes": size,
        "sending_rate_mbit": rate_mbit,
        "note": "measurement",
    }
    if size:
        net = build_net(topo)
        paths = shortest_paths(net, source, receivers, rpf=uses_rpf(keys["technology"]))
        row.update(
            structural_ideal(
                net,
                keys["technology"],
                paths,
                size,
                None if e.sending_rate_mbit == "auto" else rate_mbit * 1e6,
            )
        )
    return row
