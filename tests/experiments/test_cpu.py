"""experiments.cpu: the rounds row's CPU columns from the machine's counters and modelsync's
records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from experiments.cpu import TICKS, MachineCpu, processes_cpu_s, records_cpu_s, round_cpu_fields


def test_machine_cpu_from_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    t = TICKS
    stat.write_text(f"cpu  {3 * t} 0 {t} {50 * t} {2 * t} 0 {t} 0 0 0\ncpu0 1\n")
    m = MachineCpu.read(stat)
    assert m.busy == pytest.approx(5.0)  # user + system + softirq; idle and iowait left out
    assert m.softirq == pytest.approx(1.0)


def test_round_fields() -> None:
    start, sending = MachineCpu(10.0, 100.0, 5.0), MachineCpu(12.5, 104.0, 5.5)
    end = MachineCpu(42.5, 160.0, 9.5)
    rec = [{"receiver": "a", "cpu_s": 1.5}, {"receiver": "b", "cpu_s": 2.0}, {"receiver": "c"}]
    got = round_cpu_fields(start, sending, end, rec, {"cpu_s": 0.75}, 3.0, 1.25)
    assert got == {
        "start_s": 2.5, "wall_s": 30.0, "cpu_machine_s": 56.0, "cpu_softirq_s": 4.0,
        "cpu_receivers_s": 3.5, "cpu_sender_s": 0.75, "cpu_network_s": 3.0, "load_1m": 1.25,
    }  # fmt: skip
    assert records_cpu_s([{"receiver": "c"}]) is None  # no record says: not known, not 0


def test_processes_cpu_counts_the_living_only() -> None:
    mine = processes_cpu_s([os.getpid()])
    assert mine > 0
    assert processes_cpu_s([os.getpid(), 2**22 + 12345]) == pytest.approx(mine, abs=0.05)
