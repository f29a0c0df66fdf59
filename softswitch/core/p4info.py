"""P4Info for a compiled program, with ids assigned as p4c assigns them.

p4c (P4RuntimeSymbolTable) gives each entity `prefix << 24 | hash & 0xffffff`, where the
prefix is the entity type's byte and hash is Bob Jenkins' one-at-a-time hash of the fully
qualified name (of the header type's name for controller packet metadata). `@id` values are
taken first; the others follow in name order, probing upwards on a collision. Aliases are
the shortest dot-separated suffix that is unique among all entity names.
"""

from __future__ import annotations

from typing import Any

from finsy.proto import p4i

from softswitch.core.ast import Annotation
from softswitch.core.model import ProgramModel
from softswitch.core.types import scalar_width
from softswitch.entries import P4SourceError

PREFIX = {
    "action": 0x01,
    "table": 0x02,
    "value_set": 0x03,
    "controller_header": 0x04,
    "action_profile": 0x11,
    "counter": 0x12,
    "direct_counter": 0x13,
    "meter": 0x14,
    "direct_meter": 0x15,
    "register": 0x16,
    "digest": 0x17,
}
_MATCH = {"exact": 2, "lpm": 3, "ternary": 4, "range": 5, "optional": 6}
_SCOPE = {"TABLE_AND_DEFAULT": 0, "TABLE_ONLY": 1, "DEFAULT_ONLY": 2}
_SKIP_ANNOTATIONS = {"name", "id", "brief", "description"}


def jenkins_one_at_a_time(name: str) -> int:
    h = 0
    for b in name.encode():
        h = (h + b) & 0xFFFFFFFF
        h = (h + (h << 10)) & 0xFFFFFFFF
        h ^= h >> 6
    h = (h + (h << 3)) & 0xFFFFFFFF
    h ^= h >> 11
    h = (h + (h << 15)) & 0xFFFFFFFF
    return h


def _id_annotation(anns: list[Annotation]) -> tuple[int, Annotation] | None:
    for a in anns:
        if a.name == "id":
            if len(a.args) != 1 or not isinstance(a.args[0], int):
                raise P4SourceError(a.loc.file, a.loc.line, a.loc.col, "@id takes one integer")
            return a.args[0], a
    return None


def assign_ids(symbols: list[tuple[str, str, list[Annotation]]]) -> dict[tuple[str, str], int]:
    """(kind, hashed name, annotations) -> id, as p4c assigns them."""
    ids: dict[tuple[str, str], int] = {}
    taken: set[int] = set()
    for kind, name, anns in symbols:
        got = _id_annotation(anns)
        if got is None:
            continue
        value, a = got
        prefix = PREFIX[kind]
        if value >> 24 == 0:
            value |= prefix << 24
        elif value >> 24 != prefix:
            raise P4SourceError(
                a.loc.file,
                a.loc.line,
                a.loc.col,
                f"@id {value:#x} of {name} does not have the {kind} prefix {prefix:#04x}",
            )
        if value in taken:
            raise P4SourceError(a.loc.file, a.loc.line, a.loc.col, f"@id {value:#x} used twice")
        taken.add(value)
        ids[(kind, name)] = value
    for kind, name, _ in sorted(symbols, key=lambda s: (PREFIX[s[0]], s[1])):
        if (kind, name) in ids:
            continue
        prefix = PREFIX[kind] << 24
        h = jenkins_one_at_a_time(name) & 0xFFFFFF
        start = h
        while prefix | h in taken:
            h = (h + 1) & 0xFFFFFF
            if h == start:
                raise P4SourceError("<p4info>", 0, 0, f"no free id for {kind}s")
        taken.add(prefix | h)
        ids[(kind, name)] = prefix | h
    return ids


def field_ids(annotations: list[list[Annotation]]) -> list[int]:
    """Ids of match fields, parameters or metadata as p4c's FieldIdAllocator gives them:
    @id values first, the others 1, 2, ... in order, skipping taken ids (a field with an @id
    also uses up its position's number)."""
    given = [_id_annotation(a) for a in annotations]
    assigned = {g[0] for g in given if g is not None}
    out = []
    index = 1
    for g in given:
        if g is not None:
            out.append(g[0])
            index += 1
            continue
        while index in assigned:
            index += 1
        out.append(index)
        assigned.add(index)
    return out


def aliases(names: list[str]) -> dict[str, str]:
    parts = {n: n.split(".") for n in names}
    out = {}
    for n, comps in parts.items():
        alias = n
        for k in range(1, len(comps) + 1):
            suffix = comps[-k:]
            if sum(1 for c in parts.values() if c[-k:] == suffix) == 1:
                alias = ".".join(suffix)
                break
        out[n] = alias
    return out


def annotation_text(a: Annotation) -> str:
    """An annotation as p4c writes it into P4Info: `@name(body)`."""
    if not a.raw:
        return f"@{a.name}"
    return f"@{a.name}({a.raw.replace(' , ', ', ')})"


def _annotations(anns: list[Annotation], skip: set[str] = _SKIP_ANNOTATIONS) -> list[str]:
    return [annotation_text(a) for a in anns if a.name not in skip]


def _doc(message: Any, anns: list[Annotation]) -> None:
    """@brief and @description become the message's doc (p4c's addDocumentation)."""
    for a in anns:
        if a.name in ("brief", "description") and a.args and isinstance(a.args[0], str):
            setattr(message.doc, a.name, a.args[0])


