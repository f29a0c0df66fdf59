"""Rounds of `pim-sm` and `pim-ssm` (experiments.round.Backend) on pimsm's FRR network: zebra,
OSPF, pimd with a static RP, optionally bfdd; the kernel forwards, or where the kernel has no
multicast routing, pimsm.mroute's emulation of it (environment.json's pim_sm.dataplane says which).
modelsync sends the model with `--technology pim-sm`, plain IP multicast (repairs by unicast),
to receivers that join the group over IGMP through their ordinary socket (pimsm.delivery).
`pim-ssm` runs on the same network: the group in pimd's SSM range 232.0.0.0/8, joined by the
receivers for the store's address only (IGMPv3 source-specific), so every router joins (S,G)
towards the source and no RP, (*,G) or register takes part.

The runner brings one `pimsm.network.PimNetwork` up per sweep point, converged (OSPF Full,
routes, PIM neighbours, RP, BFD), and runs every pim-sm round on it. `run_pim_round` runs one
round alone, on a network of its own or on one given.

BFD on is the default, with the description's `control.bfd` (the same interval and
multiplier as the P4 switches' sessions). The summary knows the technology only as
`pim-sm`, so put a run without BFD in a folder of its own; every round's `note` and the
environment's `pim_sm` entry state BFD and every timer either way.

What this backend measures: bytes and packets per link direction from the routers'
interface counters; the sender's first datagram from the router port facing it
(pimsm.arrivals, 10 ms samples); each receiver's outage from its own arrival record (the
round); per router `mroute_sg` and `mroute_starg` (entries of the technology's own groups
from `show ip mroute json`, replicas = installed data oifs), read 0.3 s after the first data
datagram; per failure event
the first OSPF adjacency or PIM neighbour loss in the FRR logs of the failed link's routers
(detected_s) and who noticed it (records/events.json). A new receiver set is the receivers'
IGMP joins: the round measures each one's tree build. Each failure is applied in its own
mode (the description's `mode`: carrier or silent), as on the P4 network. switches_kept_up
and switch_drops stay NA (kernel routers, no pipeline counter).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

from experiments.round import (
    SOURCE,
    Applied,
    Counters,
    NetworkEvent,
    NetworkReport,
    RoundError,
    RoundPlan,
    RoundResult,
    State,
    run_round,
)
from experiments.schedule import NetEvent, schedule
from experiments.spec import Experiment, resolve_receivers, source_host
from modelsync.launch import MANIFEST, Channel, ReceiverSet, SenderProcess
from modelsync.manifest import Manifest
from testbed.switches import KERNEL_FORWARDING_SHARE, KERNEL_FRAME_CPU_S
from topologies.model import Topology
from wire.technology import Technology

GROUP_RANGE = "239.0.0.0/8"  # pim-sm's groups (pimsm.config: the static RP's range)
SSM_RANGE = "232.0.0.0/8"  # pim-ssm's groups (pimd's default SSM range)

STATE_DELAY_S = 0.3  # state snapshot this long after the first data datagram
IGMP_QUIET_S = 15.0  # at most this long for the previous round's memberships to expire
MIN_OUTAGE_S = 0.005  # receivers' own kernel stamps: a few datagram spacings


def pim_available() -> str | None:
    """None when a pim-sm round can run here; else why not. The routers' multicast is
    forwarded by the kernel where it routes multicast, else by pimsm.mroute's emulation;
    with neither, every datagram would arrive by unicast repair and be reported as PIM-SM."""
    import os

    if os.geteuid() != 0:
        return "not root (namespaces and FRR need it)"
    try:
        import mininet.node  # noqa: F401

        from pimsm.frr import frr_available
        from pimsm.network import choose_dataplane
    except ImportError as e:
        return f"cannot import Mininet or pimsm: {e}"
    if not frr_available():
        return "FRR (zebra, ospfd, pimd) is not installed"
    dataplane, note = choose_dataplane()
    if dataplane == "none":
        return f"no router could forward multicast: {note}"
    return None


def timers_for(exp: Experiment, bfd: bool) -> Any:
    """pimsm's timers; with BFD, the description's `control.bfd` (interval and multiplier),
    the same setting the P4 switches' sessions run, so both detect a silent failure alike."""
    from pimsm.timers import Timers

    if not bfd:
        return Timers()
    b = exp.control.bfd
    ms = round(b.interval_ms)
    return Timers(bfd_tx_ms=ms, bfd_rx_ms=ms, bfd_multiplier=b.multiplier)


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


