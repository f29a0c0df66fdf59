"""Table entries, replicas and errors: the values every part of softswitch exchanges (the core,
each execution backend, the P4Runtime server, tests). This module imports nothing of softswitch,
so that any of them can import it without pulling in the others.

Values are Python ints; widths come from the program. Names are the fully qualified P4Info
names ("Ingress.ipv4_lpm", "Ingress.route", match field "hdr.ipv4.dst", param "port").
Every rejected request raises SwitchError with the P4Runtime canonical code that the server
returns for it, and a message that names the table, field or entity at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Exact",
    "Lpm",
    "MatchValue",
    "Optional",
    "P4SourceError",
    "Range",
    "Replica",
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
