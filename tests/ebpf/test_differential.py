"""The eBPF backend against the Python backend, frame for frame and counter for counter.

- 100,000 random and mutated frames (test_robustness's generator: truncated headers, wrong
  lengths, bad checksums, odd EtherTypes, bit flips, random bytes) through ref_l3_mcast with
  routes, a multicast group and direct counters: every frame out of every port, in order,
  equals what the Python backend (softswitch.core, in this process) gives for the same
  input, and so does every entry's direct counter.
- Random table states (fixed seed) of ref_l3_mcast (LPM routes, ternary+range priorities,
  per-replica rewrites, groups) and of bier.p4 (BIFT, next hops, routes, a ternary punt ACL,
  the port-status register) with random frames of every kind the programs parse (IPv4, BIER
  with random BitStrings, TTLs and broken fields, LLDP, packet-outs, liveness, garbage):
  frames per port, every indexed counter cell, every direct counter and the registers.
"""

from __future__ import annotations

import random

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from softswitch.core.program import Program
from softswitch.core.switch import Switch
from softswitch.entries import Exact, Lpm, Range, Replica, TableEntry, Ternary
from tests.ebpf.rig import MIN_FRAME, Rig
from tests.switch.test_robustness import N_FRAMES, mutants
from testsupport import corpus

pytestmark = [pytest.mark.ebpf, pytest.mark.slow]


