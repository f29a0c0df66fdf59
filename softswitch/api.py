"""The in-process API of softswitch in one import: the entry and error types
(softswitch/entries.py), the Python core's `Program` and `Switch`, and the interface every
execution backend implements (softswitch/backend.py).

    from softswitch.api import Program, Switch, TableEntry, Lpm, Replica

`Program.from_file(path, defines=None, include_dirs=None)` compiles a P4_16 v1model program
(raises P4SourceError); `Program.from_device_config(blob)` rebuilds one from what
`program.device_config()` or `python -m softswitch.compile --device-config` wrote;
`Switch(program, cpu_port=None)` is one switch with its state, whose methods are those of
`SwitchBackend`. Modules inside softswitch import the module they need directly (the core
and the server use softswitch.entries), so that this facade imports the core and nothing
imports it back.
"""

from __future__ import annotations

from softswitch.backend import Backend, LoadedProgram, SwitchBackend
from softswitch.core.backend import PythonBackend
from softswitch.core.program import Program
from softswitch.core.switch import Switch
from softswitch.entries import (
    Exact,
    Lpm,
    MatchValue,
    Optional,
    P4SourceError,
    Range,
    Replica,
    SwitchError,
    TableEntry,
    Ternary,
)

__all__ = [
    "Backend",
    "Exact",
    "LoadedProgram",
    "Lpm",
    "MatchValue",
    "Optional",
    "P4SourceError",
    "Program",
    "PythonBackend",
    "Range",
    "Replica",
    "Switch",
    "SwitchBackend",
    "SwitchError",
    "TableEntry",
    "Ternary",
]
