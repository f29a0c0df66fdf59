"""The SDN controller the experiment runner drives.

    ctl = Controller(topo, fabric, technology="bier")
    await ctl.install()                               # routes, BIFTs (or SR trees) everywhere
    change = await ctl.set_receivers(["g1", "g7"])    # BIER: bitstrings, zero writes
    rec = await ctl.on_port_event(ev)                 # a switch said: recompute, write the diff
    rec = await ctl.on_link_event("s1-s2", up=False)  # the same for a change a caller reports
    ctl.state_records()                               # plain dicts for results/

Every change is computed completely before the first write (bad input raises before
anything is touched), written as a per-switch diff of what is installed, concurrently on
all switches. A failed write is rolled back; if the roll-back fails too, the error lists
exactly what remains in place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from ipaddress import IPv6Address
from typing import Any

from finsy import GRPCStatusCode, P4ClientError

from controlplane.bier import BSL, MAX_SETS
from controlplane.client import BatchWriteError, Fabric, WriteTiming
from controlplane.desired import Desired, compute_desired, p4_technology, tree_uses_link
from controlplane.entities import Entity, McGroup, TableEntry, Update, diff, index
from controlplane.errors import ControlPlaneError, ReceiverError, WriteError
from controlplane.graph import Network
from controlplane.paths import compute_routing
from controlplane.portwatch import PortEvent
from controlplane.srp2mp import (
    DEFAULT_BLOCK,
    Algorithm,
    GroupAllocator,
    LabelAllocator,
    TreeCost,
    TreeInstance,
    build_instance,
    compute_tree,
    release_instance,
)
from controlplane.translate import segment_entities
from topologies.model import Topology
from wire.srv6 import replication_sid
from wire.technology import Technology

ROOT_RID_ALT = 32768  # a root's branches alternate between rids 1.. and 32769.. per instance

# counter codes of p4src/README.md
IN_CODES = {
    0: "RX", 1: "IPV4_ROUTED", 2: "BIER_RX", 3: "MPLS_REPLICATED", 4: "MPLS_TRANSIT",
    5: "PUNT", 6: "PACKET_OUT", 7: "LIVENESS", 8: "SRV6_REPLICATED", 9: "SRV6_TRANSIT",
    16: "DROP_NO_ROUTE", 17: "DROP_TTL",
    18: "DROP_BAD_BIER", 19: "DROP_UNKNOWN_BIFT", 20: "DROP_NO_BITS", 21: "DROP_UNKNOWN_SID",
    22: "DROP_BAD_CHECKSUM", 23: "DROP_UNSUPPORTED", 24: "DROP_PUNT_ACL",
}  # fmt: skip
OUT_CODES = {
    0: "TX", 1: "BIER_FORWARDED", 2: "BIER_FRR", 3: "BIER_DECAP", 4: "MPLS_SWAP",
    5: "MPLS_SWAP_PUSH", 6: "MPLS_POP_DELIVER", 7: "TO_CPU", 8: "SRV6_REPLICA",
    9: "SRV6_DECAP", 16: "DROP_ZERO_BITS",
    17: "DROP_TTL", 18: "DROP_PORT_DOWN", 19: "DROP_NO_BRANCH", 20: "FRR_STANDBY",
    21: "DROP_BAD_PROTO",
}  # fmt: skip
COUNTERS = {"MyIngress.in_stats": IN_CODES, "MyEgress.out_stats": OUT_CODES}
CPU_PORT = 255  # p4src/common.p4: packet-outs come in on it, punts leave on it


def counter_indices(codes: dict[int, str], ports: list[int]) -> list[int]:
    """The cells of a counter the programs can count in on a switch with these ports: every
    named code at every port and the CPU port (index = code * 256 + the port's low 8 bits,
    as p4src/common.p4 says); the rest of the counter's cells stay zero."""
    low = sorted({p & 0xFF for p in [*ports, CPU_PORT]})
    return [code * 256 + p for code in sorted(codes) for p in low]


READ_CONCURRENCY = 8  # switches read back at once (read_records)
READ_ATTEMPTS = 3  # a switch's read is tried again when it ran past finsy's 10 s deadline


@dataclass
class SwitchWrite:
    switch: str
    updates: int
    started: float  # wall clock
    done: float


