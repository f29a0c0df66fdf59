"""Lookup functions generated for one table's current entries.

A generic lookup loops over keys and match kinds for every frame; here the loops are unrolled
into straight-line Python for the table as it is (its key kinds, prefix lengths, rows and
whether a direct counter is attached), compiled once after the entries change. Entry values
are written into the code as integer literals; records (the table's result lists) are bound
by name, so modifying an entry in place needs no new function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# scan tables (ternary, range, optional) with more rows than this keep the generic loop:
# compiling thousands of rows costs more than a few frames save
MAX_UNROLLED_ROWS = 256

Test = tuple[int, int, int, int]  # key index, op (0 equal, 1 masked equal, 2 range), a, b


def _count(ind: str, rec: str, counted: bool) -> list[str]:
    if not counted:
        return []
    return [f"{ind}c = {rec}[4]", f"{ind}c[0] += 1", f"{ind}c[1] += sm.packet_length"]


def _compile(src: list[str], env: dict[str, Any]) -> Callable:
    code = compile("\n".join(src) + "\n", "<softswitch table lookup>", "exec")
    exec(code, env)
    return env["lookup"]


def exact_lookup(nkeys: int, table: dict, default: Any, counted: bool) -> Callable:
    """Only exact keys: one dict, keyed by the value (one key) or the tuple of values."""
    args = ", ".join(f"k{i}" for i in range(nkeys))
    key = "k0" if nkeys == 1 else f"({args},)"
    env: dict[str, Any] = {"get": table.get, "DEFAULT": default}
    if not counted:
        src = [f"def lookup(sm, {args}):", f"    return get({key}, DEFAULT)"]
    else:
        src = [
            f"def lookup(sm, {args}):",
            f"    r = get({key})",
            "    if r is None:",
            "        return DEFAULT",
            *_count("    ", "r", True),
            "    return r",
        ]
    return _compile(src, env)


def lpm_lookup(
    nkeys: int, lpm_index: int, levels: list[tuple[int, dict]], default: Any, counted: bool
) -> Callable:
    """One lpm key (plus exact ones): a dict per prefix length, tried longest first."""
    args = ", ".join(f"k{i}" for i in range(nkeys))
    env: dict[str, Any] = {"DEFAULT": default}
    src = [f"def lookup(sm, {args}):"]
    for n, (mask, d) in enumerate(levels):
        env[f"g{n}"] = d.get
        masked = f"k{lpm_index} & {mask}"
        if nkeys == 1:
            key = masked
        else:
            parts = [masked if i == lpm_index else f"k{i}" for i in range(nkeys)]
            key = f"({', '.join(parts)},)"
        src += [
            f"    r = g{n}({key})",
            "    if r is not None:",
            *_count("        ", "r", counted),
            "        return r",
        ]
    src.append("    return DEFAULT")
    return _compile(src, env)


def scan_lookup(
    nkeys: int, rows: list[tuple[tuple[Test, ...], Any]], default: Any, counted: bool
) -> Callable:
    """Ternary, range or optional keys: the rows in priority order, first match wins."""
    args = ", ".join(f"k{i}" for i in range(nkeys))
    env: dict[str, Any] = {"DEFAULT": default}
    src = [f"def lookup(sm, {args}):"]
    for n, (tests, record) in enumerate(rows):
        env[f"R{n}"] = record
        conds = []
        for i, op, a, b in tests:
            if op == 0:
                conds.append(f"k{i} == {a}")
            elif op == 1:
                conds.append(f"(k{i} & {b}) == {a}")
            else:
                conds.append(f"{a} <= k{i} <= {b}")
        if not conds:  # a row of wildcards matches everything: the rows after never win
            src += [*_count("    ", f"R{n}", counted), f"    return R{n}"]
            break
        src += [
            f"    if {' and '.join(conds)}:",
            *_count("        ", f"R{n}", counted),
            f"        return R{n}",
        ]
    else:
        src.append("    return DEFAULT")
    return _compile(src, env)
