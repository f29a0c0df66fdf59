"""The in-process API of softswitch: the contract between the core (front end, v1model
execution, P4Info) and everything that wraps it (the P4Runtime server, ports, tests).

Values are Python ints; widths come from the program. Names are the fully qualified P4Info
names ("Ingress.ipv4_lpm", "Ingress.route", match field "hdr.ipv4.dst", param "port").
Every rejected request raises SwitchError with the P4Runtime canonical code that the server
returns for it, and a message that names the table, field or entity at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at run time these come lazily from __getattr__ below
    from softswitch.core.program import Program
    from softswitch.core.switch import Switch

__all__ = [
    "Exact",
    "Lpm",
    "MatchValue",
    "Optional",
    "P4SourceError",
    "Program",
    "Range",
    "Replica",
    "Switch",
    "SwitchError",
    "TableEntry",
    "Ternary",
]


class SwitchError(Exception):
    """A request the switch rejects. `code` is a google.rpc.Code name, e.g. INVALID_ARGUMENT."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class P4SourceError(Exception):
    """A P4 program that softswitch cannot compile: file:line:column and the construct."""

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{file}:{line}:{column}: error: {message}")
        self.file = file
        self.line = line
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Exact:
    value: int


@dataclass(frozen=True)
class Lpm:
    value: int
    prefix_len: int


@dataclass(frozen=True)
class Ternary:
    value: int
    mask: int


@dataclass(frozen=True)
class Range:
    low: int
    high: int


@dataclass(frozen=True)
class Optional:
    value: int


MatchValue = Exact | Lpm | Ternary | Range | Optional


@dataclass
class TableEntry:
    """One table entry. A match field left out of `match` is a wildcard (ternary, range,
    optional, lpm with prefix 0); exact fields must all be present."""

    table: str
    match: dict[str, MatchValue]
    action: str
    params: dict[str, int] = field(default_factory=dict)
    priority: int = 0  # P4Runtime convention: larger wins; 0 for tables without priorities


@dataclass(frozen=True)
class Replica:
    port: int
    instance: int  # becomes standard_metadata.egress_rid of the copy


# The core provides these, in softswitch/core/program.py and softswitch/core/switch.py,
# re-exported here lazily (`from softswitch.api import Program, Switch`):
#
# class Program:                       # a compiled P4 program, immutable, shareable
#     p4info: p4.config.v1.P4Info     (finsy.proto.p4i.P4Info)
#     @staticmethod
#     def from_file(path, defines: dict[str, str] | None = None,
#                   include_dirs: list[str] | None = None) -> Program    # raises P4SourceError
#     @staticmethod
#     def from_device_config(blob: bytes) -> Program  # what `python -m softswitch.compile
#                                                     #  --device-config` wrote
#     def device_config(self) -> bytes
#
# class Switch:                        # one v1model instance with its state
#     def __init__(self, program: Program, cpu_port: int | None = None)
#     program: Program
#     # tables (all raise SwitchError)
#     def insert_entry(self, e: TableEntry) -> None
#     def modify_entry(self, e: TableEntry) -> None
#     def delete_entry(self, e: TableEntry) -> None        # found by table, match, priority
#     def entries(self, table: str | None = None) -> list[TableEntry]
#     def set_default_action(self, table: str, action: str, params: dict[str, int]) -> None
#     def reset_default_action(self, table: str) -> None
#     def default_action(self, table: str) -> tuple[str, dict[str, int]]
#     # packet replication engine
#     def set_multicast_group(self, group: int, replicas: list[Replica]) -> None
#     def delete_multicast_group(self, group: int) -> None
#     def multicast_groups(self) -> dict[int, list[Replica]]
#     def set_clone_session(self, session: int, replicas: list[Replica],
#                           class_of_service: int = 0, packet_length_bytes: int = 0) -> None
#     def delete_clone_session(self, session: int) -> None
#     def clone_sessions(self) -> dict[int, list[Replica]]
#     # externs
#     def counter(self, name: str, index: int) -> tuple[int, int]         # (packets, bytes)
#     def set_counter(self, name: str, index: int, packets: int, bytes_: int) -> None
#     def direct_counter(self, e: TableEntry) -> tuple[int, int]
#     def set_direct_counter(self, e: TableEntry, packets: int, bytes_: int) -> None
#     def register(self, name: str, index: int) -> int
#     def set_register(self, name: str, index: int, value: int) -> None
#     # the data plane
#     def process(self, port: int, frame: bytes) -> list[tuple[int, bytes]]
#         # every frame that leaves, in order; frames to the CPU port carry the packet_in
#         # header as the program emitted it; a frame from the CPU port starts with packet_out.
#     def process_many(self, port: int, frames: Iterable[bytes]) -> list[tuple[int, bytes]]
#         # the same as process() frame by frame, outputs concatenated; cheaper per frame.


def __getattr__(name: str) -> object:
    # lazy, so that the core's modules can import the error and entry types above
    if name == "Program":
        from softswitch.core.program import Program

        return Program
    if name == "Switch":
        from softswitch.core.switch import Switch

        return Switch
    raise AttributeError(f"module 'softswitch.api' has no attribute {name!r}")
