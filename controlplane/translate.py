"""Computed state -> the entities of p4src/bier.p4, sr_p2mp.p4 and srv6_p2mp.p4
(p4src/README.md).

Pure functions of one switch's state. Replica ids (rid) are stable across recomputation so
that a failure changes only the entries it affects: a primary next hop's rid is its port,
a BIER-FRR backup's rid is BACKUP_RID_BASE + 64 * protected port + k (k < 64; rid is 16 bits).
"""

from __future__ import annotations

from controlplane.bier import BierState, Bift, si_slice
from controlplane.entities import Entity, Lpm, McGroup, TableEntry, mac_int
from controlplane.graph import Network
from controlplane.paths import Routing
from controlplane.srp2mp import ADJ_SID_BASE, ReplicationSegment
from controlplane.unicast import UnicastState
from wire.srv6 import locator, replication_sid
from wire.technology import Technology

SLOTS = 8
BACKUP_RID_BASE = 1024
BIER_GROUP_BASE = 0  # groups 1..255, one per non-empty slot mask

T_PORT_MAC = "MyEgress.port_mac"
T_IPV4 = "MyIngress.ipv4_lpm"
T_BIFT = "MyIngress.bier_bift"
T_BIER_NH = "MyEgress.bier_nh"
T_REP_SID = "MyIngress.rep_sid"
T_TRANSIT_SID = "MyIngress.transit_sid"
T_SR_BRANCH = "MyEgress.sr_branch"
T_SRV6_SID = "MyIngress.srv6_sid"
T_SRV6_LOCATOR = "MyIngress.srv6_locator"
T_SRV6_BRANCH = "MyEgress.srv6_branch"
MPLS_LABEL = "hdr.mpls[0].label"
IPV6_DST = "hdr.ipv6.dst_addr"
EGRESS_RID = "standard_metadata.egress_rid"


def _e(table: str, match: dict, action: str, **params: int) -> TableEntry:
    return TableEntry(table, tuple(match.items()), action, tuple(params.items()))


# -- both programs ---------------------------------------------------------------------------
def port_mac_entries(net: Network, switch: str) -> list[TableEntry]:
    """Source MAC of every data port of the switch (all links of the topology, up or not)."""
    ports: set[int] = set()
    for link in net.topo.links:
        if link.a == switch:
            ports.add(link.a_port or 0)
        if link.b == switch:
            ports.add(link.b_port or 0)
    return [
        _e(
            T_PORT_MAC,
            {"standard_metadata.egress_port": p},
            "MyEgress.set_src_mac",
            mac=mac_int(net.port_mac(switch, p)),
        )
        for p in sorted(ports)
    ]


def unicast_entries(state: UnicastState, switch: str) -> list[TableEntry]:
    return [
        _e(
            T_IPV4,
            {"hdr.ipv4.dst_addr": Lpm(int(r.ip), 32)},
            "MyIngress.ipv4_route",
            port=r.port,
            dmac=mac_int(r.dst_mac),
        )
        for r in state.routes.get(switch, [])
    ]


# -- bier.p4 -----------------------------------------------------------------------------------
def _next_hops(bift: Bift) -> list[tuple[int, int, str, int, int]]:
    """Primary next hops as (rid, port, kind, fbm, mac): neighbours by port, then local hosts."""
    out = [(n.port, n.port, "neighbor", n.fbm, mac_int(n.dst_mac)) for n in bift.neighbors.values()]
    for k, lb in bift.local.items():
        out.append((lb.port, lb.port, "local", 1 << (k - 1), mac_int(lb.host_mac)))
    return out


def bier_entities(state: BierState, switch: str, lfa_only: bool = True) -> list[Entity]:
    """bier_bift per SI, one group per non-empty slot mask, bier_nh per (SI, rid).

    A backup carries only the bits for which its neighbour is a loop-free alternate unless
    `lfa_only` is False; the controller's reconvergence covers the other bits."""
    bift = state.bifts[switch]
    nhs = _next_hops(bift)
    # slot = (port - 1) mod 8: stable when next hops come and go (a change of one neighbour
    # leaves the other slots, groups and entries alone); ports 8 apart share a slot
    slot_of = [(port - 1) % SLOTS for _, port, _, _, _ in nhs]
    backups: dict[int, list[tuple[int, int, int, int, int]]] = {}  # primary rid -> backups
    for peer, bs in bift.backups.items():
        prim = bift.neighbors[peer]
        if len(bs) > 64:
            raise ValueError(f"switch {switch}: {len(bs)} backups for {peer}; at most 64")
        for k, b in enumerate(bs):
            fbm = b.lfa_fbm if lfa_only else b.fbm
            if fbm:
                rid = BACKUP_RID_BASE + 64 * prim.port + k
                backups.setdefault(prim.port, []).append(
                    (rid, b.port, fbm, mac_int(b.dst_mac), prim.port)
                )
    out: list[Entity] = []
    for si in range(state.num_sets):
        fbms = [0] * SLOTS
        for i, (_, _, _, fbm, _) in enumerate(nhs):
            fbms[slot_of[i]] |= si_slice(fbm, si, state.bsl)
        out.append(
            _e(
                T_BIFT,
                {"hdr.bier.bift_id": si + 1},
                "MyIngress.bier_set_slots",
                si=si,
                group_base=BIER_GROUP_BASE,
                **{f"fbm{j}": fbms[j] for j in range(SLOTS)},
            )
        )
    used = 0
    for s in slot_of:
        used |= 1 << s
    for m in range(1, 1 << SLOTS):
        if m & ~used:
            continue
        replicas: list[tuple[int, int]] = []
        for i, (rid, port, _, _, _) in enumerate(nhs):
            if m >> slot_of[i] & 1:
                replicas.append((port, rid))
                replicas += [(bport, brid) for brid, bport, _, _, _ in backups.get(rid, [])]
        out.append(McGroup(BIER_GROUP_BASE + m, tuple(replicas)))
    for si in range(state.num_sets):
        for rid, _, kind, fbm, mac in nhs:
            f = si_slice(fbm, si, state.bsl)
            if not f:
                continue
            key = {"meta.bier_si": si, EGRESS_RID: rid}
            if kind == "neighbor":
                out.append(_e(T_BIER_NH, key, "MyEgress.nh_neighbor", fbm=f, dmac=mac))
            else:
                out.append(_e(T_BIER_NH, key, "MyEgress.nh_local", fbm=f, host_mac=mac))
            for brid, _, bfbm, bmac, pport in backups.get(rid, []):
                bf = si_slice(bfbm, si, state.bsl)
                if bf:
                    out.append(
                        _e(
                            T_BIER_NH,
                            {"meta.bier_si": si, EGRESS_RID: brid},
                            "MyEgress.nh_backup",
                            fbm=bf,
                            dmac=bmac,
                            protected_port=pport,
                        )
                    )
    return out