class PimBackend:
    """pim-sm rounds on a running, converged PimNetwork."""

    min_outage_s = MIN_OUTAGE_S
    outage_in_first_pass = False
    state_delay_s = STATE_DELAY_S
    # every router forwards each copy in the kernel (a tc-BPF program where multicast routing
    # is emulated, net/ipv4/ipmr.c elsewhere): at scale that softirq CPU bounds the rate, as
    # for softswitch's eBPF backend (128 receivers paced at the links' 570 Mbit/s overran
    # their sockets and took 34.5 s where BIER at the capacity rate took 19)
    frame_cpu_s = KERNEL_FRAME_CPU_S
    forwarding_share = KERNEL_FORWARDING_SHARE

    def __init__(
        self, net: Any, topo: Topology, model: Path, technology: Technology = Technology.PIM_SM
    ) -> None:
        if not technology.ip_multicast:
            raise ValueError(f"{technology} does not run on FRR routers (pim-sm or pim-ssm do)")
        self.net, self.topo, self.model = net, topo, model
        self.technology = technology
        self.ssm = technology == Technology.PIM_SSM
        self.groups = ip_network(SSM_RANGE if self.ssm else GROUP_RANGE)
        self.label = f"{technology} (bfd={net.bfd})"
        self._down: dict[str, tuple[str, str]] = {}  # failed link name -> ends

    def set_receivers(self, receivers: list[str], source: str, key: str = "") -> None:
        return None  # the receivers' IGMP joins build the tree

    def keep_trees(self, keys: list[str]) -> None:
        pass  # trees are the routers' (S,G) state, which expires by itself

    def arrival_sampler(self, source: str) -> Any:
        from pimsm.arrivals import PortSampler

        sw, port, _ = self.topo.host_attachment(source)
        # what the sender put out
        return PortSampler({SOURCE: (self.net.nodes[sw].pid, f"eth{port}", "rx")})

    def begin(self) -> None:
        """The previous round's receivers are gone, but a router forwards their groups until
        its IGMP membership times out (the last-member queries, a second or more on a loaded
        machine): a round started earlier had the previous round's hosts still fed."""
        self.net.wait_igmp_quiet(IGMP_QUIET_S)

    def network_pids(self) -> list[int]:
        """The routers' processes (FRR's daemons, the multicast data plane's), asked before
        the round's receivers start (experiments.cpu: the network's CPU over a round)."""
        return self.net.process_ids()

    def link_counters(self) -> Counters:
        """Per link direction the tx counters of the sending end's interface."""
        from pimsm.measure import read_counters

        snap = read_counters(self.net)
        out: Counters = {}
        for e in self.net.links.values():
            a, b = snap[e.a][e.a_if], snap[e.b][e.b_if]
            out[(e.a, e.b)] = (a.tx_bytes, a.tx_packets)
            out[(e.b, e.a)] = (b.tx_bytes, b.tx_packets)
        return out

    def tap_ends(self) -> list[Any]:
        """One end of every link (in its router's or host's namespace), for per-model bytes."""
        from experiments.modeltap import TapEnd

        return [
            TapEnd(e.a_if, out=(e.a, e.b), netns=f"/proc/{self.net.nodes[e.a].pid}/ns/net")
            for e in self.net.links.values()
        ]

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
        from pimsm import delivery

        model = channel.model if channel is not None else self.model
        return delivery.start_receivers(
            self.net, hosts, model / MANIFEST, source, work, records, deadline,
            standby=standby, channel=channel, ssm=self.ssm,
        )  # fmt: skip

    def start_sender(
        self,
        receivers: list[str],
        source: str,
        rate_mbit: float,
        records: Path,
        deadline: float,
        channel: Channel | None = None,
    ) -> SenderProcess:
        from pimsm import delivery

        model = channel.model if channel is not None else self.model
        return delivery.start_sender(
            self.net,
            source,
            receivers,
            model,
            rate_mbit,
            records,
            deadline,
            channel=channel,
            ssm=self.ssm,
        )

    def apply(self, event: NetEvent) -> list[str]:
        links = []
        for a, b in event.pairs:
            name = self.net._ends(a, b).name
            links.append(name)
            if event.up:
                if self._down.pop(name, None) is not None:
                    self.net.restore_link(a, b)
            elif name not in self._down:
                self.net.fail_link(a, b, event.mode)
                self._down[name] = (a, b)
        return links

    def restore(self) -> None:
        for a, b in list(self._down.values()):
            with contextlib.suppress(Exception):
                self.net.restore_link(a, b)
        self._down.clear()

    def read_state(self) -> State:
        from pimsm.measure import mcast_state_all

        state = mcast_state_all(self.net, threadsafe=True)
        rows = []
        for st in state:
            # this technology's groups only: the other's state on the same network lingers
            # until its hold time runs out
            mine = [m for m in st.mroutes if ip_address(m.group) in self.groups]
            sg = [m for m in mine if m.source != "*"]
            starg = [m for m in mine if m.source == "*"]
            for table, ms in (("mroute_sg", sg), ("mroute_starg", starg)):
                rows.append(
                    {"switch": st.router, "table": table, "entries": len(ms),
                     "replicas": sum(len(m.data_oifs) for m in ms if m.installed)}
                )  # fmt: skip
        return State(rows, [s.model_dump() for s in state])

    def end(self, applied: list[Applied]) -> NetworkReport:
        events = []
        detections = []
        for ap in applied:
            det = _detection(self.net, ap, ap.mode)
            detections.append({"kind": ap.kind, "element": ap.element, "mode": ap.mode, **det})
            events.append(
                NetworkEvent(
                    ap.kind, ap.element, ap.wall, detected=det["detected_wall"], mode=ap.mode,
                    detected_by=det["detected_by"], in_place=ap.in_place,
                )
            )  # fmt: skip
        timers = self.net.timers.model_dump()
        how = "SSM group 232/8, (S,G) joins, no RP" if self.ssm else "static RP"
        note = (
            f"{self.technology} on FRR routers ({how}; {self.net.dataplane} forwarding), "
            f"modelsync IP multicast, repairs by unicast; "
            f"{timers_note(self.net.timers, self.net.bfd)}"
        )
        return NetworkReport(
            events,
            notes=[note],
            records={
                "detections.json": detections,
                "timers.json": {"bfd": self.net.bfd, **timers},
            },
        )

    def environment(self) -> dict[str, Any]:
        """What the results folder's environment.json says about pim-sm."""
        bfd = self.net.bfd
        return {
            "routers": "FRR 8.4 (zebra, staticd, ospfd, pimd" + (", bfdd)" if bfd else ")"),
            "bfd": bfd,
            "timers": self.net.timers.model_dump(),
            "delivery": f"modelsync --technology {self.technology} (IP multicast), repairs by "
            "unicast",
            # who forwarded the group: the kernel's ipmr, or pimsm.mroute's emulation
            "dataplane": self.net.dataplane,
            "dataplane_note": self.net.dataplane_note,
        }


