"""Look-ups into a P4Info by id and by name, built once per pipeline config."""

from __future__ import annotations

from dataclasses import dataclass, field

from finsy.proto import p4i

from softswitch.server.errors import error

# P4Info MatchType enum value -> the FieldMatch oneof name carrying it.
MATCH_KIND = {
    p4i.MatchField.EXACT: "exact",
    p4i.MatchField.LPM: "lpm",
    p4i.MatchField.TERNARY: "ternary",
    p4i.MatchField.RANGE: "range",
    p4i.MatchField.OPTIONAL: "optional",
}


@dataclass
class MatchFieldInfo:
    id: int
    name: str
    bitwidth: int
    kind: str  # exact | lpm | ternary | range | optional | other


@dataclass
class ParamInfo:
    id: int
    name: str
    bitwidth: int


@dataclass
class ActionInfo:
    id: int
    name: str
    params: dict[int, ParamInfo]
    params_by_name: dict[str, ParamInfo]


@dataclass
class TableInfo:
    id: int
    name: str
    fields: dict[int, MatchFieldInfo]
    fields_by_name: dict[str, MatchFieldInfo]
    action_ids: set[int]
    table_only: set[int]
    default_only: set[int]
    const_default_action_id: int
    direct_counter_id: int  # 0 when the table has none
    is_const: bool
    size: int

    @property
    def needs_priority(self) -> bool:
        """P4Runtime: a table with ternary, range or optional fields orders by priority."""
        return any(f.kind in ("ternary", "range", "optional") for f in self.fields.values())


@dataclass
class ArrayInfo:
    """An indexed extern: counter or register."""

    id: int
    name: str
    size: int
    bitwidth: int = 0  # registers: width of one cell


@dataclass
class CpmInfo:
    """A @controller_header (packet_in / packet_out) header: fields in order."""

    id: int
    name: str
    fields: list[ParamInfo] = field(default_factory=list)

    @property
    def bitwidth(self) -> int:
        return sum(f.bitwidth for f in self.fields)


class P4InfoIndex:
    """Id and name look-ups over one P4Info. Unknown ids raise NOT_FOUND naming the kind."""

    def __init__(self, info: p4i.P4Info) -> None:
        self.p4info = info
        self.actions: dict[int, ActionInfo] = {}
        for a in info.actions:
            ps = {p.id: ParamInfo(p.id, p.name, p.bitwidth) for p in a.params}
            self.actions[a.preamble.id] = ActionInfo(
                a.preamble.id, a.preamble.name, ps, {p.name: p for p in ps.values()}
            )
        self.actions_by_name = {a.name: a for a in self.actions.values()}
        self.direct_counters = {
            c.preamble.id: (c.preamble.name, c.direct_table_id) for c in info.direct_counters
        }
        self.tables: dict[int, TableInfo] = {}
        for t in info.tables:
            fields = {
                m.id: MatchFieldInfo(
                    m.id, m.name, m.bitwidth, MATCH_KIND.get(m.match_type, "other")
                )
                for m in t.match_fields
            }
            direct = [r for r in t.direct_resource_ids if r in self.direct_counters]
            self.tables[t.preamble.id] = TableInfo(
                id=t.preamble.id,
                name=t.preamble.name,
                fields=fields,
                fields_by_name={f.name: f for f in fields.values()},
                action_ids={r.id for r in t.action_refs},
                table_only={r.id for r in t.action_refs if r.scope == p4i.ActionRef.TABLE_ONLY},
                default_only={r.id for r in t.action_refs if r.scope == p4i.ActionRef.DEFAULT_ONLY},
                const_default_action_id=t.const_default_action_id,
                direct_counter_id=direct[0] if direct else 0,
                is_const=t.is_const_table,
                size=t.size,
            )
        self.tables_by_name = {t.name: t for t in self.tables.values()}
        self.counters = {
            c.preamble.id: ArrayInfo(c.preamble.id, c.preamble.name, c.size) for c in info.counters
        }
        self.registers = {}
        for r in info.registers:
            width = r.type_spec.bitstring.bit.bitwidth or r.type_spec.bitstring.varbit.max_bitwidth
            self.registers[r.preamble.id] = ArrayInfo(r.preamble.id, r.preamble.name, r.size, width)
        self.registers_by_name = {r.name: r for r in self.registers.values()}
        self.cpm: dict[str, CpmInfo] = {}
        for c in info.controller_packet_metadata:
            cp = CpmInfo(c.preamble.id, c.preamble.name)
            cp.fields = [ParamInfo(m.id, m.name, m.bitwidth) for m in c.metadata]
            self.cpm[c.preamble.name] = cp

    def table(self, table_id: int) -> TableInfo:
        t = self.tables.get(table_id)
        if t is None:
            raise error("NOT_FOUND", f"table id {table_id} is not in the P4Info")
        return t

    def action(self, action_id: int) -> ActionInfo:
        a = self.actions.get(action_id)
        if a is None:
            raise error("NOT_FOUND", f"action id {action_id} is not in the P4Info")
        return a

    def counter(self, counter_id: int) -> ArrayInfo:
        c = self.counters.get(counter_id)
        if c is None:
            raise error("NOT_FOUND", f"counter id {counter_id} is not in the P4Info")
        return c

    def register(self, register_id: int) -> ArrayInfo:
        r = self.registers.get(register_id)
        if r is None:
            raise error("NOT_FOUND", f"register id {register_id} is not in the P4Info")
        return r