# -- sr_p2mp.p4 ------------------------------------------------------------------------------
def sr_static_entries(net: Network, switch: str) -> list[TableEntry]:
    """Adjacency SIDs: label ADJ_SID_BASE + port pops and leaves through that port."""
    out = []
    for link in net.topo.links:
        for me, mp, peer, pp in (
            (link.a, link.a_port, link.b, link.b_port),
            (link.b, link.b_port, link.a, link.a_port),
        ):
            if me == switch and peer in net.index:
                out.append(
                    _e(
                        T_TRANSIT_SID,
                        {MPLS_LABEL: ADJ_SID_BASE + (mp or 0)},
                        "MyIngress.sid_pop",
                        port=mp or 0,
                        dmac=mac_int(net.port_mac(peer, pp or 0)),
                    )
                )
    return sorted(out, key=lambda e: e.match)


def sr_segment_entities(seg: ReplicationSegment) -> list[Entity]:
    """In install order: the group, the branches, then the SID entry that makes it live."""
    out: list[Entity] = [McGroup(seg.group, tuple((b.port, b.rid) for b in seg.branches))]
    for b in seg.branches:
        key = {MPLS_LABEL: seg.sid, EGRESS_RID: b.rid}
        dmac = mac_int(b.dmac)
        if b.kind == "pop_deliver":
            out.append(_e(T_SR_BRANCH, key, "MyEgress.branch_pop_deliver", host_mac=dmac))
        elif not b.segment_list:
            out.append(_e(T_SR_BRANCH, key, "MyEgress.branch_swap", sid=b.sid, dmac=dmac))
        elif len(b.segment_list) == 1:
            out.append(
                _e(
                    T_SR_BRANCH,
                    key,
                    "MyEgress.branch_swap_push1",
                    sid=b.sid,
                    sl0=b.segment_list[0],
                    dmac=dmac,
                )
            )
        else:
            sl0, sl1 = b.segment_list
            out.append(
                _e(
                    T_SR_BRANCH,
                    key,
                    "MyEgress.branch_swap_push2",
                    sid=b.sid,
                    sl0=sl0,
                    sl1=sl1,
                    dmac=dmac,
                )
            )
    out.append(_e(T_REP_SID, {MPLS_LABEL: seg.sid}, "MyIngress.replicate", group=seg.group))
    return out


# -- srv6_p2mp.p4 ----------------------------------------------------------------------------
def srv6_locator_entries(net: Network, routing: Routing, switch: str) -> list[TableEntry]:
    """Every other switch's locator, routed towards it (its next hop's port and MAC)."""
    out = []
    for dst in net.switches:
        adj = routing.next_adj(switch, dst) if dst != switch else None
        if adj is None:
            continue  # itself, or cut off
        loc = locator(net.device_id[dst])
        out.append(
            _e(
                T_SRV6_LOCATOR,
                {IPV6_DST: Lpm(int(loc.network_address), loc.prefixlen)},
                "MyIngress.locator_route",
                port=adj.port,
                dmac=mac_int(adj.dst_mac),
            )
        )
    return out


def srv6_sid(net: Network, node: str, function: int) -> int:
    """The Replication-SID of `node` with this function, as the integer the tables match."""
    return int(replication_sid(net.device_id[node], function))


def srv6_segment_entities(net: Network, seg: ReplicationSegment) -> list[Entity]:
    """In install order: the group, the branches, then the SID entry (End.Replicate)."""
    sid = srv6_sid(net, seg.node, seg.sid)
    out: list[Entity] = [McGroup(seg.group, tuple((b.port, b.rid) for b in seg.branches))]
    for b in seg.branches:
        key = {IPV6_DST: sid, EGRESS_RID: b.rid}
        if b.kind == "pop_deliver":
            out.append(_e(T_SRV6_BRANCH, key, "MyEgress.branch_decap", host_mac=mac_int(b.dmac)))
        else:
            out.append(
                _e(
                    T_SRV6_BRANCH,
                    key,
                    "MyEgress.branch_replicate",
                    sid=srv6_sid(net, b.target, b.sid),
                    dmac=mac_int(b.dmac),
                )
            )
    out.append(_e(T_SRV6_SID, {IPV6_DST: sid}, "MyIngress.end_replicate", group=seg.group))
    return out


def segment_entities(technology: str, net: Network, seg: ReplicationSegment) -> list[Entity]:
    """A replication segment's entities in the program of its technology (SR-MPLS or SRv6)."""
    if technology == Technology.SRV6_P2MP:
        return srv6_segment_entities(net, seg)
    return sr_segment_entities(seg)