def _detection(net: Any, ap: Applied, mode: str) -> dict[str, Any]:
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


# -- one round alone ---------------------------------------------------------------------------
@dataclass
class PimRoundResult(RoundResult):
    """One pim-sm round alone: the round's result and the network it ran on."""

    bfd: bool = True
    timers: dict[str, Any] | None = None
    converge_s: float | None = None
    records_dir: Path | None = None
    backend: PimBackend | None = None

    def environment(self) -> dict[str, Any]:
        assert self.backend is not None
        return self.backend.environment()


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
    timers: Any = None,
    net: Any = None,
    prefix: str = "pim",
    keep_received: bool = False,
    say: Callable[[str], None] = print,
    technology: Technology = Technology.PIM_SM,
) -> PimRoundResult:
    """Round `round_index` of `exp` on pimsm's FRR network: its own (brought up, converged
    and stopped here) or `net` (running, converged, with the same `bfd`). `receivers` None:
    the round's set; `failures` None: the round's schedule; `rate_mbit` None: the
    description's rate (auto: the projection's for pim-sm). Records go to `out_dir`, the
    received files to out_dir/received/. `technology`: pim-sm or pim-ssm."""
    from pimsm.network import PimNetwork

    rx_hosts = (
        list(receivers) if receivers is not None else resolve_receivers(exp, topo, round_index)
    )
    events = list(failures) if failures is not None else schedule(exp, topo, round_index)
    keys = dict(keys) if keys is not None else {
        "sweep": "", "technology": technology, "repetition": 0, "round": round_index,
    }  # fmt: skip
    out_dir = Path(out_dir)
    plan = RoundPlan(
        exp, topo, keys, rx_hosts, source_host(exp, topo), model_dir, manifest, events, out_dir,
        out_dir / "received", keep_received, rate_mbit, say,
    )  # fmt: skip
    own = net is None
    if own:
        net = PimNetwork(
            topo, timers=timers or timers_for(exp, bfd), bfd=bfd, prefix=prefix, delay="ignore"
        )
    elif net.bfd != bfd:
        raise RoundError(f"the network given runs bfd={net.bfd}, the round asks bfd={bfd}")
    try:
        converge_s = None
        if own:
            net.start()
            say(f"pim-sm: FRR network up ({len(net.routers)} routers, bfd={bfd}); converging")
            converge_s = net.wait_converged(timeout=120)
            say(f"pim-sm: converged in {converge_s:.1f} s")
        backend = PimBackend(net, topo, model_dir, technology)
        res = run_round(backend, plan)
        return PimRoundResult(
            **vars(res), bfd=net.bfd, timers=net.timers.model_dump(),
            converge_s=converge_s, records_dir=out_dir, backend=backend,
        )  # fmt: skip
    finally:
        if own:
            net.stop()
