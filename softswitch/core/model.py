"""What the compiler knows about a program beyond its generated code: the control-plane
entities (tables, actions, externs, controller headers) and the v1model wiring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softswitch.core.lexer import Loc
from softswitch.core.types import Header, Struct


@dataclass
class ParamInfo:
    name: str
    width: int
    annotations: list = field(default_factory=list)


@dataclass
class ActionInfo:
    fqname: str
    py: str  # generated function name
    params: list[ParamInfo]  # control-plane (directionless) parameters
    annotations: list
    loc: Loc
    referenced: bool = False
    # listed by a table (or its implicit NoAction): only then does p4c's P4Info keep the
    # parameters; p4c turns those of an action that is only called directly into locals
    in_table: bool = False
    has_directional: bool = False


@dataclass
class KeyInfo:
    name: str
    width: int
    match_kind: str  # exact, lpm, ternary, range, optional
    annotations: list = field(default_factory=list)


@dataclass
class ActionRefInfo:
    action: ActionInfo
    scope: str  # TABLE_AND_DEFAULT, TABLE_ONLY, DEFAULT_ONLY
    annotations: list = field(default_factory=list)


@dataclass
class ConstEntry:
    match: list[Any]  # per key: ("exact", v) ("lpm", v, plen) ("ternary", v, m) ("range", lo, hi)
    action: ActionInfo  # ("optional", v) or None for a wildcard
    args: list[int]
    priority: int


@dataclass
class TableInfo:
    fqname: str
    py: str
    keys: list[KeyInfo]
    actions: list[ActionRefInfo]
    default_action: ActionInfo
    default_args: list[int]
    default_const: bool
    size: int
    annotations: list
    loc: Loc
    direct_counter: ExternInfo | None = None
    const_entries: list[ConstEntry] | None = None
    is_const: bool = False

    @property
    def needs_priority(self) -> bool:
        return any(k.match_kind in ("ternary", "range", "optional") for k in self.keys)


@dataclass
class ExternInfo:
    kind: str  # counter, direct_counter, register
    fqname: str
    py: str
    annotations: list
    loc: Loc
    size: int = 0
    unit: str = ""  # counters: PACKETS, BYTES, BOTH
    width: int = 0  # registers: element width
    table: str | None = None  # direct counters: the table's fqname


@dataclass
class ProgramModel:
    source: str  # generated Python module
    tables: list[TableInfo]
    actions: list[ActionInfo]
    externs: list[ExternInfo]
    controller_headers: list[Header]
    field_lists: dict[int, list[str]]  # field list id -> user-metadata attribute names
    errors: dict[str, int]
    hdr_type: Struct
    meta_type: Struct
    blocks: dict[str, str]  # parser, verify, ingress, egress, compute, deparser -> py name
    block_names: dict[str, str] = field(default_factory=dict)  # same keys -> P4 names
