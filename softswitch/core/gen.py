"""Shared pieces of the compiler: compiled expressions, symbols, scopes, output buffer."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

from softswitch.core import ast as A
from softswitch.core.lexer import Loc, error
from softswitch.core.types import (
    Bits,
    Type,
)

# standard_metadata fields the v1model runtime (not the program) writes
RUNTIME_SM_FIELDS = [
    "ingress_port",
    "egress_spec",
    "egress_port",
    "instance_type",
    "packet_length",
    "mcast_grp",
    "egress_rid",
    "checksum_error",
    "parser_error",
]
V1_BLOCKS = ["parser", "verify", "ingress", "egress", "compute", "deparser"]
MATCH_KINDS = {"exact", "lpm", "ternary", "range", "optional"}
HASH_ALGOS = {"crc16", "crc32", "identity", "csum16", "xor16"}


def py_attr(name: str) -> str:
    """A P4 field name as a Python attribute (keywords and leading `_` are mangled)."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return name + "_"
    if name.startswith("_"):
        return "u" + name
    return name


def mangle(fq: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in fq)


@dataclass
class E:
    """A compiled expression."""

    code: str
    type: Type
    const: Any = None  # int / bool for compile-time constants
    lv: bool = False
    sym: Any = None  # non-value things: tables, externs, packet objects, types
    setter: Any = None  # value code -> statement, for l-values that are not plain names
    hf: Any = None  # header field: (header code, shift, width) for field-list merging
    sf: Any = None  # struct field: (struct type, field name), to track which are written


@dataclass
class Sym:
    kind: str  # var, const, action, table, extern, packet_in, packet_out, type, control
    type: Type | None = None
    code: str = ""
    value: Any = None
    info: Any = None


class Scope:
    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.names: dict[str, Sym] = {}

    def lookup(self, name: str) -> Sym | None:
        s: Scope | None = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def add(self, name: str, sym: Sym, loc: Loc | None = None) -> None:
        if loc is not None and name in self.names:
            raise error(loc, f"{name!r} is already declared in this scope")
        self.names[name] = sym


class Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ind = 0

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.ind + line)


@dataclass
class Ctx:
    """Where a statement is being compiled."""

    kind: str  # parser, control, action, deparser
    out: Out
    control: str = ""  # fully qualified name of the enclosing control
    sm: str = "_sm"
    ret_out: list[str] = field(default_factory=list)  # action out-params to return
    in_apply: bool = False


def wrap(code: str, t: Bits) -> str:
    if t.signed:
        h = 1 << (t.width - 1)
        return f"(((({code}) + {h}) & {t.mask}) - {h})"
    return f"(({code}) & {t.mask})"


def fold(v: int, t: Bits) -> int:
    v &= t.mask
    if t.signed and v >> (t.width - 1):
        v -= 1 << t.width
    return v


def _find_applies(node: Any) -> list[Any]:
    """Calls `t.apply()` nested in an expression, innermost first."""
    found: list[Any] = []

    def walk(x: Any) -> None:
        if isinstance(x, A.Call):
            for a in x.args:
                walk(a.expr)
            walk(x.func)
            if isinstance(x.func, A.Member) and x.func.name == "apply" and not x.args:
                found.append(x)
        elif isinstance(x, A.Node):
            for v in vars(x).values():
                if isinstance(v, A.Node):
                    walk(v)
                elif isinstance(v, list):
                    for it in v:
                        if isinstance(it, A.Node):
                            walk(it)

    walk(node)
    return found
