"""The eBPF backend as the P4Runtime server sees it (softswitch.backend.Backend).

`EbpfBackend(ports, cpu_port)` runs each program it is given on the switch's interfaces:
a new switch (SetForwardingPipelineConfig) is attached to every port before the old one is
released, the tc filters are replaced in place. `close()` removes the clsact qdiscs.

`availability()` says whether this machine can run it (root, BPF syscall, libbpf, clang,
tc clsact) and if not, why: `--backend auto` prints that reason and takes the Python backend.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Callable

from softswitch.core.program import Program
from softswitch.ebpf.cpuport import CpuPort
from softswitch.ebpf.switch import EbpfSwitch

log = logging.getLogger("softswitch.ebpf")


def availability() -> tuple[bool, str]:
    """(True, versions) when the eBPF backend can run here, else (False, the reason)."""
    from softswitch.ebpf import build, libbpf

    if os.geteuid() != 0:
        return False, "the eBPF backend needs root (CAP_BPF and CAP_NET_ADMIN)"
    if build.clang_path() is None:
        return False, "clang is not installed (make setup installs it)"
    try:
        libbpf.lib()
        libbpf.possible_cpus()
    except OSError as exc:
        return False, f"libbpf is not usable: {exc}"
    if not os.path.exists("/proc/sys/net/core/bpf_jit_enable"):
        return False, "this kernel has no BPF JIT"
    return True, versions()


def versions() -> str:
    from softswitch.ebpf.build import clang_version

    return f"kernel {platform.release()}, {clang_version()}"


class EbpfBackend:
    name = "ebpf"

    def __init__(
        self,
        ports: list[tuple[int, str]],
        cpu_port: int | None,
        packet_in: Callable[[bytes], None] | None = None,
    ) -> None:
        self.ports = list(ports)
        self.cpu_port = cpu_port
        self.cpu = CpuPort() if cpu_port is not None else None
        self.current: EbpfSwitch | None = None
        self.packet_in = packet_in

    def load(self, device_config: bytes) -> Program:
        program = Program.from_device_config(device_config)
        from softswitch.ebpf.emit import emit_c

        emit_c(program.source, program.name)  # EbpfUnsupported names the construct and line
        return program

    def new_switch(self, program: Program, cpu_port: int | None) -> EbpfSwitch:
        sw = EbpfSwitch(program, cpu_port)
        try:
            for port, iface in self.ports:
                sw.attach_port(port, iface)
            if self.cpu is not None and cpu_port is not None:
                sw.attach_port(cpu_port, self.cpu.outer)
                sw.inject = self.cpu.send
        except Exception:
            sw.close()
            raise
        if self.current is not None:
            self.current.release()  # its filters were replaced by the new switch's
        self.current = sw
        log.info(
            "eBPF program of %s attached to %d ports (%s)",
            program.name,
            len(self.ports),
            versions(),
        )
        return sw

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
        if self.cpu is not None:
            self.cpu.close()
            self.cpu = None
