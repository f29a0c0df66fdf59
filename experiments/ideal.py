"""What a round ideally costs and how fast its sender may send, from the topology alone: the
frame sizes modelsync builds, each technology's paths (towards the receivers, or by RPF),
the structural ideal (model bytes over the bottleneck link) and the `auto` sending rate.
The runner's rounds and the projection share these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.flowmodel import Net, tree_edges
from topologies.model import DEFAULT_MTU, Topology
from wire.codec import HEADER_LEN
from wire.frames import ETH_LEN, IPV4_LEN, UDP_LEN, overhead
from wire.technology import MULTICAST

# Wire overhead per frame (bytes), as wire.frames builds the frames modelsync sends
ETH, IPV4, UDP, DELIVERY = ETH_LEN, IPV4_LEN, UDP_LEN, HEADER_LEN
BSL = 256  # the BitString length the controller and the sender use


@dataclass(frozen=True)
class Wire:
    """Frame sizes as modelsync's sender builds them: the Ethernet payload (IP packet plus any
    BIER/MPLS header) fills the MTU; the chunk is what is left after the headers."""

    mtu: int = DEFAULT_MTU
    headers: bool = True  # False: payload bytes only, chunk = mtu (hand-checkable cases)

    @classmethod
    def of(cls, topo: Topology) -> Wire:
        """The frames a sender on this topology builds: sized to its path MTU (the runner
        gives modelsync the same)."""
        return cls(mtu=topo.path_mtu())

    def encap(self, tech: str) -> int:
        """What the technology puts in front of the IPv4 packet (BIER header, MPLS label)."""
        return overhead(tech, BSL) if self.headers else 0

    def chunk(self, tech: str) -> int:
        if not self.headers:
            return self.mtu
        return self.mtu - self.encap(tech) - IPV4 - UDP - DELIVERY

    def overhead(self, tech: str, into_host: bool) -> int:
        """Header bytes of one frame on a link; encapsulation is removed before a host link."""
        if not self.headers:
            return 0
        return ETH + IPV4 + UDP + DELIVERY + (0 if into_host else self.encap(tech))


def uses_rpf(tech: str) -> bool:
    """Trees built from the receivers towards the root: PIM-SM joins follow RPF, and the
    controller's SR-P2MP shortest-path tree (controlplane.srp2mp.compute_tree, "spt", the same
    over MPLS and SRv6) walks each leaf's next hops towards the root. Unicast routes and BIFTs
    forward towards each receiver."""
    return tech in ("pim-sm", "pim-ssm", "sr-p2mp", "srv6-p2mp")


def efficiency(net: Net, tech: str, wire: Wire) -> np.ndarray:
    """Payload share of the wire bytes per directed edge."""
    into_host = np.array([v in net.hosts for _, v in net.edges])
    c = wire.chunk(tech)
    return np.where(
        into_host,
        c / (c + wire.overhead(tech, True)),
        c / (c + wire.overhead(tech, False)),
    )


def payload_share(tech: str, wire: Wire) -> float:
    """Payload share of the frames the sender puts on its link (what its pacing rate counts)."""
    c = wire.chunk(tech)
    return c / (c + wire.overhead(tech, False))


def structural_ideal(
    net: Net,
    tech: str,
    paths: dict[str, list[int]],
    model_bytes: float,
    rate_bps: float | None = None,
    wire: Wire | None = None,
) -> dict[str, float]:
    """The ideal: the model's frames over the bottleneck link. Each link carries the
    model once per copy through it (multicast: once per tree link; unicast: once per receiver
    behind it), in frames of `wire`'s MTU with their headers (None: payload bytes only); the
    ideal time is the largest load over capacity, the sender's pacing rate (which counts
    frame bytes) included when the description fixes it (None: links only, as for `auto`).
    Ideal link bytes: copies x the model's bytes on each link, summed over links."""
    copies = np.zeros(len(net.edges))
    if tech in MULTICAST:
        for e in tree_edges(paths):
            copies[e] = 1
    else:
        for p in paths.values():
            copies[p] += 1
    used = copies > 0
    on_link = model_bytes / (efficiency(net, tech, wire) if wire else np.ones(len(net.edges)))
    t_links = np.where(used, copies * on_link / np.maximum(net.cap, 1e-300), 0.0)
    at_source = 1 if tech in MULTICAST else len(paths)
    sent = model_bytes / (payload_share(tech, wire) if wire else 1.0)
    t_source = 0.0 if rate_bps is None else at_source * sent / (rate_bps / 8)
    i = int(np.argmax(t_links))
    if rate_bps is not None and t_source >= t_links[i]:
        ideal, bottleneck = t_source, rate_bps / 1e6
    else:
        ideal, bottleneck = float(t_links[i]), float(net.cap[i] * 8 / 1e6)
    return {
        "ideal_time_s": float(ideal),
        "bottleneck_mbit": bottleneck,
        "ideal_link_bytes": float((copies * on_link).sum()),
        "tree_edges": int(used.sum()),
    }


