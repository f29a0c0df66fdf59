"""Why a switch lost frames before its pipeline: which switch, at which ports, and whether it
was short of CPU or had stopped reading its ports.

The round compares, per switch port, the frames the kernel handed to the port with the frames
the P4 ingress counted (experiments.p4_backend). A difference means the switch process did
not read them from its socket in time. Two causes look alike in the counters and differ in
the CPU the process used over the round (/proc/<pid>/stat, every thread): a switch that keeps
reading but cannot keep up uses its share of the CPU; a switch that stopped reading (BMv2 does
when one of its ports goes down, see testbed.cable) uses almost none.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
IDLE_CORE_SHARE = 0.05  # below this share of one core over the round, the switch sat idle
BUSY_MACHINE = 0.9  # above this share of all cores, the machine had no CPU to spare


@dataclass
class CpuSample:
    at: float  # time.monotonic()
    switch_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per switch process
    machine_busy_s: float = 0.0  # CPU seconds all cores spent outside idle and iowait
    machine_total_s: float = 0.0


def process_cpu_s(pid: int) -> float | None:
    """utime + stime of a process, all its threads, in seconds (None: it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and ')'
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from /proc/stat's cpu line."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def sample(pids: Mapping[str, int | None]) -> CpuSample:
    busy, total = machine_cpu_s()
    out = CpuSample(time.monotonic(), machine_busy_s=busy, machine_total_s=total)
    for name, pid in pids.items():
        cpu = process_cpu_s(pid) if pid else None
        if cpu is not None:
            out.switch_s[name] = cpu
    return out


def drop_notes(
    kernel: Mapping[tuple[str, int], int],
    p4: Mapping[tuple[str, int], int],
    before: CpuSample,
    after: CpuSample,
    peers: Mapping[tuple[str, int], str] | None = None,
    cores: int | None = None,
) -> list[str]:
    """One sentence per switch that lost frames: how many, at which ports, and why."""
    cores = cores or os.cpu_count() or 1
    wall = max(after.at - before.at, 1e-9)
    machine = after.machine_total_s - before.machine_total_s
    busy = (after.machine_busy_s - before.machine_busy_s) / machine if machine > 0 else None
    lost: dict[str, dict[int, tuple[int, int]]] = {}
    for (sw, port), n in kernel.items():
        got = p4.get((sw, port), 0)
        if n > got:
            lost.setdefault(sw, {})[port] = (n - got, n)
    notes = []
    for sw in sorted(lost):
        ports = lost[sw]
        total = sum(d for d, _ in ports.values())
        arrived = sum(n for (s, _), n in kernel.items() if s == sw)
        where = ", ".join(
            f"{d:,} of {n:,} at port {p}"
            + (f" (from {peers[(sw, p)]})" if peers and (sw, p) in peers else "")
            for p, (d, n) in sorted(ports.items(), key=lambda kv: -kv[1][0])
        )
        used = (
            after.switch_s[sw] - before.switch_s[sw]
            if sw in after.switch_s and sw in before.switch_s
            else None
        )
        if used is None:
            why = "its process ended during the round"
        elif used / wall < IDLE_CORE_SHARE:
            why = (
                f"it used {used:.1f} CPU-seconds in {wall:.0f} s, so it had stopped reading "
                "its ports"
            )
        elif busy is not None and busy > BUSY_MACHINE:
            why = (
                f"it used {used / wall:.2f} of a core while the machine's {cores} cores were "
                f"{busy:.0%} busy, so the switches together needed more CPU than there was"
            )
        else:
            why = (
                f"it used {used / wall:.2f} of a core (the machine's {cores} cores were "
                f"{busy:.0%} busy), so it could not process frames as fast as they came"
                if busy is not None
                else f"it used {used / wall:.2f} of a core, so it could not keep up"
            )
        notes.append(
            f"switch {sw} lost {total:,} of the {arrived:,} frames its ports received before its "
            f"pipeline ({where}): {why}"
        )
    return notes
