"""Type-check a parsed P4_16 v1model program and translate it into one Python module.

One pass does both: every expression compiles to (Python code, P4 type, constant value).
The generated module defines a class per header and struct type, a function per parser,
control, action and deparser, and refers to tables and extern instances as module globals
(`T_*`, `X_*`) that each Switch binds to its own state.
"""

from __future__ import annotations

import re
from typing import Any

from softswitch.core import ast as A
from softswitch.core.expressions import Expressions
from softswitch.core.externs import Externs
from softswitch.core.gen import (
    MATCH_KINDS,
    RUNTIME_SM_FIELDS,
    V1_BLOCKS,
    Ctx,
    E,
    Out,
    Scope,
    Sym,
    _find_applies,
    fold,
    mangle,
    py_attr,
    wrap,
)
from softswitch.core.lexer import Loc, error
from softswitch.core.model import (
    ActionInfo,
    ActionRefInfo,
    ConstEntry,
    ExternInfo,
    KeyInfo,
    ParamInfo,
    ProgramModel,
    TableInfo,
)
from softswitch.core.pipeline import Pipeline
from softswitch.core.types import (
    BOOL,
    ERROR,
    INFINT,
    STR,
    VOID,
    ActionRunT,
    Bits,
    Bool,
    Enum,
    ErrorT,
    ExternT,
    Header,
    InfInt,
    ListT,
    MatchKindT,
    Stack,
    Str,
    Struct,
    TableResultT,
    Type,
    scalar_width,
)


