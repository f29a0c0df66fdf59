"""Switch state as a person reads it (the testbed CLI's `tables`): 48-bit values as MAC
addresses, IPv4 match fields dotted, Ethertypes and bitmaps in hex, everything else in
decimal; widths from the program's P4Info.

    MyIngress.ipv4_lpm[hdr.ipv4.dst_addr=10.0.0.2/32] -> MyIngress.ipv4_route(port=2,
        dmac=02:00:00:00:00:02)
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address
from typing import Any

from controlplane.entities import Lpm, MatchValue, McGroup, TableEntry, Ternary

# (table or action name, match field or parameter name) -> bit width
Widths = Mapping[tuple[str, str], int]


def schema_widths(schema: Any) -> dict[tuple[str, str], int]:
    """The widths of every match field and action parameter of a finsy P4Schema."""
    out: dict[tuple[str, str], int] = {}
    for table in schema.tables:
        for f in table.match_fields:
            out[(table.name, f.name)] = f.bitwidth
    for action in schema.actions:
        for p in action.params:
            out[(action.name, p.name)] = p.bitwidth
    return out


def value(v: int, bits: int | None, name: str = "") -> str:
    """One value of `bits` bits (None: unknown) named `name` (a field or parameter)."""
    if bits == 48:
        return ":".join(f"{b:02x}" for b in v.to_bytes(6, "big"))
    if bits == 32 and "ipv4" in name:
        return str(IPv4Address(v))
    if "ether_type" in name:
        return f"{v:#06x}"
    if bits is not None and bits > 32:  # BIER bitstrings and F-BMs
        return f"{v:#x}"
    return str(v)


def match_value(v: MatchValue, bits: int | None, name: str) -> str:
    if isinstance(v, Lpm):
        return f"{value(v.value, bits, name)}/{v.prefix_len}"
    if isinstance(v, Ternary):
        return f"{value(v.value, bits, name)}&&&{value(v.mask, bits, name)}"
    return value(v, bits, name)


def entry(e: TableEntry, widths: Widths) -> str:
    m = ", ".join(f"{k}={match_value(v, widths.get((e.table, k)), k)}" for k, v in e.match)
    p = ", ".join(f"{k}={value(v, widths.get((e.action, k)), k)}" for k, v in e.params)
    prio = f" priority {e.priority}" if e.priority else ""
    return f"{e.table}[{m}]{prio} -> {e.action}({p})"


def group(g: McGroup) -> str:
    copies = ", ".join(f"port {port} rid {rid}" for port, rid in g.replicas)
    return f"multicast group {g.group}: {copies or 'no copies'}"


def tables(switch: str, entries: list[TableEntry], groups: list[McGroup], widths: Widths) -> str:
    lines = [f"{switch}: {len(entries)} entries, {len(groups)} multicast groups"]
    lines += [f"  {entry(e, widths)}" for e in entries]
    lines += [f"  {group(g)}" for g in groups]
    return "\n".join(lines)
