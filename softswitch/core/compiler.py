"""Type-check a parsed P4_16 v1model program and translate it into one Python module.

One pass does both: every expression compiles to (Python code, P4 type, constant value).
The generated module defines a class per header and struct type, a function per parser,
control, action and deparser, and refers to tables and extern instances as module globals
(`T_*`, `X_*`) that each Switch binds to its own state.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from softswitch.core import ast as A
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


class Compiler:
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

    def inline(self, role: str, args: list[str]) -> list[str]:
        """A control's body for inlining into the pipeline: parameters bound to the
        pipeline's variables; `return` leaves a one-iteration loop."""
        ps, lines = self.inline_blocks[role]
        out = [f"{p} = {a}" for p, a in zip(ps, args, strict=True)]
        if any(line.strip() == "return" for line in lines):
            out.append("for _once in ONCE:")
            out += [
                "    " + (ln.replace("return", "break") if ln.strip() == "return" else ln)
                for ln in lines
            ]
            out.append("    pass")
        else:
            out += lines
        return out

    def gen_pipeline(self, blocks: dict[str, str], hdr_t: Struct, meta_t: Struct) -> None:
        """PIPELINE: one ingress pass of a frame with verify, ingress, egress and compute
        inlined; EGRESS: one replica's egress. Anything but plain unicast (clone, resubmit,
        multicast, recirculation, truncation, drop in egress) goes back to the Switch (rt)."""
        o = self.out
        o("def PIPELINE(frame, port, itype, old_meta, fl, out, rt):")
        o.ind += 1
        # the three structs are created inline (no __init__ call)
        sm_t = self.types["standard_metadata_t"]
        given = {"ingress_port": "port", "instance_type": "itype", "packet_length": "len(frame)"}
        for var, t in (("sm", sm_t), ("hdr", hdr_t), ("meta", meta_t)):
            o(f"{var} = _new({t.py})")
            for n, init in self.struct_slots[id(t)]:
                o(f"{var}.{n} = {given.get(n, init) if var == 'sm' else init}")
        o("if fl is not None: rt.preserve(old_meta, fl, meta)")
        o("_sm = sm")
        o("_pkt = frame")
        ps, lines = self.inline_blocks["parser"]
        for p, a in zip(ps, ["hdr", "meta", "sm"], strict=True):
            o(f"{p} = {a}")
        for line in lines[:-1]:  # the last line is `return off`
            o(line.replace("return off", "break") if line.strip() == "return off" else line)
        for line in self.inline("verify", ["hdr", "meta"]):
            o(line)
        for line in self.inline("ingress", ["hdr", "meta", "sm"]):
            o(line)
        checks = [f"sm.{h} is not None" for h in ("_clone", "_resub") if h in self.hidden_used]
        o(f"if {' or '.join([*checks, 'sm.mcast_grp'])}:")
        o("    return rt.after_ingress(frame, off, sm, hdr, meta, out)")
        o("port = sm.egress_spec")
        o("if port == 511: return None")
        o("sm.instance_type = 0; sm.egress_port = port; sm.egress_spec = 0")
        self.gen_egress_tail(blocks, "frame[off:]")
        o.ind -= 1
        o("def EGRESS(port, hdr, meta, sm, payload, out, rt):")
        o.ind += 1
        n0 = len(o.lines)
        o("_sm = sm")
        o("sm.egress_port = port; sm.egress_spec = 0")
        self.gen_egress_tail(blocks, "payload")
        body = [ln[4:] for ln in o.lines[n0:]]
        o.ind -= 1
        # REPLICATE: the replicas of a multicast group, EGRESS inlined into the loop
        o("def REPLICATE(nodes, hdr0, meta0, sm0, payload, out, rt):")
        o("    for rid, ports in nodes:")
        o("        for port in ports:")
        o("            sm = sm0._copy(); sm.egress_rid = rid")
        o("            hdr = hdr0._copy(); meta = meta0._copy()")
        for ln in body:
            stripped = ln.strip()
            ind = ln[: len(ln) - len(ln.lstrip())]
            if stripped == "return None":
                o.lines.append("            " + ind + "continue")
            elif stripped.startswith("return rt.finish_egress("):
                o.lines.append("            " + ind + stripped[len("return ") :])
                o.lines.append("            " + ind + "continue")
            else:
                o.lines.append("            " + ln)

    def gen_egress_tail(self, blocks: dict[str, str], payload: str) -> None:
        o = self.out
        for line in self.inline("egress", ["hdr", "meta", "sm"]):
            o(line)
        hidden = ("_clone", "_recirc", "_trunc")
        checks = [f"sm.{h} is not None" for h in hidden if h in self.hidden_used]
        o(f"if {' or '.join([*checks, 'sm.egress_spec == 511'])}:")
        o(f"    return rt.finish_egress(port, hdr, meta, sm, {payload}, out, 0)")
        for line in self.inline("compute", ["hdr", "meta"]):
            o(line)
        ps, lines = self.inline_blocks["deparser"]
        o(f"{ps[0]} = hdr")
        o(f"_payload = {payload}")
        for line in lines[:-1]:  # the last line returns the frame
            o(line)
        o("out.append((port, b''.join(_out)))")
        o("return None")

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

    def instantiation(self, d: A.Instantiation, scope: Scope, ctl: str) -> None:
        t = (
            self.resolve_type(d.type, scope)
            if not (isinstance(d.type, A.TName) and d.type.name in self.decls)
            else None
        )
        if t is None:
            raise error(d.loc, "unsupported construct: instantiating a parser or control")
        if not isinstance(t, ExternT):
            raise error(d.loc, f"cannot instantiate {t}")
        fq = self.fqname(ctl, d.name, d.annotations)
        py = "X_" + mangle(fq)
        args = [a.expr for a in d.args]
        if t.name == "counter":
            if len(args) != 2:
                raise error(d.loc, "counter(size, CounterType) takes 2 arguments")
            size = self.const_int(args[0], scope, "a counter size")
            unit = self.counter_unit(args[1], scope)
            info = ExternInfo("counter", fq, py, d.annotations, d.loc, size=size, unit=unit)
        elif t.name == "direct_counter":
            if len(args) != 1:
                raise error(d.loc, "direct_counter(CounterType) takes 1 argument")
            info = ExternInfo(
                "direct_counter",
                fq,
                py,
                d.annotations,
                d.loc,
                unit=self.counter_unit(args[0], scope),
            )
        elif t.name == "register":
            if len(args) != 1 or not t.args:
                raise error(d.loc, "register<T>(size) takes a type and 1 argument")
            w = scalar_width(t.args[0])
            if w is None:
                raise error(d.loc, f"register of {t.args[0]}: only bit<W> registers")
            size = self.const_int(args[0], scope, "a register size")
            info = ExternInfo("register", fq, py, d.annotations, d.loc, size=size, width=w)
            info.elem_type = t.args[0]  # type: ignore[attr-defined]
        else:
            raise error(d.loc, f"unsupported construct: extern {t.name}")
        self.externs.append(info)
        scope.add(d.name, Sym("extern", t, py, info=info), d.loc)

    def counter_unit(self, node: Any, scope: Scope) -> str:
        e = self.expr(node, scope, None)
        if not (isinstance(e.type, Enum) and e.type.name == "CounterType"):
            raise error(node.loc, "expected a CounterType")
        names = {v: k for k, v in e.type.members.items()}
        return {"packets": "PACKETS", "bytes": "BYTES", "packets_and_bytes": "BOTH"}[names[e.const]]

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
            a.referenced = True
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
            da.referenced = True
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
            if not ep.const:
                raise error(ep.loc, "unsupported construct: non-const entries")
            info.is_const = True
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

    def copy_if_composite(self, e: E) -> str:
        if isinstance(e.type, Struct | Stack) and e.lv:
            return f"{e.code}._copy()"
        return e.code

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

    def packet_in_call(self, c: A.Call, m: str, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        if ctx.kind != "parser":
            raise error(c.loc, f"packet_in.{m} outside a parser")
        if m == "extract":
            if len(c.args) != 1:
                raise error(c.loc, "unsupported construct: variable-size extract")
            a = c.args[0].expr
            if isinstance(a, A.Member) and a.name == "next":
                st = self.expr(a.expr, scope, None)
                if isinstance(st.type, Stack):
                    el = st.type.elem
                    o(f"if {st.code}.n >= {st.type.size}: raise PErr(3)")
                    o(f"end = off + {el.width // 8}")
                    o("if end > len(_pkt): raise PErr(1)")
                    o(f"{st.code}.h[{st.code}.n] = {el.vbit} | _fb(_pkt[off:end], 'big')")  # type: ignore[attr-defined]
                    o(f"{st.code}.n += 1")
                    o("off = end")
                    return
            e = self.expr(a, scope, None)
            if not isinstance(e.type, Header) or not e.lv:
                raise error(c.loc, f"extract into a value of type {e.type}")
            o(f"end = off + {e.type.width // 8}")
            o("if end > len(_pkt): raise PErr(1)")
            o(self.store(e, f"{e.type.vbit} | _fb(_pkt[off:end], 'big')"))  # type: ignore[attr-defined]
            o("off = end")
            return
        if m == "advance":
            if len(c.args) != 1:
                raise error(c.loc, "advance takes one argument")
            n = self.expr(c.args[0].expr, scope, Bits(32))
            o(f"off = advance(_pkt, off, {n.code})")
            return
        raise error(c.loc, f"unsupported construct: packet_in.{m}")

    def extern_method(self, sym: Sym, m: str, c: A.Call, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        info: ExternInfo = sym.info
        idx_t = Bits(32)
        if info.kind == "counter" and m == "count":
            if len(c.args) != 1:
                raise error(c.loc, "count(index) takes one argument")
            i = self.expr(c.args[0].expr, scope, idx_t)
            if not isinstance(i.type, Bits | InfInt):
                raise error(c.args[0].loc, "counter index must be bit<W>")
            o(f"{info.py}.count({i.code}, _sm.packet_length)")
            return
        if info.kind == "direct_counter" and m == "count":
            o("pass  # direct counters count on every table hit")
            return
        if info.kind == "register" and m == "read":
            if len(c.args) != 2:
                raise error(c.loc, "read(out result, index) takes two arguments")
            et = info.elem_type  # type: ignore[attr-defined]
            r = self.expr(c.args[0].expr, scope, et)
            if not r.lv or r.type != et:
                raise error(c.args[0].loc, f"register read result must be an l-value of {et}")
            i = self.expr(c.args[1].expr, scope, idx_t)
            o(self.store(r, f"{info.py}.read({i.code})"))
            return
        if info.kind == "register" and m == "write":
            if len(c.args) != 2:
                raise error(c.loc, "write(index, value) takes two arguments")
            et = info.elem_type  # type: ignore[attr-defined]
            i = self.expr(c.args[0].expr, scope, idx_t)
            v = self.coerce(self.expr(c.args[1].expr, scope, et), et, c.args[1].loc)
            o(f"{info.py}.write({i.code}, {v.code})")
            return
        raise error(c.loc, f"unsupported construct: {info.kind}.{m}")

    def list_bits(self, node: Any, scope: Scope) -> tuple[str, int]:
        """A field list `{a, b}` (or one value) as (Python code of the concatenation, width).
        Adjacent fields of one header become one shift-and-mask of the header's bits."""
        items = node.items if isinstance(node, A.ListExpr) else [node]
        parts: list[list[Any]] = []  # [code, width, hf or None]
        for it in items:
            e = self.expr(it, scope, None)
            w = scalar_width(e.type)
            if isinstance(e.type, Header):
                w = e.type.width
                parts.append([f"({e.code} & {(1 << w) - 1})", w, None])
                continue
            if w is None:
                raise error(it.loc, f"cannot use a value of type {e.type} in a field list")
            if isinstance(e.type, Bool):
                part = f"int({e.code})"
            elif isinstance(e.type, Bits) and e.type.signed:
                part = f"({e.code} & {e.type.mask})"
            else:
                part = e.code
            hf = e.hf
            prev = parts[-1][2] if parts else None
            if (
                hf is not None
                and prev is not None
                and prev[0] == hf[0]
                and hf[1] + hf[2] == prev[1]
            ):
                # extends the previous run of the same header downwards
                width = parts[-1][1] + w
                parts[-1] = [self.field_code(hf[0], hf[1], width), width, (hf[0], hf[1], width)]
                continue
            parts.append([part, w, hf])
        code = "0"
        total = 0
        for part, w, _ in parts:
            code = part if total == 0 else f"(({code}) << {w}) | {part}"
            total += w
        return code, total

    @staticmethod
    def field_code(base: str, shift: int, width: int) -> str:
        mask = (1 << width) - 1
        return f"(({base} >> {shift}) & {mask})" if shift else f"({base} & {mask})"

    def mark_written(self, t: Any, field: str | None = None) -> None:
        if not isinstance(t, Struct):
            return
        for n, ft in t.fields:
            if field is None or n == field:
                self.written[id(t)].add(n)
                if field is None:
                    self.mark_written(ft)

    def store(self, e: E, value: str) -> str:
        """A statement that stores the value code into the l-value e."""
        if e.sf is not None:
            self.mark_written(*e.sf)
        if isinstance(e.type, Struct):
            self.mark_written(e.type)
        if e.setter is not None:
            return e.setter(value)  # type: ignore[no-any-return]
        return f"{e.code} = {value}"

    def enum_arg(self, node: Any, scope: Scope, enum: str) -> str:
        e = self.expr(node, scope, None)
        if not (isinstance(e.type, Enum) and e.type.name == enum):
            raise error(node.loc, f"expected a {enum} value")
        names = {v: k for k, v in e.type.members.items()}
        return names[e.const]

    def extern_func(self, name: str, c: A.Call, scope: Scope, ctx: Ctx) -> None:
        o = ctx.out
        args = [a.expr for a in c.args]
        n = len(args)

        def need(k: int, sig: str) -> None:
            if n != k:
                raise error(c.loc, f"{sig} takes {k} arguments, {n} given")

        def bool_arg(x: Any) -> str:
            e = self.expr(x, scope, BOOL)
            if not isinstance(e.type, Bool):
                raise error(x.loc, f"expected bool, got {e.type}")
            return e.code

        if name == "verify":
            need(2, "verify(bool, error)")
            if ctx.kind != "parser":
                raise error(c.loc, "verify() outside a parser")
            cond = bool_arg(args[0])
            err = self.expr(args[1], scope, ERROR)
            if not isinstance(err.type, ErrorT):
                raise error(args[1].loc, "verify's second argument must be an error")
            o(f"if not ({cond}): raise PErr({err.code})")
            return
        if ctx.kind == "parser" and name not in ("log_msg",):
            raise error(c.loc, f"{name}() cannot be called in a parser")
        if name == "mark_to_drop":
            need(1, "mark_to_drop(standard_metadata)")
            sm = self.expr(args[0], scope, None)
            if not (isinstance(sm.type, Struct) and sm.type.name == "standard_metadata_t"):
                raise error(args[0].loc, "mark_to_drop needs standard_metadata")
            o(f"{sm.code}.egress_spec = 511; {sm.code}.mcast_grp = 0")
            return
        if name in ("verify_checksum", "update_checksum"):
            need(4, f"{name}(condition, data, checksum, algo)")
            cond = bool_arg(args[0])
            data, w = self.list_bits(args[1], scope)
            ck = self.expr(args[2], scope, None)
            if not isinstance(ck.type, Bits):
                raise error(args[2].loc, "the checksum must be a bit<W> field")
            algo = self.enum_arg(args[3], scope, "HashAlgorithm")
            if algo not in HASH_ALGOS:
                raise error(args[3].loc, f"unsupported construct: HashAlgorithm.{algo}")
            if name == "update_checksum" and not ck.lv:
                raise error(args[2].loc, "update_checksum needs an l-value")
            memo = self.fresh("M")
            self.module_init.append(f"{memo} = [None, 0]")
            o(f"if {cond}:")
            o.ind += 1
            o(f"_d = {data}")
            o(
                f"if _d != {memo}[0]: {memo}[0] = _d; {memo}[1] = hash_{algo}(_d, {w}) & "
                f"{ck.type.mask}"
            )
            if name == "verify_checksum":
                o(f"if {memo}[1] != {ck.code}: _sm.checksum_error = 1")
            else:
                o(self.store(ck, f"{memo}[1]"))
            o.ind -= 1
            return
        if name in ("verify_checksum_with_payload", "update_checksum_with_payload"):
            raise error(c.loc, f"unsupported construct: {name}")
        if ctx.kind == "deparser":
            raise error(c.loc, f"{name}() cannot be called in a deparser")
        if name == "hash":
            need(5, "hash(out result, algo, base, data, max)")
            r = self.expr(args[0], scope, None)
            if not r.lv or not isinstance(r.type, Bits):
                raise error(args[0].loc, "hash result must be a bit<W> l-value")
            algo = self.enum_arg(args[1], scope, "HashAlgorithm")
            if algo not in HASH_ALGOS:
                raise error(args[1].loc, f"unsupported construct: HashAlgorithm.{algo}")
            base = self.expr(args[2], scope, None)
            data, w = self.list_bits(args[3], scope)
            mx = self.expr(args[4], scope, None)
            for x, a in ((base, args[2]), (mx, args[4])):
                if not isinstance(x.type, Bits | InfInt):
                    raise error(a.loc, "hash base and max must be bit<W>")
            h = f"hash_result(hash_{algo}({data}, {w}), {base.code}, {mx.code}, {r.type.mask})"
            o(self.store(r, h))
            return
        if name == "random":
            need(3, "random(out result, lo, hi)")
            r = self.expr(args[0], scope, None)
            if not r.lv or not isinstance(r.type, Bits):
                raise error(args[0].loc, "random result must be a bit<W> l-value")
            lo = self.coerce(self.expr(args[1], scope, r.type), r.type, args[1].loc)
            hi = self.coerce(self.expr(args[2], scope, r.type), r.type, args[2].loc)
            o(self.store(r, f"p4_random({lo.code}, {hi.code})"))
            return
        if name == "log_msg":
            if n not in (1, 2):
                raise error(c.loc, "log_msg(msg[, data]) takes 1 or 2 arguments")
            msg = self.expr(args[0], scope, STR)
            if not isinstance(msg.type, Str):
                raise error(args[0].loc, "log_msg needs a string")
            vals = "()"
            if n == 2:
                items = args[1].items if isinstance(args[1], A.ListExpr) else [args[1]]
                codes = [self.expr(x, scope, None).code for x in items]
                vals = "(" + "".join(x + ", " for x in codes) + ")"
            o(f"log_msg({msg.code}, {vals})")
            return
        if name in ("clone", "clone_preserving_field_list"):
            need(2 if name == "clone" else 3, f"{name}(...)")
            kind = self.enum_arg(args[0], scope, "CloneType")
            sess = self.expr(args[1], scope, Bits(32))
            if not isinstance(sess.type, Bits | InfInt):
                raise error(args[1].loc, "clone session must be bit<32>")
            fl = "None"
            if name == "clone_preserving_field_list":
                fl = str(self.field_list_arg(args[2], scope))
            self.hidden_used.add("_clone")
            o(f"_sm._clone = ({kind!r}, {sess.code}, {fl})")
            return
        if name in ("resubmit_preserving_field_list", "recirculate_preserving_field_list"):
            need(1, f"{name}(index)")
            fl = self.field_list_arg(args[0], scope)
            attr = "_resub" if name.startswith("resubmit") else "_recirc"
            self.hidden_used.add(attr)
            o(f"_sm.{attr} = {fl}")
            return
        if name in ("resubmit", "recirculate", "clone3"):
            raise error(
                c.loc, f"unsupported construct: {name} (use the _preserving_field_list variant)"
            )
        if name == "truncate":
            need(1, "truncate(length)")
            ln = self.expr(args[0], scope, Bits(32))
            self.hidden_used.add("_trunc")
            o(f"_sm._trunc = {ln.code}")
            return
        raise error(c.loc, f"unsupported construct: extern {name}")

    def field_list_arg(self, node: Any, scope: Scope) -> int:
        v = self.const_int(node, scope, "a field list index")
        if v not in self.field_lists_declared():
            raise error(node.loc, f"no metadata field has @field_list({v})")
        return v

    def field_lists_declared(self) -> set[int]:
        ids: set[int] = set()
        for s in self.structs:
            for anns in s.annotations.values():
                for a in anns:
                    if a.name == "field_list":
                        ids.update(x for x in a.args if isinstance(x, int))
        return ids

    # ---- expressions ----------------------------------------------------------------------
    def coerce(self, e: E, t: Type, loc: Loc) -> E:
        """Implicit conversion for assignment and argument passing (as p4c allows it)."""
        if e.type == t or (isinstance(t, Header | Struct | Stack | Enum) and e.type is t):
            return e
        if isinstance(e.type, InfInt) and isinstance(t, Bits):
            if e.const is None:
                raise error(loc, "integer value of unknown width")
            v = fold(e.const, t)
            return E(repr(v), t, v)
        if isinstance(e.type, ListT) and isinstance(t, Header | Struct):
            self.mark_written(t)
            return self.list_to(e, t, loc)
        if isinstance(e.type, Enum) and e.type.underlying == t and t is not None:
            return E(e.code, t, e.const)
        if isinstance(t, Enum) and isinstance(e.type, Enum) and t.name == e.type.name:
            return e
        raise error(loc, f"cannot use a value of type {e.type} where {t} is expected")

    def list_to(self, e: E, t: Header | Struct, loc: Loc) -> E:
        items = e.sym  # list of E
        if len(items) != len(t.fields):
            raise error(loc, f"{len(items)} values for {t} with {len(t.fields)} fields")
        if isinstance(t, Header):
            bits = []
            for (fname, ft), it in zip(t.fields, items, strict=True):
                v = self.coerce(it, ft, loc)
                sh = t.layout[fname][0]  # type: ignore[attr-defined]
                if isinstance(ft, Bits) and ft.signed:
                    vc = f"({v.code} & {ft.mask})"
                elif isinstance(ft, Bool):
                    vc = f"(1 if {v.code} else 0)"
                else:
                    vc = v.code
                bits.append(f"({vc} << {sh})" if sh else vc)
            return E(f"({t.vbit} | {' | '.join(bits)})", t)  # type: ignore[attr-defined]
        parts = []
        for (fname, ft), it in zip(t.fields, items, strict=True):
            v = self.coerce(it, ft, loc)
            parts.append(f"{py_attr(fname)}={self.copy_if_composite(v)}")
        return E(
            f"mk({t.py}, {'True' if isinstance(t, Header) else 'None'}, {', '.join(parts)})", t
        )

    def expr(self, n: Any, scope: Scope, want: Type | None, allow_nonvalue: bool = False) -> E:
        e = self._expr(n, scope, want)
        if e.sym is not None and not allow_nonvalue and isinstance(e.sym, Sym):
            raise error(n.loc, "not a value")
        return e

    def _expr(self, n: Any, scope: Scope, want: Type | None) -> E:
        if isinstance(n, A.Lit):
            if n.width is None:
                return E(repr(n.value), INFINT, n.value)
            t = Bits(n.width, n.signed)
            v = fold(n.value, t)
            return E(repr(v), t, v)
        if isinstance(n, A.BoolLit):
            return E(repr(n.value), BOOL, n.value)
        if isinstance(n, A.StrLit):
            return E(repr(n.value), STR, n.value)
        if isinstance(n, A.Name):
            return self.name_expr(n, scope)
        if isinstance(n, A.Member):
            return self.member(n, scope)
        if isinstance(n, A.Index):
            base = self.expr(n.expr, scope, None)
            if not isinstance(base.type, Stack):
                raise error(n.loc, f"indexing a value of type {base.type}")
            i = self.expr(n.index, scope, None)
            if i.const is not None:
                if not 0 <= i.const < base.type.size:
                    raise error(n.index.loc, f"index {i.const} out of bounds of {base.type}")
                return E(f"{base.code}.h[{i.const}]", base.type.elem, lv=base.lv)
            if not isinstance(i.type, Bits) or i.type.signed:
                raise error(n.index.loc, "stack index must be bit<W>")
            at = "at" if self.in_parser else "at_c"
            return E(f"{base.code}.{at}({i.code})", base.type.elem, lv=False)
        if isinstance(n, A.Slice):
            base = self.expr(n.expr, scope, None)
            if not isinstance(base.type, Bits):
                raise error(n.loc, f"slice of a value of type {base.type}")
            hi = self.const_int(n.hi, scope, "a slice bound")
            lo = self.const_int(n.lo, scope, "a slice bound")
            self.check_slice(base.type, hi, lo, n.loc)
            t = Bits(hi - lo + 1)
            if base.const is not None:
                v = (base.const >> lo) & t.mask
                return E(repr(v), t, v)
            code = f"(({base.code} >> {lo}) & {t.mask})" if lo else f"({base.code} & {t.mask})"
            return E(code, t)
        if isinstance(n, A.Unary):
            return self.unary(n, scope, want)
        if isinstance(n, A.Binary):
            return self.binary(n, scope, want)
        if isinstance(n, A.Cond):
            c = self.expr(n.cond, scope, BOOL)
            if not isinstance(c.type, Bool):
                raise error(n.cond.loc, f"condition has type {c.type}, expected bool")
            a = self.expr(n.then, scope, want)
            b = self.expr(n.other, scope, want)
            a, b = self.unify(a, b, n.loc, "?:")
            if isinstance(a.type, InfInt) and not (c.const is not None):
                raise error(n.loc, "?: with integer literals of unknown width")
            if c.const is not None and a.const is not None and b.const is not None:
                v = a.const if c.const else b.const
                return E(repr(v), a.type, v)
            return E(f"({a.code} if {c.code} else {b.code})", a.type)
        if isinstance(n, A.Cast):
            t = self.resolve_type(n.type, scope)
            return self.cast(self.expr(n.expr, scope, t), t, n.loc)
        if isinstance(n, A.Call):
            return self.call_expr(n, scope, want)
        if isinstance(n, A.ListExpr):
            items = [self.expr(x, scope, None) for x in n.items]
            return E("None", ListT(tuple(i.type for i in items)), sym=items)
        if isinstance(n, A.StructExpr):
            if not isinstance(want, Struct | Header):
                raise error(n.loc, "a struct expression needs a known struct or header type")
            vals = dict(n.fields)
            names = [f for f, _ in want.fields]
            for k in vals:
                if k not in names:
                    raise error(n.loc, f"{want} has no field {k}")
            if set(names) != set(vals):
                raise error(n.loc, f"struct expression must give every field of {want}")
            items = [self.expr(vals[f], scope, ft) for f, ft in want.fields]
            self.mark_written(want)
            return self.list_to(E("None", ListT(()), sym=items), want, n.loc)
        if isinstance(n, A.DontCare | A.Default):
            raise error(n.loc, "'_' or default is not a value here")
        if isinstance(n, A.Mask | A.RangeExpr):
            raise error(n.loc, "a mask or range is only allowed in a select or table entry")
        raise error(n.loc, f"unsupported construct: expression {type(n).__name__}")

    def check_slice(self, t: Bits, hi: int, lo: int, loc: Loc) -> None:
        if not (0 <= lo <= hi < t.width):
            raise error(loc, f"slice [{hi}:{lo}] out of range for {t}")

    def name_expr(self, n: A.Name, scope: Scope) -> E:
        sym = self.top.lookup(n.name) if n.dotted_prefix else scope.lookup(n.name)
        if sym is None:
            if n.name == "error":
                return E("", ERROR, sym=Sym("type", ERROR))
            ty = self.types.get(n.name)
            if isinstance(ty, Enum):
                return E("", ty, sym=Sym("type", ty))
            raise error(n.loc, f"unknown name {n.name!r}")
        if sym.kind == "var":
            return E(sym.code, sym.type, lv=True)  # type: ignore[arg-type]
        if sym.kind == "const":
            return E(sym.code, sym.type, sym.value)  # type: ignore[arg-type]
        return E(sym.code, sym.type or VOID, sym=sym)

    def member(self, n: A.Member, scope: Scope) -> E:
        base = self.expr(n.expr, scope, None, allow_nonvalue=True)
        loc = n.name_loc or n.loc
        t = base.type
        if isinstance(base.sym, Sym) and base.sym.kind == "type":
            st = base.sym.type
            if isinstance(st, ErrorT):
                if n.name not in self.errors:
                    raise error(loc, f"unknown error.{n.name}")
                v = self.errors[n.name]
                return E(repr(v), ERROR, v)
            if isinstance(st, Enum):
                if n.name not in st.members:
                    raise error(loc, f"{st.name} has no member {n.name}")
                v = st.members[n.name]
                return E(repr(v), st, v)
        if isinstance(base.sym, Sym):
            raise error(loc, f"unsupported construct: member {n.name}")
        if isinstance(t, Header):
            if n.name not in t.layout:  # type: ignore[attr-defined]
                raise error(loc, f"{t} has no field {n.name!r}")
            sh, ft = t.layout[n.name]  # type: ignore[attr-defined]
            fw = scalar_width(ft)
            assert fw is not None
            code = self.field_code(base.code, sh, fw)
            signed = isinstance(ft, Bits) and ft.signed
            if signed:
                code = wrap(code, ft)
            elif isinstance(ft, Bool):
                code = f"({code} == 1)"
            setter = None
            if base.lv:
                mask = (1 << fw) - 1
                keep = ((t.vbit << 1) - 1) ^ (mask << sh)  # type: ignore[attr-defined]

                def setter(
                    v: str,
                    base: E = base,
                    keep: int = keep,
                    mask: int = mask,
                    sh: int = sh,
                    signed: bool = signed,
                    ft: Type = ft,
                ) -> str:
                    if signed:
                        val = f"(({v}) & {mask})"
                    elif isinstance(ft, Bool):
                        val = f"(1 if {v} else 0)"
                    else:
                        val = f"({v})"
                    val = f"({val} << {sh})" if sh else val
                    return self.store(base, f"(({base.code} & {keep}) | {val})")

            return E(code, ft, lv=base.lv, setter=setter, hf=(base.code, sh, fw))
        if isinstance(t, Struct):
            ft = t.field_type(n.name)
            if ft is None:
                raise error(loc, f"{t} has no field {n.name!r}")
            return E(f"{base.code}.{py_attr(n.name)}", ft, lv=base.lv, sf=(t, n.name))
        if isinstance(t, Stack):
            if n.name == "last":
                last = "last" if self.in_parser else "last_c"
                return E(f"{base.code}.{last}()", t.elem, lv=False)
            if n.name == "next":
                raise error(loc, "stack.next is only supported in extract()")
            if n.name == "size":
                return E(repr(t.size), Bits(32), t.size)
            if n.name == "nextIndex":
                return E(f"{base.code}.n", Bits(32))
            if n.name == "lastIndex":
                return E(f"(({base.code}.n - 1) & 0xffffffff)", Bits(32))
            raise error(loc, f"unknown header stack member {n.name}")
        if isinstance(t, TableResultT):
            if n.name == "hit":
                return E(f"{base.code}[3]", BOOL)
            if n.name == "miss":
                return E(f"(not {base.code}[3])", BOOL)
            if n.name == "action_run":
                return E(f"{base.code}[2]", ActionRunT(t.table), sym=base.sym)
        raise error(loc, f"no member {n.name!r} in a value of type {t}")

    def call_expr(self, n: A.Call, scope: Scope, want: Type | None) -> E:
        f = n.func
        if isinstance(f, A.Member):
            base = self.expr(f.expr, scope, None, allow_nonvalue=True)
            if isinstance(base.type, Header) and f.name == "isValid" and base.sym is None:
                if n.args:
                    raise error(n.loc, "isValid() takes no arguments")
                return E(f"({base.code} >= {base.type.vbit})", BOOL)  # type: ignore[attr-defined]
            sym = base.sym
            if isinstance(sym, Sym) and sym.kind == "table" and f.name == "apply":
                pre = self.pre_applied.get(id(n))
                if pre is None:
                    raise error(n.loc, "unsupported construct: table apply in this position")
                return pre
            if isinstance(sym, Sym) and sym.kind == "packet_in" and f.name == "lookahead":
                if len(n.type_args) != 1 or n.args:
                    raise error(n.loc, "lookahead<T>() takes one type argument")
                t = self.resolve_type(n.type_args[0], scope)
                if isinstance(t, Header):
                    vb = t.vbit  # type: ignore[attr-defined]
                    return E(f"({vb} | lookahead(_pkt, off, {t.width}))", t)
                if not isinstance(t, Bits):
                    raise error(n.loc, "unsupported construct: lookahead of this type")
                code = f"lookahead(_pkt, off, {t.width})"
                if t.signed:
                    code = wrap(code, t)
                return E(code, t)
            if (
                isinstance(sym, Sym)
                and sym.kind == "extern"
                and sym.info.kind == "register"
                and f.name == "read"
                and len(n.args) == 1
            ):
                i = self.expr(n.args[0].expr, scope, Bits(32))
                return E(f"{sym.info.py}.read({i.code})", sym.info.elem_type)
        raise error(n.loc, "unsupported construct: call in an expression")

    def unary(self, n: A.Unary, scope: Scope, want: Type | None) -> E:
        e = self.expr(n.expr, scope, want)
        t = e.type
        if n.op == "!":
            if not isinstance(t, Bool):
                raise error(n.loc, f"! on a value of type {t}")
            if e.const is not None:
                return E(repr(not e.const), BOOL, not e.const)
            return E(f"(not {e.code})", BOOL)
        if not isinstance(t, Bits | InfInt):
            raise error(n.loc, f"{n.op} on a value of type {t}")
        if n.op == "+":
            return e
        if n.op == "-":
            if isinstance(t, InfInt):
                return E(repr(-e.const), INFINT, -e.const)
            if e.const is not None:
                v = fold(-e.const, t)
                return E(repr(v), t, v)
            return E(wrap(f"-{e.code}", t), t)
        if n.op == "~":
            if isinstance(t, InfInt):
                raise error(n.loc, "~ on an integer of unknown width")
            if e.const is not None:
                v = fold(~e.const, t)
                return E(repr(v), t, v)
            return E(f"(~{e.code})" if t.signed else f"({e.code} ^ {t.mask})", t)
        raise error(n.loc, f"unknown operator {n.op}")

    def unify(self, a: E, b: E, loc: Loc, op: str) -> tuple[E, E]:
        if a.type == b.type:
            return a, b
        if isinstance(a.type, InfInt) and isinstance(b.type, Bits):
            return self.coerce(a, b.type, loc), b
        if isinstance(b.type, InfInt) and isinstance(a.type, Bits):
            return a, self.coerce(b, a.type, loc)
        if isinstance(a.type, Enum) and a.type is b.type:
            return a, b
        raise error(loc, f"{op}: operands have different types {a.type} and {b.type}")

    def binary(self, n: A.Binary, scope: Scope, want: Type | None) -> E:
        op = n.op
        if op in ("&&", "||"):
            a = self.expr(n.left, scope, BOOL)
            b = self.expr(n.right, scope, BOOL)
            for x, side in ((a, n.left), (b, n.right)):
                if not isinstance(x.type, Bool):
                    raise error(side.loc, f"{op} on a value of type {x.type}")
            if a.const is not None and b.const is not None:
                v = (a.const and b.const) if op == "&&" else (a.const or b.const)
                return E(repr(v), BOOL, v)
            return E(f"({a.code} {'and' if op == '&&' else 'or'} {b.code})", BOOL)
        a = self.expr(n.left, scope, None)
        b = self.expr(n.right, scope, None)
        if op in ("<<", ">>"):
            return self.shift(n, a, b)
        if op == "++":
            return self.concat(n, a, b)
        if op in ("==", "!="):
            a, b = self.unify(a, b, n.loc, op)
            if not isinstance(a.type, Bits | InfInt | Bool | ErrorT | Enum):
                raise error(n.loc, f"unsupported construct: {op} on {a.type}")
            if a.const is not None and b.const is not None:
                v = (a.const == b.const) == (op == "==")
                return E(repr(v), BOOL, v)
            return E(f"({a.code} {op} {b.code})", BOOL)
        a, b = self.unify(a, b, n.loc, op)
        t = a.type
        if not isinstance(t, Bits | InfInt):
            raise error(n.loc, f"{op} on values of type {t}")
        if op in ("<", ">", "<=", ">="):
            if a.const is not None and b.const is not None:
                v = eval(f"{a.const} {op} {b.const}")  # constants only
                return E(repr(v), BOOL, v)
            return E(f"({a.code} {op} {b.code})", BOOL)
        if op in ("/", "%"):
            if isinstance(t, Bits) and t.signed:
                raise error(n.loc, f"{op} on signed values")
            if b.const == 0:
                raise error(n.loc, "division by zero")
        if a.const is not None and b.const is not None:
            v = self.const_binop(op, a.const, b.const, n.loc)
            if isinstance(t, Bits):
                v = self.const_sat(op, a.const, b.const, t) if op in ("|+|", "|-|") else fold(v, t)
            return E(repr(v), t, v)
        if isinstance(t, InfInt):
            raise error(n.loc, "arithmetic on integers of unknown width")
        pyop = {"+": "+", "-": "-", "*": "*", "&": "&", "|": "|", "^": "^", "/": "//", "%": "%"}
        if op in ("&", "|", "^"):
            return E(f"({a.code} {op} {b.code})", t)
        if op in ("+", "-", "*"):
            return E(wrap(f"{a.code} {pyop[op]} {b.code}", t), t)
        if op in ("/", "%"):
            return E(f"div0({a.code}, {b.code}, {op == '%'})", t)
        if op == "|+|":
            if t.signed:
                h = 1 << (t.width - 1)
                return E(f"min(max({a.code} + {b.code}, {-h}), {h - 1})", t)
            return E(f"min({a.code} + {b.code}, {t.mask})", t)
        if op == "|-|":
            if t.signed:
                h = 1 << (t.width - 1)
                return E(f"min(max({a.code} - {b.code}, {-h}), {h - 1})", t)
            return E(f"max({a.code} - {b.code}, 0)", t)
        raise error(n.loc, f"unknown operator {op}")

    def const_binop(self, op: str, x: int, y: int, loc: Loc) -> int:
        if op in ("/", "%") and y == 0:
            raise error(loc, "division by zero")
        return {
            "+": lambda: x + y,
            "-": lambda: x - y,
            "*": lambda: x * y,
            "&": lambda: x & y,
            "|": lambda: x | y,
            "^": lambda: x ^ y,
            "/": lambda: x // y,
            "%": lambda: x % y,
            "|+|": lambda: x + y,
            "|-|": lambda: x - y,
        }[op]()

    def const_sat(self, op: str, x: int, y: int, t: Bits) -> int:
        v = x + y if op == "|+|" else x - y
        lo, hi = (-(1 << (t.width - 1)), (1 << (t.width - 1)) - 1) if t.signed else (0, t.mask)
        return min(max(v, lo), hi)

    def shift(self, n: A.Binary, a: E, b: E) -> E:
        if isinstance(b.type, Bits) and b.type.signed:
            raise error(n.right.loc, "shift amount must be unsigned")
        if not isinstance(b.type, Bits | InfInt):
            raise error(n.right.loc, f"shift by a value of type {b.type}")
        if isinstance(b.type, InfInt) and b.const < 0:
            raise error(n.right.loc, "negative shift amount")
        t = a.type
        if isinstance(t, InfInt):
            if a.const is not None and b.const is not None:
                v = a.const << b.const if n.op == "<<" else a.const >> b.const
                return E(repr(v), INFINT, v)
            raise error(n.left.loc, "shift of an integer of unknown width")
        if not isinstance(t, Bits):
            raise error(n.left.loc, f"shift of a value of type {t}")
        if a.const is not None and b.const is not None:
            v = fold(a.const << b.const if n.op == "<<" else a.const >> b.const, t)
            return E(repr(v), t, v)
        if n.op == "<<":
            if b.const is not None:
                if b.const >= t.width:
                    return E("0", t, None)
                return E(wrap(f"{a.code} << {b.const}", t), t)
            # a shift amount from the packet must not build a huge int first
            return E(wrap(f"shl({a.code}, {b.code}, {t.width})", t), t)
        return E(f"({a.code} >> {b.code})", t)

    def concat(self, n: A.Binary, a: E, b: E) -> E:
        for x, side in ((a, n.left), (b, n.right)):
            if not isinstance(x.type, Bits):
                raise error(side.loc, f"++ needs bit<W> or int<W> operands, not {x.type}")
        ta, tb = a.type, b.type
        assert isinstance(ta, Bits) and isinstance(tb, Bits)
        t = Bits(ta.width + tb.width, ta.signed)
        au = f"({a.code} & {ta.mask})" if ta.signed else a.code
        bu = f"({b.code} & {tb.mask})" if tb.signed else b.code
        code = f"(({au} << {tb.width}) | {bu})"
        if a.const is not None and b.const is not None:
            v = fold(((a.const & ta.mask) << tb.width) | (b.const & tb.mask), t)
            return E(repr(v), t, v)
        return E(wrap(code, t) if t.signed else code, t)

    def cast(self, e: E, t: Type, loc: Loc) -> E:
        s = e.type
        if s == t:
            return E(e.code, t, e.const)
        if isinstance(t, Bits):
            if isinstance(s, InfInt):
                return self.coerce(e, t, loc)
            if isinstance(s, Bool):
                if t.width != 1 or t.signed:
                    raise error(loc, f"cannot cast bool to {t}")
                if e.const is not None:
                    return E(repr(int(e.const)), t, int(e.const))
                return E(f"(1 if {e.code} else 0)", t)
            if isinstance(s, Enum) and s.underlying is not None:
                s2 = s.underlying
                return self.cast(E(e.code, s2, e.const), t, loc)
            if isinstance(s, Bits):
                if s.width != t.width and s.signed != t.signed:
                    raise error(
                        loc, f"cannot cast {s} to {t}: change width and signedness in two casts"
                    )
                if e.const is not None:
                    v = fold(e.const, t)
                    return E(repr(v), t, v)
                if t.signed:
                    if s.signed and t.width >= s.width:
                        return E(e.code, t)
                    return E(wrap(e.code, t), t)
                if s.signed or t.width < s.width:
                    return E(f"({e.code} & {t.mask})", t)
                return E(e.code, t)
        if isinstance(t, Bool):
            if isinstance(s, Bits) and s.width == 1 and not s.signed:
                if e.const is not None:
                    return E(repr(bool(e.const)), BOOL, bool(e.const))
                return E(f"({e.code} == 1)", BOOL)
            if isinstance(s, InfInt) and e.const in (0, 1):
                return E(repr(bool(e.const)), BOOL, bool(e.const))
        if isinstance(t, Enum) and t.underlying is not None and isinstance(s, Bits | InfInt):
            inner = self.cast(e, t.underlying, loc)
            return E(inner.code, t, inner.const)
        if isinstance(t, Header | Struct) and isinstance(s, ListT):
            self.mark_written(t)
            return self.list_to(e, t, loc)
        raise error(loc, f"cannot cast {s} to {t}")


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
