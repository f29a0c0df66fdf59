"""The p4src packet tests (tests/p4src: BIER, BIER-FRR, BFER, SR-P2MP over MPLS and SRv6, IPv4
unicast, packet I/O, the RFC 8296 layout) on the eBPF backend over real veths: the same test
functions, whose switch (`p4model.switch`) is here an EbpfSwitch on veth pairs, one per port 1..8
and the CPU port 255; `process(port, frame)` sends the frame on that port's host end and returns
every frame that came out of any port until the ports fell quiet."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.ebpf.rig import Rig
from tests.p4src import p4model as M
from tests.p4src.test_bier import *  # noqa: F403 (collected here with the eBPF backend)
from tests.p4src.test_bier_layout import *  # noqa: F403
from tests.p4src.test_sr_p2mp import *  # noqa: F403
from tests.p4src.test_srv6_p2mp import *  # noqa: F403
from tests.p4src.test_unicast_packetio import *  # noqa: F403
from tests.p4src.test_unicast_packetio import HOST, NEXT, PROGRAMS, _in, _routed_switch

pytestmark = [pytest.mark.ebpf, pytest.mark.slow]
PORTS = [*range(1, 9), M.CPU_PORT]


class VethSwitch:
    """An EbpfSwitch on veths of its own (taken from `pool`: namespaces and veths are
    made once for the module, each test's switch is new), with the in-process API's
    process()."""

    def __init__(self, name: str, bsl: int | None, pool: list[Rig]) -> None:
        self.pool = pool
        self.rig = pool.pop() if pool else Rig(PORTS).__enter__()
        try:
            self.sw = self.rig.load(M.program(name, bsl), cpu_port=M.CPU_PORT)
        except BaseException:
            self.rig.__exit__(None, None, None)
            raise

    def process(self, port: int, frame: bytes) -> list[tuple[int, bytes]]:
        out = self.rig.run(port, frame)
        return [(p, f) for p in sorted(out) for f in out[p]]

    def close(self) -> None:
        self.rig.close_switch()
        self.pool.append(self.rig)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sw, name)


@pytest.fixture(scope="module")
def rigs():
    pool: list[Rig] = []
    affinity = os.sched_getaffinity(0)  # each Rig pins the test process to one CPU
    yield pool
    for rig in pool:
        rig.__exit__(None, None, None)
    os.sched_setaffinity(0, affinity)


@pytest.fixture(autouse=True)
def ebpf_switches(monkeypatch: pytest.MonkeyPatch, rigs: list[Rig]):
    made: list[VethSwitch] = []

    def switch(name: str, bsl: int | None = None) -> VethSwitch:
        sw = VethSwitch(name, bsl, rigs)
        made.append(sw)
        for e in M.port_mac_entries():
            sw.insert_entry(e)
        return sw

    monkeypatch.setattr(M, "switch", switch)
    yield
    for sw in made:
        sw.close()


@pytest.mark.parametrize("name", PROGRAMS)
def test_truncated_frames_are_dropped_and_counted(name: str) -> None:
    """tests/p4src's test of the same name without its 3-byte runt: no veth carries a frame
    shorter than an Ethernet header. Headers cut short: parser errors, dropped, counted."""
    sw = _routed_switch(name)
    bier = M.frame_bytes(M.bier_frame([1]))
    mpls = M.frame_bytes(M.mpls_frame([(16001, 64), (16002, 64)], dst=NEXT, src=HOST))
    for frame in (bier[: 14 + 20], mpls[: 14 + 2]):
        assert M.run(sw, 1, frame) == {}
    assert _in(sw, M.IN_DROP_UNSUPPORTED) == 2
