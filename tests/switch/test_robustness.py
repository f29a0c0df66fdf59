"""Robustness: 100,000 random and mutated frames (truncated headers, wrong lengths, bad
checksums, odd EtherTypes, random bytes) into a running switch; it must stay up and then
still forward valid traffic exactly."""

from __future__ import annotations

import random

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from softswitch.api import Lpm
from testsupport import corpus
from testsupport.harness import Testbed, need_target, target_of

pytestmark = [pytest.mark.root, pytest.mark.slow]
N_FRAMES = 100_000
CHUNK = 500
PAYLOAD = b"x" * 20


def valid(dst: str, ttl: int = 64, dport: int = 4000) -> bytes:
    return bytes(
        Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09")
        / IP(src="10.9.0.1", dst=dst, ttl=ttl)
        / UDP(sport=5, dport=dport)
        / PAYLOAD
    )


def mutants(rng: random.Random, n: int):
    seeds = [valid("10.1.2.3"), valid("239.1.1.9", dport=1500), valid("10.1.0.1", ttl=1)]
    for i in range(n):
        f = bytearray(rng.choice(seeds))
        kind = i % 8
        if kind == 0:  # truncated somewhere in the headers
            f = f[: rng.randint(14, 45)]
        elif kind == 1:  # wrong IPv4 total length
            f[16:18] = rng.randrange(65536).to_bytes(2, "big")
        elif kind == 2:  # bad IPv4 header checksum
            f[24:26] = rng.randrange(65536).to_bytes(2, "big")
        elif kind == 3:  # odd IHL / version byte
            f[14] = rng.randrange(256)
        elif kind == 4:  # another EtherType
            f[12:14] = rng.choice(
                [b"\x86\xdd", b"\x88\x47", b"\x81\x00", b"\x08\x06", rng.randbytes(2)]
            )
        elif kind == 5:  # random bit flips
            for _ in range(rng.randint(1, 8)):
                f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)
        elif kind == 6:  # wrong UDP length, giant payload
            f[38:40] = rng.randrange(65536).to_bytes(2, "big")
            f += rng.randbytes(rng.randint(0, 1400))
        else:  # random bytes of random length
            f = bytearray(rng.randbytes(rng.randint(14, 1500)))
        yield bytes(f)


def test_random_and_mutated_frames_do_not_break_the_switch(request) -> None:
    target = target_of(request.config)
    need_target(target)
    d = corpus.corpus_dir()
    if d is None:
        pytest.skip("reference corpus not found")

    p4info, blob = corpus.config(target, "ref_l3_mcast")
    with Testbed(target, ports=[0, 1, 2, 3], cpu_port=None) as tb:
        c = tb.client()
        c.set_pipeline(p4info, blob)
        c.write(
            [
                c.insert(
                    c.table_entry(
                        "L3Ingress.ipv4_lpm",
                        {"hdr.ipv4.dst": Lpm(0x0A010200, 24)},
                        "L3Ingress.route",
                        {"port": 2, "dmac": 0x0202},
                    )
                )
            ]
        )
        rng = random.Random(4)
        sent = 0
        frames = list(mutants(rng, N_FRAMES))
        # Chunks small enough for the switch's socket buffer, so that it really processes
        # every frame; after each chunk wait until its output has stopped.
        for start in range(0, N_FRAMES, CHUNK):
            for i, f in enumerate(frames[start : start + CHUNK], start):
                tb.send((0, 1, 3)[i % 3], f)
                sent += 1
            tb.collect(want={}, timeout=60, quiet=0.3)
            if start % (10 * CHUNK) == 0:
                assert tb.alive(), tb.log()[-3000:]
        assert sent == N_FRAMES
        tb.collect(want={}, timeout=60, quiet=1.0)
        assert tb.alive(), tb.log()[-3000:]
        f = valid("10.1.2.3")
        p = Ether(f)
        p[Ether].src, p[Ether].dst, p[IP].ttl = p[Ether].dst, "00:00:00:00:02:02", 63
        del p[IP].chksum
        tb.send(1, f)
        tb.expect({2: [bytes(p)]}, timeout=10)
        assert tb.alive()
