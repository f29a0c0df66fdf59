"""Translation between P4Runtime entities (p4.v1 protobuf) and softswitch.entries objects, with
the validation the P4Runtime specification asks of a server (section 9 and 8.4)."""

from __future__ import annotations

from finsy.proto import p4d, p4r

from softswitch.entries import Exact, Lpm, MatchValue, Optional, Range, Replica, TableEntry, Ternary
from softswitch.server import bytestr
from softswitch.server.errors import error
from softswitch.server.p4info_index import P4InfoIndex, TableInfo

PORT_BITS = 9  # v1model ports (standard_metadata.egress_port) are bit<9>


def _mask(bits: int) -> int:
    return (1 << bits) - 1


def match_from_p4r(t: TableInfo, fms: list[p4r.FieldMatch]) -> dict[str, MatchValue]:
    """The api match of a TableEntry's FieldMatch list; rejects what spec 9.1.1 rejects."""
    out: dict[str, MatchValue] = {}
    for fm in fms:
        f = t.fields.get(fm.field_id)
        if f is None:
            raise error("INVALID_ARGUMENT", f"{t.name}: unknown match field id {fm.field_id}")
        if f.name in out:
            raise error("INVALID_ARGUMENT", f"{t.name}: match field {f.name} given twice")
        kind = fm.WhichOneof("field_match_type")
        what = f"{t.name} match field {f.name}"
        if kind != f.kind:
            raise error(
                "INVALID_ARGUMENT", f"{what}: is {f.kind.upper()}, request gives {kind or 'none'}"
            )
        if kind == "exact":
            out[f.name] = Exact(bytestr.decode(fm.exact.value, f.bitwidth, what))
        elif kind == "optional":
            out[f.name] = Optional(bytestr.decode(fm.optional.value, f.bitwidth, what))
        elif kind == "lpm":
            value = bytestr.decode(fm.lpm.value, f.bitwidth, what)
            plen = fm.lpm.prefix_len
            if not 0 <= plen <= f.bitwidth:
                raise error(
                    "INVALID_ARGUMENT", f"{what}: prefix length {plen} outside 0..{f.bitwidth}"
                )
            if plen == 0:
                raise error("INVALID_ARGUMENT", f"{what}: a /0 prefix must be omitted (wildcard)")
            if value & _mask(f.bitwidth - plen):
                raise error(
                    "INVALID_ARGUMENT", f"{what}: host bits set beyond prefix length {plen}"
                )
            out[f.name] = Lpm(value, plen)
        elif kind == "ternary":
            value = bytestr.decode(fm.ternary.value, f.bitwidth, what)
            mask = bytestr.decode(fm.ternary.mask, f.bitwidth, what + " mask")
            if mask == 0:
                raise error("INVALID_ARGUMENT", f"{what}: an all-zero mask must be omitted")
            if value & ~mask:
                raise error("INVALID_ARGUMENT", f"{what}: value has bits outside the mask")
            out[f.name] = Ternary(value, mask)
        elif kind == "range":
            low = bytestr.decode(fm.range.low, f.bitwidth, what + " low")
            high = bytestr.decode(fm.range.high, f.bitwidth, what + " high")
            if low > high:
                raise error("INVALID_ARGUMENT", f"{what}: low {low} > high {high}")
            if low == 0 and high == _mask(f.bitwidth):
                raise error("INVALID_ARGUMENT", f"{what}: a full range must be omitted")
            out[f.name] = Range(low, high)
        else:
            raise error("UNIMPLEMENTED", f"{what}: match kind {kind} is not supported")
    for f in t.fields.values():
        if f.kind == "exact" and f.name not in out:
            raise error("INVALID_ARGUMENT", f"{t.name}: exact match field {f.name} missing")
    return out


def action_from_p4r(
    idx: P4InfoIndex, t: TableInfo, act: p4r.Action, default: bool
) -> tuple[str, dict[str, int]]:
    """(action name, params) of a direct action, checked against the table's action refs."""
    a = idx.actions.get(act.action_id)
    if a is None or act.action_id not in t.action_ids:
        raise error(
            "INVALID_ARGUMENT", f"{t.name}: action id {act.action_id} is not an action of the table"
        )
    if default and act.action_id in t.table_only:
        raise error("INVALID_ARGUMENT", f"{t.name}: action {a.name} is @tableonly")
    if not default and act.action_id in t.default_only:
        raise error("INVALID_ARGUMENT", f"{t.name}: action {a.name} is @defaultonly")
    params: dict[str, int] = {}
    for p in act.params:
        pi = a.params.get(p.param_id)
        if pi is None:
            raise error("INVALID_ARGUMENT", f"{a.name}: unknown param id {p.param_id}")
        if pi.name in params:
            raise error("INVALID_ARGUMENT", f"{a.name}: param {pi.name} given twice")
        params[pi.name] = bytestr.decode(p.value, pi.bitwidth, f"{a.name} param {pi.name}")
    missing = [pi.name for pi in a.params.values() if pi.name not in params]
    if missing:
        raise error("INVALID_ARGUMENT", f"{a.name}: params missing: {', '.join(missing)}")
    return a.name, params


def key_from_p4r(idx: P4InfoIndex, pe: p4r.TableEntry) -> tuple[TableInfo, TableEntry]:
    """Table and key (match + priority; no action) of an entry, as DELETE and reads use it."""
    t = idx.table(pe.table_id)
    match = match_from_p4r(t, list(pe.match))
    if t.needs_priority:
        if pe.priority <= 0:
            raise error("INVALID_ARGUMENT", f"{t.name}: priority must be > 0 for this table")
    elif pe.priority != 0:
        raise error("INVALID_ARGUMENT", f"{t.name}: table takes no priority, got {pe.priority}")
    return t, TableEntry(t.name, match, "", {}, pe.priority)


