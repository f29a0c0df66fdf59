"""The experiment runner, as phases that take their collaborators as parameters.

    build network -> start switches -> install control plane -> start receivers -> send
    (failures injected meanwhile) -> collect counters and switch state -> write results

Collaborators (the runner imports none of them; `default_collaborators()` finds them):

    network     testbed.network.Network(topo, target, ...): start(), stop(), attach(cp),
                switches(), host(name), set_link(name, up), set_switch(name, up),
                intf_name(switch, port), target
    controller  controlplane.controller.Controller per technology: async install(sender,
                receivers), async set_receivers(receivers, sender) -> ReceiverChange
                (writes, seconds, bitstrings / root_sid), async read_records() (read_table,
                read_groups, counter records), events (EventRecord: occurred, detected,
                computed, done, link, up, writes)
    delivery    modelsync in the emulated hosts: prepare_model(spec, dir), start_receivers(net,
                hosts, technology, dir), send(net, source, receivers, technology, addressing,
                rate_mbit, dir) -> sender record, collect(handle, timeout) -> receiver records
                (modelsync.records.SenderRecord / ReceiverRecord as dicts)

What the runner measures itself: link bytes and packets from the switch interfaces' kernel
counters (/sys/class/net/<intf>/statistics), before and after each round; whether the
switches kept up (frames the kernel handed to a switch port against frames its P4 ingress
counted). Nothing is estimated: a value a collaborator does not provide stays NA.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from experiments.projection import NetEvent, schedule
from experiments.results import ResultsWriter, environment, new_run_dir, sweep_label
from experiments.spec import Experiment, expand_sweep, resolve_receivers, source_host
from experiments.topology_source import build_topology
from topologies.model import Topology


class RunnerUnavailable(RuntimeError):
    """A collaborator the runner needs is not there; `missing` says which and why."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("the experiment runner cannot run: " + "; ".join(missing))


# -- collaborator interfaces -----------------------------------------------------------------
class NetworkLike(Protocol):
    target: str

    def start(self) -> Any: ...
    def stop(self) -> None: ...
    def set_link(self, name: str, up: bool, offset: float | None = None) -> Any: ...
    def set_switch(self, name: str, up: bool, offset: float | None = None) -> Any: ...
    def intf_name(self, switch: str, port: int) -> str: ...


class ControllerLike(Protocol):
    events: list[Any]

    async def install(
        self, sender: str | None = None, receivers: list[str] | None = None
    ) -> Any: ...

    async def set_receivers(self, receivers: list[str], sender: str | None = None) -> Any: ...
    async def read_records(self) -> list[dict[str, Any]]: ...


class DeliveryLike(Protocol):
    def prepare_model(self, exp: Experiment, out: Path) -> Path: ...
    def start_receivers(
        self, net: NetworkLike, hosts: list[str], technology: str, out: Path
    ) -> Any: ...
    def send(
        self,
        net: NetworkLike,
        source: str,
        receivers: list[str],
        technology: str,
        addressing: Any,
        rate_mbit: float,
        out: Path,
    ) -> dict[str, Any]: ...
    def collect(self, handle: Any, timeout: float) -> list[dict[str, Any]]: ...


@dataclass
class Collaborators:
    network: Callable[[Topology, str], NetworkLike]
    controller: Callable[[Topology, str, NetworkLike], ControllerLike]
    delivery: DeliveryLike


def default_collaborators() -> Collaborators:
    """The project's own parts, when they are all there; else RunnerUnavailable naming what
    is missing. No stand-ins: a missing part means no run."""
    missing = []
    try:
        importlib.import_module("testbed.network")
    except ImportError as e:
        missing.append(f"network (testbed.network): {e}")
    try:
        hooks = importlib.import_module("testbed.hooks")
        hooks.load_factory(hooks.DEFAULT_FACTORY)
    except (ImportError, AttributeError) as e:
        missing.append(f"control plane for the testbed (testbed.hooks.DEFAULT_FACTORY): {e}")
    # Not written on purpose until an end-to-end path (switches + P4 programs + control plane)
    # exists to test them against: the delivery adapter (modelsync's receivers and sender
    # started in the emulated hosts) and the per-technology controller factory.
    missing.append(
        "the runner's adapters to modelsync in the emulated hosts and to the per-technology "
        "controller (experiments/runner.py: Collaborators) are not written yet"
    )
    raise RunnerUnavailable(missing)


# -- phases ----------------------------------------------------------------------------------
def build_network(collab: Collaborators, topo: Topology, target: str) -> NetworkLike:
    return collab.network(topo, target)


def start_switches(net: NetworkLike) -> None:
    net.start()


def install_control_plane(
    controller: ControllerLike,
    source: str,
    receivers: list[str],
    keys: Mapping[str, Any],
    first: bool,
) -> tuple[Any, list[dict[str, Any]]]:
    """Install (first round) or change the receiver set; returns the sender's addressing
    (BitStrings / root SID) and control rows with the controller's own write counts and time."""
    rows = []
    if first:
        t0 = time.perf_counter()
        timings = asyncio.run(controller.install(source, receivers))
        rows.append(
            {
                **keys,
                "action": "install",
                "switch": "",
                "writes": _total_writes(timings),
                "duration_s": time.perf_counter() - t0,
            }
        )
    change = asyncio.run(controller.set_receivers(receivers, source))
    rows.append(
        {
            **keys,
            "action": "new-set",
            "switch": "",
            "writes": getattr(change, "writes", None),
            "duration_s": getattr(change, "seconds", None),
        }
    )
    return change, rows