AUTO_MARGIN = 0.95  # headroom below the bottleneck: NACKs, reports, shaping bursts


def auto_rate(net: Net, tech: str, paths: dict[str, list[int]], wire: Wire) -> float:
    """The sender's pacing rate (bits/s of frames on its link) for `sending_rate_mbit: auto`:
    the highest rate at which the sender's copies, all at one rate as modelsync sends them
    (unicast: round robin over the receivers), overload no link, times AUTO_MARGIN."""
    copies = np.zeros(len(net.edges))
    if tech in MULTICAST:
        copies[list(tree_edges(paths))] = 1
    else:
        for path in paths.values():
            copies[path] += 1
    used = copies > 0
    per_copy = float(np.min(net.cap[used] * efficiency(net, tech, wire)[used] / copies[used]))
    at_source = 1 if tech in MULTICAST else len(paths)
    return 8 * at_source * per_copy / payload_share(tech, wire) * AUTO_MARGIN


# -- what the switch processes can forward ---------------------------------------------------
SWITCH_CPU_SHARE = 0.5  # of the machine's cores for the switch processes; the rest runs the
# hosts' senders and receivers and the kernel's veth, tc and htb work
ONE_SWITCH_CORES = 0.8  # a switch reads its ports in one thread: at most this much of a core


def switch_frames(net: Net, tech: str, paths: dict[str, list[int]]) -> dict[str, float]:
    """Frames each switch handles (received plus sent) per frame the sender sends: a
    multicast frame crosses every tree edge once; unicast frames go round robin, one receiver
    each."""
    per: dict[str, float] = {}
    if tech in MULTICAST:
        weighted = [(e, 1.0) for e in tree_edges(paths)]
    else:
        share = 1.0 / max(1, len(paths))
        weighted = [(e, share) for p in paths.values() for e in p]
    for e, w in weighted:
        for node in net.edges[e]:
            if node not in net.hosts:
                per[node] = per.get(node, 0.0) + w
    return per


def capacity_rate(
    net: Net,
    tech: str,
    paths: dict[str, list[int]],
    wire: Wire,
    frame_cpu_s: float,
    cores: int,
    share: float | None = None,
) -> tuple[float, str]:
    """The sender's pacing rate (bits/s, as auto_rate) the switch processes can forward: each
    frame a switch handles costs it `frame_cpu_s` of CPU; all switches together get `share`
    (SWITCH_CPU_SHARE unless the target says otherwise) of the machine's `cores`, one switch at
    most ONE_SWITCH_CORES. Returns the rate and the switch that limits it (or "all
    switches")."""
    per = switch_frames(net, tech, paths)
    total = sum(per.values())
    busiest = max(per, key=lambda s: per[s])
    together = cores * (SWITCH_CPU_SHARE if share is None else share) / (frame_cpu_s * total)
    alone = ONE_SWITCH_CORES / (frame_cpu_s * per[busiest])
    frame_bits = 8 * (wire.mtu + ETH)
    if alone < together:
        return alone * frame_bits, busiest
    return together * frame_bits, "all switches"
