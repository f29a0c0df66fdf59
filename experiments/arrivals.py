"""Frame arrivals per receiver, sampled from the kernel: the tx_packets counter of the switch
port facing each receiver host (and rx_packets of the port facing the source), read every
few milliseconds in a thread during a round. From these timelines: the round's first data
packet as the network saw it, and each receiver's outage after a failure (the gap in its
arrivals that spans the failure), at the sampling resolution.

modelsync's records carry first/last packet and verification times only, not gaps; this is
the measurement the runner adds.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path

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
