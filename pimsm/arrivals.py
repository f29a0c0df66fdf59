"""Data arrivals per receiver, sampled from the kernel inside the routers' namespaces: the
tx byte counter of the router port facing each receiver, read from /proc/<pid>/net/dev of the
router's shell (that file shows the counters of the pid's namespace, so no setns is needed).

A sample counts as an arrival when the port sent at least `min_bytes` since the previous one:
data datagrams are ~1500 bytes, while the PIM hellos (every second) and IGMP queries the
router also sends on that port are under 100 bytes and must not close an outage gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from testbed.sampling import CounterSampler


def read_net_dev(path: Path) -> dict[str, dict[str, int]]:
    """interface -> {rx_bytes, tx_bytes} from a /proc/.../net/dev file."""
    out = {}
    for line in path.read_text().splitlines()[2:]:
        name, _, rest = line.partition(":")
        f = rest.split()
        if len(f) >= 10:
            out[name.strip()] = {"rx": int(f[0]), "tx": int(f[8])}
    return out


class PortSampler(CounterSampler):
    """`ports`: label -> (pid of a process in the router's namespace, interface, "tx" or
    "rx"): "tx" for the port facing a receiver, "rx" for the one facing the sender (its
    gaps are the sender's own pauses). Byte counters: an arrival is `min_bytes` or more."""

    def __init__(
        self,
        ports: Mapping[str, tuple[int, str, str]],
        interval: float = 0.01,
        min_bytes: int = 1000,
    ) -> None:
        super().__init__(ports, interval, min_step=min_bytes, thread_name="pil-arrivals")
        self.ports = dict(ports)

    def read(self) -> dict[str, int]:
        out = {}
        cache: dict[int, dict[str, dict[str, int]]] = {}
        for label, (pid, itf, way) in self.ports.items():
            if pid not in cache:
                try:
                    cache[pid] = read_net_dev(Path(f"/proc/{pid}/net/dev"))
                except (OSError, ValueError):
                    cache[pid] = {}
            if itf in cache[pid]:
                out[label] = cache[pid][itf][way]
        return out
