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
import threading
import time
from collections.abc import Mapping
from pathlib import Path

SYSFS = Path("/sys/class/net")


class ArrivalSampler:
    """`counters`: name -> sysfs statistics file (e.g. .../s3-eth1/statistics/tx_packets)."""

    def __init__(self, counters: Mapping[str, Path], interval: float = 0.01) -> None:
        self.counters = dict(counters)
        self.interval = interval
        self.samples: dict[str, list[tuple[float, int]]] = {k: [] for k in counters}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exi-arrivals", daemon=True)
        self.first_change: dict[str, float] = {}
        self.changed = threading.Event()  # set at the first change of any counter

    def start(self) -> ArrivalSampler:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _sample(self) -> None:
        t = time.time()
        for name, path in self.counters.items():
            try:
                n = int(path.read_text())
            except (OSError, ValueError):
                continue  # an interface gone for a moment: no sample
            s = self.samples[name]
            if s and n != s[-1][1] and name not in self.first_change:
                self.first_change[name] = t
                self.changed.set()
            s.append((t, n))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def arrivals(self, name: str) -> list[float]:
        """Sample times at which the counter had grown since the previous sample."""
        s = self.samples.get(name, [])
        return [t for (t, n), (_, n0) in zip(s[1:], s, strict=False) if n > n0]


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
