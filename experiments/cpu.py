"""Where a round's CPU went: the machine's busy time over the round's phases (/proc/stat), the
network's own processes (switches, routers) and, from modelsync's records, every receiver's
and the sender's own CPU. On one machine the emulation is bound by CPU long before its links
(experiments.emulation models it); these columns are what that model is checked against.

Softirq work (the kernel forwarding frames through veths, tc programs and htb) is charged to
whichever process the CPU was running: mostly the sender, whose sendto() carries each frame
through every hop the kernel can forward at once; what runs later from timers lands on any
process, ours or another's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.switch_load import process_cpu_s

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class MachineCpu:
    """CPU seconds of all cores since boot (/proc/stat's cpu line), and when read."""

    at: float  # time.monotonic()
    busy: float  # outside idle and iowait
    softirq: float

    @classmethod
    def read(cls, stat: Path = Path("/proc/stat")) -> MachineCpu:
        values = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        softirq = values[6] if len(values) > 6 else 0
        return cls(time.monotonic(), (sum(values) - idle) / TICKS, softirq / TICKS)


def processes_cpu_s(pids: Iterable[int]) -> float:
    """utime + stime of these processes (all threads) so far; those gone count nothing."""
    return sum(c for p in pids if (c := process_cpu_s(p)) is not None)


def records_cpu_s(records: Iterable[Mapping[str, Any]]) -> float | None:
    """The CPU seconds modelsync's records state (None when none states it)."""
    got = [r["cpu_s"] for r in records if r.get("cpu_s") is not None]
    return float(sum(got)) if got else None


def round_cpu_fields(
    start: MachineCpu,
    sending: MachineCpu,
    end: MachineCpu,
    receivers: list[Mapping[str, Any]],
    sender: Mapping[str, Any],
    network_s: float | None,
    load: float,
) -> dict[str, Any]:
    """The rounds row's CPU columns: `start_s` (wall seconds to start the receivers),
    `wall_s` (the sender's start to the last receiver's end), the machine's busy CPU over
    that (`cpu_machine_s`, other work included) and its softirq part, the receivers' and the
    sender's own CPU (from their records; starting included), the network's processes over
    wall_s too (`network_s`), and the 1-minute load average when the round began."""
    return {
        "start_s": sending.at - start.at,
        "wall_s": end.at - sending.at,
        "cpu_machine_s": end.busy - sending.busy,
        "cpu_softirq_s": end.softirq - sending.softirq,
        "cpu_receivers_s": records_cpu_s(receivers),
        "cpu_sender_s": records_cpu_s([sender]),
        "cpu_network_s": network_s,
        "load_1m": load,
    }
