"""Data arrivals per receiver, sampled from the kernel inside the routers' namespaces: the
tx byte counter of the router port facing each receiver, read from /proc/<pid>/net/dev of the
router's shell (that file shows the counters of the pid's namespace, so no setns is needed).

A sample counts as an arrival when the port sent at least `min_bytes` since the previous one:
data datagrams are ~1500 bytes, while the PIM hellos (every second) and IGMP queries the
router also sends on that port are under 100 bytes and must not close an outage gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path


def read_net_dev(path: Path) -> dict[str, dict[str, int]]:
    """interface -> {rx_bytes, tx_bytes} from a /proc/.../net/dev file."""
    out = {}
    for line in path.read_text().splitlines()[2:]:
        name, _, rest = line.partition(":")
        f = rest.split()
        if len(f) >= 10:
            out[name.strip()] = {"rx": int(f[0]), "tx": int(f[8])}
    return out


class PortSampler:
    """`ports`: label -> (pid of a process in the router's namespace, interface, "tx" or
    "rx"): "tx" for the port facing a receiver, "rx" for the one facing the sender (its
    gaps are the sender's own pauses)."""

    def __init__(
        self,
        ports: Mapping[str, tuple[int, str, str]],
        interval: float = 0.01,
        min_bytes: int = 1000,
    ) -> None:
        self.ports = dict(ports)
        self.interval = interval
        self.min_bytes = min_bytes
        self.samples: dict[str, list[tuple[float, int]]] = {k: [] for k in self.ports}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pil-arrivals", daemon=True)

    def start(self) -> PortSampler:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _sample(self) -> None:
        t = time.time()
        cache: dict[int, dict[str, tuple[int, int]]] = {}
        for label, (pid, itf, way) in self.ports.items():
            if pid not in cache:
                try:
                    cache[pid] = read_net_dev(Path(f"/proc/{pid}/net/dev"))
                except (OSError, ValueError):
                    cache[pid] = {}
            if itf in cache[pid]:
                self.samples[label].append((t, cache[pid][itf][way]))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def arrivals(self, label: str) -> list[float]:
        """Sample times at which the port had passed at least min_bytes since the last one."""
        s = self.samples.get(label, [])
        return [t for (t, n), (_, n0) in zip(s[1:], s, strict=False) if n - n0 >= self.min_bytes]
