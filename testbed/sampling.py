"""Kernel counters sampled every few milliseconds in a thread: the timelines from which the
runners read when data reached each receiver (arrivals) and the gaps in them (outages)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable


class CounterSampler:
    """Samples of named, growing counters: `read()` (a subclass's) gives name -> value; every
    `interval` seconds each value is kept with its time. An arrival is a sample at which the
    counter grew by at least `min_step` since the one before."""

    def __init__(
        self, names: Iterable[str], interval: float, min_step: int, thread_name: str
    ) -> None:
        self.interval = interval
        self.min_step = min_step
        self.samples: dict[str, list[tuple[float, int]]] = {k: [] for k in names}
        self.first_change: dict[str, float] = {}
        self.changed = threading.Event()  # set at the first change of any counter
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def read(self) -> dict[str, int]:
        raise NotImplementedError

    def start(self) -> CounterSampler:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _sample(self) -> None:
        t = time.time()
        for name, n in self.read().items():
            s = self.samples[name]
            if s and n != s[-1][1] and name not in self.first_change:
                self.first_change[name] = t
                self.changed.set()
            s.append((t, n))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def arrivals(self, name: str) -> list[float]:
        """Sample times at which the counter had grown by min_step since the sample before."""
        s = self.samples.get(name, [])
        return [t for (t, n), (_, n0) in zip(s[1:], s, strict=False) if n - n0 >= self.min_step]
