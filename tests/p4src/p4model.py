"""Shared set-up for the p4src packet tests: programs, one switch's entries written the way
p4src/README.md prescribes, and expected frames built independently of the programs (scapy:
wire's RFC 8296 layer for BIER, scapy's contrib MPLS)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from softswitch import api
from wire.bier import BIER, bitstring

REPO = Path(__file__).resolve().parents[2]
P4SRC = REPO / "p4src"
CPU_PORT = 255
DEVICE_ID = 1
GROUP = "239.1.0.1"
SENDER_IP = "10.0.0.100"

# Counter codes (p4src/README.md, "Counters").
IN_RX, IN_IPV4_ROUTED, IN_BIER_RX, IN_MPLS_REPLICATED, IN_MPLS_TRANSIT = 0, 1, 2, 3, 4
IN_PUNT, IN_PACKET_OUT, IN_LIVENESS = 5, 6, 7
IN_DROP_NO_ROUTE, IN_DROP_TTL, IN_DROP_BAD_BIER, IN_DROP_UNKNOWN_BIFT = 16, 17, 18, 19
IN_DROP_NO_BITS, IN_DROP_UNKNOWN_SID, IN_DROP_BAD_CHECKSUM, IN_DROP_UNSUPPORTED = 20, 21, 22, 23
IN_DROP_PUNT_ACL = 24
OUT_TX, OUT_BIER_FORWARDED, OUT_BIER_FRR, OUT_BIER_DECAP = 0, 1, 2, 3
OUT_MPLS_SWAP, OUT_MPLS_SWAP_PUSH, OUT_MPLS_POP_DELIVER, OUT_TO_CPU = 4, 5, 6, 7
OUT_DROP_ZERO_BITS, OUT_DROP_TTL, OUT_DROP_PORT_DOWN, OUT_DROP_NO_BRANCH = 16, 17, 18, 19
OUT_FRR_STANDBY = 20
IN_SRV6_REPLICATED, IN_SRV6_TRANSIT, OUT_SRV6_REPLICA, OUT_SRV6_DECAP = 8, 9, 8, 9
OUT_DROP_BAD_PROTO = 21


def port_mac(device_id: int, port: int) -> str:
    """contracts.md: switch_port_mac (written out here so the tests do not depend on it)."""
    return "02:5e:%02x:%02x:%02x:%02x" % (device_id >> 8, device_id & 0xFF, port >> 8, port & 0xFF)


def host_mac(k: int) -> str:
    return "02:00:00:%02x:%02x:%02x" % (k >> 16 & 0xFF, k >> 8 & 0xFF, k & 0xFF)


def mac_int(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def ip_int(ip: str) -> int:
    a, b, c, d = (int(x) for x in ip.split("."))
    return a << 24 | b << 16 | c << 8 | d


def fbm(*bfr_ids: int, bsl: int = 256) -> int:
    """F-BM as the integer the program uses: BFR-id k -> bit (k-1) mod BSL."""
    out = 0
    for k in bfr_ids:
        out |= 1 << ((k - 1) % bsl)
    return out


@functools.cache
def program(name: str, bsl: int | None = None) -> api.Program:
    """A compiled p4src program (cached per session)."""
    defines = {"BSL": str(bsl)} if bsl else None
    return api.Program.from_file(str(P4SRC / name), defines=defines)


def port_mac_entries(ports: range = range(1, 9)) -> list[api.TableEntry]:
    return [
        api.TableEntry(
            "MyEgress.port_mac",
            {"standard_metadata.egress_port": api.Exact(p)},
            "MyEgress.set_src_mac",
            {"mac": mac_int(port_mac(DEVICE_ID, p))},
        )
        for p in ports
    ]


def switch(name: str, bsl: int | None = None) -> api.Switch:
    prog = program(name, bsl)  # skips first when softswitch cannot run
    sw = api.Switch(prog, cpu_port=CPU_PORT)
    for e in port_mac_entries():
        sw.insert_entry(e)
    return sw


def route(sw: api.Switch, prefix: str, plen: int, port: int, dmac: str) -> None:
    sw.insert_entry(
        api.TableEntry(
            "MyIngress.ipv4_lpm",
            {"hdr.ipv4.dst_addr": api.Lpm(ip_int(prefix), plen)},
            "MyIngress.ipv4_route",
            {"port": port, "dmac": mac_int(dmac)},
        )
    )


def run(sw: api.Switch, port: int, frame: bytes | Packet) -> dict[int, list[bytes]]:
    """Frames out of the switch for one frame in, grouped by port (order kept per port)."""
    out: dict[int, list[bytes]] = {}
    for p, f in sw.process(port, bytes(frame)):
        out.setdefault(p, []).append(f)
    return out


def inner(dst: str = GROUP, ttl: int = 64, payload: bytes = b"model-shard-chunk") -> Packet:
    return IP(src=SENDER_IP, dst=dst, ttl=ttl, id=7) / UDP(sport=40000, dport=50000) / Raw(payload)


def frame_bytes(p: Packet) -> bytes:
    """Bytes of a frame with every checksum and length computed by scapy."""
    return bytes(p.__class__(bytes(p)))


# --------------------------------------------------------------------------- BIER set-up
@dataclass
class NextHop:
    rid: int
    port: int
    kind: str  # neighbor | local | backup
    fbm: int
    mac: str
    slot: int = 0
    protected_port: int = 0


def bier_entries(
    hops: list[NextHop], si: int = 0, group_base: int = 0
) -> tuple[list[api.TableEntry], dict[int, list[api.Replica]]]:
    """Table entries and multicast groups for one SI, as p4src/README.md prescribes."""
    primaries = [h for h in hops if h.kind != "backup"]
    slots = [0] * 8
    for h in primaries:
        slots[h.slot] |= h.fbm
    params = {"si": si, "group_base": group_base}
    params.update({f"fbm{i}": slots[i] for i in range(8)})
    entries = [
        api.TableEntry(
            "MyIngress.bier_bift",
            {"hdr.bier.bift_id": api.Exact(si + 1)},
            "MyIngress.bier_set_slots",
            params,
        )
    ]
    groups: dict[int, list[api.Replica]] = {}
    used = {h.slot for h in primaries}
    for mask in range(1, 256):
        if any(mask >> s & 1 and s not in used for s in range(8)):
            continue
        replicas = []
        for h in primaries:
            if mask >> h.slot & 1:
                replicas.append(api.Replica(h.port, h.rid))
                replicas += [
                    api.Replica(b.port, b.rid)
                    for b in hops
                    if b.kind == "backup" and b.protected_port == h.port
                ]
        groups[group_base + mask] = replicas
    for h in hops:
        key = {"meta.bier_si": api.Exact(si), "standard_metadata.egress_rid": api.Exact(h.rid)}
        if h.kind == "neighbor":
            action, hp = "MyEgress.nh_neighbor", {"fbm": h.fbm, "dmac": mac_int(h.mac)}
        elif h.kind == "local":
            action, hp = "MyEgress.nh_local", {"fbm": h.fbm, "host_mac": mac_int(h.mac)}
        else:
            action = "MyEgress.nh_backup"
            hp = {"fbm": h.fbm, "dmac": mac_int(h.mac), "protected_port": h.protected_port}
        entries.append(api.TableEntry("MyEgress.bier_nh", key, action, hp))
    return entries, groups


@dataclass
class BierSwitch:
    """A BFR (device 1) with next hops; entries follow p4src/README.md."""

    sw: api.Switch
    bsl: int
    hops: list[NextHop] = field(default_factory=list)

    def install(self, si: int = 0, group_base: int = 0) -> None:
        entries, groups = bier_entries(self.hops, si, group_base)
        for e in entries:
            self.sw.insert_entry(e)
        for g, replicas in groups.items():
            self.sw.set_multicast_group(g, replicas)


# Neighbours of the BFR under test (device 1): A behind port 1 (BFR-ids 1, 2), B behind
# port 2 (3, 4), C behind port 3 (5, 7), the local receiver host 6 on port 4, the sender on
# port 5. BIER-FRR: A is protected by a backup via B's port (2) with A's bits.
NBR_A, NBR_B, NBR_C = port_mac(2, 1), port_mac(3, 1), port_mac(4, 1)
HOST6 = host_mac(6)
SENDER_PORT = 5


def bier_switch(bsl: int = 256) -> BierSwitch:
    b = BierSwitch(switch("bier.p4", None if bsl == 256 else bsl), bsl)
    b.hops = default_hops(bsl)
    b.install()
    return b


def default_hops(bsl: int = 256) -> list[NextHop]:
    return [
        NextHop(1, 1, "neighbor", fbm(1, 2, bsl=bsl), NBR_A, slot=0),
        NextHop(2, 2, "neighbor", fbm(3, 4, bsl=bsl), NBR_B, slot=1),
        NextHop(3, 3, "neighbor", fbm(5, 7, bsl=bsl), NBR_C, slot=2),
        NextHop(4, 4, "local", fbm(6, bsl=bsl), HOST6, slot=3),
        NextHop(1040, 2, "backup", fbm(1, 2, bsl=bsl), NBR_B, protected_port=1),
    ]


def bier_frame(
    ids: list[int],
    *,
    bsl: int = 256,
    si: int = 0,
    ttl: int = 64,
    src: str | None = None,
    dst: str | None = None,
    **fields: int,
) -> Packet:
    """A BIER frame as the sender (or an upstream BFR) sends it to the switch under test."""
    bits = bitstring(ids, bsl, si) if ids else bytes(bsl // 8)
    hdr = BIER(bift_id=fields.pop("bift_id", si + 1), ttl=ttl, bsl=bsl.bit_length() - 6, **fields)
    hdr.bitstring = bits
    return (
        Ether(dst=dst or port_mac(DEVICE_ID, SENDER_PORT), src=src or host_mac(100), type=0xAB37)
        / hdr
        / inner()
    )


def bier_copy(sent: Packet, port: int, dmac: str, ids: list[int], *, si: int = 0) -> bytes:
    """The copy a BFR sends to a neighbour: BitString restricted to `ids`, TTL - 1."""
    bsl = len(sent[BIER].bitstring) * 8
    out = sent.copy()
    out[Ether].dst = dmac
    out[Ether].src = port_mac(DEVICE_ID, port)
    out[BIER].ttl -= 1
    out[BIER].bitstring = bitstring(ids, bsl, si)
    return frame_bytes(out)


def decapsulated(sent: Packet, port: int, mac: str) -> bytes:
    """What a BFER delivers to its local host: Ethernet(IPv4) + the unchanged inner packet."""
    return frame_bytes(
        Ether(dst=mac, src=port_mac(DEVICE_ID, port), type=0x0800) / sent[BIER].payload.copy()
    )


# --------------------------------------------------------------------------- MPLS frames
def mpls_frame(labels: list[tuple[int, int]], *, dst: str, src: str) -> Packet:
    """Ethernet / MPLS stack (label, ttl) top first, S on the last / inner IPv4."""
    p: Packet = Ether(dst=dst, src=src, type=0x8847)
    for i, (label, ttl) in enumerate(labels):
        p = p / MPLS(label=label, cos=0, s=int(i == len(labels) - 1), ttl=ttl)
    return p / inner()


def delivered_ipv4(port: int, mac: str) -> bytes:
    return frame_bytes(Ether(dst=mac, src=port_mac(DEVICE_ID, port), type=0x0800) / inner())


def srv6_frame(
    sid: str, hlim: int, *, dst: str, src: str, nh: int = 4, payload: Packet | None = None
) -> Packet:
    """Ethernet / IPv6 (source the sender's fd00:: address, destination a SID) / inner IPv4."""
    ip6 = IPv6(src="fd00::a00:64", dst=sid, nh=nh, hlim=hlim, tc=0, fl=0)
    return Ether(dst=dst, src=src, type=0x86DD) / ip6 / (inner() if payload is None else payload)
