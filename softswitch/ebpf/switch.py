"""EbpfSwitch: a v1model switch whose packet path runs in the kernel (tc-BPF) and whose
control plane is the Python backend's.

Every request goes first to a Python `Switch` of the same program (the shadow): it validates
exactly as the Python backend does (same SwitchError codes and messages) and keeps the
entries, defaults, groups and sessions that P4Runtime reads back. What the shadow accepted is
then written into the BPF maps. Counters and registers live only in the maps (read back
summed over CPUs). Frames never pass through Python, except those to and from the CPU port.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from softswitch.core.program import Program
from softswitch.core.switch import Switch
from softswitch.ebpf.build import compile_c
from softswitch.ebpf.datapath import Datapath
from softswitch.ebpf.emit import CProgram, emit_c
from softswitch.ebpf.tablelayout import TableLayout
from softswitch.entries import Replica, SwitchError, TableEntry


class EbpfSwitch:
    backend = "ebpf"

    def __init__(self, program: Program, cpu_port: int | None = None) -> None:
        self.program = program
        self.cpu_port = cpu_port
        self.lock = threading.RLock()
        self.cprog: CProgram = emit_c(program.source, program.name)  # EbpfUnsupported
        self.shadow = Switch(program, cpu_port)
        name = re.sub(r"[^A-Za-z0-9_]", "_", program.name) or "prog"
        self.dp = Datapath(str(compile_c(self.cprog.source, name)), self.cprog)
        self.layouts: dict[str, TableLayout] = {tl.info.fqname: tl for tl in self.cprog.tables}
        self.slots: dict[str, dict[tuple, int]] = {n: {} for n in self.layouts}
        self.free_slots: dict[str, list[int]] = {
            n: list(range(tl.size - 1, -1, -1)) for n, tl in self.layouts.items()
        }
        self.widths = {x.fqname: x.width for x in program.model.externs if x.kind == "register"}
        try:
            for name in self.layouts:
                self._sync_table(name, full=True)
                self._sync_default(name)
        except Exception:
            self.dp.close()
            raise

    inject: Any = None  # frame -> None: into the pipeline at the CPU port (set by the backend)

    def close(self) -> None:
        """Detach from every port and free the program and its maps."""
        self.dp.close()

    def release(self) -> None:
        """Free the program and maps, leaving the ports' filters (replaced by a newer switch)."""
        self.dp.attached.clear()
        self.dp.close()

    # ---- ports ----------------------------------------------------------------------------
    def attach_port(self, port: int, iface: str) -> None:
        """Run the program on the interface's tc ingress and egress hooks as `port`."""
        self.dp.attach(port, iface)

    def detach_ports(self) -> None:
        self.dp.detach_all()

    # ---- tables ---------------------------------------------------------------------------
    def _slot(self, table: str, key: tuple) -> int:
        slots = self.slots[table]
        if key not in slots:
            slots[key] = self.free_slots[table].pop()
        return slots[key]

    def _release(self, table: str, key: tuple) -> None:
        slot = self.slots[table].pop(key, None)
        if slot is not None:
            self.free_slots[table].append(slot)

    def _sync_table(self, name: str, full: bool = False, match: Any = None) -> None:
        tl = self.layouts[name]
        t = self.shadow.tables[name]
        if tl.mode == "none":
            return
        if tl.mode == "scan":
            ents = sorted(t.entries.values(), key=lambda e: -e.priority)  # stable
            rows = []
            for e in ents:
                slot = self._slot(name, e.key)
                rows.append((e.match, t.action_index[e.action.fqname], slot, e.args))
            self.dp.write_scan(tl, rows)
            return
        keys = list(t.entries) if full else [match]
        for key in keys:
            e = t.entries.get(key)
            if e is None:  # deleted
                self.dp.delete_entry(tl, key[0])
                self._release(name, key)
                continue
            slot = self._slot(name, e.key)
            self.dp.write_entry(tl, e.match, t.action_index[e.action.fqname], slot, e.args)

    def _sync_default(self, name: str) -> None:
        t = self.shadow.tables[name]
        self.dp.write_default(
            self.layouts[name], t.action_index[t.default_action.fqname], t.default_args
        )

    def _key(self, e: TableEntry) -> tuple:
        return self.shadow._table(e.table).find(e).key

    def insert_entry(self, e: TableEntry) -> None:
        with self.lock:
            self.shadow.insert_entry(e)
            key = self._key(e)
            if self.layouts[e.table].info.direct_counter is not None:
                tl = self.layouts[e.table]
                self.dp.set_direct_counter(tl.dc_base + self._slot(e.table, key), 0, 0)
            self._sync_table(e.table, match=key)

    def modify_entry(self, e: TableEntry) -> None:
        with self.lock:
            self.shadow.modify_entry(e)
            self._sync_table(e.table, match=self._key(e))

    def delete_entry(self, e: TableEntry) -> None:
        with self.lock:
            key = self._key(e)  # NOT_FOUND as the Python backend says it
            self.shadow.delete_entry(e)
            if self.layouts[e.table].mode == "scan":
                self._release(e.table, key)
            self._sync_table(e.table, match=key)

    def entries(self, table: str | None = None) -> list[TableEntry]:
        return self.shadow.entries(table)

    def set_default_action(self, table: str, action: str, params: dict[str, int]) -> None:
        with self.lock:
            self.shadow.set_default_action(table, action, params)
            self._sync_default(table)

    def reset_default_action(self, table: str) -> None:
        with self.lock:
            self.shadow.reset_default_action(table)
            self._sync_default(table)

    def default_action(self, table: str) -> tuple[str, dict[str, int]]:
        return self.shadow.default_action(table)

    # ---- packet replication engine --------------------------------------------------------
    def set_multicast_group(self, group: int, replicas: list[Replica]) -> None:
        with self.lock:
            self.shadow.set_multicast_group(group, replicas)
            order = [(p, rid) for rid, ports in self.shadow._group_nodes[group] for p in ports]
            try:
                self.dp.write_group(group, order)
            except ValueError as exc:
                self.shadow.delete_multicast_group(group)
                raise SwitchError("RESOURCE_EXHAUSTED", f"multicast group {group}: {exc}") from None

    def delete_multicast_group(self, group: int) -> None:
        with self.lock:
            self.shadow.delete_multicast_group(group)
            self.dp.delete_group(group)

    def multicast_groups(self) -> dict[int, list[Replica]]:
        return self.shadow.multicast_groups()

    def set_clone_session(
        self,
        session: int,
        replicas: list[Replica],
        class_of_service: int = 0,
        packet_length_bytes: int = 0,
    ) -> None:
        with self.lock:
            self.shadow.set_clone_session(session, replicas, class_of_service, packet_length_bytes)
            try:
                self.dp.write_session(
                    session, [(r.port, r.instance) for r in replicas], packet_length_bytes
                )
            except ValueError as exc:
                self.shadow.delete_clone_session(session)
                raise SwitchError("RESOURCE_EXHAUSTED", f"clone session {session}: {exc}") from None

    def delete_clone_session(self, session: int) -> None:
        with self.lock:
            self.shadow.delete_clone_session(session)
            self.dp.delete_session(session)

    def clone_sessions(self) -> dict[int, list[Replica]]:
        return self.shadow.clone_sessions()

    # ---- externs --------------------------------------------------------------------------
    def _counter_cell(self, name: str, index: int) -> int:
        self.shadow.counter(name, index)  # NOT_FOUND / OUT_OF_RANGE as the Python backend
        return self.cprog.counter_base[name] + index

    def counter(self, name: str, index: int) -> tuple[int, int]:
        with self.lock:
            return self.dp.counter(self._counter_cell(name, index))

    def set_counter(self, name: str, index: int, packets: int, bytes_: int) -> None:
        with self.lock:
            self.dp.set_counter(self._counter_cell(name, index), packets, bytes_)

    def _direct_cell(self, e: TableEntry) -> int:
        self.shadow.direct_counter(e)  # NOT_FOUND as the Python backend
        tl = self.layouts[e.table]
        return tl.dc_base + self.slots[e.table][self._key(e)]

    def direct_counter(self, e: TableEntry) -> tuple[int, int]:
        with self.lock:
            return self.dp.direct_counter(self._direct_cell(e))

    def set_direct_counter(self, e: TableEntry, packets: int, bytes_: int) -> None:
        with self.lock:
            self.dp.set_direct_counter(self._direct_cell(e), packets, bytes_)

    def register(self, name: str, index: int) -> int:
        with self.lock:
            self.shadow.register(name, index)
            return self.dp.register(name, index)

    def set_register(self, name: str, index: int, value: int) -> None:
        with self.lock:
            self.shadow.set_register(name, index, value)
            self.dp.set_register(name, index, value, self.widths[name])

    # ---- the data plane -------------------------------------------------------------------
    def process(self, port: int, frame: bytes) -> list[tuple[int, bytes]]:
        """Frames from the CPU port (packet-outs) go into the kernel's pipeline; what leaves
        does so in the kernel, so nothing is returned. Other ports receive in the kernel."""
        if port == self.cpu_port and self.inject is not None:
            self.inject(frame)
            return []
        raise SwitchError(
            "UNIMPLEMENTED",
            f"the eBPF backend forwards in the kernel: port {port} receives on its interface",
        )

    def process_many(self, port: int, frames: Any) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        for f in frames:
            out += self.process(port, f)
        return out

    def stats(self) -> dict[str, int]:
        return self.dp.stats()

    def memory_bytes(self) -> int:
        return self.dp.memory_bytes()
