"""The complete desired state of every switch for one technology, and its diff after a change.

Technologies (wire.technology's P4 ones) and the program each runs on:
- unicast: bier.p4 (only ipv4_lpm and port_mac are used)
- bier: bier.p4 (unicast routes too: repair requests and reports are unicast)
- sr-p2mp: sr_p2mp.p4 (unicast routes, adjacency SIDs, the replication segments of the trees)
- srv6-p2mp: srv6_p2mp.p4 (unicast routes, every other switch's locator, the replication
  segments of the trees)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.bier import BSL, MAX_SETS, BierState, compute_bier
from controlplane.entities import Entity, Update, diff
from controlplane.graph import Network
from controlplane.paths import compute_routing
from controlplane.srp2mp import TreeInstance
from controlplane.translate import (
    bier_entities,
    port_mac_entries,
    segment_entities,
    sr_static_entries,
    srv6_locator_entries,
    unicast_entries,
)
from controlplane.unicast import UnicastState, compute_unicast
from wire.technology import P4, Technology

PROGRAM = {
    Technology.UNICAST: "bier",
    Technology.BIER: "bier",
    Technology.SR_P2MP: "sr_p2mp",
    Technology.SRV6_P2MP: "srv6_p2mp",
}


def p4_technology(name: str) -> Technology:
    """The P4 technology spelled `name`; ValueError naming those there are otherwise."""
    if name not in P4:
        raise ValueError(f"unknown technology {name!r}; one of {', '.join(P4)}")
    return Technology(name)


@dataclass
class Desired:
    technology: Technology
    per_switch: dict[str, list[Entity]]
    unicast: UnicastState
    bier: BierState | None = None
    trees: list[TreeInstance] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in self.per_switch.values())


def compute_desired(
    net: Network,
    technology: str,
    trees: list[TreeInstance] | None = None,
    bsl: int = BSL,
    max_sets: int = MAX_SETS,
    frr: bool = True,
) -> Desired:
    technology = p4_technology(technology)
    every_switch = (technology == Technology.BIER and frr) or technology == Technology.SRV6_P2MP
    routing = compute_routing(net, None if every_switch else _host_switches(net))
    uni = compute_unicast(net, routing)
    out: dict[str, list[Entity]] = {}
    bier = None
    if technology == Technology.BIER:
        bier = compute_bier(net, bsl, max_sets, frr=frr, routing=routing)
    for sw in net.switches:
        ents: list[Entity] = [*port_mac_entries(net, sw), *unicast_entries(uni, sw)]
        if bier is not None:
            ents += bier_entities(bier, sw)
        if technology == Technology.SR_P2MP:
            ents += sr_static_entries(net, sw)
        if technology == Technology.SRV6_P2MP:
            ents += srv6_locator_entries(net, routing, sw)
        if technology.replication_segments:
            seen: set[tuple] = set()
            for t in trees or []:
                seg = t.segments.get(sw)
                if seg is None:
                    continue
                for e in segment_entities(technology, net, seg):
                    # two instances sharing a root SID: the SID entry of the first listed
                    # wins (make-before-break lists the one traffic must use first)
                    if e.key not in seen:
                        seen.add(e.key)
                        ents.append(e)
        out[sw] = ents
    return Desired(technology, out, uni, bier, list(trees or []))


def _host_switches(net: Network) -> list[str]:
    return sorted({h.switch for h in net.hosts.values()}, key=net.index.__getitem__)


def diff_switches(old: Desired, new: Desired) -> dict[str, list[Update]]:
    """Per switch, the updates from old to new; switches without changes are left out."""
    out = {}
    for sw in new.per_switch:
        ups = diff(old.per_switch.get(sw, []), new.per_switch[sw])
        if ups:
            out[sw] = ups
    return out


def tree_uses_link(t: TreeInstance, net: Network, link: int) -> bool:
    """Whether the tree's edges ride on the link (the adjacency in use of `net`)."""
    return any(net.adj[p][c].link == link for p, c in t.edges if c in net.adj[p])
