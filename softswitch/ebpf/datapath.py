"""The loaded BPF program of one switch and its maps, in the terms of the control plane:
table entries, defaults, multicast groups, clone sessions, counters, registers and ports."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Any

from softswitch.ebpf.emit import MAX_REPLICAS, STATS, CProgram
from softswitch.ebpf.libbpf import BpfObject, Map, tc_attach, tc_detach
from softswitch.ebpf.tablelayout import TableLayout, le_words


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


class Datapath:
    def __init__(self, obj_path: str, cprog: CProgram) -> None:
        self.cprog = cprog
        self.obj = BpfObject(obj_path)
        self.ingress_fd = self.obj.program_fd("ss_ingress")
        self.egress_fd = self.obj.program_fd("ss_egress")
        names = [
            "ss_port2if", "ss_if2port", "ss_mcast", "ss_clone", "ss_defaults", "ss_scan",
            "ss_dcount", "ss_counters", "ss_stats", "ss_progs", "ss_work",
        ]  # fmt: skip
        self.maps: dict[str, Map] = {n: self.obj.map(n) for n in names}
        for tl in cprog.tables:
            if tl.mode != "none":
                self.maps["T_" + tl.cname] = self.obj.map("T_" + tl.cname)
        for rn in cprog.registers.values():
            self.maps[rn] = self.obj.map(rn)
        self.maps["ss_progs"].update(u32(0), u32(self.ingress_fd))
        self.scan_half: dict[str, int] = {}
        self.attached: dict[int, int] = {}  # port -> ifindex

    def close(self) -> None:
        self.detach_all()
        self.obj.close()

    # ---- ports ----------------------------------------------------------------------------
    def attach(self, port: int, iface: str) -> None:
        ifindex = socket.if_nametoindex(iface)
        self.maps["ss_port2if"].update(u32(port), u32(ifindex))
        self.maps["ss_if2port"].update(u32(ifindex), u32(port))
        tc_attach(ifindex, self.ingress_fd, self.egress_fd)
        self.attached[port] = ifindex

    def detach_all(self) -> None:
        for port, ifindex in list(self.attached.items()):
            tc_detach(ifindex)
            del self.attached[port]

    # ---- tables ---------------------------------------------------------------------------
    def table_map(self, tl: TableLayout) -> Map:
        return self.maps["T_" + tl.cname]

    def write_default(self, tl: TableLayout, action_index: int, args: tuple) -> None:
        raw = tl.pack_value(action_index, 0, args)
        size = self.maps["ss_defaults"].value_size
        self.maps["ss_defaults"].update(u32(tl.index), raw.ljust(size, b"\0"))

    def write_entry(
        self, tl: TableLayout, match: tuple, action_index: int, slot: int, args: tuple
    ) -> None:
        self.table_map(tl).update(tl.pack_key(match), tl.pack_value(action_index, slot, args))

    def delete_entry(self, tl: TableLayout, match: tuple) -> None:
        self.table_map(tl).delete(tl.pack_key(match))

    def write_scan(self, tl: TableLayout, rows: list[tuple[tuple, int, int, tuple]]) -> None:
        """All entries of a scan table in lookup order: written to the idle half, then the
        table's header is switched to it."""
        m = self.table_map(tl)
        half = 1 - self.scan_half.get(tl.cname, 1)
        base = half * tl.size
        for i, (match, action_index, slot, args) in enumerate(rows):
            m.update(u32(base + i), tl.pack_entry(match, tl.pack_value(action_index, slot, args)))
        self.maps["ss_scan"].update(u32(tl.index), struct.pack("<II", base, len(rows)))
        self.scan_half[tl.cname] = half

    # ---- replication ----------------------------------------------------------------------
    @staticmethod
    def _group_value(replicas: list[tuple[int, int]], trunc: int) -> bytes:
        if len(replicas) > MAX_REPLICAS:
            raise ValueError(f"{len(replicas)} replicas: the eBPF backend takes {MAX_REPLICAS}")
        raw = struct.pack("<II", len(replicas), trunc)
        raw += b"".join(struct.pack("<HH", p, r) for p, r in replicas)
        return raw.ljust(8 + 4 * MAX_REPLICAS, b"\0")

    def write_group(self, group: int, replicas: list[tuple[int, int]]) -> None:
        self.maps["ss_mcast"].update(u32(group), self._group_value(replicas, 0))

    def delete_group(self, group: int) -> None:
        self.maps["ss_mcast"].delete(u32(group))

    def write_session(self, session: int, replicas: list[tuple[int, int]], trunc: int) -> None:
        self.maps["ss_clone"].update(u32(session), self._group_value(replicas, trunc))

    def delete_session(self, session: int) -> None:
        self.maps["ss_clone"].delete(u32(session))

    # ---- counters and registers -----------------------------------------------------------
    def _cells(self, m: Map, index: int) -> tuple[int, int]:
        vals = m.lookup(u32(index))
        if vals is None:
            return 0, 0
        packets = bytes_ = 0
        for v in vals:  # per-CPU cells, summed
            p, b = struct.unpack_from("<QQ", v)
            packets += p
            bytes_ += b
        return packets, bytes_

    def _set_cells(self, m: Map, index: int, packets: int, bytes_: int) -> None:
        from softswitch.ebpf.libbpf import possible_cpus

        first = struct.pack("<QQ", packets, bytes_)
        rest = [bytes(16)] * (possible_cpus() - 1)
        m.update(u32(index), [first, *rest])

    def counter(self, cell: int) -> tuple[int, int]:
        return self._cells(self.maps["ss_counters"], cell)

    def set_counter(self, cell: int, packets: int, bytes_: int) -> None:
        self._set_cells(self.maps["ss_counters"], cell, packets, bytes_)

    def direct_counter(self, cell: int) -> tuple[int, int]:
        return self._cells(self.maps["ss_dcount"], cell)

    def set_direct_counter(self, cell: int, packets: int, bytes_: int) -> None:
        self._set_cells(self.maps["ss_dcount"], cell, packets, bytes_)

    def register(self, name: str, index: int) -> int:
        raw = self.maps[self.cprog.registers[name]].lookup(u32(index))
        assert isinstance(raw, bytes)
        v = 0
        for k in range(len(raw) // 8):
            v |= struct.unpack_from("<Q", raw, 8 * k)[0] << (64 * k)
        return v

    def set_register(self, name: str, index: int, value: int, width: int) -> None:
        self.maps[self.cprog.registers[name]].update(u32(index), le_words(value, width))

    def stats(self) -> dict[str, int]:
        out = {}
        for i, s in enumerate(STATS):
            vals: Any = self.maps["ss_stats"].lookup(u32(i)) or []
            out[s] = sum(struct.unpack("<Q", v)[0] for v in vals)
        return out

    def memory_bytes(self) -> int:
        """Kernel memory of this program's maps (memlock, as /proc/PID/fdinfo reports)."""
        total = 0
        for m in self.maps.values():
            try:
                text = Path(f"/proc/self/fdinfo/{m.fd}").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("memlock:"):
                    total += int(line.split()[1])
        return total
