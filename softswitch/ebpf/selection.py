"""`--backend ebpf|python|auto` for the switch process: which backend runs the pipelines.

With `auto` the eBPF backend runs wherever the machine allows it (availability()) and the
program given on the command line compiles to it; otherwise the Python backend runs and the
process says why. A program that a client sets later and the eBPF backend cannot run is
taken by the Python backend too (`Fallback`), which then reads the ports itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from softswitch.core.backend import PythonBackend
from softswitch.core.program import Program
from softswitch.ebpf.errors import EbpfUnsupported

log = logging.getLogger("softswitch.ebpf")


def program_reason(program_path: str | None) -> str | None:
    """Why the eBPF backend cannot run the program file (None: it can, or there is none)."""
    if not program_path:
        return None
    from pathlib import Path

    from softswitch.ebpf.emit import emit_c

    src = Path(program_path)
    try:
        prog = (
            Program.from_file(str(src))
            if src.suffix == ".p4"
            else Program.from_device_config(src.read_bytes())
        )
        emit_c(prog.source, prog.name)
    except EbpfUnsupported as exc:
        return str(exc)
    except Exception:
        return None  # not the eBPF backend's concern: loading reports it
    return None


class Fallback:
    """The eBPF backend, with the Python backend for programs it cannot run (auto mode)."""

    name = "auto"

    def __init__(self, ebpf, on_mode: Callable[[str], None]) -> None:
        self.ebpf = ebpf
        self.python = PythonBackend()
        self.on_mode = on_mode  # "ebpf" / "python": the ports start or stop reading frames
        self.unsupported: set[int] = set()
        self.mode = "ebpf"

    def load(self, device_config: bytes) -> Program:
        try:
            return self.ebpf.load(device_config)
        except EbpfUnsupported as exc:
            program = self.python.load(device_config)
            self.unsupported.add(id(program))
            log.warning("%s; the Python backend runs this program", exc)
            print(f"softswitch: {exc}; falling back to the Python backend", flush=True)
            return program

    def new_switch(self, program: Program, cpu_port: int | None):
        if id(program) in self.unsupported:
            if self.ebpf.current is not None:
                self.ebpf.current.close()
                self.ebpf.current = None
            self._set("python")
            return self.python.new_switch(program, cpu_port)
        try:
            sw = self.ebpf.new_switch(program, cpu_port)
        except (OSError, RuntimeError) as exc:  # clang or the kernel's verifier refused it
            log.warning("the eBPF backend cannot load %s (%s); the Python backend runs it",
                        program.name, exc)  # fmt: skip
            print(f"softswitch: the eBPF backend cannot load {program.name}; falling back to "
                  "the Python backend", flush=True)  # fmt: skip
            if self.ebpf.current is not None:
                self.ebpf.current.close()
                self.ebpf.current = None
            self._set("python")
            return self.python.new_switch(program, cpu_port)
        self._set("ebpf")
        return sw

    def _set(self, mode: str) -> None:
        if mode != self.mode:
            self.mode = mode
            self.on_mode(mode)

    def close(self) -> None:
        self.ebpf.close()
