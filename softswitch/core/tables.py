"""Match-action tables of one switch: entry validation (P4Runtime codes) and fast lookup.

Lookup structures by key kinds: no key -> the default; only exact -> one dict; one lpm
(plus exact) -> a dict per prefix length, longest first; anything with ternary, range or
optional -> entries sorted by priority, scanned in order. The lookup function is generated
for the table's entries (lookup_gen) and rebuilt lazily, on the first frame after a change.
A lookup returns a record (action function, args, action index, hit, direct counter).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from softswitch.core import lookup_gen
from softswitch.core.model import ActionInfo, TableInfo
from softswitch.entries import (
    Exact,
    Lpm,
    MatchValue,
    Optional,
    Range,
    SwitchError,
    TableEntry,
    Ternary,
)

_KIND_CLASS = {"exact": Exact, "lpm": Lpm, "ternary": Ternary, "range": Range, "optional": Optional}


class _Entry:
    __slots__ = ("action", "args", "key", "match", "priority", "record")

    def __init__(
        self, key: tuple, match: tuple, priority: int, action: ActionInfo, args: tuple, record: list
    ) -> None:
        self.key = key
        self.match = match
        self.priority = priority
        self.action = action
        self.args = args
        self.record = record


class Table:
    def __init__(
        self, info: TableInfo, fns: dict[str, Callable], ns: dict[str, Any] | None = None
    ) -> None:
        self.info = info
        self.ns = ns  # generated module: gets the lookup function as `<py>_L`
        self.fns = fns
        self.widths = [k.width for k in info.keys]
        self.kinds = [k.match_kind for k in info.keys]
        self.action_index = {r.action.fqname: i for i, r in enumerate(info.actions)}
        self.entries: dict[tuple, _Entry] = {}
        kinds = set(self.kinds)
        if not kinds:
            self.mode = "none"
        elif kinds <= {"exact"}:
            self.mode = "exact"
        elif kinds <= {"exact", "lpm"} and self.kinds.count("lpm") == 1:
            self.mode = "lpm"
        else:
            self.mode = "scan"
        self.counted = info.direct_counter is not None
        self._set_default(info.default_action, info.default_args)
        if info.const_entries:
            for ce in info.const_entries:
                self._insert(
                    self._normalize_const(ce.match), ce.priority, ce.action, tuple(ce.args)
                )
        self._rebuild()

    # ---- defaults -------------------------------------------------------------------------
    def _record(self, action: ActionInfo, args: tuple, hit: bool) -> list:
        return [self.fns[action.py], args, self.action_index[action.fqname], hit, [0, 0]]

    def _set_default(self, action: ActionInfo, args: list[int] | tuple) -> None:
        self.default_action = action
        self.default_args = tuple(args)
        self.default = tuple(self._record(action, tuple(args), False))
        if hasattr(self, "_lookup_built"):
            self._rebuild()

    def set_default(self, action_name: str, params: dict[str, int]) -> None:
        if self.info.default_const:
            raise SwitchError(
                "PERMISSION_DENIED", f"table {self.info.fqname} has a const default action"
            )
        ref = self._action_ref(action_name)
        if ref.scope == "TABLE_ONLY":
            raise SwitchError(
                "INVALID_ARGUMENT", f"action {action_name} is @tableonly in {self.info.fqname}"
            )
        self._set_default(ref.action, self._params(ref.action, params))

    def reset_default(self) -> None:
        self._set_default(self.info.default_action, self.info.default_args)

    # ---- validation -----------------------------------------------------------------------
    def _action_ref(self, name: str) -> Any:
        for r in self.info.actions:
            if r.action.fqname == name:
                return r
        raise SwitchError(
            "INVALID_ARGUMENT" if name in self.fns_by_name else "NOT_FOUND",
            f"action {name!r} is not an action of table {self.info.fqname}",
        )

    fns_by_name: set[str] = set()  # all action names of the program, set by the switch

    def _params(self, a: ActionInfo, params: dict[str, int]) -> tuple:
        names = {p.name for p in a.params}
        for k in params:
            if k not in names:
                raise SwitchError("INVALID_ARGUMENT", f"action {a.fqname} has no parameter {k!r}")
        out = []
        for p in a.params:
            if p.name not in params:
                raise SwitchError(
                    "INVALID_ARGUMENT", f"action {a.fqname}: parameter {p.name!r} missing"
                )
            v = params[p.name]
            if not isinstance(v, int) or v < 0:
                raise SwitchError(
                    "INVALID_ARGUMENT", f"action {a.fqname}: parameter {p.name} must be an int >= 0"
                )
            if v >> p.width:
                raise SwitchError(
                    "OUT_OF_RANGE",
                    f"action {a.fqname}: parameter {p.name} = "
                    f"{v:#x} does not fit in {p.width} bits",
                )
            out.append(v)
        return tuple(out)

    def _normalize(self, e: TableEntry) -> tuple[tuple, int]:
        """Validate the match; return per-key canonical values and the priority."""
        t = self.info
        names = [k.name for k in t.keys]
        for k in e.match:
            if k not in names:
                raise SwitchError("INVALID_ARGUMENT", f"table {t.fqname} has no match field {k!r}")
        out: list[Any] = []
        for ki in t.keys:
            m = e.match.get(ki.name)
            w = ki.width
            full = (1 << w) - 1
            mk = ki.match_kind
            where = f"table {t.fqname}, field {ki.name}"
            if m is None:
                if mk == "exact":
                    raise SwitchError("INVALID_ARGUMENT", f"{where}: exact match missing")
                out.append(None)
                continue
            if not isinstance(m, _KIND_CLASS[mk]):
                raise SwitchError(
                    "INVALID_ARGUMENT", f"{where}: {type(m).__name__} given for a {mk} field"
                )
            vals = [getattr(m, f) for f in m.__dataclass_fields__]
            for v in vals:
                if not isinstance(v, int) or v < 0:
                    raise SwitchError("INVALID_ARGUMENT", f"{where}: values must be ints >= 0")
            if isinstance(m, Exact | Optional):
                if m.value >> w:
                    raise SwitchError("OUT_OF_RANGE", f"{where}: {m.value:#x} wider than {w} bits")
                out.append(m.value)
            elif isinstance(m, Lpm):
                if m.value >> w:
                    raise SwitchError("OUT_OF_RANGE", f"{where}: {m.value:#x} wider than {w} bits")
                if not 0 <= m.prefix_len <= w:
                    raise SwitchError(
                        "INVALID_ARGUMENT", f"{where}: prefix length {m.prefix_len} not in 0..{w}"
                    )
                mask = full ^ ((1 << (w - m.prefix_len)) - 1)
                if m.value & ~mask:
                    raise SwitchError(
                        "INVALID_ARGUMENT",
                        f"{where}: {m.value:#x}/{m.prefix_len} has host bits set",
                    )
                out.append(None if m.prefix_len == 0 else (m.value, m.prefix_len))
            elif isinstance(m, Ternary):
                if m.value >> w or m.mask >> w:
                    raise SwitchError("OUT_OF_RANGE", f"{where}: value or mask wider than {w} bits")
                if m.value & ~m.mask:
                    raise SwitchError(
                        "INVALID_ARGUMENT",
                        f"{where}: value {m.value:#x} has bits outside mask {m.mask:#x}",
                    )
                out.append(None if m.mask == 0 else (m.value, m.mask))
            elif isinstance(m, Range):
                if m.low >> w or m.high >> w:
                    raise SwitchError("OUT_OF_RANGE", f"{where}: bounds wider than {w} bits")
                if m.low > m.high:
                    raise SwitchError(
                        "INVALID_ARGUMENT", f"{where}: range low {m.low} > high {m.high}"
                    )
                out.append(None if (m.low == 0 and m.high == full) else (m.low, m.high))
        prio = e.priority
        if not isinstance(prio, int):
            raise SwitchError("INVALID_ARGUMENT", "priority must be an int")
        if t.needs_priority:
            if prio <= 0 or prio > 0x7FFFFFFF:
                raise SwitchError(
                    "INVALID_ARGUMENT", f"table {t.fqname} needs a priority in 1..2147483647"
                )
        elif prio != 0:
            raise SwitchError(
                "INVALID_ARGUMENT", f"table {t.fqname} has only exact/lpm keys: priority must be 0"
            )
        return tuple(out), prio

    def _normalize_const(self, match: list[Any]) -> tuple:
        out: list[Any] = []
        for m, ki in zip(match, self.info.keys, strict=True):
            full = (1 << ki.width) - 1
            if m is None:
                out.append(None)
            elif m[0] in ("exact", "optional"):
                out.append(m[1])
            elif m[0] == "lpm" or m[0] == "ternary":
                out.append(None if m[2] == 0 else (m[1], m[2]))
            else:
                out.append(None if (m[1] == 0 and m[2] == full) else (m[1], m[2]))
        return tuple(out)

    # ---- writes ---------------------------------------------------------------------------
    def _check_writable(self) -> None:
        if self.info.is_const:
            raise SwitchError("PERMISSION_DENIED", f"table {self.info.fqname} has const entries")

    def _insert(self, match: tuple, prio: int, action: ActionInfo, args: tuple) -> None:
        key = (match, prio)
        rec = self._record(action, args, True)
        self.entries[key] = _Entry(key, match, prio, action, args, rec)

    def insert(self, e: TableEntry) -> None:
        self._check_writable()
        match, prio = self._normalize(e)
        ref = self._action_ref(e.action)
        if ref.scope == "DEFAULT_ONLY":
            raise SwitchError(
                "INVALID_ARGUMENT", f"action {e.action} is @defaultonly in {self.info.fqname}"
            )
        args = self._params(ref.action, e.params)
        if (match, prio) in self.entries:
            raise SwitchError("ALREADY_EXISTS", f"table {self.info.fqname}: entry exists")
        if len(self.entries) >= self.info.size:
            raise SwitchError(
                "RESOURCE_EXHAUSTED", f"table {self.info.fqname} is full ({self.info.size} entries)"
            )
        self._insert(match, prio, ref.action, args)
        self._rebuild()

    def find(self, e: TableEntry) -> _Entry:
        match, prio = self._normalize(e)
        ent = self.entries.get((match, prio))
        if ent is None:
            raise SwitchError("NOT_FOUND", f"table {self.info.fqname}: no such entry")
        return ent

    def modify(self, e: TableEntry) -> None:
        self._check_writable()
        ent = self.find(e)
        ref = self._action_ref(e.action)
        if ref.scope == "DEFAULT_ONLY":
            raise SwitchError(
                "INVALID_ARGUMENT", f"action {e.action} is @defaultonly in {self.info.fqname}"
            )
        args = self._params(ref.action, e.params)
        counters = ent.record[4]
        ent.action, ent.args = ref.action, args
        new = self._record(ref.action, args, True)
        new[4] = counters  # P4Runtime: modifying the action keeps the direct counter
        ent.record[:] = new

    def delete(self, e: TableEntry) -> None:
        self._check_writable()
        ent = self.find(e)
        del self.entries[ent.key]
        self._rebuild()

    def to_api(self, ent: _Entry) -> TableEntry:
        match: dict[str, MatchValue] = {}
        for ki, m in zip(self.info.keys, ent.match, strict=True):
            if m is None:
                continue
            mk = ki.match_kind
            if mk == "exact":
                match[ki.name] = Exact(m)
            elif mk == "optional":
                match[ki.name] = Optional(m)
            elif mk == "lpm":
                match[ki.name] = Lpm(m[0], m[1])
            elif mk == "ternary":
                match[ki.name] = Ternary(m[0], m[1])
            else:
                match[ki.name] = Range(m[0], m[1])
        params = {p.name: v for p, v in zip(ent.action.params, ent.args, strict=True)}
        return TableEntry(self.info.fqname, match, ent.action.fqname, params, ent.priority)

    # ---- lookup ---------------------------------------------------------------------------
    def _set_lookup(self, fn: Callable) -> None:
        self.lookup = fn
        if self.ns is not None:
            self.ns[self.info.py + "_L"] = fn

    def _rebuild(self) -> None:
        """The entries changed: the next lookup builds the new lookup function first (a batch
        of writes compiles it once, not once per write)."""
        self._lookup_built = True

        def lookup_after_change(sm: Any, *k: int) -> Any:
            if self.lookup is lookup_after_change:  # callers may hold this function
                self._build_lookup()
            return self.lookup(sm, *k)

        self._set_lookup(lookup_after_change)

    def _build_lookup(self) -> Callable:
        default = self.default
        counted = self.counted
        ents = list(self.entries.values())
        nkeys = len(self.kinds)
        if self.mode == "none":

            def fn(sm: Any) -> Any:
                return default

        elif self.mode == "exact":
            d = {(e.match[0] if nkeys == 1 else e.match): e.record for e in ents}
            fn = lookup_gen.exact_lookup(nkeys, d, default, counted)
        elif self.mode == "lpm":
            li = self.kinds.index("lpm")
            w = self.widths[li]
            full = (1 << w) - 1
            levels: dict[int, dict] = {}
            for e in ents:
                m = e.match[li]
                plen = 0 if m is None else m[1]
                val = 0 if m is None else m[0]
                k = tuple(val if i == li else x for i, x in enumerate(e.match))
                levels.setdefault(plen, {})[k if nkeys > 1 else k[0]] = e.record
            order = [
                (full ^ ((1 << (w - p)) - 1), d) for p, d in sorted(levels.items(), reverse=True)
            ]
            fn = lookup_gen.lpm_lookup(nkeys, li, order, default, counted)
        else:
            rows = self._scan_rows(ents)
            if len(rows) <= lookup_gen.MAX_UNROLLED_ROWS:
                fn = lookup_gen.scan_lookup(nkeys, rows, default, counted)
            else:
                fn = _scan_loop(rows, default, counted)
        self._set_lookup(fn)
        return fn

    def _scan_rows(self, ents: list[_Entry]) -> list[tuple[tuple[lookup_gen.Test, ...], list]]:
        """Rows in priority order (stable: equal priorities keep insertion order), each with
        its tests (key index, op: 0 equal / 1 masked equal / 2 range, a, b)."""
        rows = []
        for e in sorted(ents, key=lambda x: -x.priority):
            tests = []
            for i, (mk, m) in enumerate(zip(self.kinds, e.match, strict=True)):
                if m is None:
                    continue
                if mk in ("exact", "optional"):
                    tests.append((i, 0, m, 0))
                elif mk == "lpm":
                    mask = ((1 << self.widths[i]) - 1) ^ ((1 << (self.widths[i] - m[1])) - 1)
                    tests.append((i, 1, m[0], mask))
                elif mk == "ternary":
                    tests.append((i, 1, m[0], m[1]))
                else:
                    tests.append((i, 2, m[0], m[1]))
            rows.append((tuple(tests), e.record))
        return rows


def _scan_loop(rows: list, default: Any, counted: bool) -> Callable:
    """The generic scan, for tables too large to unroll."""

    def lookup(sm: Any, *k: int) -> Any:
        for tests, r in rows:
            for i, op, a, b in tests:
                v = k[i]
                if op == 0:
                    if v != a:
                        break
                elif op == 1:
                    if v & b != a:
                        break
                elif not a <= v <= b:
                    break
            else:
                if counted:
                    c = r[4]
                    c[0] += 1
                    c[1] += sm.packet_length
                return r
        return default

    return lookup
