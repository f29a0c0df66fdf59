"""Switch state as plain, hashable P4Runtime-level entities, and diffs as ordered updates.

Names are the fully qualified P4Info names of p4src/README.md. Match values: `int` for
exact, `Lpm(value, prefix_len)`, `Ternary(value, mask)`. These are translated to finsy
objects only in the client, so everything here is pure and testable on exact contents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["INSERT", "MODIFY", "DELETE"]


@dataclass(frozen=True)
class Lpm:
    value: int
    prefix_len: int


@dataclass(frozen=True)
class Ternary:
    value: int
    mask: int


MatchValue = int | Lpm | Ternary


@dataclass(frozen=True)
class TableEntry:
    table: str
    match: tuple[tuple[str, MatchValue], ...]
    action: str
    params: tuple[tuple[str, int], ...] = ()
    priority: int = 0

    @property
    def key(self) -> tuple:
        return ("table", self.table, self.match, self.priority)

    def param(self, name: str) -> int:
        return dict(self.params)[name]

    def describe(self) -> str:
        m = ", ".join(f"{k}={_fmt(v)}" for k, v in self.match)
        return f"{self.table}[{m}] -> {self.action}"


@dataclass(frozen=True)
class McGroup:
    """A multicast group of the packet replication engine: (port, rid) replicas."""

    group: int
    replicas: tuple[tuple[int, int], ...]

    @property
    def key(self) -> tuple:
        return ("group", self.group)

    def describe(self) -> str:
        return f"multicast group {self.group} ({len(self.replicas)} replicas)"


Entity = TableEntry | McGroup


@dataclass(frozen=True)
class Update:
    kind: Kind
    entity: Entity

    def describe(self) -> str:
        return f"{self.kind} {self.entity.describe()}"


def _fmt(v: MatchValue) -> str:
    if isinstance(v, Lpm):
        return f"{v.value:#x}/{v.prefix_len}"
    if isinstance(v, Ternary):
        return f"{v.value:#x}&&&{v.mask:#x}"
    return f"{v:#x}" if v > 9 else str(v)


def index(entities: list[Entity]) -> dict[tuple, Entity]:
    out: dict[tuple, Entity] = {}
    for e in entities:
        if e.key in out and out[e.key] != e:
            raise ValueError(f"two different entities with one key: {e.describe()}")
        out[e.key] = e
    return out


# Action params holding F-BMs: a MODIFY first narrows them to old AND new, so a bit moving
# between next hops is removed from the old one before it is added to the new one
# (p4src/README.md, no-duplicate condition 4).
FBM_PARAMS = frozenset({"fbm", *(f"fbm{i}" for i in range(8))})


def diff(old: list[Entity], new: list[Entity]) -> list[Update]:
    """The updates that turn `old` into `new`, in an order that never duplicates:
    1. table deletes and F-BM-narrowing modifies (a missing entry only drops copies),
    2. group inserts and modifies, 3. table inserts (an entry never points at a group that
    does not exist yet), 4. the remaining modifies, 5. group deletes (nothing points at
    them any more)."""
    o, n = index(old), index(new)
    first: list[Update] = []
    grp: list[Update] = []
    ins_t: list[Update] = []
    mod_t: list[Update] = []
    del_g: list[Update] = []
    for k, e in o.items():
        if k not in n:
            (del_g if isinstance(e, McGroup) else first).append(Update("DELETE", e))
    for k, e in n.items():
        prev = o.get(k)
        if prev is None:
            (grp if isinstance(e, McGroup) else ins_t).append(Update("INSERT", e))
        elif prev != e:
            if isinstance(e, McGroup):
                grp.append(Update("MODIFY", e))
                continue
            assert isinstance(prev, TableEntry)
            mid = _narrowed(prev, e)
            if mid == e:
                first.append(Update("MODIFY", e))
                continue
            if mid is not None:
                first.append(Update("MODIFY", mid))
            mod_t.append(Update("MODIFY", e))
    return first + grp + ins_t + mod_t + del_g


def _narrowed(prev: TableEntry, new: TableEntry) -> TableEntry | None:
    """The first step of prev -> new: new with its F-BMs ANDed with prev's. That is `new`
    itself for a pure narrowing, None for a pure widening (nothing to do first) or when the
    action changes."""
    if prev.action != new.action:
        return None
    p, q = dict(prev.params), dict(new.params)
    mid = {k: (p[k] & v if k in FBM_PARAMS and k in p else v) for k, v in q.items()}
    if mid == q:
        return new
    if mid == p:
        return None
    return TableEntry(prev.table, prev.match, prev.action, tuple(mid.items()), prev.priority)


def mac_int(mac: str) -> int:
    return int(mac.replace(":", ""), 16)
