"""Switch: one v1model instance (tables, replication engine, externs) running a Program.

The packet path follows BMv2 simple_switch: parser, verify checksum, ingress; then I2E
clone, resubmit, multicast or unicast; per copy egress, E2E clone, drop check, compute
checksum and deparser, recirculation. See softswitch/README.md for the BMv2 details kept.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from softswitch.core.gen import py_attr
from softswitch.core.model import ExternInfo
from softswitch.core.program import Program
from softswitch.core.tables import Table
from softswitch.entries import Replica, SwitchError, TableEntry

_log = logging.getLogger("softswitch.switch")
DROP_PORT = 511
MAX_PASSES = 16  # ingress passes per input frame (resubmit + recirculate); more are dropped
MAX_COPIES = 4096  # egress copies per input frame (guards against clone loops)

# standard_metadata.instance_type values (BMv2)
NORMAL, I2E_CLONE, E2E_CLONE, RECIRC, REPLICATION, RESUBMIT = 0, 1, 2, 4, 5, 6


class Counter:
    __slots__ = ("cells", "info")

    def __init__(self, info: ExternInfo) -> None:
        self.info = info
        self.cells = [[0, 0] for _ in range(info.size)]

    def count(self, index: int, length: int) -> None:
        if 0 <= index < len(self.cells):  # BMv2 ignores out-of-range indices
            c = self.cells[index]
            c[0] += 1
            c[1] += length


class Register:
    __slots__ = ("cells", "info", "mask")

    def __init__(self, info: ExternInfo) -> None:
        self.info = info
        self.cells = [0] * info.size
        self.mask = (1 << info.width) - 1

    def read(self, index: int) -> int:
        if 0 <= index < len(self.cells):
            return self.cells[index]
        return 0  # out of range: reads 0 (BMv2 logs an error)

    def write(self, index: int, value: int) -> None:
        if 0 <= index < len(self.cells):
            self.cells[index] = value & self.mask


def _nodes(replicas: list[Replica]) -> list[tuple[int, list[int]]]:
    """Replicas as BMv2 PRE nodes: one per distinct rid in order of first appearance,
    each with its ports in ascending order (a port bitmap)."""
    nodes: dict[int, set[int]] = {}
    for r in replicas:
        nodes.setdefault(r.instance, set()).add(r.port)
    return [(rid, sorted(ports)) for rid, ports in nodes.items()]


class Switch:
    """One v1model switch. Thread-safe: every public method takes the switch's lock."""

    def __init__(self, program: Program, cpu_port: int | None = None) -> None:
        self.program = program
        self.cpu_port = cpu_port
        self.lock = threading.Lock()
        m = program.model
        ns: dict[str, Any] = {}
        exec(program.code, ns)  # defines classes and functions; tables/externs bound below
        self._ns = ns
        fns = {a.py: ns[a.py] for a in m.actions}
        self.tables: dict[str, Table] = {}
        names = {a.fqname for a in m.actions}
        for t in m.tables:
            tab = Table(t, fns, ns)
            tab.fns_by_name = names
            self.tables[t.fqname] = tab
            ns[t.py] = tab
        self.counters: dict[str, Counter] = {}
        self.registers: dict[str, Register] = {}
        self.direct_counters: dict[str, Table] = {}
        for x in m.externs:
            if x.kind == "counter":
                self.counters[x.fqname] = ns[x.py] = Counter(x)
            elif x.kind == "register":
                self.registers[x.fqname] = ns[x.py] = Register(x)
            elif x.kind == "direct_counter":
                if x.table is None:
                    raise SwitchError(
                        "INVALID_ARGUMENT", f"direct_counter {x.fqname} is not attached to a table"
                    )
                self.direct_counters[x.fqname] = self.tables[x.table]
        b = m.blocks
        self._parser = ns[b["parser"]]
        self._verify = ns[b["verify"]]
        self._ingress = ns[b["ingress"]]
        self._egress = ns[b["egress"]]
        self._compute = ns[b["compute"]]
        self._deparser = ns[b["deparser"]]
        self._hdr_cls = ns[m.hdr_type.py]
        self._meta_cls = ns[m.meta_type.py]
        self._sm_cls = ns["S_standard_metadata_t"]
        self.field_lists = {k: [py_attr(n) for n in v] for k, v in m.field_lists.items()}
        self.preserve = self._preserve  # the generated PIPELINE's name for it
        self.groups: dict[int, list[Replica]] = {}
        self._group_nodes: dict[int, list[tuple[int, list[int]]]] = {}
        self._group_size: dict[int, int] = {}
        self.sessions: dict[int, tuple[list[Replica], int, int]] = {}
        # passes_dropped: ingress passes over MAX_PASSES (resubmit/recirculate loops);
        # copies_dropped: egress copies over MAX_COPIES; errors: frames lost to a softswitch bug
        self.stats = {"passes_dropped": 0, "copies_dropped": 0, "errors": 0}
        self._copies = 0  # egress copies made for the current input frame
        self._pending: deque = deque()  # ingress passes to come for the current input frame
        self._pipe = ns["PIPELINE"]
        self._egress_copy = ns["EGRESS"]
        self._replicate = ns["REPLICATE"]

    # ---- tables ---------------------------------------------------------------------------
    def _table(self, name: str) -> Table:
        t = self.tables.get(name)
        if t is None:
            raise SwitchError("NOT_FOUND", f"no table {name!r}")
        return t

    def insert_entry(self, e: TableEntry) -> None:
        with self.lock:
            self._table(e.table).insert(e)

    def modify_entry(self, e: TableEntry) -> None:
        with self.lock:
            self._table(e.table).modify(e)

    def delete_entry(self, e: TableEntry) -> None:
        with self.lock:
            self._table(e.table).delete(e)

    def entries(self, table: str | None = None) -> list[TableEntry]:
        with self.lock:
            tabs = [self._table(table)] if table is not None else list(self.tables.values())
            return [t.to_api(e) for t in tabs for e in t.entries.values()]

    def set_default_action(self, table: str, action: str, params: dict[str, int]) -> None:
        with self.lock:
            self._table(table).set_default(action, params)

    def reset_default_action(self, table: str) -> None:
        with self.lock:
            self._table(table).reset_default()

    def default_action(self, table: str) -> tuple[str, dict[str, int]]:
        with self.lock:
            t = self._table(table)
            a = t.default_action
            return a.fqname, {p.name: v for p, v in zip(a.params, t.default_args, strict=True)}

    # ---- packet replication engine --------------------------------------------------------
    @staticmethod
    def _check_replicas(what: str, replicas: list[Replica]) -> None:
        seen = set()
        for r in replicas:
            if not isinstance(r, Replica):
                raise SwitchError("INVALID_ARGUMENT", f"{what}: replicas must be Replica")
            if not 0 <= r.port < 512 or not 0 <= r.instance < 1 << 16:
                raise SwitchError(
                    "OUT_OF_RANGE",
                    f"{what}: replica ({r.port}, {r.instance}) out of range "
                    "(port < 512, instance < 65536)",
                )
            if (r.port, r.instance) in seen:
                raise SwitchError(
                    "INVALID_ARGUMENT", f"{what}: duplicate replica ({r.port}, {r.instance})"
                )
            seen.add((r.port, r.instance))

    def set_multicast_group(self, group: int, replicas: list[Replica]) -> None:
        if not 1 <= group < 1 << 16:
            raise SwitchError("OUT_OF_RANGE", f"multicast group {group} not in 1..65535")
        self._check_replicas(f"multicast group {group}", replicas)
        with self.lock:
            self.groups[group] = list(replicas)
            self._group_nodes[group] = _nodes(replicas)
            self._group_size[group] = sum(len(p) for _, p in self._group_nodes[group])

    def delete_multicast_group(self, group: int) -> None:
        with self.lock:
            if group not in self.groups:
                raise SwitchError("NOT_FOUND", f"no multicast group {group}")
            del self.groups[group]
            del self._group_nodes[group]
            del self._group_size[group]

    def multicast_groups(self) -> dict[int, list[Replica]]:
        with self.lock:
            return {g: list(r) for g, r in self.groups.items()}

    def set_clone_session(
        self,
        session: int,
        replicas: list[Replica],
        class_of_service: int = 0,
        packet_length_bytes: int = 0,
    ) -> None:
        if not 1 <= session < 1 << 15:
            raise SwitchError("OUT_OF_RANGE", f"clone session {session} not in 1..32767")
        self._check_replicas(f"clone session {session}", replicas)
        if packet_length_bytes < 0:
            raise SwitchError("INVALID_ARGUMENT", "packet_length_bytes must be >= 0")
        with self.lock:
            self.sessions[session] = (list(replicas), class_of_service, packet_length_bytes)

    def delete_clone_session(self, session: int) -> None:
        with self.lock:
            if session not in self.sessions:
                raise SwitchError("NOT_FOUND", f"no clone session {session}")
            del self.sessions[session]

    def clone_sessions(self) -> dict[int, list[Replica]]:
        with self.lock:
            return {s: list(v[0]) for s, v in self.sessions.items()}

    # ---- externs --------------------------------------------------------------------------
    def _cell(self, store: dict, kind: str, name: str, index: int) -> Any:
        x = store.get(name)
        if x is None:
            raise SwitchError("NOT_FOUND", f"no {kind} {name!r}")
        if not 0 <= index < len(x.cells):
            raise SwitchError(
                "OUT_OF_RANGE", f"{kind} {name}: index {index} not in 0..{len(x.cells) - 1}"
            )
        return x

    def counter(self, name: str, index: int) -> tuple[int, int]:
        with self.lock:
            c = self._cell(self.counters, "counter", name, index).cells[index]
            return c[0], c[1]

    def set_counter(self, name: str, index: int, packets: int, bytes_: int) -> None:
        with self.lock:
            self._cell(self.counters, "counter", name, index).cells[index] = [packets, bytes_]

    def _direct(self, e: TableEntry) -> Any:
        t = self._table(e.table)
        if not t.counted:
            raise SwitchError("NOT_FOUND", f"table {e.table} has no direct counter")
        return t.find(e).record[4]

    def direct_counter(self, e: TableEntry) -> tuple[int, int]:
        with self.lock:
            c = self._direct(e)
            return c[0], c[1]

    def set_direct_counter(self, e: TableEntry, packets: int, bytes_: int) -> None:
        with self.lock:
            c = self._direct(e)
            c[0], c[1] = packets, bytes_

    def register(self, name: str, index: int) -> int:
        with self.lock:
            return self._cell(self.registers, "register", name, index).cells[index]  # type: ignore[no-any-return]

    def set_register(self, name: str, index: int, value: int) -> None:
        with self.lock:
            r = self._cell(self.registers, "register", name, index)
            if value < 0 or value > r.mask:
                raise SwitchError(
                    "OUT_OF_RANGE", f"register {name}: {value} does not fit in {r.info.width} bits"
                )
            r.cells[index] = value

    # ---- the data plane -------------------------------------------------------------------
    def _preserve(self, meta: Any, fl: int | None, into: Any) -> None:
        if fl is None:
            return
        for attr in self.field_lists.get(fl, ()):
            setattr(into, attr, getattr(meta, attr))

    def process(self, port: int, frame: bytes) -> list[tuple[int, bytes]]:
        """Run one frame through the switch; every frame that leaves, in order."""
        return self.process_many(port, (frame,))

    def process_many(self, port: int, frames: Iterable[bytes]) -> list[tuple[int, bytes]]:
        """`process` for each frame in turn (all arrived on `port`), under one lock
        acquisition; every frame that leaves, in order."""
        if not 0 <= port < 512:
            raise SwitchError("OUT_OF_RANGE", f"port {port} is not a 9-bit port number")
        out: list[tuple[int, bytes]] = []
        pending = self._pending
        pipe = self._pipe
        with self.lock:
            for frame in frames:
                pending.clear()
                self._copies = 0
                n = len(out)
                try:
                    pipe(
                        frame if type(frame) is bytes else bytes(frame),
                        port,
                        NORMAL,
                        None,
                        None,
                        out,
                        self,
                    )
                    if pending:
                        self._more_passes(out)
                except Exception:  # a bug in softswitch must not take the switch down
                    _log.exception(
                        "softswitch: frame on port %d dropped by an internal error", port
                    )
                    self.stats["errors"] += 1
                    del out[n:]  # nothing of this frame leaves
        return out

    def _more_passes(self, out: list) -> None:
        """Resubmitted and recirculated frames of the current input frame."""
        pending = self._pending
        passes = 1
        while pending:
            passes += 1
            if passes > MAX_PASSES:
                self.stats["passes_dropped"] += len(pending)
                break
            self._pipe(*pending.popleft(), out, self)

    # The generated PIPELINE runs a pass of plain unicast itself and calls these otherwise.
    def after_ingress(
        self, frame: bytes, off: int, sm: Any, hdr: Any, meta: Any, out: list
    ) -> None:
        """After ingress: I2E clone, resubmit, multicast, drop or unicast (BMv2's order)."""
        clone = sm._clone
        if clone is not None and clone[0] == "I2E":
            sess = self.sessions.get(clone[1])
            if sess is not None:
                for r in sess[0]:
                    # BMv2 re-parses the frame as it entered this pass, with fresh metadata
                    csm = self._sm_cls()
                    chdr = self._hdr_cls()
                    cmeta = self._meta_cls()
                    coff = self._parser(frame, csm, chdr, cmeta, csm)
                    self._preserve(meta, clone[2], cmeta)
                    csm.instance_type = I2E_CLONE
                    csm.packet_length = len(frame)
                    csm.egress_rid = r.instance
                    self.egress_full(r.port, chdr, cmeta, csm, frame[coff:], out, sess[2])
        if clone is not None:
            sm._clone = None
        if sm._resub is not None:
            self._pending.append((frame, 0, RESUBMIT, meta, sm._resub))
            return
        payload = frame[off:]
        grp = sm.mcast_grp
        if grp:
            nodes = self._group_nodes.get(grp)
            if not nodes:
                return
            sm.instance_type = REPLICATION
            n = self._group_size[grp]
            if self._copies + n <= MAX_COPIES:
                self._copies += n
                self._replicate(nodes, hdr, meta, sm, payload, out, self)
                return
            egress = self._egress_copy
            for rid, ports in nodes:
                for p in ports:
                    self._copies += 1
                    if self._copies > MAX_COPIES:
                        self.stats["copies_dropped"] += 1
                        continue
                    csm = sm._copy()
                    csm.egress_rid = rid
                    egress(p, hdr._copy(), meta._copy(), csm, payload, out, self)
            return
        if sm.egress_spec == DROP_PORT:
            return
        sm.instance_type = NORMAL
        self.egress_full(sm.egress_spec, hdr, meta, sm, payload, out, 0)

    def egress_full(
        self, port: int, hdr: Any, meta: Any, sm: Any, payload: bytes, out: list, trunc: int
    ) -> None:
        self._copies += 1
        if self._copies > MAX_COPIES:
            self.stats["copies_dropped"] += 1
            return
        sm.egress_port = port
        sm.egress_spec = 0  # BMv2 resets egress_spec before egress
        self._egress(sm, hdr, meta, sm)
        self.finish_egress(port, hdr, meta, sm, payload, out, trunc)

    def finish_egress(
        self, port: int, hdr: Any, meta: Any, sm: Any, payload: bytes, out: list, trunc: int
    ) -> None:
        """After egress: E2E clone, drop, compute checksum, deparse, truncation, recirculation."""
        clone = sm._clone
        if clone is not None:
            sm._clone = None
        if clone is not None and clone[0] == "E2E":
            sess = self.sessions.get(clone[1])
            if sess is not None:
                for r in sess[0]:
                    cmeta = self._meta_cls()
                    self._preserve(meta, clone[2], cmeta)
                    csm = self._sm_cls()
                    csm.instance_type = E2E_CLONE
                    csm.packet_length = sm.packet_length
                    csm.egress_rid = r.instance
                    self.egress_full(r.port, hdr._copy(), cmeta, csm, payload, out, sess[2])
        if sm.egress_spec == DROP_PORT:
            return
        self._compute(sm, hdr, meta)
        data = self._deparser(sm, hdr, payload)
        if sm._trunc is not None:
            data = data[: sm._trunc]
        if trunc:
            data = data[:trunc]
        if sm._recirc is not None:
            self._pending.append((data, 0, RECIRC, meta, sm._recirc))
            return
        out.append((port, data))
