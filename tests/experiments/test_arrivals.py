"""Arrival timelines from counter files, and the outage found in them."""

from __future__ import annotations

import time
from pathlib import Path

from experiments.arrivals import ArrivalSampler, outage


def _steady(t0: float, t1: float, step: float) -> list[float]:
    n = round((t1 - t0) / step)
    return [t0 + i * step for i in range(n + 1)]


def test_outage_is_the_gap_after_the_event() -> None:
    arr = [*_steady(0.0, 0.8, 0.01), 0.812, *_steady(0.99, 2.0, 0.01)]
    # the sample at 0.812 still shows frames that were on their way when the cut came
    t0, t1 = outage(arr, at=0.805) or (None, None)
    assert (t0, t1) == (0.812, 0.99)


def test_no_outage_without_a_gap_or_without_resumption() -> None:
    steady = _steady(0.0, 2.0, 0.01)
    assert outage(steady, at=1.0) is None
    assert outage(_steady(0.0, 1.0, 0.01), at=1.0) is None  # traffic never came back
    late = _steady(0.0, 1.0, 0.01) + _steady(3.0, 4.0, 0.01)  # the gap begins > 0.5 s after
    assert outage(late, at=0.2) is None


def test_short_gap_relative_to_spacing_is_no_outage() -> None:
    sparse = _steady(0.0, 3.0, 0.05) + _steady(3.2, 4.0, 0.05)  # 0.2 s < 5 x 0.05 s
    assert outage(sparse, at=3.01) is None
    assert outage(sparse, at=3.01, min_gap=0.1) is None
    dense = _steady(0.0, 3.0, 0.01) + _steady(3.2, 4.0, 0.01)
    assert outage(dense, at=3.01) == (3.0, 3.2)


def test_sampler_reads_counter_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("10\n")
    b.write_text("5\n")
    s = ArrivalSampler({"a": a, "b": b}, interval=0.005).start()
    try:
        time.sleep(0.05)
        a.write_text("11\n")
        assert s.changed.wait(2)
        time.sleep(0.05)
        a.write_text("15\n")
        time.sleep(0.05)
    finally:
        s.stop()
    assert "a" in s.first_change and "b" not in s.first_change
    assert len(s.arrivals("a")) == 2 and s.arrivals("b") == []
    assert s.samples["b"][0][1] == 5


def _record(gaps: list[tuple[float, float]], first: float = 0.0, last: float = 10.0) -> dict:
    """A receiver's arrival record: 10 s of data every 1 ms, with these gaps."""
    return {"clock": "kernel", "min_gap_s": 0.001, "first": first, "last": last,
            "count": 10_001, "gaps": gaps}  # fmt: skip


def test_gap_outage_is_the_longest_gap_across_the_event() -> None:
    from experiments.arrivals import gap_outage

    # a jitter gap of 8 ms right after the event, then the silent failure's 150 ms
    rec = _record([(2.0005, 2.0085), (2.012, 2.162), (4.0, 4.3)])
    assert gap_outage(rec, at=2.0) == (2.012, 2.162)
    # the event must fall inside the gap, or the gap begin right after it (frames in flight)
    assert gap_outage(rec, at=3.5) is None  # the 4.0 s gap begins 0.5 s later: not this one
    # a gap no longer than 3 x the mean spacing (here 1 ms) or 5 ms is jitter
    assert gap_outage(_record([(2.0, 2.004)]), at=2.001) is None
    assert gap_outage(_record([(2.0, 2.006)]), at=2.001) == (2.0, 2.006)
    # only gaps that end by `until` (the first pass): a receiver not back by then
    assert gap_outage(rec, at=2.0, until=2.1) == (2.0005, 2.0085)
    assert gap_outage(None, at=2.0) is None


def test_a_failure_the_kernel_held_back_is_measured_from_when_it_took_effect() -> None:
    from experiments.arrivals import gap_outage

    # applying the pull began at 2.0 and returned at 2.2 (the kernel's rtnetlink lock, shared
    # with the machine): the data stopped at 2.19, when it took effect
    rec = _record([(2.19, 2.25)])
    assert gap_outage(rec, at=2.0) is None  # 0.19 s after the start: not this event's
    assert gap_outage(rec, at=2.0, in_place=2.2) == (2.19, 2.25)
    assert gap_outage(rec, at=2.0, in_place=2.1) == (2.19, 2.25)  # in flight for 0.1 s
    assert gap_outage(_record([(2.31, 2.4)]), at=2.0, in_place=2.2) is None


def test_a_long_outage_does_not_raise_its_own_bar() -> None:
    from experiments.arrivals import gap_outage

    # 100 datagrams every 27 ms (a unicast receiver of three at 9000 bytes), then a 55 ms
    # outage: more than two spacings, which the mean over the whole record (the outage in
    # it) would not be
    steady = 99 * 0.027
    rec = {"clock": "kernel", "min_gap_s": 0.001, "first": 0.0, "last": steady + 0.0545,
           "count": 101, "gaps": [(1.0, 1.0545)]}  # fmt: skip
    assert 2 * rec["last"] / 100 > 0.0545
    assert gap_outage(rec, at=1.01) == (1.0, 1.0545)
    rec["gaps"] = [(1.0, 1.053)]  # less than two spacings: jitter
    rec["last"] = steady + 0.053
    assert gap_outage(rec, at=1.01) is None