def python_outputs(sw: Switch, frames: list[tuple[int, bytes]]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for port, f in frames:
        for p, o in sw.process(port, f):
            out.setdefault(p, []).append(o)
    return out


def compare(got: dict[int, list[bytes]], want: dict[int, list[bytes]], ports: list[int]) -> None:
    want = {p: [f for f in fs if len(f) >= MIN_FRAME] for p, fs in want.items() if p in ports}
    want = {p: fs for p, fs in want.items() if fs}
    for p in sorted(set(got) | set(want)):
        g, w = got.get(p, []), want.get(p, [])
        assert len(g) == len(w), f"port {p}: {len(g)} frames from eBPF, {len(w)} from Python"
        for i, (a, b) in enumerate(zip(g, w, strict=True)):
            assert a == b, f"port {p} frame {i}:\n ebpf   {a.hex()}\n python {b.hex()}"


def both(program: Program, cpu_port: int | None, rig: Rig):
    py = Switch(program, cpu_port=cpu_port)
    eb = rig.load(program, cpu_port=cpu_port)
    return py, eb


def apply(switches, fn, *args) -> None:
    for sw in switches:
        getattr(sw, fn)(*args)


def direct_counters(sw, entries: list[TableEntry]) -> list[tuple[int, int]]:
    return [sw.direct_counter(e) for e in entries]


# ---- 100,000 mutated frames ------------------------------------------------------------------
def test_mutated_frames_equal_the_python_backend() -> None:
    d = corpus.corpus_dir()
    if d is None:
        pytest.skip("reference corpus not found")
    prog = Program.from_file(d / "ref_l3_mcast.p4")
    rng = random.Random(4)
    frames = [((0, 1, 3)[i % 3], f) for i, f in enumerate(mutants(rng, N_FRAMES))]
    assert all(len(f) >= MIN_FRAME for _, f in frames)
    with Rig([0, 1, 2, 3]) as rig:
        py, eb = both(prog, None, rig)
        for sw in (py, eb):
            for e in corpus.L3_MCAST_ENTRIES:
                sw.insert_entry(e)
            sw.set_multicast_group(1, [Replica(2, 1), Replica(3, 1), Replica(0, 2)])
        got = rig.run_many(frames, chunk=1000)
        want = python_outputs(py, frames)
        assert sum(map(len, want.values())) > N_FRAMES // 10  # a good share is forwarded
        compare(got, want, [0, 1, 2, 3])
        routes = [e for e in corpus.L3_MCAST_ENTRIES if e.table == "L3Ingress.ipv4_lpm"]
        assert direct_counters(eb, routes) == direct_counters(py, routes)
        assert eb.stats() == {k: 0 for k in eb.stats()}


# ---- random table states: ref_l3_mcast ---------------------------------------------------------
def l3_state(rng: random.Random) -> tuple[list[TableEntry], dict[int, list[Replica]]]:
    entries: dict[tuple, TableEntry] = {}
    for _ in range(rng.randint(3, 12)):
        plen = rng.choice([0, 8, 16, 24, 32, rng.randint(1, 32)])
        v = rng.choice([0x0A000000, 0x0A010200, 0xEF010000, rng.getrandbits(32)])
        v &= ((1 << 32) - 1) ^ ((1 << (32 - plen)) - 1)
        if plen == 0:
            continue
        act = rng.random()
        e = (
            TableEntry(
                "L3Ingress.ipv4_lpm",
                {"hdr.ipv4.dst": Lpm(v, plen)},
                "L3Ingress.route",
                {"port": rng.randint(0, 3), "dmac": rng.getrandbits(48)},
            )
            if act < 0.8
            else TableEntry(
                "L3Ingress.ipv4_lpm", {"hdr.ipv4.dst": Lpm(v, plen)}, "L3Ingress.no_route", {}
            )
        )
        entries[("lpm", v, plen)] = e
    for _ in range(rng.randint(1, 6)):
        mask = rng.choice([0xFFFF0000, 0xFF000000, 0xFFFFFF00, rng.getrandbits(32)])
        val = rng.choice([0xEF010000, 0x0A010200, rng.getrandbits(32)]) & mask
        lo = rng.randint(0, 3000)
        hi = rng.randint(lo, 4000)
        prio = rng.randint(1, 5)
        key = ("sel", val, mask, lo, hi, prio)
        entries[key] = TableEntry(
            "L3Ingress.mcast_sel",
            {"hdr.ipv4.dst": Ternary(val, mask), "hdr.udp.dport": Range(lo, hi)},
            "L3Ingress.set_mcast",
            {"grp": rng.randint(1, 3)},
            prio,
        )
    for rid in (1, 2):
        for port in range(4):
            if rng.random() < 0.5:
                entries[("rw", rid, port)] = TableEntry(
                    "L3Egress.replica_rw",
                    {"sm.egress_rid": Exact(rid), "sm.egress_port": Exact(port)},
                    "L3Egress.rewrite_dmac",
                    {"dmac": rng.getrandbits(48)},
                )
    groups = {
        g: [Replica(p, rng.randint(1, 2)) for p in rng.sample(range(4), rng.randint(1, 4))]
        for g in (1, 2)
    }
    return list(entries.values()), groups


def l3_frames(rng: random.Random, n: int) -> list[tuple[int, bytes]]:
    out = []
    for _ in range(n):
        dst = rng.choice(["10.1.2.3", "10.0.0.9", "239.1.1.5", "239.1.9.9", "10.1.2.255"])
        if rng.random() < 0.2:
            dst = ".".join(str(rng.randrange(256)) for _ in range(4))
        p = (
            Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09")
            / IP(src="10.9.0.1", dst=dst, ttl=rng.choice([0, 1, 2, 64]), id=rng.randrange(65536))
            / UDP(sport=7, dport=rng.randint(0, 4000))
            / bytes(rng.randint(0, 64))
        )
        f = bytearray(bytes(p))
        if rng.random() < 0.1:
            f[24] ^= 0xFF  # bad header checksum
        out.append((rng.randrange(4), bytes(f)))
    return out


def test_random_ref_l3_mcast_states_equal_the_python_backend() -> None:
    d = corpus.corpus_dir()
    if d is None:
        pytest.skip("reference corpus not found")
    prog = Program.from_file(d / "ref_l3_mcast.p4")
    rng = random.Random(2026)
    with Rig([0, 1, 2, 3]) as rig:
        for _state in range(3):
            py, eb = both(prog, None, rig)
            entries, groups = l3_state(rng)
            for e in entries:
                apply((py, eb), "insert_entry", e)
            for g, reps in groups.items():
                apply((py, eb), "set_multicast_group", g, reps)
            frames = l3_frames(rng, 300)
            compare(rig.run_many(frames), python_outputs(py, frames), [0, 1, 2, 3])
            routes = [e for e in entries if e.table == "L3Ingress.ipv4_lpm"]
            assert direct_counters(eb, routes) == direct_counters(py, routes)


# ---- random table states: bier.p4 ------------------------------------------------------------
BIER_PORTS = [1, 2, 3, 4, 5, 255]


def bier_state(rng: random.Random, bsl: int) -> tuple[list[TableEntry], dict, dict[int, int]]:
    entries = []
    hops = {}  # rid -> (port, fbm)
    for rid in range(1, 6):
        hops[rid] = (rng.randint(1, 5), rng.getrandbits(16) | (1 << rng.randrange(bsl)))
    for si in range(rng.randint(1, 2)):
        slots = {f"fbm{i}": 0 for i in range(8)}
        for rid, (_, fbm) in hops.items():
            slots[f"fbm{(rid - 1) % 8}"] |= fbm
        entries.append(TableEntry("MyIngress.bier_bift", {"hdr.bier.bift_id": Exact(si + 1)},
                                  "MyIngress.bier_set_slots",
                                  {"si": si, "group_base": 0, **slots}))  # fmt: skip
        for rid, (_port, fbm) in hops.items():
            kind = rng.choice(["nh_neighbor", "nh_local", "nh_backup"])
            params = {"fbm": fbm, ("host_mac" if kind == "nh_local" else "dmac"):
                      rng.getrandbits(48)}  # fmt: skip
            if kind == "nh_backup":
                params["protected_port"] = rng.randint(1, 5)
            entries.append(TableEntry(
                "MyEgress.bier_nh",
                {"meta.bier_si": Exact(si), "standard_metadata.egress_rid": Exact(rid)},
                f"MyEgress.{kind}", params))  # fmt: skip
    groups = {}
    for mask in range(1, 32):
        groups[mask] = [Replica(hops[r][0], r) for r in range(1, 6) if mask >> (r - 1) & 1]
    for p in range(1, 6):
        entries.append(TableEntry("MyEgress.port_mac", {"standard_metadata.egress_port":
                                  Exact(p)}, "MyEgress.set_src_mac",
                                  {"mac": 0x025E00000000 + p}))  # fmt: skip
    for i in range(rng.randint(2, 6)):
        plen = rng.choice([8, 16, 24, 32])
        v = rng.choice([0x0A000000, 0x0A010200, rng.getrandbits(32)])
        v &= ((1 << 32) - 1) ^ ((1 << (32 - plen)) - 1)
        entries.append(TableEntry("MyIngress.ipv4_lpm", {"hdr.ipv4.dst_addr": Lpm(v, plen)},
                                  "MyIngress.ipv4_route", {"port": rng.randint(1, 5),
                                  "dmac": rng.getrandbits(48)}))  # fmt: skip
        if rng.random() < 0.3:
            key = {
                "hdr.ethernet.ether_type": Ternary(0x0800, 0xFFFF),
                "hdr.ipv4.dst_addr": Ternary(v, rng.choice([0xFFFFFFFF, 0xFFFF0000])),
            }
            action = rng.choice(["MyIngress.punt_to_cpu", "MyIngress.punt_drop"])
            entries.append(TableEntry("MyIngress.punt", key, action, {}, i + 1))
    status = {p: rng.choice([0, 0, 1]) for p in range(1, 6)}
    dedup = {(e.table, repr(e.match), e.priority): e for e in entries}
    return list(dedup.values()), groups, status


def bier_frames(rng: random.Random, n: int, bsl: int) -> list[tuple[int, bytes]]:
    from wire.bier import BIER

    out = []
    for _ in range(n):
        kind = rng.random()
        eth = Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09")
        inner = (
            IP(src="10.9.0.1", dst="239.1.0.1", ttl=rng.choice([1, 64]))
            / UDP(sport=5, dport=6)
            / bytes(rng.randint(0, 40))
        )
        port = rng.randint(1, 5)
        if kind < 0.5:
            bits = rng.getrandbits(bsl).to_bytes(bsl // 8, "big")
            fields = {"bift_id": rng.choice([1, 1, 2, 3]), "ttl": rng.choice([0, 1, 2, 64]),
                      "bsl": bsl.bit_length() - 6, "proto": rng.choice([4, 4, 6, 9])}  # fmt: skip
            if rng.random() < 0.1:
                fields["nibble"] = rng.randrange(16)
            f = bytes(eth / BIER(bitstring=bits, **fields) / inner)
        elif kind < 0.75:
            dst = rng.choice(["10.1.2.3", "10.0.0.1", ".".join(str(rng.randrange(256))
                                                              for _ in range(4))])  # fmt: skip
            f = bytes(eth / IP(src="10.9.0.1", dst=dst, ttl=rng.choice([0, 1, 64])) / UDP())
        elif kind < 0.82:
            f = bytes(Ether(dst="01:80:c2:00:00:0e", src="02:00:00:00:00:09", type=0x88CC)
                      / bytes(30))  # fmt: skip
        elif kind < 0.92:
            port = 255  # packet-out: egress_port (2 bytes) then the frame
            f = rng.randint(0, 5).to_bytes(2, "big") + bytes(eth / inner)
        else:
            f = bytes(eth / bytes(rng.randint(0, 60)))
            f = f[:12] + rng.randbytes(2) + f[14:]
        out.append((port, f))
    return out


def counters(sw, names: list[str], size: int) -> dict[str, list[tuple[int, int]]]:
    return {n: [sw.counter(n, i) for i in range(size)] for n in names}


@pytest.mark.parametrize("bsl", [256, 512])
def test_random_bier_states_equal_the_python_backend(bsl: int) -> None:
    from pathlib import Path

    prog = Program.from_file(Path(__file__).resolve().parents[2] / "p4src" / "bier.p4",
                             defines={"BSL": str(bsl)})  # fmt: skip
    rng = random.Random(bsl)
    names = ["MyIngress.in_stats", "MyEgress.out_stats"]
    with Rig(BIER_PORTS) as rig:
        for _state in range(2):
            py, eb = both(prog, 255, rig)
            entries, groups, status = bier_state(rng, bsl)
            for e in entries:
                apply((py, eb), "insert_entry", e)
            for g, reps in groups.items():
                apply((py, eb), "set_multicast_group", g, reps)
            for p, v in status.items():
                apply((py, eb), "set_register", "MyEgress.port_status", p, v)
            frames = bier_frames(rng, 300, bsl)
            compare(rig.run_many(frames), python_outputs(py, frames), BIER_PORTS)
            assert counters(eb, names, 8192) == counters(py, names, 8192)
            regs = [eb.register("MyEgress.port_status", i) for i in range(512)]
            assert regs == [py.register("MyEgress.port_status", i) for i in range(512)]


def test_a_group_of_240_replicas_equals_the_python_backend() -> None:
    """The replication loop (bpf_loop, up to MAX_REPLICAS copies) with a large group: 4 ports
    x 60 rids, copies in BMv2's node order."""
    from softswitch.ebpf.emit import MAX_REPLICAS

    d = corpus.corpus_dir()
    if d is None:
        pytest.skip("reference corpus not found")
    prog = Program.from_file(d / "ref_l3_mcast.p4")
    reps = [Replica(p, rid) for rid in range(1, 61) for p in (3, 0, 2, 1)]
    assert len(reps) <= MAX_REPLICAS
    rng = random.Random(240)
    with Rig([0, 1, 2, 3]) as rig:
        py, eb = both(prog, None, rig)
        for sw in (py, eb):
            for e in corpus.L3_MCAST_ENTRIES:
                sw.insert_entry(e)
            sw.set_multicast_group(1, reps)
        frames = [(rng.randrange(4), f) for _, f in l3_frames(rng, 20)]
        frames += [(1, bytes(Ether(dst="02:00:00:00:01:01") / IP(dst="239.1.1.5", ttl=9)
                             / UDP(sport=1, dport=1500)))] * 3  # fmt: skip
        want = python_outputs(py, frames)
        assert sum(map(len, want.values())) >= 3 * 180
        compare(rig.run_many(frames), want, [0, 1, 2, 3])
