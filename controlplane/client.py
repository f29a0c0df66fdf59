"""P4Runtime connections to many switches at once, on finsy.

`Fabric` opens one finsy `Switch` per device (primary election with one election id for all,
pipeline push of P4Info + device config from build/<target>/), writes batches of updates
(`controlplane.entities.Update`), reads tables, multicast groups and counters, and sends and
receives packets on the stream channel. Every operation on several switches runs
concurrently (asyncio.gather). A failed write raises `BatchWriteError` naming the switch,
the entity and the reason, and listing exactly which updates of the call were applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import finsy as fy
from finsy.p4schema import P4MatchType

from controlplane.entities import Entity, Lpm, McGroup, TableEntry, Ternary, Update
from controlplane.errors import ControlPlaneError, WriteError

REPO = Path(__file__).resolve().parents[1]
PUSH_AT_ONCE = 8  # switches connected (and their pipeline pushed) at a time by Fabric.open


class _UnservedGnmi(logging.Filter):
    """finsy's Switch warns once per switch when the P4Runtime address serves no gNMI (BMv2
    built without sysrepo). The control plane reads port status with a gNMI client of its
    own where it is served (controlplane/portwatch.py), never through finsy's Switch, so the
    warning only interrupts what the user reads (the testbed CLI's prompt line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().endswith("gNMI is not implemented")


logging.getLogger("finsy").addFilter(_UnservedGnmi())


@dataclass(frozen=True)
class SwitchConn:
    name: str
    address: str  # "127.0.0.1:9560"
    device_id: int


def program_files(
    program: str, target: str = "softswitch", build: Path | None = None
) -> tuple[Path, Path]:
    """(P4Info text file, device config) of a program under build/<target>/."""
    base = (build or REPO / "build") / target / program
    p4info, blob = base.with_suffix(".p4info.txtpb"), base.with_suffix(".json")
    for p in (p4info, blob):
        if not p.is_file():
            raise ControlPlaneError(
                f"{p}: missing; build the P4 programs first (`make p4`) for target {target}"
            )
    return p4info, blob


class BatchWriteError(WriteError):
    """Some updates of a write were refused. `applied` are those that took effect."""

    def __init__(
        self, switch: str, failed: list[tuple[Update, str]], applied: list[Update]
    ) -> None:
        first, reason = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        super().__init__(switch, first.describe() + more, reason)
        self.failed = failed
        self.applied = applied


@dataclass
class WriteTiming:
    switch: str
    updates: int
    started: float
    done: float


@dataclass
class Fabric:
    conns: list[SwitchConn]
    p4info: Path | None = None
    device_config: Path | None = None
    election_id: int = 10
    batch: int = 1000
    push_pipeline: bool = True
    switches: dict[str, fy.Switch] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    # packet-ins per switch, kept from open() on: finsy hands a packet only to readers that
    # are already waiting, so one reader per switch waits from the start
    _packets: dict[str, asyncio.Queue] = field(default_factory=dict, repr=False)
    _readers: list[asyncio.Task] = field(default_factory=list, repr=False)

    # -- connections -----------------------------------------------------------------------
    async def open(self, timeout: float = 30.0) -> None:
        """Connect to every switch, become primary, push the pipeline (concurrently)."""
        self._loop = asyncio.get_running_loop()
        opts = fy.SwitchOptions(
            p4info=self.p4info if self.push_pipeline else None,
            p4blob=self.device_config if self.push_pipeline else None,
            p4force=True,
            initial_election_id=self.election_id,
        )

        # A few pipelines pushed at a time: each switch loads its program as it gets it, and
        # 49 at once on a loaded 2-core machine ran past the RPC's deadline (finsy's 10 s)
        pushing = asyncio.Semaphore(PUSH_AT_ONCE)

        async def one(c: SwitchConn) -> None:
            sw = fy.Switch(c.name, c.address, opts(device_id=c.device_id))
            try:
                async with pushing:
                    await asyncio.wait_for(sw.__aenter__(), timeout)
            except Exception as ex:
                raise ControlPlaneError(
                    f"switch {c.name} at {c.address} (device {c.device_id}): "
                    f"cannot connect and set the pipeline: {ex}"
                ) from ex
            if not sw.is_primary:
                await sw.__aexit__(None, None, None)
                theirs = f"{sw.primary_id}" if sw.primary_id > 0 else "higher"
                raise ControlPlaneError(
                    f"switch {c.name}: another controller is primary "
                    f"(its election id {theirs} > ours {self.election_id})"
                )
            self.switches[c.name] = sw

        results = await asyncio.gather(*(one(c) for c in self.conns), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.close()
            raise errors[0]
        for name, sw in self.switches.items():
            q: asyncio.Queue = asyncio.Queue()
            self._packets[name] = q
            self._readers.append(asyncio.create_task(_keep_packets(sw, q)))
        await asyncio.sleep(0)  # each reader runs up to finsy's queue: subscribed from now

    async def close(self) -> None:
        readers, self._readers, self._packets = self._readers, [], {}
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        sws, self.switches = list(self.switches.values()), {}
        await asyncio.gather(
            *(sw.__aexit__(None, None, None) for sw in sws), return_exceptions=True
        )

    async def __aenter__(self) -> Fabric:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def switch(self, name: str) -> fy.Switch:
        loop = asyncio.get_running_loop()
        if self._loop is not None and loop is not self._loop:
            raise ControlPlaneError(
                "Fabric used from another event loop than the one that opened it (gRPC "
                "channels belong to one loop): keep one loop, or use "
                "controlplane.testbed.ControlPlane, whose coroutines work from any loop"
            )
        try:
            return self.switches[name]
        except KeyError:
            raise ControlPlaneError(f"switch {name!r} is not connected") from None

    # -- writes ----------------------------------------------------------------------------
    async def write(self, switch: str, updates: Iterable[Update]) -> WriteTiming:
        """Write in batches; stop at the first batch with a refused update."""
        sw = self.switch(switch)
        ups = list(updates)
        t0 = time.perf_counter()
        applied: list[Update] = []
        for lo in range(0, len(ups), self.batch):
            chunk = ups[lo : lo + self.batch]
            try:
                await sw.write([to_finsy_update(u) for u in chunk])
            except fy.P4ClientError as ex:
                if not ex.details:  # the whole request failed
                    raise BatchWriteError(
                        switch, [(chunk[0], f"{ex.code.name}: {ex.message}")], applied
                    ) from ex
                failed = [
                    (chunk[i], f"{e.canonical_code.name}: {e.message}")
                    for i, e in sorted(ex.details.items())
                ]
                applied += [u for i, u in enumerate(chunk) if i not in ex.details]
                raise BatchWriteError(switch, failed, applied) from ex
            except Exception as ex:
                raise BatchWriteError(switch, [(chunk[0], repr(ex))], applied) from ex
            applied += chunk
        return WriteTiming(switch, len(ups), t0, time.perf_counter())

    async def write_all(self, per_switch: dict[str, list[Update]]) -> dict[str, WriteTiming]:
        """Write every switch's updates concurrently. On failures: raises the first
        BatchWriteError after all switches finished; `.others` holds the rest and
        `.results` the switches that succeeded."""
        names = list(per_switch)
        res = await asyncio.gather(
            *(self.write(n, per_switch[n]) for n in names), return_exceptions=True
        )
        ok = {n: r for n, r in zip(names, res, strict=True) if isinstance(r, WriteTiming)}
        errs = [r for r in res if isinstance(r, BaseException)]
        if errs:
            first = errs[0]
            if not isinstance(first, BatchWriteError):
                raise first
            first.others = [e for e in errs[1:] if isinstance(e, BatchWriteError)]  # type: ignore[attr-defined]
            first.results = ok  # type: ignore[attr-defined]
            raise first
        return ok

    # -- reads -----------------------------------------------------------------------------
    async def read_entries(self, switch: str, table: str | None = None) -> list[TableEntry]:
        sw = self.switch(switch)
        out = []
        async for e in sw.read(fy.P4TableEntry(table or "")):
            out.append(from_finsy_entry(e, sw))
        return sorted(out, key=lambda e: (e.table, repr(e.match)))

    async def read_groups(self, switch: str) -> list[McGroup]:
        sw = self.switch(switch)
        out = []
        async for g in sw.read(fy.P4MulticastGroupEntry()):
            reps = []
            for r in g.replicas:
                reps.append((r, 0) if isinstance(r, int) else (r.port, r.instance))
            out.append(McGroup(g.multicast_group_id, tuple(reps)))
        return sorted(out, key=lambda g: g.group)

    async def read_counter(
        self, switch: str, counter: str, indices: Iterable[int] | None = None
    ) -> dict[int, tuple[int, int]]:
        """index -> (packets, bytes) of every non-zero cell of an indirect counter; with
        `indices`, of those cells only (one request naming each: a switch answers a few
        hundred cells, not the thousands of a whole counter)."""
        sw = self.switch(switch)
        query: Any = fy.P4CounterEntry(counter)
        if indices is not None:
            query = [fy.P4CounterEntry(counter, index=i) for i in sorted(set(indices))]
            if not query:
                return {}
        out = {}
        async for c in sw.read(query):
            if c.packet_count or c.byte_count:
                out[int(c.index or 0)] = (c.packet_count, c.byte_count)
        return out

    async def read_register(self, switch: str, register: str) -> dict[int, int]:
        """index -> value of every non-zero cell of a register."""
        sw = self.switch(switch)
        out = {}
        async for r in sw.read(fy.P4RegisterEntry(register)):
            if r.data:
                out[int(r.index or 0)] = int(r.data)
        return out

    # -- stream ----------------------------------------------------------------------------
    async def packet_out(self, switch: str, payload: bytes, egress_port: int) -> None:
        await self.switch(switch).write([fy.P4PacketOut(payload, egress_port=egress_port)])

    async def packet_in(self, switch: str, timeout: float = 2.0) -> tuple[bytes, dict]:
        """The oldest packet-in from `switch` not taken yet (payload, metadata by name); every
        one since open() is kept, up to PACKET_IN_KEPT (the oldest make room)."""
        self.switch(switch)  # connected, and this is the loop that opened it
        try:
            return await asyncio.wait_for(self._packets[switch].get(), timeout)
        except TimeoutError:
            raise ControlPlaneError(f"switch {switch}: no packet-in within {timeout:g} s") from None


PACKET_IN_KEPT = 10_000


async def _keep_packets(sw: fy.Switch, q: asyncio.Queue) -> None:
    async for p in sw.read_packets(queue_size=PACKET_IN_KEPT):
        if q.qsize() >= PACKET_IN_KEPT:
            q.get_nowait()
        q.put_nowait((p.payload, dict(p.metadata)))


# -- entity conversion ------------------------------------------------------------------------
def to_finsy(e: Entity) -> fy.P4TableEntry | fy.P4MulticastGroupEntry:
    if isinstance(e, McGroup):
        return fy.P4MulticastGroupEntry(e.group, replicas=list(e.replicas))
    match = {}
    for name, v in e.match:
        if isinstance(v, Lpm):
            match[name] = (v.value, v.prefix_len)
        elif isinstance(v, Ternary):
            match[name] = (v.value, v.mask)
        else:
            match[name] = v
    return fy.P4TableEntry(
        e.table,
        match=fy.P4TableMatch(match),
        action=fy.P4TableAction(e.action, **dict(e.params)),
        priority=e.priority,
    )


def to_finsy_update(u: Update):
    ent = to_finsy(u.entity)
    return {"INSERT": ent.__pos__, "MODIFY": ent.__invert__, "DELETE": ent.__neg__}[u.kind]()


def from_finsy_entry(e: fy.P4TableEntry, sw: fy.Switch) -> TableEntry:
    """finsy decodes with short aliases; give back the fully qualified P4Info names."""
    schema = sw.p4info
    table = schema.tables[e.table_id]
    fields = {f.name: i for i, f in enumerate(table.match_fields)}
    match: list[tuple[str, object]] = []
    for key, v in (e.match or {}).items():
        mf = table.match_fields[key]
        if mf.match_type == P4MatchType.LPM:
            val: object = Lpm(int(v[0]), int(v[1]))
        elif mf.match_type == P4MatchType.TERNARY:
            t = v if isinstance(v, tuple) else (v, (1 << mf.bitwidth) - 1)
            val = Ternary(int(t[0]), int(t[1]))
        else:
            val = int(v)
        match.append((mf.name, val))
    match.sort(key=lambda kv: fields[kv[0]])
    act = e.action
    assert isinstance(act, fy.P4TableAction), f"{table.name}: indirect actions are not used"
    action = schema.actions[act.name]
    order = {p.name: i for i, p in enumerate(action.params)}
    params = sorted(((action.params[k].name, int(v)) for k, v in act.args.items()),
                    key=lambda kv: order[kv[0]])  # fmt: skip
    return TableEntry(table.name, tuple(match), action.name, tuple(params), e.priority)  # type: ignore[arg-type]