def _preamble(pre: Any, id_: int, name: str, alias: str, anns: list[Annotation]) -> None:
    pre.id = id_
    pre.name = name
    pre.alias = alias
    pre.annotations.extend(_annotations(anns))
    _doc(pre, anns)


def _bytes(v: int) -> bytes:
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


def build_p4info(m: ProgramModel) -> Any:
    actions = [a for a in m.actions if a.referenced]
    externs = m.externs
    symbols: list[tuple[str, str, list[Annotation]]] = []
    symbols += [("table", t.fqname, t.annotations) for t in m.tables]
    symbols += [("action", a.fqname, a.annotations) for a in actions]
    symbols += [(x.kind, x.fqname, x.annotations) for x in externs]
    symbols += [("controller_header", h.name, h.annotations) for h in m.controller_headers]
    ids = assign_ids(symbols)

    def cph_name(h: Any) -> str:
        a = next(a for a in h.annotations if a.name == "controller_header")
        return str(a.args[0]) if a.args else h.name

    # one suffix set over every symbol, controller headers by their type's name (as p4c)
    all_names = [t.fqname for t in m.tables] + [a.fqname for a in actions]
    all_names += [x.fqname for x in externs] + [h.name for h in m.controller_headers]
    alias = aliases(sorted(set(all_names)))

    info = p4i.P4Info()
    info.pkg_info.arch = "v1model"
    for t in m.tables:
        pt = info.tables.add()
        _preamble(pt.preamble, ids[("table", t.fqname)], t.fqname, alias[t.fqname], t.annotations)
        for k, fid in zip(t.keys, field_ids([k.annotations for k in t.keys]), strict=True):
            mf = pt.match_fields.add()
            mf.id = fid
            mf.name = k.name
            mf.bitwidth = k.width
            mf.match_type = _MATCH[k.match_kind]  # type: ignore[assignment]
            mf.annotations.extend(_annotations(k.annotations))
            _doc(mf, k.annotations)
        for r in t.actions:
            ar = pt.action_refs.add()
            ar.id = ids[("action", r.action.fqname)]
            ar.scope = _SCOPE[r.scope]  # type: ignore[assignment]
            ar.annotations.extend(_annotations(r.annotations))
        da = ids[("action", t.default_action.fqname)]
        if t.default_const:
            pt.const_default_action_id = da
        pt.initial_default_action.action_id = da
        pids = field_ids([p.annotations for p in t.default_action.params])
        for pid, v in zip(pids, t.default_args, strict=True):
            arg = pt.initial_default_action.arguments.add()
            arg.param_id = pid
            arg.value = _bytes(v)
        if t.direct_counter is not None:
            pt.direct_resource_ids.append(ids[("direct_counter", t.direct_counter.fqname)])
        pt.size = t.size
        if t.is_const:
            pt.is_const_table = True
        if t.const_entries:
            pt.has_initial_entries = True
    for a in actions:
        pa = info.actions.add()
        _preamble(pa.preamble, ids[("action", a.fqname)], a.fqname, alias[a.fqname], a.annotations)
        # p4c's front end makes the parameters of an action that no table lists local
        # variables before it writes P4Info, so such an action has none there
        params = a.params if a.in_table else []
        for p, pid in zip(params, field_ids([p.annotations for p in params]), strict=True):
            pp = pa.params.add()
            pp.id = pid
            pp.name = p.name
            pp.bitwidth = p.width
            pp.annotations.extend(_annotations(p.annotations))
            _doc(pp, p.annotations)
    for x in externs:
        if x.kind == "counter":
            c = info.counters.add()
            _preamble(c.preamble, ids[(x.kind, x.fqname)], x.fqname, alias[x.fqname], x.annotations)
            c.spec.unit = getattr(p4i.CounterSpec, x.unit)
            c.size = x.size
        elif x.kind == "direct_counter":
            c = info.direct_counters.add()
            _preamble(c.preamble, ids[(x.kind, x.fqname)], x.fqname, alias[x.fqname], x.annotations)
            c.spec.unit = getattr(p4i.CounterSpec, x.unit)
            if x.table is not None:
                c.direct_table_id = ids[("table", x.table)]
        elif x.kind == "register":
            r = info.registers.add()
            _preamble(r.preamble, ids[(x.kind, x.fqname)], x.fqname, alias[x.fqname], x.annotations)
            et = x.elem_type  # type: ignore[attr-defined]
            if getattr(et, "signed", False):
                r.type_spec.bitstring.int.bitwidth = x.width
            else:
                r.type_spec.bitstring.bit.bitwidth = x.width
            r.size = x.size
    for h in m.controller_headers:
        c = info.controller_packet_metadata.add()
        n = cph_name(h)
        _preamble(c.preamble, ids[("controller_header", h.name)], n, n, h.annotations)
        fanns = getattr(h, "field_annotations", [[] for _ in h.fields])
        for (fname, ft), fa, fid in zip(h.fields, fanns, field_ids(fanns), strict=True):
            md = c.metadata.add()
            md.id = fid
            md.annotations.extend(_annotations(fa))
            md.name = fname
            md.bitwidth = scalar_width(ft) or 0
    info.type_info.SetInParent()
    return info