@dataclass
class EventRecord:
    """The timeline of one link event (wall-clock seconds, time.time())."""

    link: str
    up: bool
    occurred: float  # when the change was seen: the switch's time of it (port events)
    detected: float = 0.0  # when the controller had the news
    computed: float = 0.0
    done: float = 0.0
    writes: list[SwitchWrite] = field(default_factory=list)
    updates: int = 0
    trees_rebuilt: list[str] = field(default_factory=list)
    root_sids: list[int] = field(default_factory=list)
    # "reported" (by a caller); "carrier" or "liveness": a switch's port went down (gNMI);
    # "port-status": a switch's port came back
    cause: str = "reported"
    detected_by: str = ""  # the switch port whose report it was: "s1 port 2"
    duplicate: bool = False  # the controller knew this state already: nothing done
    unreachable_hosts: list[str] = field(default_factory=list)  # from the sender
    partitions: list[list[str]] = field(default_factory=list)  # switch groups when split
    error: str | None = None

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = "link_event"
        return d


@dataclass
class ReceiverChange:
    technology: Technology
    receivers: list[str]
    writes: int
    bitstrings: dict[int, int] = field(default_factory=dict)  # BIER: SI -> BitString
    root_sid: int | IPv6Address | None = None  # SR-P2MP: the label (SRv6: the address) it sends to
    cost: TreeCost | None = None
    seconds: float = 0.0


