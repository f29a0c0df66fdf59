"""Veth ports with the eBPF backend attached in the test's own process.

    with Rig([0, 1, 2, 3]) as rig:
        sw = rig.load(Program.from_file("p4src/bier.p4"), cpu_port=255)  # an EbpfSwitch
        sw.insert_entry(...)
        rig.run(1, frame)          # -> {port: [frames out of that port, in order]}
        rig.run_many([(1, f1), (2, f2)])   # many frames, outputs collected per port

The namespaces and veths come from testsupport.harness.Testbed (no switch process); every
port, the CPU port included, is a veth whose switch end carries the BPF programs. The sending
thread is pinned to one CPU, so that the kernel handles the frames in the order they are sent
(one backlog queue) and the per-port order of outputs is comparable with the Python backend.
"""

from __future__ import annotations

import os
import select
import time

from softswitch.core.program import Program
from softswitch.ebpf.switch import EbpfSwitch
from testsupport.harness import Testbed

MIN_FRAME = 14  # a veth refuses shorter frames


class Rig:
    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)
        self.tb = Testbed(ports=self.ports, cpu_port=None, start=False)
        self.switch: EbpfSwitch | None = None
        self._affinity = os.sched_getaffinity(0)

    def __enter__(self) -> Rig:
        self.tb.__enter__()
        os.sched_setaffinity(0, {min(self._affinity)})
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_switch()
        os.sched_setaffinity(0, self._affinity)
        self.tb.__exit__(*exc)

    def close_switch(self) -> None:
        if self.switch is not None:
            self.switch.close()
            self.switch = None

    def load(self, program: Program, cpu_port: int | None = None) -> EbpfSwitch:
        self.close_switch()
        sw = EbpfSwitch(program, cpu_port)
        for p in self.ports:
            sw.attach_port(p, self.tb.switch_iface(p))
        self.switch = sw
        time.sleep(0.05)
        self.tb.drain()
        return sw

    def collect(self, quiet: float = 0.15, timeout: float = 30.0) -> dict[int, list[bytes]]:
        """Frames from the host ends until none arrives for `quiet` seconds."""
        got: dict[int, list[bytes]] = {}
        socks = {hp.sock.fileno(): hp for hp in self.tb.ports.values()}
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last >= quiet or now >= deadline:
                break
            r, _, _ = select.select(list(socks), [], [], quiet - (now - last))
            for fd in r:
                hp = socks[fd]
                frames = hp.drain()
                if frames:
                    got.setdefault(hp.port, []).extend(frames)
                    last = time.monotonic()
        return got

    def run(self, port: int, frame: bytes, quiet: float = 0.15) -> dict[int, list[bytes]]:
        self.tb.drain()
        self.tb.send(port, bytes(frame))
        return self.collect(quiet)

    def run_many(
        self, frames: list[tuple[int, bytes]], chunk: int = 200, quiet: float = 0.3
    ) -> dict[int, list[bytes]]:
        """Send frames in chunks (small enough for the receive buffers), collecting the
        outputs after each chunk; all outputs per port, in order."""
        self.tb.drain()
        out: dict[int, list[bytes]] = {}
        for start in range(0, len(frames), chunk):
            for port, f in frames[start : start + chunk]:
                self.tb.send(port, f)
            for p, fs in self.collect(quiet=0.05 if start + chunk < len(frames) else quiet).items():
                out.setdefault(p, []).extend(fs)
        return out
