"""Arrivals: each receiver's own (modelsync's record `arrivals`: every data datagram's time
as the kernel stamped it, sub-millisecond, kept as first, last, count and every gap of at
least 1 ms), from which a failure's outage at that receiver is read (`gap_outage`); and the
frames into the switch port facing the source, sampled from the kernel's counter every 10 ms
(`ArrivalSampler`): the round's first data packet as the network saw it and the sender's own
pauses.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testbed.sampling import CounterSampler

SYSFS = Path("/sys/class/net")


class ArrivalSampler(CounterSampler):
    """`counters`: name -> sysfs statistics file (e.g. .../s3-eth1/statistics/tx_packets);
    every frame counts as an arrival."""

    def __init__(self, counters: Mapping[str, Path], interval: float = 0.01) -> None:
        super().__init__(counters, interval, min_step=1, thread_name="exi-arrivals")
        self.counters = dict(counters)

    def read(self) -> dict[str, int]:
        out = {}
        for name, path in self.counters.items():
            try:
                out[name] = int(path.read_text())
            except (OSError, ValueError):
                continue  # an interface gone for a moment: no sample
        return out


def gap_outage(
    arrivals: Mapping[str, Any] | None,
    at: float,
    min_gap: float = 0.005,
    window: float = 0.5,
    until: float | None = None,
    in_flight: float = 0.1,
    in_place: float | None = None,
) -> tuple[float, float] | None:
    """A receiver's outage after an event at time `at`, from its own arrival record: the
    longest gap that spans the event (it began no more than `window` s before it, or within
    `in_flight` s after the event was in place: datagrams already past the failure still
    arrive; and it ended after `at`), when that gap is longer than `min_gap` and twice the
    receiver's mean spacing outside it (at least one datagram missing: a unicast receiver of
    three gets one every 4.6 ms at 1500 bytes and 8 Mbit/s, and a controller that rerouted
    in 13 ms cost it two); only gaps that end by `until`
    (the sender's first pass: the quiet time before repairs is no outage). `in_place`: when
    applying the event returned (it took effect somewhere between `at` and then; the kernel
    can hold a link change back on a loaded machine). None: the receiver was not affected.
    Returns (last arrival before the gap, first after it)."""
    if not arrivals or not arrivals.get("gaps"):
        return None
    n, first, last = arrivals.get("count") or 0, arrivals.get("first"), arrivals.get("last")
    latest = max(at, in_place or at) + in_flight
    spans = [
        (a, b)
        for a, b in arrivals["gaps"]
        if at - window <= a <= latest and b > at and (until is None or b <= until)
    ]
    best = max(spans, key=lambda g: g[1] - g[0], default=None)
    if best is None:
        return None
    length = best[1] - best[0]
    # the mean spacing without this gap: a long outage does not raise its own bar
    mean = (
        (last - first - length) / (n - 2)
        if n > 2 and first is not None and last is not None
        else 0.0
    )
    return best if length > max(min_gap, 2 * mean) else None


def outage(
    arrivals: list[float], at: float, min_gap: float = 0.1, window: float = 0.5
) -> tuple[float, float] | None:
    """The receiver's outage after an event at time `at`: the first gap in its arrivals that
    begins within `window` s of the event (a sample taken just after the cut still shows
    frames that were on their way) and after which traffic resumed, when that gap is longer
    than `min_gap` and than five times the receiver's median spacing of arrivals; None: the
    receiver was not affected. Returns (last arrival before the gap, first after it)."""
    gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
    median = gaps[len(gaps) // 2] if gaps else 0.0
    limit = max(min_gap, 5 * median)
    for t0, t1 in itertools.pairwise(arrivals):
        if t1 <= at or t0 < at - window:
            continue
        if t0 > at + window:
            return None
        if t1 - t0 > limit:
            return t0, t1
    return None
