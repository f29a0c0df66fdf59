"""The BMv2 reference corpus on the eBPF backend over real veths: every case, byte for byte
as BMv2 recorded it, registers after each case of the stateful program included.

The setup goes through the switch's API; frames into the CPU port (packet-outs) and out of it
(packet-ins, packet_in header first) cross a veth like every other port. Frames shorter than
an Ethernet header (14 bytes) cannot cross a veth at all: such input cases are not sent and
such output frames not expected (the Python backend's in-process corpus test covers them)."""

from __future__ import annotations

import pytest

from softswitch.core.program import Program
from tests.ebpf.rig import MIN_FRAME, Rig
from testsupport import corpus
from testsupport.corpus import apply_setup, load_program

pytestmark = [pytest.mark.ebpf, pytest.mark.slow]


@pytest.mark.parametrize("name", corpus.programs() or ["(no corpus)"])
def test_corpus_case_by_case(name: str) -> None:
    d = corpus.corpus_dir()
    if d is None:
        pytest.skip("reference corpus not found")
    cp = load_program(d / f"{name}.cases.json")
    with Rig(cp.ports) as rig:
        sw = rig.load(Program.from_file(cp.p4), cpu_port=cp.cpu_port)
        apply_setup(sw, cp.setup)
        failures, sent = [], 0
        for case in cp.cases:
            if len(case.in_frame) < MIN_FRAME:
                continue
            sent += 1
            got = rig.run(case.in_port, case.in_frame)
            want = {p: [f for f in fs if len(f) >= MIN_FRAME] for p, fs in case.out.items()}
            want = {p: fs for p, fs in want.items() if fs}
            if got != want:
                failures.append(f"{case.name}: expected {want}, got {got}")
            for reg, values in case.registers_after.items():
                now = [sw.register(reg, i) for i in range(len(values))]
                if now != values:
                    failures.append(f"{case.name}: register {reg} {now} != {values}")
        assert sw.stats() == {k: 0 for k in sw.stats()}
    assert sent >= len(cp.cases) - 2
    assert not failures, "\n".join(failures)