def _total_writes(timings: Any) -> int | None:
    try:
        return sum(int(getattr(t, "updates", 0)) for t in dict(timings).values())
    except (TypeError, ValueError):
        return None


def start_receivers(
    delivery: DeliveryLike, net: NetworkLike, receivers: list[str], tech: str, out: Path
) -> Any:
    return delivery.start_receivers(net, receivers, tech, out)


def send(
    delivery: DeliveryLike,
    net: NetworkLike,
    source: str,
    receivers: list[str],
    tech: str,
    addressing: Any,
    rate_mbit: float,
    out: Path,
) -> dict[str, Any]:
    return delivery.send(net, source, receivers, tech, addressing, rate_mbit, out)


def inject_failures(
    net: NetworkLike, events: list[NetEvent], t0: float, stop: threading.Event
) -> threading.Thread:
    """Apply the schedule in a thread: each event at t0 + its time (wall clock), as a cable
    pull (net.set_link / net.set_switch). `stop` ends it early."""

    def run() -> None:
        for ev in events:
            delay = t0 + ev.t - time.time()
            if delay > 0 and stop.wait(delay):
                return
            up = ev.kind.endswith("up")
            if ev.kind.startswith("switch"):
                net.set_switch(ev.element, up)
            else:
                net.set_link(ev.element, up)

    th = threading.Thread(target=run, name="exg-failures", daemon=True)
    th.start()
    return th


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
                "bytes_repaired": None,  # modelsync counts repaired chunks, not bytes
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
def run_experiment(
    exp: Experiment,
    collab: Collaborators,
    results_base: Path = Path("results"),
    base: Path | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """Every sweep value x technology x repetition x round, results flushed after each round
    (Ctrl-C keeps what was measured), the prediction stored beside the measurement."""
    out = new_run_dir(results_base, exp.name)
    say(f"results: {out} (written after every round; Ctrl-C keeps what was measured)")
    writer: ResultsWriter | None = None
    try:
        for value, e in expand_sweep(exp):
            topo = build_topology(e, base)
            net = build_network(collab, topo, e.target)
            if writer is None:
                env = environment("measurement", getattr(net, "target", e.target))
                writer = ResultsWriter.create(out, exp, env)
            writer.write_topology(topo, value)
            try:
                start_switches(net)
                _run_point(e, value, topo, net, collab, writer, out, say)
            finally:
                net.stop()
    finally:
        if writer is not None:
            writer.update_environment(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            writer.flush()
    from experiments.validation import predict_beside

    predict_beside(out)
    return out


def _run_point(
    e: Experiment,
    value: Any,
    topo: Topology,
    net: NetworkLike,
    collab: Collaborators,
    writer: ResultsWriter,
    out: Path,
    say: Callable[[str], None],
) -> None:
    source = source_host(e, topo)
    cloud_of = {h.name: h.cloud for h in topo.hosts}
    wan = wan_classifier(topo)
    model_dir = collab.delivery.prepare_model(e, out / "model")
    for tech in e.technologies:
        controller = collab.controller(topo, tech, net)
        for rep in range(e.repetitions):
            for k in range(len(e.rounds)):
                keys = {"sweep": sweep_label(value), "technology": tech, "repetition": rep}
                keys["round"] = k
                say(f"{tech}: repetition {rep + 1}/{e.repetitions}, round {k + 1}/{len(e.rounds)}")
                receivers = resolve_receivers(e, topo, k)
                rate = sending_rate(e, topo, source, tech, receivers)
                addressing, ctrl = install_control_plane(
                    controller, source, receivers, keys, first=(rep == 0 and k == 0)
                )
                rdir = out / "records" / f"{tech}-{rep}-{k}"
                handle = start_receivers(collab.delivery, net, receivers, tech, rdir)
                before = read_link_counters(topo, net.intf_name)
                n_events = len(controller.events)
                stop = threading.Event()
                t_send = time.time()
                th = inject_failures(net, schedule(e, topo, k), t_send, stop)
                try:
                    sender = send(
                        collab.delivery,
                        net,
                        source,
                        receivers,
                        tech,
                        addressing,
                        rate,
                        rdir,
                    )
                finally:
                    stop.set()
                    th.join()
                records = collab.delivery.collect(handle, timeout=60.0)
                after = read_link_counters(topo, net.intf_name)
                t0 = sender.get("first_packet_at") or t_send
                ev_ctrl, ev_fail = event_rows(
                    [_as_dict(x) for x in controller.events[n_events:]], t0, keys
                )
                writer.add("receivers", receiver_rows(sender, records, keys, cloud_of))
                writer.add("links", link_rows(topo, before, after, keys, wan))
                writer.add("switches", switch_rows(asyncio.run(controller.read_records()), keys))
                writer.add("control", ctrl + ev_ctrl)
                writer.add("failures", ev_fail)
                writer.add(
                    "rounds", [_round_row(e, topo, source, keys, receivers, model_dir, rate)]
                )
                writer.flush()
        with contextlib.suppress(Exception):
            controller.stop()  # type: ignore[attr-defined]


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