def entry_from_p4r(idx: P4InfoIndex, pe: p4r.TableEntry) -> tuple[TableInfo, TableEntry]:
    """A full (non-default) table entry for INSERT / MODIFY."""
    t, e = key_from_p4r(idx, pe)
    kind = pe.action.WhichOneof("type")
    if kind is None:
        raise error("INVALID_ARGUMENT", f"{t.name}: entry has no action")
    if kind != "action":
        raise error("UNIMPLEMENTED", f"{t.name}: {kind} (action profiles) not supported")
    e.action, e.params = action_from_p4r(idx, t, pe.action.action, default=False)
    return t, e


def _wildcard(v: MatchValue, bits: int) -> bool:
    if isinstance(v, Ternary):
        return v.mask == 0
    if isinstance(v, Lpm):
        return v.prefix_len == 0
    if isinstance(v, Range):
        return v.low == 0 and v.high == _mask(bits)
    return False


def match_to_p4r(t: TableInfo, match: dict[str, MatchValue]) -> list[p4r.FieldMatch]:
    """Canonical FieldMatch list, ordered by field id, wildcards omitted."""
    out = []
    for name, v in match.items():
        f = t.fields_by_name.get(name)
        if f is None or _wildcard(v, f.bitwidth):
            continue
        fm = p4r.FieldMatch(field_id=f.id)
        if isinstance(v, Exact):
            fm.exact.value = bytestr.encode(v.value)
        elif isinstance(v, Optional):
            fm.optional.value = bytestr.encode(v.value)
        elif isinstance(v, Lpm):
            fm.lpm.value = bytestr.encode(v.value)
            fm.lpm.prefix_len = v.prefix_len
        elif isinstance(v, Ternary):
            fm.ternary.value = bytestr.encode(v.value & v.mask)
            fm.ternary.mask = bytestr.encode(v.mask)
        elif isinstance(v, Range):
            fm.range.low = bytestr.encode(v.low)
            fm.range.high = bytestr.encode(v.high)
        out.append(fm)
    out.sort(key=lambda m: m.field_id)
    return out


def action_to_p4r(idx: P4InfoIndex, name: str, params: dict[str, int]) -> p4r.Action:
    a = idx.actions_by_name.get(name)
    if a is None:
        raise error("INTERNAL", f"switch returned action {name!r} that the P4Info lacks")
    out = p4r.Action(action_id=a.id)
    for pname, value in params.items():
        pi = a.params_by_name[pname]
        out.params.add(param_id=pi.id, value=bytestr.encode(value))
    out.params.sort(key=lambda p: p.param_id)
    return out


def entry_to_p4r(idx: P4InfoIndex, e: TableEntry) -> p4r.TableEntry:
    t = idx.tables_by_name.get(e.table)
    if t is None:
        raise error("INTERNAL", f"switch returned table {e.table!r} that the P4Info lacks")
    pe = p4r.TableEntry(table_id=t.id, priority=e.priority)
    pe.match.extend(match_to_p4r(t, e.match))
    pe.action.action.CopyFrom(action_to_p4r(idx, e.action, e.params))
    return pe


def entry_key(e: TableEntry) -> tuple:
    """A hashable identity of an entry (table, match, priority), e.g. for side stores."""
    return (e.table, tuple(sorted(e.match.items(), key=lambda kv: kv[0])), e.priority)


def port_from_replica(r: p4r.Replica, what: str) -> int:
    """The egress port of a replica, from `port` (bytes, v1.4+) or deprecated `egress_port`."""
    kind = r.WhichOneof("port_kind")
    if kind == "port":
        return bytestr.decode(r.port, PORT_BITS, f"{what} port")
    if kind == "egress_port":
        if r.egress_port >> PORT_BITS:
            raise error(
                "OUT_OF_RANGE", f"{what}: egress_port {r.egress_port} exceeds {PORT_BITS} bits"
            )
        return r.egress_port
    raise error("INVALID_ARGUMENT", f"{what}: replica without a port")


def replicas_from_p4r(rs: list[p4r.Replica], what: str) -> list[Replica]:
    out: list[Replica] = []
    seen: set[tuple[int, int]] = set()
    for r in rs:
        if len(r.backup_replicas):
            raise error("UNIMPLEMENTED", f"{what}: backup replicas are not supported")
        rep = Replica(port_from_replica(r, what), r.instance)
        if (rep.port, rep.instance) in seen:
            raise error(
                "INVALID_ARGUMENT",
                f"{what}: replica (port {rep.port}, instance {rep.instance}) twice",
            )
        seen.add((rep.port, rep.instance))
        out.append(rep)
    return out


def replicas_to_p4r(rs: list[Replica]) -> list[p4r.Replica]:
    return [p4r.Replica(port=bytestr.encode(r.port), instance=r.instance) for r in rs]


def bitstring(value: int) -> p4d.P4Data:
    return p4d.P4Data(bitstring=bytestr.encode(value))


def bitstring_value(data: p4d.P4Data, bitwidth: int, what: str) -> int:
    if data.WhichOneof("data") != "bitstring":
        raise error("UNIMPLEMENTED", f"{what}: only bitstring register data is supported")
    return bytestr.decode(data.bitstring, bitwidth, what)