class Compiler(Expressions, Externs, Pipeline):
    def __init__(self, program: A.Program) -> None:
        self.prog = program
        self.types: dict[str, Any] = {}  # name -> Type or decl (parser/control/extern/package)
        self.top = Scope()
        self.errors: dict[str, int] = {}
        self.match_kinds: set[str] = set()
        self.headers: list[Header] = []
        self.structs: list[Struct] = []
        self.decls: dict[str, Any] = {}  # parser/control declarations by name
        self.extern_funcs: dict[str, A.ExternFuncDecl] = {}
        self.actions: list[ActionInfo] = []
        self.tables: list[TableInfo] = []
        self.externs: list[ExternInfo] = []
        self.out = Out()
        self.tmp = 0
        self.field_lists: dict[int, list[str]] = {}
        self.main: A.Instantiation | None = None
        self.pre_applied: dict[int, E] = {}
        self.in_parser = False  # stack bounds errors raise StackOutOfBounds only in parsers
        self.module_init: list[str] = []  # module-level state (checksum memos)
        self.inline_blocks: dict[str, tuple[list[str], list[str]]] = {}  # role -> params, body
        # struct type id -> fields the program or the runtime ever writes; the others are
        # class-level constants of the generated class (cheaper creation and copies)
        self.written: dict[int, set[str]] = {}
        self.hidden_used: set[str] = set()  # v1model per-packet state the program uses
        self.struct_slots: dict[int, list[tuple[str, str]]] = {}  # struct id -> slots, inits

    # ---- helpers --------------------------------------------------------------------------
    def fresh(self, base: str = "t") -> str:
        self.tmp += 1
        return f"_{base}{self.tmp}"

    def const_int(self, node: Any, scope: Scope, what: str) -> int:
        e = self.expr(node, scope, None)
        if not isinstance(e.const, int) or isinstance(e.const, bool):
            raise error(node.loc, f"{what} must be a compile-time integer constant")
        return e.const

    # ---- types ----------------------------------------------------------------------------
    def resolve_type(self, t: Any, scope: Scope | None = None) -> Type:
        scope = scope or self.top
        if isinstance(t, A.TBits):
            if t.varbit:
                raise error(t.loc, "unsupported construct: varbit")
            if t.width is None:
                return INFINT
            w = self.const_int(t.width, scope, "a bit width")
            if w <= 0 or (t.signed and w < 1):
                raise error(t.loc, f"invalid width {w}")
            return Bits(w, t.signed)
        if isinstance(t, A.TSimple):
            if t.name == "bool":
                return BOOL
            if t.name == "error":
                return ERROR
            if t.name == "string":
                return STR
            if t.name == "void":
                return VOID
            if t.name == "match_kind":
                return MatchKindT()
        if isinstance(t, A.TTuple):
            return ListT(tuple(self.resolve_type(x, scope) for x in t.elems))
        if isinstance(t, A.TStack):
            elem = self.resolve_type(t.elem, scope)
            if not isinstance(elem, Header):
                raise error(t.loc, f"header stack of {elem}: only header stacks are supported")
            n = self.const_int(t.size, scope, "a stack size")
            if n <= 0:
                raise error(t.loc, "stack size must be positive")
            return Stack(elem, n)
        if isinstance(t, A.TName):
            ty = self.types.get(t.name)
            if ty is None:
                raise error(t.loc, f"unknown type {t.name!r}")
            if isinstance(ty, Type) and not isinstance(ty, ExternT):
                return ty
            if isinstance(ty, ExternT):
                return ExternT(ty.name, [self.resolve_type(a, scope) for a in t.args])
            raise error(t.loc, f"{t.name!r} is not a data type")
        raise error(t.loc, "unsupported type")

    # ---- top level ------------------------------------------------------------------------
    def compile(self) -> ProgramModel:
        self.out("# generated by softswitch from P4 source")
        self.out("from softswitch.core.rt import *  # noqa: F403")
        for d in self.prog.decls:
            self.top_decl(d)
        if self.main is None:
            raise error(self.prog.loc, "no `main` package instantiation (V1Switch(...) main;)")
        return self.finish()

    def top_decl(self, d: Any) -> None:
        if isinstance(d, A.ErrorDecl):
            for name, loc in d.members:
                if name in self.errors:
                    raise error(loc, f"error.{name} declared twice")
                self.errors[name] = len(self.errors)
        elif isinstance(d, A.MatchKindDecl):
            self.match_kinds.update(n for n, _ in d.members)
        elif isinstance(d, A.TypedefDecl):
            self.check_new_name(d)
            self.types[d.name] = self.resolve_type(d.type)
        elif isinstance(d, A.HeaderDecl):
            self.header_decl(d)
        elif isinstance(d, A.StructDecl):
            self.struct_decl(d)
        elif isinstance(d, A.EnumDecl):
            self.check_new_name(d)
            under = self.resolve_type(d.underlying) if d.underlying is not None else None
            members: dict[str, int] = {}
            for i, (n, v, loc) in enumerate(d.members):
                if n in members:
                    raise error(loc, f"enum member {n} declared twice")
                if under is not None:
                    if v is None:
                        raise error(loc, "serializable enum members need a value")
                    members[n] = fold(self.const_int(v, self.top, "an enum value"), under)
                else:
                    members[n] = i
            self.types[d.name] = Enum(d.name, members, under)  # type: ignore[arg-type]
        elif isinstance(d, A.ConstDecl):
            self.const_decl(d, self.top)
        elif isinstance(d, A.ExternDecl):
            self.types[d.name] = ExternT(d.name)
        elif isinstance(d, A.ExternFuncDecl):
            self.extern_funcs[d.name] = d
            self.top.add(d.name, Sym("extern_func", info=d))  # overloads allowed
        elif isinstance(d, A.TypeDeclP):
            self.types[d.name] = d
        elif isinstance(d, A.ActionDecl):
            self.action_decl(d, None, self.top)
        elif isinstance(d, A.ParserDecl | A.ControlDecl):
            self.check_new_name(d)
            if d.type_params:
                raise error(d.loc, "unsupported construct: generic parser or control")
            if d.ctor_params:
                raise error(d.loc, "unsupported construct: constructor parameters")
            self.decls[d.name] = d
            self.types[d.name] = d
        elif isinstance(d, A.Instantiation):
            if d.name != "main":
                raise error(d.loc, f"unsupported construct: top-level instantiation {d.name!r}")
            self.main = d
        elif isinstance(d, A.VarDecl):
            raise error(d.loc, "unsupported construct: top-level variable")
        elif isinstance(d, A.FunctionDecl):
            raise error(d.loc, "unsupported construct: function declaration")
        else:
            raise error(d.loc, f"unsupported construct: {type(d).__name__}")

    def check_new_name(self, d: A.Decl) -> None:
        if d.name in self.types:
            raise error(d.loc, f"{d.name!r} is already declared")

    def const_decl(self, d: A.ConstDecl, scope: Scope) -> None:
        t = self.resolve_type(d.type, scope)
        e = self.coerce(self.expr(d.value, scope, t), t, d.value.loc)
        if e.const is None:
            raise error(d.value.loc, f"initializer of const {d.name} is not a constant")
        scope.add(d.name, Sym("const", t, repr(e.const), e.const), d.loc)

    def header_decl(self, d: A.HeaderDecl) -> None:
        self.check_new_name(d)
        if d.union:
            raise error(d.loc, "unsupported construct: header_union")
        fields = []
        seen = set()
        for f in d.fields:
            t = self.resolve_type(f.type)
            if f.name in seen:
                raise error(f.loc, f"field {f.name} declared twice in {d.name}")
            seen.add(f.name)
            if not (isinstance(t, Bits | Bool) or (isinstance(t, Enum) and t.underlying)):
                raise error(
                    f.loc,
                    f"header field {f.name} has type {t}: only bit<W>, "
                    "int<W>, bool and serializable enums",
                )
            fields.append((f.name, t))
        h = Header(d.name, fields, d.annotations, "H_" + mangle(d.name))
        h.field_annotations = [f.annotations for f in d.fields]  # type: ignore[attr-defined]
        self.types[d.name] = h
        self.headers.append(h)
        self.gen_header_class(h, d.loc)

    def struct_decl(self, d: A.StructDecl) -> None:
        self.check_new_name(d)
        fields = []
        anns = {}
        for f in d.fields:
            t = self.resolve_type(f.type)
            if isinstance(t, ExternT | InfInt | Str | ListT):
                raise error(f.loc, f"struct field {f.name} cannot have type {t}")
            fields.append((f.name, t))
            anns[f.name] = f.annotations
        s = Struct(d.name, fields, anns, "S_" + mangle(d.name))
        self.types[d.name] = s
        self.structs.append(s)
        self.written[id(s)] = set()

    # ---- generated classes ----------------------------------------------------------------
    def gen_header_class(self, h: Header, loc: Loc) -> None:
        """Headers are Python ints: the header's bits, plus bit `width` set when valid."""
        if h.width % 8:
            raise error(loc, f"header {h.name} is {h.width} bits, not a whole number of bytes")
        layout = {}
        shift = h.width
        for n, t in h.fields:
            shift -= scalar_width(t)  # type: ignore[operator]
            layout[n] = (shift, t)
        h.layout = layout  # type: ignore[attr-defined]
        h.vbit = 1 << h.width  # type: ignore[attr-defined]

    def gen_struct_class(self, s: Struct) -> None:
        """Fields nothing ever writes are class constants; the rest are slots."""
        o = self.out
        written = self.written[id(s)]
        slots = []
        consts = []
        for n, t in s.fields:
            if n in written or isinstance(t, Struct | Stack):
                slots.append((py_attr(n), t))
            else:
                consts.append((py_attr(n), t))
        # standard_metadata also carries v1model's hidden per-packet state
        # standard_metadata carries v1model's hidden per-packet state the program uses; the
        # rest reads as None from the class
        hidden = []
        if s.name == "standard_metadata_t":
            hidden = [h for h in ("_clone", "_resub", "_recirc", "_trunc") if h in self.hidden_used]
            for h in ("_clone", "_resub", "_recirc", "_trunc"):
                if h not in hidden:
                    consts.append((h, None))
        o(f"class {s.py}:")
        o.ind += 1
        o(f"__slots__ = {tuple([n for n, _ in slots] + hidden)!r}")
        for n, t in consts:
            o(f"{n} = {self.init_value(t) if t is not None else None}")
        o("def __init__(self):")
        for n, t in slots:
            o(f"    self.{n} = {self.init_value(t)}")
        for n in hidden:
            o(f"    self.{n} = None")
        if not slots and not hidden:
            o("    pass")
        self.struct_slots[id(s)] = [(n, self.init_value(t)) for n, t in slots] + [
            (h, "None") for h in hidden
        ]
        o("def _copy(self):")
        if not slots and not hidden:
            o("    return self  # nothing in it can change")
            o.ind -= 1
            return
        o(f"    c = _new({s.py})")
        for n in hidden:
            o(f"    c.{n} = self.{n}")
        for n, t in slots:
            if isinstance(t, Struct | Stack):
                o(f"    c.{n} = self.{n}._copy()")
            else:
                o(f"    c.{n} = self.{n}")
        o("    return c")
        o.ind -= 1

    def init_value(self, t: Type) -> str:
        if isinstance(t, Struct):
            return f"{t.py}()"
        if isinstance(t, Stack):
            return f"Stack([0] * {t.size})"
        if isinstance(t, Bool):
            return "False"
        return "0"

    # ---- blocks ---------------------------------------------------------------------------
    def finish(self) -> ProgramModel:
        main = self.main
        assert main is not None
        if not (isinstance(main.type, A.TName) and main.type.name == "V1Switch"):
            raise error(main.loc, "unsupported construct: the main package must be V1Switch")
        if len(main.args) != 6:
            raise error(main.loc, "V1Switch takes 6 arguments")
        blocks: dict[str, str] = {}
        names: dict[str, str] = {}
        kinds = ["parser", "control", "control", "control", "control", "control"]
        hdr_t: Struct | None = None
        meta_t: Struct | None = None
        for role, kind, arg in zip(V1_BLOCKS, kinds, main.args, strict=True):
            e = arg.expr
            if not (isinstance(e, A.Call) and isinstance(e.func, A.Name) and not e.args):
                raise error(arg.loc, f"V1Switch {role}: expected a constructor call like Name()")
            d = self.decls.get(e.func.name)
            if d is None:
                raise error(e.loc, f"unknown {kind} {e.func.name!r}")
            if (kind == "parser") != isinstance(d, A.ParserDecl):
                raise error(e.loc, f"V1Switch {role} must be a {kind}")
            ps = d.params
            types = [self.resolve_type(p.type) for p in ps]
            if role == "parser":
                if len(ps) != 4:
                    raise error(d.loc, "a v1model parser takes 4 parameters")
                hdr_t, meta_t = types[1], types[2]  # type: ignore[assignment]
            names[role] = d.name
            blocks[role] = self.block(role, d)
        assert hdr_t is not None and meta_t is not None
        if not isinstance(hdr_t, Struct) or not isinstance(meta_t, Struct):
            raise error(main.loc, "the headers and metadata types must be structs")
        self.collect_field_lists(meta_t)
        for x in self.externs:
            if x.kind == "direct_counter" and x.table is None:
                raise error(x.loc, f"direct_counter {x.fqname} is not attached to any table")
        sm_t = self.types["standard_metadata_t"]
        for f in RUNTIME_SM_FIELDS:
            self.mark_written(sm_t, f)
        for names in self.field_lists.values():
            for f in names:
                self.mark_written(meta_t, f)
        for st in self.structs:
            self.gen_struct_class(st)
        self.gen_pipeline(blocks, hdr_t, meta_t)
        controller = [
            h for h in self.headers if any(a.name == "controller_header" for a in h.annotations)
        ]
        lines = self.out.lines
        lines[2:2] = self.module_init
        return ProgramModel(
            source="\n".join(lines) + "\n",
            tables=self.tables,
            actions=self.actions,
            externs=self.externs,
            controller_headers=controller,
            field_lists=self.field_lists,
            errors=self.errors,
            hdr_type=hdr_t,
            meta_type=meta_t,
            blocks=blocks,
            block_names=names,
        )

    def collect_field_lists(self, meta: Struct) -> None:
        for fname, anns in meta.annotations.items():
            for a in anns:
                if a.name != "field_list":
                    continue
                for ident in a.args:
                    if not isinstance(ident, int):
                        raise error(a.loc, "@field_list takes integer ids")
                    self.field_lists.setdefault(ident, []).append(fname)

    def block(self, role: str, d: Any) -> str:
        py = ("P_" if role == "parser" else "C_") + mangle(d.name)
        scope = Scope(self.top)
        ps = []
        for p in d.params:
            t = self.resolve_type(p.type)
            if isinstance(t, ExternT) and t.name == "packet_in":
                scope.add(p.name, Sym("packet_in"), p.loc)
                continue
            if isinstance(t, ExternT) and t.name == "packet_out":
                scope.add(p.name, Sym("packet_out"), p.loc)
                continue
            code = "p_" + p.name
            scope.add(p.name, Sym("var", t, code), p.loc)
            ps.append(code)
        if role == "parser":
            self.in_parser = True
            try:
                return self.parser_block(py, d, scope, ps)
            finally:
                self.in_parser = False
        if role == "deparser":
            return self.deparser_block(py, d, scope, ps)
        return self.control_block(py, d, scope, ps, role)

    # ---- parser ---------------------------------------------------------------------------
    def parser_block(self, py: str, d: A.ParserDecl, scope: Scope, ps: list[str]) -> str:
        o = self.out
        ctx = Ctx("parser", o, d.name)
        states = {s.name: i for i, s in enumerate(d.states)}
        if "start" not in states:
            raise error(d.loc, f"parser {d.name} has no start state")
        for s in d.states:
            if s.name in ("accept", "reject"):
                raise error(s.loc, f"state {s.name} cannot be redefined")
        o(f"def {py}(_pkt, _sm, {', '.join(ps)}):")
        n0 = len(o.lines)
        o.ind += 1
        o("off = 0")
        o(f"st = {states['start']}")
        o("try:")
        o.ind += 1
        for loc_decl in d.locals:
            self.local_var(loc_decl, scope, ctx)
        o("while True:")
        o.ind += 1
        for i, s in enumerate(d.states):
            o(f"{'if' if i == 0 else 'elif'} st == {i}:")
            o.ind += 1
            sscope = Scope(scope)
            for stmt in s.stmts:
                self.stmt(stmt, sscope, ctx)
            self.transition(s, sscope, ctx, states)
            o.ind -= 1
        o.ind -= 2
        o("except PErr as _e:")
        o("    if _e.code is not None:")
        o("        _sm.parser_error = _e.code")
        o("return off")
        o.ind -= 1
        self.inline_blocks["parser"] = (ps, [ln[4:] for ln in o.lines[n0:]])
        return py

    def goto(self, name: A.Name, states: dict[str, int]) -> str:
        if name.name == "accept":
            return "return off"
        if name.name == "reject":
            return "raise PErr(None)"
        if name.name not in states:
            raise error(name.loc, f"unknown parser state {name.name!r}")
        return f"st = {states[name.name]}; continue"

    def transition(self, s: A.ParserState, scope: Scope, ctx: Ctx, states: dict[str, int]) -> None:
        o = self.out
        t = s.transition
        if t is None:
            o("raise PErr(None)")  # no transition: reject
            return
        if isinstance(t, A.Name):
            o(self.goto(t, states))
            return
        keys = [self.expr(e, scope, None) for e in t.exprs]
        for k in keys:
            if scalar_width(k.type) is None and not isinstance(k.type, ErrorT):
                raise error(t.loc, f"select on a value of type {k.type}")
        knames = []
        for k in keys:
            n = self.fresh("k")
            o(f"{n} = {k.code}")
            knames.append(n)
        for c in t.cases:
            ks = c.keyset
            items = ks.items if isinstance(ks, A.ListExpr) else [ks]
            if len(items) == 1 and isinstance(items[0], A.Default | A.DontCare):
                o(self.goto(c.state, states))
                continue
            if len(items) != len(keys):
                raise error(c.loc, f"keyset has {len(items)} elements, select has {len(keys)}")
            conds = []
            for item, k, kn in zip(items, keys, knames, strict=True):
                cond = self.keyset_cond(item, k.type, kn, scope)
                if cond is not None:
                    conds.append(cond)
            o(f"if {' and '.join(conds) if conds else 'True'}:")
            o(f"    {self.goto(c.state, states)}")
        # BMv2 (p4c 1.2.5.16): no case matched and no default ends parsing without error
        o("return off")

    def keyset_cond(self, item: Any, kt: Type, kn: str, scope: Scope) -> str | None:
        if isinstance(item, A.Default | A.DontCare):
            return None
        if isinstance(item, A.Mask):
            v = self.coerce(self.expr(item.value, scope, kt), kt, item.loc)
            m = self.coerce(self.expr(item.mask, scope, kt), kt, item.loc)
            if v.const is None or m.const is None:
                raise error(item.loc, "a select mask must be constant")
            mm = m.const & ((1 << (scalar_width(kt) or 0)) - 1)
            return f"({kn} & {mm}) == {v.const & mm}"
        if isinstance(item, A.RangeExpr):
            lo = self.coerce(self.expr(item.lo, scope, kt), kt, item.loc)
            hi = self.coerce(self.expr(item.hi, scope, kt), kt, item.loc)
            if lo.const is None or hi.const is None:
                raise error(item.loc, "a select range must be constant")
            return f"{lo.const} <= {kn} <= {hi.const}"
        v = self.coerce(self.expr(item, scope, kt), kt, item.loc)
        if v.const is None:
            raise error(item.loc, "unsupported construct: non-constant select case")
        return f"{kn} == {v.const!r}"

    # ---- deparser -------------------------------------------------------------------------
    def deparser_block(self, py: str, d: A.ControlDecl, scope: Scope, ps: list[str]) -> str:
        o = self.out
        o(f"def {py}(_sm, {', '.join(ps)}, _payload):")
        n0 = len(o.lines)
        o.ind += 1
        o("_out = []")
        o("_a = _out.append")
        if d.locals:
            raise error(d.locals[0].loc, "unsupported construct: declarations in a deparser")
        ctx = Ctx("deparser", o, d.name)
        for s in d.body.stmts:
            self.stmt(s, scope, ctx)
        o("_a(_payload)")
        o("return b''.join(_out)")
        o.ind -= 1
        self.inline_blocks["deparser"] = (ps, [ln[4:] for ln in o.lines[n0:]])
        return py

    def emit(self, e: E, o: Out) -> None:
        t = e.type
        if isinstance(t, Header):
            v = t.vbit  # type: ignore[attr-defined]
            o(f"_h = {e.code}")
            o(f"if _h >= {v}: _a((_h ^ {v}).to_bytes({t.width // 8}, 'big'))")
        elif isinstance(t, Stack):
            v = t.elem.vbit  # type: ignore[attr-defined]
            o(f"for _h in {e.code}.h:")
            o(f"    if _h >= {v}: _a((_h ^ {v}).to_bytes({t.elem.width // 8}, 'big'))")
        elif isinstance(t, Struct):
            for n, ft in t.fields:
                self.emit(E(f"{e.code}.{py_attr(n)}", ft), o)
        else:
            raise error(Loc("?", 0, 0), f"cannot emit a value of type {t}")

    # ---- controls -------------------------------------------------------------------------
    def control_block(
        self, py: str, d: A.ControlDecl, scope: Scope, ps: list[str], role: str
    ) -> str:
        cscope = Scope(scope)
        ctl = d.name
        o = self.out
        ctx_names = ["_sm", "L", *ps]
        # control-level declarations: actions and tables go to module level, variables to L
        lvars: list[A.VarDecl] = []
        for decl in d.locals:
            if isinstance(decl, A.ConstDecl):
                self.const_decl(decl, cscope)
            elif isinstance(decl, A.VarDecl):
                t = self.resolve_type(decl.type, cscope)
                cscope.add(decl.name, Sym("var", t, f"L.{py_attr(decl.name)}"), decl.loc)
                lvars.append(decl)
            elif isinstance(decl, A.Instantiation):
                self.instantiation(decl, cscope, ctl)
            elif isinstance(decl, A.ActionDecl):
                self.action_decl(decl, ctl, cscope, ctx_names)
            elif isinstance(decl, A.TableDecl):
                self.table_decl(decl, ctl, cscope)
            else:
                raise error(decl.loc, f"unsupported construct in a control: {type(decl).__name__}")
        pre = Out()
        if lvars:
            pre("L = Locals()")
            ctx = Ctx("control", pre, ctl, in_apply=True)
            for v in lvars:
                sym = cscope.lookup(v.name)
                assert sym is not None
                init = self.init_value(sym.type) if v.init is None else None  # type: ignore[arg-type]
                if init is not None:
                    pre(f"{sym.code} = {init}")
                else:
                    e = self.coerce(self.expr(v.init, cscope, sym.type), sym.type, v.loc)  # type: ignore[arg-type]
                    pre(f"{sym.code} = {self.copy_if_composite(e)}")
        else:
            pre("L = None")
        # the body goes to its own buffer first: the action context tuple and the handler
        # for `exit` are only emitted when the body needs them
        body = Out()
        ctx = Ctx("control", body, ctl, in_apply=True)
        body_scope = Scope(cscope)
        for s in d.body.stmts:
            self.stmt(s, body_scope, ctx)
        text = "\n".join(body.lines)
        uses_ctx = re.search(r"\b_c\b", text) is not None
        lines = list(pre.lines)
        if uses_ctx:
            lines.append(f"_c = ({', '.join(ctx_names)})")
        if uses_ctx or "raise Exit" in text:
            lines.append("try:")
            lines.extend("    " + line for line in body.lines)
            lines += ["    pass", "except Exit:", "    pass"]
        else:
            lines.extend(body.lines)
        self.inline_blocks[role] = (ps, lines)
        o(f"def {py}({', '.join(['_sm', *ps])}):")
        o.lines.extend("    " + line for line in lines)
        o("    pass")
        return py

    def fqname(self, ctl: str | None, name: str, anns: list[A.Annotation]) -> str:
        for a in anns:
            if a.name == "name" and a.args and isinstance(a.args[0], str):
                n = a.args[0]
                if n.startswith("."):
                    return n[1:]
                name = n
        return f"{ctl}.{name}" if ctl else name

    # ---- actions --------------------------------------------------------------------------
    def action_decl(
        self, d: A.ActionDecl, ctl: str | None, scope: Scope, ctx_names: list[str] | None = None
    ) -> None:
        fq = self.fqname(ctl, d.name, d.annotations)
        py = "A_" + mangle(fq)
        if any(a.py == py for a in self.actions):
            raise error(d.loc, f"action {fq} declared twice")
        ascope = Scope(scope)
        cp_params: list[ParamInfo] = []
        args: list[str] = []
        ret_out: list[str] = []
        directional = []
        seen_directionless = False
        for p in d.params:
            t = self.resolve_type(p.type, scope)
            code = "a_" + p.name
            ascope.add(p.name, Sym("var", t, code), p.loc)
            args.append(code)
            if p.direction:
                if seen_directionless:
                    raise error(p.loc, "directional parameters must come before action data")
                directional.append(p)
                if p.direction in ("out", "inout") and not isinstance(t, Struct | Stack):
                    ret_out.append(code)
            else:
                seen_directionless = True
                w = scalar_width(t)
                if w is None:
                    raise error(p.loc, f"action parameter {p.name} of type {t}: needs bit<W>")
                cp_params.append(ParamInfo(p.name, w, p.annotations))
        info = ActionInfo(
            fq, py, cp_params, d.annotations, d.loc, has_directional=bool(directional)
        )
        info.param_types = [self.resolve_type(p.type, scope) for p in d.params]  # type: ignore[attr-defined]
        info.directions = [p.direction for p in d.params]  # type: ignore[attr-defined]
        info.local = d.name  # type: ignore[attr-defined]
        self.actions.append(info)
        scope.add(d.name, Sym("action", info=info), d.loc)
        o = self.out
        o(f"def {py}({', '.join(['_c', *args])}):")
        o.ind += 1
        if ctx_names:
            o(f"{', '.join(ctx_names)} = _c")
        else:
            o("_sm = _c[0]")
        ctx = Ctx("action", o, ctl or "", ret_out=ret_out)
        n0 = len(o.lines)
        for s in d.body.stmts:
            self.stmt(s, ascope, ctx)
        body = [ln[4:] for ln in o.lines[n0:]]
        # small actions without directional parameters or `return` are inlined where
        # they are called (tables and direct calls), saving a call and the context tuple
        info.inline = None  # type: ignore[attr-defined]
        if (
            not directional
            and len(body) <= 40
            and not any(ln.strip().startswith("return") for ln in body)
        ):
            info.inline = (args, body)  # type: ignore[attr-defined]
        if ret_out:
            o(f"return ({', '.join(ret_out)},)")
        else:
            o("pass")
        o.ind -= 1

    # ---- tables ---------------------------------------------------------------------------
    def table_decl(self, d: A.TableDecl, ctl: str, scope: Scope) -> None:
        fq = self.fqname(ctl, d.name, d.annotations)
        py = "T_" + mangle(fq)
        props = {}
        for p in d.properties:
            if p.name in props:
                raise error(p.loc, f"table property {p.name} given twice")
            props[p.name] = p
        for name, p in props.items():
            if name not in ("key", "actions", "default_action", "size", "counters", "entries"):
                raise error(p.loc, f"unsupported construct: table property {name!r}")
        keys: list[KeyInfo] = []
        key_codes: list[str] = []
        if "key" in props:
            for k in props["key"].value:
                e = self.expr(k.expr, scope, None)
                if k.match_kind not in MATCH_KINDS:
                    if k.match_kind in self.match_kinds:
                        raise error(k.loc, f"unsupported construct: match kind {k.match_kind}")
                    raise error(k.loc, f"unknown match kind {k.match_kind!r}")
                w = scalar_width(e.type)
                if w is None:
                    raise error(k.loc, f"table key of type {e.type}")
                name = k.text
                for a in k.annotations:
                    if a.name == "name" and a.args:
                        name = a.args[0]
                keys.append(KeyInfo(name, w, k.match_kind, k.annotations))
                code = e.code
                if isinstance(e.type, Bool):
                    code = f"int({code})"
                elif isinstance(e.type, Bits) and e.type.signed:
                    code = f"({code} & {e.type.mask})"
                key_codes.append(code)
        if "actions" not in props:
            raise error(d.loc, f"table {d.name} has no actions")
        refs: list[ActionRefInfo] = []
        for r in props["actions"].value:
            a = self.action_ref(r.name, scope)
            if r.args:
                raise error(r.loc, "unsupported construct: action arguments in an actions list")
            if any(x.action is a for x in refs):
                raise error(r.loc, f"action {a.fqname} listed twice")
            scope_s = "TABLE_AND_DEFAULT"
            anns = [*r.annotations]
            if any(x.name == "defaultonly" for x in anns):
                scope_s = "DEFAULT_ONLY"
            if any(x.name == "tableonly" for x in anns):
                scope_s = "TABLE_ONLY"
            a.referenced = a.in_table = True
            refs.append(ActionRefInfo(a, scope_s, anns))
        if "default_action" in props:
            dp = props["default_action"]
            da = self.action_ref(dp.value.name, scope)
            if not any(x.action is da for x in refs):
                raise error(dp.loc, f"default action {da.fqname} is not in the actions list")
            dargs = self.const_action_args(da, dp.value.args, scope, dp.loc)
            dconst = dp.const
        else:
            # p4c: no default_action means NoAction, added to the actions as @defaultonly
            da = self.noaction(d.loc)
            da.referenced = da.in_table = True
            dargs, dconst = [], False
            if not any(x.action is da for x in refs):
                ann = A.Annotation(d.loc, "defaultonly", [], "")
                refs.append(ActionRefInfo(da, "DEFAULT_ONLY", [ann]))
        size = 1024
        if "size" in props:
            size = self.const_int(props["size"].value, scope, "a table size")
        info = TableInfo(fq, py, keys, refs, da, dargs, dconst, size, d.annotations, d.loc)
        if "counters" in props:
            cv = props["counters"].value
            sym = scope.lookup(cv.name) if isinstance(cv, A.Name) else None
            if sym is None or sym.kind != "extern" or sym.info.kind != "direct_counter":
                raise error(cv.loc, "counters = must name a direct_counter")
            if sym.info.table is not None:
                raise error(cv.loc, f"direct_counter {sym.info.fqname} used by two tables")
            sym.info.table = fq
            info.direct_counter = sym.info
        if "entries" in props:
            ep = props["entries"]
            # `const entries` are fixed; plain `entries` are initial entries the control
            # plane may change
            info.is_const = ep.const
            info.const_entries = [self.const_entry(en, info, scope) for en in ep.value]
            if info.needs_priority and all(en.priority is None for en in ep.value):
                # p4c: program order, the first entry gets priority len(entries), the last 1
                for i, ce in enumerate(info.const_entries):
                    ce.priority = len(info.const_entries) - i
        info.key_codes = key_codes  # type: ignore[attr-defined]
        self.tables.append(info)
        scope.add(d.name, Sym("table", info=info), d.loc)

    def noaction(self, loc: Loc) -> ActionInfo:
        sym = self.top.lookup("NoAction")
        if sym is None or sym.kind != "action":
            raise error(loc, "table without default_action needs NoAction (core.p4)")
        return sym.info  # type: ignore[no-any-return]

    def action_ref(self, name: Any, scope: Scope) -> ActionInfo:
        if not isinstance(name, A.Name):
            raise error(name.loc, "expected an action name")
        sym = self.top.lookup(name.name) if name.dotted_prefix else scope.lookup(name.name)
        if sym is None or sym.kind != "action":
            raise error(name.loc, f"unknown action {name.name!r}")
        return sym.info  # type: ignore[no-any-return]

    def const_action_args(
        self, a: ActionInfo, args: list[A.Arg], scope: Scope, loc: Loc
    ) -> list[int]:
        if a.has_directional:
            raise error(loc, f"action {a.fqname} with directional parameters used in a table")
        if len(args) != len(a.params):
            raise error(
                loc, f"action {a.fqname} takes {len(a.params)} arguments, {len(args)} given"
            )
        out = []
        for arg, p, t in zip(args, a.params, a.param_types, strict=True):  # type: ignore[attr-defined]
            e = self.coerce(self.expr(arg.expr, scope, t), t, arg.loc)
            if e.const is None:
                raise error(arg.loc, f"argument {p.name} must be a constant")
            v = int(e.const)
            out.append(v & ((1 << p.width) - 1))
        return out

    def const_entry(self, en: A.EntryDecl, t: TableInfo, scope: Scope) -> ConstEntry:
        if len(en.keys) != len(t.keys):
            raise error(
                en.loc, f"entry has {len(en.keys)} keys, table {t.fqname} has {len(t.keys)}"
            )
        match: list[Any] = []
        for k, ki in zip(en.keys, t.keys, strict=True):
            kt = Bits(ki.width)
            mk = ki.match_kind
            if isinstance(k, A.Default | A.DontCare):
                if mk == "exact":
                    raise error(k.loc, "an exact key cannot be a wildcard")
                match.append(None)
            elif isinstance(k, A.Mask):
                if mk not in ("ternary", "lpm"):
                    raise error(k.loc, f"mask on a {mk} key")
                v = self.const_int(k.value, scope, "a key") & kt.mask
                m = self.const_int(k.mask, scope, "a mask") & kt.mask
                if mk == "lpm":
                    plen = bin(m).count("1")
                    if m != (kt.mask ^ ((1 << (ki.width - plen)) - 1)):
                        raise error(k.loc, "lpm mask is not a prefix")
                    match.append(("lpm", v & m, plen))
                else:
                    match.append(("ternary", v & m, m))
            elif isinstance(k, A.RangeExpr):
                if mk != "range":
                    raise error(k.loc, f"range on a {mk} key")
                lo = self.const_int(k.lo, scope, "a key") & kt.mask
                hi = self.const_int(k.hi, scope, "a key") & kt.mask
                match.append(("range", lo, hi))
            else:
                v = self.const_int(k, scope, "a key") & kt.mask
                if mk == "lpm":
                    match.append(("lpm", v, ki.width))
                elif mk == "ternary":
                    match.append(("ternary", v, kt.mask))
                elif mk == "range":
                    match.append(("range", v, v))
                elif mk == "optional":
                    match.append(("optional", v))
                else:
                    match.append(("exact", v))
        a = self.action_ref(en.action.name, scope)
        if not any(r.action is a for r in t.actions):
            raise error(en.action.loc, f"action {a.fqname} is not in table {t.fqname}")
        args = self.const_action_args(a, en.action.args, scope, en.action.loc)
        prio = 0
        if en.priority is not None:
            prio = self.const_int(en.priority, scope, "a priority")
        return ConstEntry(match, a, args, prio)

    # ---- statements -----------------------------------------------------------------------
    def local_var(self, d: Any, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        if isinstance(d, A.ConstDecl):
            self.const_decl(d, scope)
            return
        if isinstance(d, A.Instantiation):
            raise error(d.loc, "unsupported construct: instantiation here")
        if not isinstance(d, A.VarDecl):
            raise error(d.loc, f"unsupported construct: {type(d).__name__}")
        t = self.resolve_type(d.type, scope)
        if isinstance(t, ExternT | InfInt | Str | ListT | MatchKindT):
            raise error(d.loc, f"unsupported construct: variable of type {t}")
        code = self.fresh("v_" + d.name)
        if d.init is None:
            o(f"{code} = {self.init_value(t)}")
        else:
            e = self.coerce(self.expr(d.init, scope, t), t, d.init.loc)
            o(f"{code} = {self.copy_if_composite(e)}")
        scope.add(d.name, Sym("var", t, code), d.loc)

    def hoist_applies(self, node: Any, scope: Scope, ctx: Ctx) -> None:
        """Apply the tables called inside an expression (`t.apply().hit`) before it."""
        for call in _find_applies(node):
            base = self.expr(call.func.expr, scope, None, allow_nonvalue=True)
            sym = base.sym
            if isinstance(sym, Sym) and sym.kind == "table":
                r = self.table_apply(sym.info, ctx)
                self.pre_applied[id(call)] = E(r, TableResultT(sym.info.fqname), sym=sym.info)

    def stmt(self, s: Any, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        if isinstance(s, A.If):
            self.hoist_applies(s.cond, scope, ctx)
        elif isinstance(s, A.SwitchStmt):
            self.hoist_applies(s.expr, scope, ctx)
        elif isinstance(s, A.Assign):
            self.hoist_applies(s.rhs, scope, ctx)
        elif isinstance(s, A.VarDecl) and s.init is not None:
            self.hoist_applies(s.init, scope, ctx)
        if isinstance(s, A.Block):
            inner = Scope(scope)
            n = len(o.lines)
            for x in s.stmts:
                self.stmt(x, inner, ctx)
            if len(o.lines) == n:
                o("pass")
        elif isinstance(s, A.Empty):
            o("pass")
        elif isinstance(s, A.VarDecl | A.ConstDecl | A.Instantiation):
            self.local_var(s, scope, ctx)
        elif isinstance(s, A.Assign):
            self.assign(s, scope, ctx)
        elif isinstance(s, A.CallStmt):
            self.call_stmt(s.call, scope, ctx)
        elif isinstance(s, A.If):
            c = self.expr(s.cond, scope, BOOL)
            if not isinstance(c.type, Bool):
                raise error(s.cond.loc, f"if condition has type {c.type}, expected bool")
            o(f"if {c.code}:")
            o.ind += 1
            self.stmt(s.then, Scope(scope), ctx)
            o.ind -= 1
            if s.other is not None:
                o("else:")
                o.ind += 1
                self.stmt(s.other, Scope(scope), ctx)
                o.ind -= 1
        elif isinstance(s, A.Exit):
            if ctx.kind == "parser" or ctx.kind == "deparser":
                raise error(s.loc, "exit is not allowed in a parser or deparser")
            o("raise Exit()")
        elif isinstance(s, A.Return):
            if s.expr is not None:
                raise error(s.loc, "unsupported construct: return with a value")
            if ctx.kind == "parser":
                raise error(s.loc, "return is not allowed in a parser")
            if ctx.ret_out:
                o(f"return ({', '.join(ctx.ret_out)},)")
            else:
                o("return")
        elif isinstance(s, A.SwitchStmt):
            self.switch_stmt(s, scope, ctx)
        else:
            raise error(s.loc, f"unsupported construct: statement {type(s).__name__}")

    def switch_stmt(self, s: A.SwitchStmt, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        e = self.expr(s.expr, scope, None)
        var = self.fresh("sw")
        o(f"{var} = {e.code}")
        first = True
        pending: list[str] = []
        seen: set[Any] = set()
        for c in s.cases:
            if isinstance(c.label, A.Default):
                cond = "True"
            elif isinstance(e.type, ActionRunT):
                if not isinstance(c.label, A.Name):
                    raise error(c.label.loc, "switch on action_run needs action names")
                tinfo = e.sym
                a = self.action_ref(c.label, scope)
                idx = next((i for i, r in enumerate(tinfo.actions) if r.action is a), None)
                if idx is None:
                    raise error(c.label.loc, f"action {a.fqname} is not in table {tinfo.fqname}")
                cond = f"{var} == {idx}"
                key: Any = idx
            else:
                if scalar_width(e.type) is None and not isinstance(e.type, Enum | ErrorT):
                    raise error(s.expr.loc, f"switch on a value of type {e.type}")
                v = self.coerce(self.expr(c.label, scope, e.type), e.type, c.label.loc)
                if v.const is None:
                    raise error(c.label.loc, "switch labels must be constants")
                cond = f"{var} == {v.const!r}"
                key = v.const
            if cond != "True":
                if key in seen:
                    raise error(c.label.loc, "duplicate switch label")
                seen.add(key)
            pending.append(cond)
            if c.body is None:
                continue
            full = "True" if "True" in pending else " or ".join(pending)
            o(f"{'if' if first else 'elif'} {full}:")
            first = False
            o.ind += 1
            self.stmt(c.body, Scope(scope), ctx)
            o.ind -= 1
            pending = []
        if pending:
            raise error(s.loc, "the last switch case has no body")

    def assign(self, s: A.Assign, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        if isinstance(s.lhs, A.Slice):
            base = self.expr(s.lhs.expr, scope, None)
            if not base.lv or not isinstance(base.type, Bits):
                raise error(s.lhs.loc, "slice assignment needs a bit<W> l-value")
            hi = self.const_int(s.lhs.hi, scope, "a slice bound")
            lo = self.const_int(s.lhs.lo, scope, "a slice bound")
            self.check_slice(base.type, hi, lo, s.lhs.loc)
            st = Bits(hi - lo + 1)
            rhs = self.coerce(self.expr(s.rhs, scope, st), st, s.rhs.loc)
            m = st.mask << lo
            full = base.type.mask
            val = f"(({base.code} & {full ^ m}) | (({rhs.code}) << {lo}))"
            o(self.store(base, wrap(val, base.type) if base.type.signed else val))
            return
        lhs = self.expr(s.lhs, scope, None)
        if not lhs.lv:
            raise error(s.lhs.loc, "cannot assign to this expression")
        rhs = self.coerce(self.expr(s.rhs, scope, lhs.type), lhs.type, s.rhs.loc)
        o(self.store(lhs, self.copy_if_composite(rhs)))

    # ---- calls ----------------------------------------------------------------------------
    def call_stmt(self, c: A.Call, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        f = c.func
        if isinstance(f, A.Member):
            obj = self.expr(f.expr, scope, None, allow_nonvalue=True)
            m = f.name
            if obj.sym is not None and isinstance(obj.sym, Sym):
                sym = obj.sym
                if sym.kind == "packet_in":
                    return self.packet_in_call(c, m, scope, ctx)
                if sym.kind == "packet_out":
                    if m != "emit" or len(c.args) != 1:
                        raise error(c.loc, f"unsupported construct: packet_out.{m}")
                    if ctx.kind != "deparser":
                        raise error(c.loc, "emit outside the deparser")
                    e = self.expr(c.args[0].expr, scope, None)
                    if not isinstance(e.type, Header | Stack | Struct):
                        raise error(c.args[0].loc, f"cannot emit a value of type {e.type}")
                    self.emit(e, o)
                    return None
                if sym.kind == "table":
                    if m != "apply" or c.args:
                        raise error(c.loc, f"unsupported table method {m}")
                    self.table_apply(sym.info, ctx)
                    return None
                if sym.kind == "extern":
                    return self.extern_method(sym, m, c, scope, ctx)
            if isinstance(obj.type, Header):
                if c.args:
                    raise error(c.loc, f"{m}() takes no arguments")
                if not obj.lv and m in ("setValid", "setInvalid"):
                    raise error(c.loc, f"{m}() on a value that cannot be assigned")
                vb = obj.type.vbit  # type: ignore[attr-defined]
                if m == "setValid":
                    o(self.store(obj, f"({obj.code} | {vb})"))
                    return None
                if m == "setInvalid":
                    o(self.store(obj, f"({obj.code} & {vb - 1})"))
                    return None
                if m == "isValid":
                    o("pass")
                    return None
                raise error(c.loc, f"unknown header method {m}")
            if isinstance(obj.type, Stack) and m in ("push_front", "pop_front"):
                if len(c.args) != 1:
                    raise error(c.loc, f"{m} takes one argument")
                n = self.const_int(c.args[0].expr, scope, f"the {m} count")
                if n < 0:
                    raise error(c.loc, f"{m} count must not be negative")
                o(f"{obj.code}.{m}({n})")
                return None
            raise error(c.loc, f"unsupported construct: method {m} on {obj.type}")
        if isinstance(f, A.Name):
            sym = self.top.lookup(f.name) if f.dotted_prefix else scope.lookup(f.name)
            if sym is None:
                raise error(f.loc, f"unknown function or action {f.name!r}")
            if sym.kind == "action":
                if ctx.kind == "parser" or ctx.kind == "deparser":
                    raise error(c.loc, "actions cannot be called in a parser or deparser")
                return self.action_call(sym.info, c, scope, ctx)
            if sym.kind == "extern_func":
                return self.extern_func(f.name, c, scope, ctx)
        raise error(c.loc, "unsupported construct: call")

    def action_call(self, a: ActionInfo, c: A.Call, scope: Scope, ctx: Ctx) -> None:
        a.referenced = True
        types = a.param_types  # type: ignore[attr-defined]
        dirs = a.directions  # type: ignore[attr-defined]
        if len(c.args) != len(types):
            raise error(
                c.loc, f"action {a.fqname} takes {len(types)} arguments, {len(c.args)} given"
            )
        args = []
        outs = []
        for arg, t, d in zip(c.args, types, dirs, strict=True):
            e = self.coerce(self.expr(arg.expr, scope, t), t, arg.loc)
            if d in ("out", "inout"):
                if not e.lv:
                    raise error(arg.loc, f"argument for an {d} parameter must be an l-value")
                if not isinstance(t, Struct | Stack):
                    outs.append(e)
            args.append(e.code)
        inline = a.inline  # type: ignore[attr-defined]
        # (not inside another action: its parameters could share the inlined names)
        if inline is not None and not outs and ctx.kind == "control":
            names, lines = inline
            if names:
                ctx.out(
                    f"{', '.join(names)}{',' if len(names) == 1 else ''} = "
                    f"{', '.join(args)}{',' if len(args) == 1 else ''}"
                )
            for ln in lines:
                ctx.out(ln)
            if not names and not lines:
                ctx.out("pass")
            return
        call = f"{a.py}(_c{''.join(', ' + x for x in args)})"
        if outs:
            r = self.fresh("o")
            ctx.out(f"{r} = {call}")
            for i, e in enumerate(outs):
                ctx.out(self.store(e, f"{r}[{i}]"))
        else:
            ctx.out(call)

    def table_apply(self, t: TableInfo, ctx: Ctx) -> str:
        """Emit the lookup and action call; returns the name holding the entry record."""
        o = ctx.out
        if ctx.kind != "control" or not ctx.in_apply:
            raise error(t.loc, "tables can only be applied in a control's apply block")
        r = self.fresh("r")
        keys = t.key_codes  # type: ignore[attr-defined]
        o(f"{r} = {t.py}_L(_sm{''.join(', ' + k for k in keys)})")
        if not all(ref.action.inline is not None for ref in t.actions):  # type: ignore[attr-defined]
            o(f"{r}[0](_c, *{r}[1])")
            return r
        ai = self.fresh("ai")
        o(f"{ai} = {r}[2]")
        for idx, ref in enumerate(t.actions):
            args, lines = ref.action.inline  # type: ignore[attr-defined]
            o(f"{'if' if idx == 0 else 'elif'} {ai} == {idx}:")
            o.ind += 1
            if args:
                o(f"{', '.join(args)}{',' if len(args) == 1 else ''} = {r}[1]")
            for ln in lines:
                o(ln)
            if not args and not lines:
                o("pass")
            o.ind -= 1
        return r
