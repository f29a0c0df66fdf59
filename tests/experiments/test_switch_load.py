"""experiments.switch_load: which switch lost frames before its pipeline, at which ports, and
why (short of CPU, the machine out of CPU, or no longer reading its ports)."""

from __future__ import annotations

import os

from experiments.switch_load import CpuSample, drop_notes, process_cpu_s, sample

KERNEL = {("s1", 1): 1000, ("s1", 2): 500, ("s2", 1): 800}
P4 = {("s1", 1): 400, ("s1", 2): 500, ("s2", 1): 800}
PEERS = {("s1", 1): "h1", ("s1", 2): "s2", ("s2", 1): "s1"}


def _samples(s1_cpu: float, machine_busy: float) -> tuple[CpuSample, CpuSample]:
    before = CpuSample(100.0, {"s1": 5.0, "s2": 1.0}, 1000.0, 2000.0)
    after = CpuSample(140.0, {"s1": 5.0 + s1_cpu, "s2": 2.0}, 1000.0 + machine_busy * 80, 2080.0)
    return before, after


def test_a_switch_short_of_cpu() -> None:
    (note,) = drop_notes(KERNEL, P4, *_samples(20.0, 0.5), PEERS, cores=2)
    assert note == (
        "switch s1 lost 600 of the 1,500 frames its ports received before its pipeline (600 of "
        "1,000 at port 1 (from h1)): it used 0.50 of a core (the machine's 2 cores were 50% "
        "busy), so it could not process frames as fast as they came"
    )


def test_the_machine_out_of_cpu() -> None:
    (note,) = drop_notes(KERNEL, P4, *_samples(30.0, 0.97), PEERS, cores=2)
    assert note.endswith(
        "it used 0.75 of a core while the machine's 2 cores were 97% busy, so the switches "
        "together needed more CPU than there was"
    )


def test_a_switch_that_stopped_reading() -> None:
    (note,) = drop_notes(KERNEL, P4, *_samples(0.4, 0.3), PEERS, cores=2)
    assert note.endswith("it used 0.4 CPU-seconds in 40 s, so it had stopped reading its ports")


def test_no_note_when_every_frame_was_counted_and_a_vanished_process() -> None:
    assert drop_notes(KERNEL, KERNEL, *_samples(1.0, 0.5)) == []
    before, after = _samples(1.0, 0.5)
    del after.switch_s["s1"]
    (note,) = drop_notes(KERNEL, P4, before, after, cores=2)
    assert note.endswith("(600 of 1,000 at port 1): its process ended during the round")


def test_sampling_reads_this_process() -> None:
    s = sample({"me": os.getpid(), "gone": None})
    assert set(s.switch_s) == {"me"} and s.machine_total_s >= s.machine_busy_s > 0
    assert process_cpu_s(os.getpid()) is not None and process_cpu_s(2**22 + 7) is None