class Controller:
    def __init__(
        self,
        topo: Topology,
        fabric: Fabric | None,
        technology: str = "bier",
        *,
        bsl: int = BSL,
        max_sets: int = MAX_SETS,
        frr: bool = True,
        label_block: tuple[int, int] = DEFAULT_BLOCK,
        sr_algorithm: Algorithm = "spt",
        compress_transit: bool = False,
        on_root_sid: Callable[[int | IPv6Address], Awaitable[None] | None] | None = None,
        on_tree_root_sid: Callable[[str, int | IPv6Address], Awaitable[None] | None] | None = None,
    ) -> None:
        try:
            self.technology = p4_technology(technology)
        except ValueError as e:
            raise ControlPlaneError(str(e)) from None
        self.topo = topo
        self.fabric = fabric
        self.bsl, self.max_sets, self.frr = bsl, max_sets, frr
        self.labels = LabelAllocator(*label_block)
        self.groups = GroupAllocator()
        self.sr_algorithm: Algorithm = sr_algorithm
        self.compress_transit = compress_transit
        self.on_root_sid = on_root_sid
        # the root SID of a tree of one of several deliveries at once (set_receivers' key)
        self.on_tree_root_sid = on_tree_root_sid
        self.net = Network(topo)  # raises on a disconnected topology or a host without switch
        self.down: frozenset[int] = frozenset()
        self.installed: dict[str, list[Entity]] = {s: [] for s in self.net.switches}
        self.desired: Desired | None = None
        self.trees: list[TreeInstance] = []
        self.sender: str | None = None
        self.receivers: list[str] = []
        self.events: list[EventRecord] = []
        self.tree_costs: list[TreeCost] = []
        self._instance = 0
        self._wanted: dict[int, list[str]] = {}  # tree instance -> receivers asked for
        self._host_link = {
            h: i for i, lk in enumerate(topo.links) for h in (lk.a, lk.b) if h in self.net.hosts
        }
        # (switch, port) -> link, for every switch end of every link
        self._port_link = {
            (node, port or 0): i
            for i, lk in enumerate(topo.links)
            for node, port in ((lk.a, lk.a_port), (lk.b, lk.b_port))
            if node in self.net.index
        }
        self._ports_down: set[tuple[str, int]] = set()
        self._lock = asyncio.Lock()

    # -- install ---------------------------------------------------------------------------
    async def install(
        self, sender: str | None = None, receivers: list[str] | None = None
    ) -> dict[str, WriteTiming]:
        """Install the technology's state on every switch (SR: and the tree for
        sender -> receivers when both are given)."""
        async with self._lock:
            trees: list[TreeInstance] = []
            if self.technology.replication_segments and sender and receivers:
                trees = [self._new_tree(self.net, sender, receivers)]
            try:
                desired = self._compute(self.net, trees)
            except Exception:
                for t in trees:
                    release_instance(t, self.labels, self.groups)
                raise
            timings = await self._apply(desired.per_switch)
            self.desired, self.trees = desired, trees
            if sender:
                self.sender = sender
            if receivers is not None:
                self.receivers = list(receivers)
            for t in trees:
                await self._handover(t)
            return timings

    def _compute(self, net: Network, trees: list[TreeInstance]) -> Desired:
        return compute_desired(net, self.technology, trees, self.bsl, self.max_sets, self.frr)

    def _new_tree(
        self,
        net: Network,
        sender: str,
        receivers: list[str],
        replaces: TreeInstance | None = None,
        key: str = "",
    ) -> TreeInstance:
        """A new tree instance; replacing one from the same root, it keeps that root SID
        (the sender's label does not change; the root's SID entry moves to the new group).
        `key`: the delivery it serves (several at once)."""
        self._instance += 1
        root_sid, rid_base = None, 0
        if replaces is not None and net.hosts[sender].switch == replaces.root:
            root_sid = replaces.root_sid
            old_rids = [b.rid for b in replaces.segments[replaces.root].branches]
            rid_base = 0 if old_rids and min(old_rids) > ROOT_RID_ALT else ROOT_RID_ALT
        inst = build_instance(
            net,
            sender,
            receivers,
            self.labels,
            self.groups,
            self._instance,
            self.sr_algorithm,
            self.compress_transit,
            root_sid,
            rid_base,
            compute_routing(net) if self.technology == Technology.SRV6_P2MP else None,
        )
        self._wanted[inst.instance] = list(receivers)
        inst.key = key
        return inst

    # -- receivers -------------------------------------------------------------------------
    async def set_receivers(
        self, receivers: list[str], sender: str | None = None, key: str = ""
    ) -> ReceiverChange:
        """A new receiver set. BIER: only new bitstrings for the sender (no writes). SR-P2MP:
        a new tree instance, make-before-break. Unicast: nothing to write. `key`: which of
        several deliveries at once this set is for (SR-P2MP: its own tree and root SID, the
        others' trees stay)."""
        t0 = time.perf_counter()
        sender = sender or self.sender
        if self.technology == Technology.BIER:
            if self.desired is None or self.desired.bier is None:
                raise ControlPlaneError("BIER is not installed yet: call install() first")
            bits = self.desired.bier.bitstrings(receivers)
            self.receivers = list(receivers)
            return ReceiverChange(
                Technology.BIER, list(receivers), 0, bits, seconds=time.perf_counter() - t0
            )
        if self.technology == Technology.UNICAST:
            unknown = [r for r in receivers if r not in self.net.hosts]
            if unknown:
                raise ReceiverError(f"receiver set names unknown hosts: {unknown}")
            self.receivers = list(receivers)
            return ReceiverChange(
                Technology.UNICAST, list(receivers), 0, seconds=time.perf_counter() - t0
            )
        if sender is None:
            raise ReceiverError(f"{self.technology} needs a sender for the tree")
        async with self._lock:
            net = self._current_net()
            mine = [t for t in self.trees if t.key == key]
            same_root = [t for t in mine if t.sender == sender]
            new = self._new_tree(net, sender, receivers, same_root[0] if same_root else None, key)
            writes, _ = await self._replace_trees(net, mine, [new])
        self.sender, self.receivers = sender, list(receivers)
        cost = self._cost(new, writes, time.perf_counter() - t0)
        return ReceiverChange(
            self.technology, list(receivers), writes, root_sid=self.root_sid_of(new), cost=cost,
            seconds=time.perf_counter() - t0,
        )  # fmt: skip

    async def keep_trees(self, keys: list[str]) -> int:
        """Remove the trees of every delivery but `keys` (their senders have ended); the
        writes it took."""
        async with self._lock:
            gone = [t for t in self.trees if t.key not in keys]
            if not gone:
                return 0
            writes, _ = await self._replace_trees(self._current_net(), gone, [])
            return writes

    async def _replace_trees(
        self, net: Network, old: list[TreeInstance], new: list[TreeInstance]
    ) -> tuple[int, list[SwitchWrite]]:
        """Make-before-break: (1) install the new instances (with any other change of
        `net`), (2) move the root: a new root SID is handed to the sender, a kept one has its
        SID entry pointed at the new root group, (3) delete the old instances."""
        keep = [t for t in self.trees if t not in old]
        try:
            stage1 = self._compute(net, keep + old + new)  # old root SID entries win
            stage2 = self._compute(net, keep + new + old)  # new ones win: the move
            final = self._compute(net, keep + new)
        except Exception:
            for t in new:
                t.owns_root_sid = not any(t.root_sid == o.root_sid for o in old)
                release_instance(t, self.labels, self.groups)
            raise
        t1 = await self._apply(stage1.per_switch)
        t2 = await self._apply(stage2.per_switch)
        for t in new:
            await self._handover(t)
        t3 = await self._apply(final.per_switch)
        kept = {t.root_sid for t in new}
        for t in old:
            t.owns_root_sid = t.root_sid not in kept
            release_instance(t, self.labels, self.groups)
        self.desired, self.trees = final, keep + new
        timings = [*t1.values(), *t2.values(), *t3.values()]
        return sum(t.updates for t in timings), [_sw(t) for t in timings]

    def root_sid_of(self, t: TreeInstance) -> int | IPv6Address:
        """The root Replication-SID as the sender writes it: the MPLS label, or over SRv6
        the root switch's IPv6 SID with that function."""
        if self.technology == Technology.SRV6_P2MP:
            return replication_sid(self.net.device_id[t.root], t.root_sid)
        return t.root_sid

    async def _handover(self, t: TreeInstance) -> None:
        sid = self.root_sid_of(t)
        r = None
        if t.key and self.on_tree_root_sid is not None:
            r = self.on_tree_root_sid(t.key, sid)
        elif not t.key and self.on_root_sid is not None:
            r = self.on_root_sid(sid)
        if asyncio.iscoroutine(r):
            await r

    def _cost(self, t: TreeInstance, writes: int, seconds: float) -> TreeCost:
        ents = [
            e
            for seg in t.segments.values()
            for e in segment_entities(self.technology, self.net, seg)
        ]
        c = TreeCost(
            t.policy,
            t.instance,
            len(t.nodes),
            len(t.segments),
            sum(isinstance(e, TableEntry) for e in ents),
            sum(isinstance(e, McGroup) for e in ents),
            sum(len(s.branches) for s in t.segments.values()),
            writes,
            t.compute_s,
            seconds - t.compute_s,
        )
        self.tree_costs.append(c)
        return c

    # -- failures --------------------------------------------------------------------------
    def _current_net(self) -> Network:
        return self.net if not self.down else self.net.with_down(self.down)

    async def on_link_event(
        self,
        link: str | int,
        up: bool,
        occurred: float | None = None,
        cause: str = "reported",
        notified: float | None = None,
        detected_by: str = "",
    ) -> EventRecord:
        """React to a link going down or up at once: recompute, write only the difference.
        `occurred`: when the change was seen (wall clock; default now), `notified`: when the
        news reached the controller (default now). A report of a state already known (both
        ends of a link reporting the same change) changes nothing and is not recorded again."""
        idx = self.net.resolve_link(link)
        occurred = time.time() if occurred is None else occurred
        rec = EventRecord(
            self.net.topo.links[idx].name, up, occurred, cause=cause, detected_by=detected_by
        )
        rec.detected = time.time() if notified is None else notified
        async with self._lock:
            if (idx in self.down) != up:
                rec.computed = rec.done = time.time()
                rec.duplicate = True
                return rec
            self.events.append(rec)
            try:
                await self._react(idx, up, rec)
            except Exception as ex:
                rec.error = str(ex)
                raise
            finally:
                rec.done = time.time()
        return rec

    async def on_port_event(self, ev: PortEvent) -> EventRecord | None:
        """A switch said that one of its ports went down or up (controlplane.portwatch): a
        link is down while any of its switch ends is down, up once all are up again. The
        reaction starts at once (the switch has detected it); the record's `occurred` is the
        switch's time of the change, `detected` the controller's time of the news."""
        end = (ev.switch, ev.port)
        idx = self._port_link.get(end)
        if idx is None:
            return None  # not a port of the topology (e.g. one the switch has spare)
        if ev.up:
            self._ports_down.discard(end)
        else:
            self._ports_down.add(end)
        ends = [e for e, i in self._port_link.items() if i == idx]
        link_up = not any(e in self._ports_down for e in ends)
        return await self.on_link_event(
            idx,
            link_up,
            ev.detected,
            ev.cause or "port-status",  # a port back up: its status says so
            notified=ev.received,
            detected_by=f"{ev.switch} port {ev.port}",
        )

    async def _react(self, idx: int, up: bool, rec: EventRecord) -> None:
        before = self._current_net()
        self.down = self.down - {idx} if up else self.down | {idx}
        net = self._current_net()
        # hosts whose own link is down
        cut = {h for h, hp in net.hosts.items() if self._host_link[h] in self.down}
        if self.technology.replication_segments:
            old, new = [], []
            for t in self.trees:
                wanted = self._wanted.get(t.instance, list(t.receivers))
                reach = _reachable(net, t.root)
                receivers = [r for r in wanted if net.hosts[r].switch in reach and r not in cut]
                if not up and not tree_uses_link(t, before, idx) and receivers == list(t.receivers):
                    continue  # the failure does not touch this tree
                if (
                    receivers
                    and compute_tree(net, t.sender, receivers, t.algorithm)
                    == (
                        t.root,
                        list(t.edges),
                    )
                    and receivers == list(t.receivers)
                ):
                    continue  # same tree as before (e.g. a link came back that it never used)
                old.append(t)
                if receivers:
                    nt = self._new_tree(net, t.sender, receivers, t, t.key)
                    self._wanted[nt.instance] = wanted
                    new.append(nt)
            rec.computed = time.time()
            rec.trees_rebuilt = [t.policy for t in old]
            rec.root_sids = [t.root_sid for t in new]
            total, writes = await self._replace_trees(net, old, new)
            rec.writes = writes
            for nt in new:  # the reaction's writes, shared by the trees it rebuilt
                self._cost(nt, total, time.time() - rec.detected)
        else:
            desired = self._compute(net, self.trees)
            rec.computed = time.time()
            timings = await self._apply(desired.per_switch)
            self.desired = desired
            rec.writes = [_sw(t) for t in timings.values()]
        rec.updates = sum(w.updates for w in rec.writes)
        assert self.desired is not None
        # cut off from the sender (or the first model store): what the experiment cares about
        stores = [h.name for h in self.topo.model_stores()] or list(net.hosts)
        ref = net.hosts[self.sender or stores[0]].switch
        reach = _reachable(net, ref)
        rec.unreachable_hosts = sorted(
            {h for h, hp in net.hosts.items() if hp.switch not in reach} | cut
        )
        comps = net.components()
        rec.partitions = comps if len(comps) > 1 else []

    # -- writing with roll-back ------------------------------------------------------------
    async def _apply(self, target: dict[str, list[Entity]]) -> dict[str, WriteTiming]:
        """Bring every switch from what is installed to `target`; roll back on failure."""
        plan = {}
        for sw, ents in target.items():
            ups = diff(self.installed.get(sw, []), ents)
            if ups:
                plan[sw] = ups
        if not plan:
            return {}
        if self.fabric is None:
            raise ControlPlaneError("no switches connected (Controller without a Fabric)")
        try:
            timings = await self.fabric.write_all(plan)
        except BatchWriteError as err:
            await self._roll_back(err, plan)
            raise
        for sw in plan:
            self.installed[sw] = list(target[sw])
        return timings

    async def _roll_back(self, err: BatchWriteError, plan: dict[str, list[Update]]) -> None:
        errors = [err, *getattr(err, "others", [])]
        applied = {e.switch: e.applied for e in errors}
        for sw, t in getattr(err, "results", {}).items():
            applied[sw] = plan[sw][: t.updates]
        undo = {}
        for sw, ups in applied.items():
            old = index(self.installed.get(sw, []))
            undo[sw] = [_inverse(u, old) for u in reversed(ups)]
        undo = {sw: u for sw, u in undo.items() if u}
        try:
            if undo:
                assert self.fabric is not None
                await self.fabric.write_all(undo)
        except BatchWriteError as again:
            left = {e.switch: len(e.applied) for e in [again, *getattr(again, "others", [])]}
            in_place = {
                sw: [u.describe() for u in applied[sw]][: len(applied[sw]) - left.get(sw, 0)]
                for sw in applied
            }
            raise WriteError(
                err.switch,
                err.entity,
                f"{err.reason}; roll-back failed too ({again}); still in place: {in_place}",
            ) from again
        err.args = (f"{err.args[0]} (rolled back: nothing of this change is in place)",)

    # -- observability ---------------------------------------------------------------------
    def state_records(self) -> list[dict[str, Any]]:
        """What the controller installed, per switch: entries per table, groups, replicas;
        plus trees, their costs and the link-event timelines."""
        out: list[dict[str, Any]] = []
        for sw, ents in self.installed.items():
            tables: dict[str, int] = {}
            groups = replicas = 0
            for e in ents:
                if isinstance(e, McGroup):
                    groups += 1
                    replicas += len(e.replicas)
                else:
                    tables[e.table] = tables.get(e.table, 0) + 1
            for t, n in sorted(tables.items()):
                out.append(
                    {"kind": "table", "switch": sw, "technology": self.technology,
                     "table": t, "entries": n}
                )  # fmt: skip
            out.append(
                {"kind": "groups", "switch": sw, "technology": self.technology,
                 "groups": groups, "replicas": replicas}
            )  # fmt: skip
        for t in self.trees:
            out.append(
                {"kind": "tree", "policy": t.policy, "instance": t.instance, "root": t.root,
                 "root_sid": t.root_sid, "nodes": len(t.nodes),
                 "replication_nodes": len(t.segments), "algorithm": t.algorithm}
            )  # fmt: skip
        out += [{"kind": "tree_cost", **asdict(c)} for c in self.tree_costs]
        out += [e.record() for e in self.events]
        return out

    async def read_records(self) -> list[dict[str, Any]]:
        """Read back from every switch: entries per table, groups/replicas, counters."""
        if self.fabric is None:
            raise ControlPlaneError("no switches connected")
        fab = self.fabric

        async def one(sw: str) -> list[dict[str, Any]]:
            entries, groups = await asyncio.gather(fab.read_entries(sw), fab.read_groups(sw))
            tables: dict[str, int] = {}
            for e in entries:
                tables[e.table] = tables.get(e.table, 0) + 1
            recs: list[dict[str, Any]] = [
                {"kind": "read_table", "switch": sw, "table": t, "entries": n}
                for t, n in sorted(tables.items())
            ]
            recs.append(
                {"kind": "read_groups", "switch": sw, "groups": len(groups),
                 "replicas": sum(len(g.replicas) for g in groups)}
            )  # fmt: skip
            ports = sorted(self.topo.neighbours(sw))
            for name, codes in COUNTERS.items():
                cells = await fab.read_counter(sw, name, counter_indices(codes, ports))
                for i, (pk, by) in sorted(cells.items()):
                    code, port = divmod(i, 256)
                    recs.append(
                        {"kind": "counter", "switch": sw, "counter": name, "code": code,
                         "code_name": codes.get(code, str(code)), "port": port,
                         "packets": pk, "bytes": by}
                    )  # fmt: skip
            return recs

        # A few switches at a time, each read again if it ran past its deadline: 49 switch
        # processes on 2 busy cores, all asked at once, answered too late (DEADLINE_EXCEEDED).
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def guarded(sw: str) -> list[dict[str, Any]]:
            async with limit:
                for attempt in range(READ_ATTEMPTS):
                    try:
                        return await one(sw)
                    except P4ClientError as e:
                        late = e.code == GRPCStatusCode.DEADLINE_EXCEEDED
                        if not late or attempt + 1 == READ_ATTEMPTS:
                            raise
            raise AssertionError("unreachable")

        parts = await asyncio.gather(*(guarded(sw) for sw in fab.switches))
        return [r for p in parts for r in p]


def _reachable(net: Network, root: str) -> set[str]:
    return next(set(c) for c in net.components() if root in c)


def _sw(t: WriteTiming) -> SwitchWrite:
    # WriteTiming is perf_counter based; convert to wall clock for records
    off = time.time() - time.perf_counter()
    return SwitchWrite(t.switch, t.updates, t.started + off, t.done + off)


def _inverse(u: Update, old: dict[tuple, Entity]) -> Update:
    if u.kind == "INSERT":
        return Update("DELETE", u.entity)
    prev = old.get(u.entity.key)
    if prev is None:
        raise ControlPlaneError(f"cannot undo {u.describe()}: previous state unknown")
    return Update("MODIFY" if u.kind == "MODIFY" else "INSERT", prev)
