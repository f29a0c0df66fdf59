"""The Python core as an execution backend of the P4Runtime server (softswitch.backend)."""

from __future__ import annotations

from softswitch.core.program import Program
from softswitch.core.switch import Switch


class PythonBackend:
    """Programs translated into Python (softswitch.core.program), run in this process."""

    name = "python"

    def load(self, device_config: bytes) -> Program:
        return Program.from_device_config(device_config)

    def new_switch(self, program: Program, cpu_port: int | None) -> Switch:
        return Switch(program, cpu_port=cpu_port)
