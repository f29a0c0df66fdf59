"""P4 statements, actions, parsers, controls and the deparser as C for the eBPF backend.

Each v1model block becomes one global BPF function `blk_<role>(skb, w)` (verified once by the
kernel, whatever calls it); actions and tables are inlined where they are called, so `exit`
and `return` are plain gotos. Scalar variables are C locals; wide, header and struct variables
live in the work area.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softswitch.core import ast as A
from softswitch.core.gen import E, Scope, Sym, _find_applies
from softswitch.core.lexer import Loc
from softswitch.core.model import ActionInfo
from softswitch.core.types import (
    BOOL,
    ActionRunT,
    Bits,
    Bool,
    Enum,
    ErrorT,
    ExternT,
    Header,
    Stack,
    Struct,
    TableResultT,
    Type,
)
from softswitch.ebpf.cexpr import CE, u64lit
from softswitch.ebpf.errors import unsupported
from softswitch.ebpf.layout import cname, header_cname, is_wide, scalar_width, words


@dataclass
class CCtx:
    kind: str  # parser, control, action, deparser
    exit_label: str
    ret_label: str
    copy_out: list[str] = field(default_factory=list)


class CStmts:
    """Statement and block translation, mixed into the C emitter."""

    # ---- output ---------------------------------------------------------------------------
    def out(self, line: str) -> None:
        self.lines.append("    " * self.ind + line)

    def label(self, base: str) -> str:
        self.nlabel += 1
        return f"{base}_{self.nlabel}"

    # ---- variables ------------------------------------------------------------------------
    def declare(self, name: str, t: Type, init: CE | None, scope: Scope, loc: Loc) -> None:
        w = scalar_width(t)
        if (w is not None and w <= 64) or isinstance(t, Enum | ErrorT):
            c = self.local(name)
            ctype = "s64" if isinstance(t, Bits) and t.signed else "u64"
            self.out(f"{ctype} {c} = {init.code if init is not None else '0'};")
            scope.add(name, Sym("var", t, c))
            return
        if isinstance(t, ExternT):
            raise unsupported(loc, f"a variable of type {t}")
        tmp = self.temp(t)
        scope.add(name, Sym("var", t, tmp, info="mem"))
        if init is None:
            self.out(f"__builtin_memset(&{tmp}, 0, sizeof({tmp}));")
        else:
            self.store(self.stored(tmp, t), init)

    def var_decl(self, d: Any, scope: Scope) -> None:
        if isinstance(d, A.ConstDecl):
            self.cc.const_decl(d, scope)
            return
        if not isinstance(d, A.VarDecl):
            raise unsupported(d.loc, f"the declaration {type(d).__name__} here")
        t = self.cc.resolve_type(d.type, scope)
        init = None
        if d.init is not None:
            self.hoist_applies(d.init, scope)
            init = self.cx_as(d.init, scope, t)
        self.declare(d.name, t, init, scope, d.loc)

    # ---- statements -----------------------------------------------------------------------
    def hoist_applies(self, node: Any, scope: Scope) -> None:
        for call in _find_applies(node):
            base = self.typed(call.func.expr, scope, None)
            sym = base.sym
            if isinstance(sym, Sym) and sym.kind == "table":
                res = self.table_apply(sym.info, scope)
                self.applied[id(call)] = res
                self.cc.pre_applied[id(call)] = E("", TableResultT(sym.info.fqname), sym=sym.info)

    def stmt(self, s: Any, scope: Scope, ctx: CCtx) -> None:
        if isinstance(s, A.If):
            self.hoist_applies(s.cond, scope)
            c = self.cx(s.cond, scope, BOOL)
            self.out(f"if ({c.code}) {{")
            self.block(s.then, Scope(scope), ctx)
            if s.other is not None:
                self.out("} else {")
                self.block(s.other, Scope(scope), ctx)
            self.out("}")
        elif isinstance(s, A.Block):
            self.out("{")
            self.block(s, Scope(scope), ctx)
            self.out("}")
        elif isinstance(s, A.Empty):
            pass
        elif isinstance(s, A.VarDecl | A.ConstDecl):
            self.var_decl(s, scope)
        elif isinstance(s, A.Assign):
            self.hoist_applies(s.rhs, scope)
            self.assign(s, scope)
        elif isinstance(s, A.CallStmt):
            self.call_stmt(s.call, scope, ctx)
        elif isinstance(s, A.Exit):
            self.out(f"goto {ctx.exit_label};")
        elif isinstance(s, A.Return):
            self.out(f"goto {ctx.ret_label};")
        elif isinstance(s, A.SwitchStmt):
            self.hoist_applies(s.expr, scope)
            self.switch_stmt(s, scope, ctx)
        else:
            raise unsupported(s.loc, f"the statement {type(s).__name__}")

    def block(self, s: Any, scope: Scope, ctx: CCtx) -> None:
        self.ind += 1
        for x in s.stmts if isinstance(s, A.Block) else [s]:
            self.stmt(x, scope, ctx)
        self.ind -= 1

    def assign(self, s: A.Assign, scope: Scope) -> None:
        if isinstance(s.lhs, A.Slice):
            base = self.cx(s.lhs.expr, scope)
            hi = self.cc.const_int(s.lhs.hi, scope, "a slice bound")
            lo = self.cc.const_int(s.lhs.lo, scope, "a slice bound")
            st = Bits(hi - lo + 1)
            v = self.cx_as(s.rhs, scope, st)
            bt = base.type
            assert isinstance(bt, Bits) and base.lval is not None
            if base.wide:
                if st.width > 64:
                    self.out(
                        f"w_deposit_w({base.lval}, {words(bt.width)}, {lo}, {v.code}, {st.width});"
                    )
                else:
                    self.out(f"w_set({base.lval}, {words(bt.width)}, {lo}, {st.width}, {v.code});")
                return
            m = st.mask << lo
            keep = bt.mask ^ m
            cur = f"((u64){base.code} & {u64lit(bt.mask)})" if bt.signed else base.code
            val = f"(({cur} & {u64lit(keep)}) | ({v.code} << {lo}))"
            if bt.signed and not base.field:
                val = f"SEXT({val}, {bt.width})"
            self.out(f"{base.lval} = {val};")
            return
        lhs = self.cx(s.lhs, scope)
        if lhs.lval is None:
            raise unsupported(s.lhs.loc, "an assignment to this expression")
        rhs = self.cx_as(s.rhs, scope, lhs.type)
        self.store(lhs, rhs)

    def switch_stmt(self, s: A.SwitchStmt, scope: Scope, ctx: CCtx) -> None:
        e = self.cx(s.expr, scope)
        var = self.local("sw")
        self.out(f"u64 {var} = {e.code};")
        first = True
        pending: list[str] = []
        for c in s.cases:
            if isinstance(c.label, A.Default):
                cond = "1"
            elif isinstance(e.type, ActionRunT):
                tinfo = e.sym[2]
                a = self.cc.action_ref(c.label, scope)
                idx = next(i for i, r in enumerate(tinfo.actions) if r.action is a)
                cond = f"{var} == {idx}"
            else:
                v = self.cx_as(c.label, scope, e.type)
                cond = f"{var} == {v.code}"
            pending.append(cond)
            if c.body is None:
                continue
            full = "1" if "1" in pending else " || ".join(pending)
            self.out(f"{'if' if first else '} else if'} ({full}) {{")
            first = False
            self.block(c.body, Scope(scope), ctx)
            pending = []
        if not first:
            self.out("}")

    # ---- calls ----------------------------------------------------------------------------
    def call_stmt(self, c: A.Call, scope: Scope, ctx: CCtx) -> None:
        f = c.func
        if isinstance(f, A.Member):
            obj = self.typed(f.expr, scope, None)
            m = f.name
            sym = obj.sym
            if isinstance(sym, Sym):
                if sym.kind == "packet_in":
                    self.packet_in_call(c, m, scope)
                    return
                if sym.kind == "packet_out":
                    self.emit_value(self.cx(c.args[0].expr, scope))
                    return
                if sym.kind == "table":
                    self.table_apply(sym.info, scope)
                    return
                if sym.kind == "extern":
                    self.extern_method(sym, m, c, scope)
                    return
            if isinstance(obj.type, Header):
                base = self.cx(f.expr, scope)
                if m == "setValid":
                    self.out(f"{base.lval}._v = 1;")
                elif m == "setInvalid":
                    self.out(f"{base.lval}._v = 0;")
                return
            if isinstance(obj.type, Stack) and m in ("push_front", "pop_front"):
                base = self.cx(f.expr, scope)
                n = self.cc.const_int(c.args[0].expr, scope, "a count")
                self.stack_shift(base, m, n)
                return
            raise unsupported(c.loc, f"the method {m}")
        if isinstance(f, A.Name):
            sym = self.cc.top.lookup(f.name) if f.dotted_prefix else scope.lookup(f.name)
            if sym is not None and sym.kind == "action":
                self.action_call(sym.info, c, scope, ctx)
                return
            if sym is not None and sym.kind == "extern_func":
                self.extern_func(f.name, c, scope, ctx)
                return
        raise unsupported(c.loc, "this call")

    def stack_shift(self, base: CE, m: str, n: int) -> None:
        st = base.type
        assert isinstance(st, Stack)
        size = st.size
        n = min(n, size)
        if n == 0:
            return
        s = base.lval
        if m == "push_front":
            for i in range(size - 1, n - 1, -1):
                self.out(f"{s}.h[{i}] = {s}.h[{i - n}];")
            for i in range(n):
                self.out(f"__builtin_memset(&{s}.h[{i}], 0, sizeof({s}.h[{i}]));")
            self.out(f"{s}.next = {s}.next + {n} > {size} ? {size} : {s}.next + {n};")
        else:
            for i in range(size - n):
                self.out(f"{s}.h[{i}] = {s}.h[{i + n}];")
            for i in range(size - n, size):
                self.out(f"__builtin_memset(&{s}.h[{i}], 0, sizeof({s}.h[{i}]));")
            self.out(f"{s}.next = {s}.next > {n} ? {s}.next - {n} : 0;")

    def action_call(self, a: ActionInfo, c: A.Call, scope: Scope, ctx: CCtx) -> None:
        types = a.param_types  # type: ignore[attr-defined]
        dirs = a.directions  # type: ignore[attr-defined]
        args: list[tuple[CE, str]] = []
        for arg, t, d in zip(c.args, types, dirs, strict=True):
            args.append((self.cx_as(arg.expr, scope, t), d))
        self.inline_action(a, args, ctx)

    def inline_action(self, a: ActionInfo, args: list[tuple[CE, str]], ctx: CCtx) -> None:
        """The action's body in place: parameters bound to C locals (copy in and out) or,
        for headers and structs, to the argument itself."""
        decl, dscope = self.action_decls[a.fqname]
        ascope = Scope(dscope)
        ret = self.label("ret")
        actx = CCtx("action", ctx.exit_label, ret)
        self.out(f"{{ /* action {a.fqname} */")
        self.ind += 1
        copy_out: list[tuple[CE, str, Type]] = []
        for p, (v, d) in zip(decl.params, args, strict=True):
            t = self.cc.resolve_type(p.type, dscope)
            w = scalar_width(t)
            if isinstance(t, Header | Struct | Stack):
                ascope.add(p.name, Sym("var", t, v.lval or v.code, info="mem"))
                continue
            if w is not None and w > 64:
                ptr = self.local("p_" + p.name)
                self.out(f"u64 *{ptr} = {v.code};")
                ascope.add(p.name, Sym("var", t, ptr, info="mem"))
                if d in ("out", "inout"):
                    raise unsupported(decl.loc, f"an out parameter of bit<{w}> (action {a.fqname})")
                continue
            loc = self.local("p_" + p.name)
            ctype = "s64" if isinstance(t, Bits) and t.signed else "u64"
            self.out(f"{ctype} {loc} = {v.code};")
            ascope.add(p.name, Sym("var", t, loc))
            if d in ("out", "inout"):
                copy_out.append((v, loc, t))
        for s in decl.body.stmts:
            self.stmt(s, ascope, actx)
        self.out(f"{ret}: ;")
        for v, loc, t in copy_out:
            self.store(v, CE(loc, t))
        self.ind -= 1
        self.out("}")

    # ---- blocks ---------------------------------------------------------------------------
    def block_scope(self, d: Any, role: str) -> Scope:
        scope = Scope(self.cc.top)
        targets = {
            "parser": [None, "w->hdr", "w->meta", "w->sm"],
            "verify": ["w->hdr", "w->meta"],
            "compute": ["w->hdr", "w->meta"],
            "ingress": ["w->hdr", "w->meta", "w->sm"],
            "egress": ["w->hdr", "w->meta", "w->sm"],
            "deparser": [None, "w->hdr"],
        }[role]
        for p, code in zip(d.params, targets, strict=True):
            t = self.cc.resolve_type(p.type)
            if isinstance(t, ExternT) and t.name in ("packet_in", "packet_out"):
                scope.add(p.name, Sym(t.name))
            else:
                scope.add(p.name, Sym("var", t, code, info="mem"))
        return scope

    def control_locals(self, d: A.ControlDecl, scope: Scope) -> list[A.VarDecl]:
        vars_: list[A.VarDecl] = []
        ctl = d.name
        for decl in d.locals:
            if isinstance(decl, A.ConstDecl):
                self.cc.const_decl(decl, scope)
            elif isinstance(decl, A.VarDecl):
                vars_.append(decl)
            elif isinstance(decl, A.Instantiation):
                fq = self.cc.fqname(ctl, decl.name, decl.annotations)
                info = next(x for x in self.cc.externs if x.fqname == fq)
                scope.add(decl.name, Sym("extern", None, info=info))
            elif isinstance(decl, A.ActionDecl):
                fq = self.cc.fqname(ctl, decl.name, decl.annotations)
                info = next(a for a in self.cc.actions if a.fqname == fq)
                self.action_decls[fq] = (decl, scope)
                scope.add(decl.name, Sym("action", info=info))
            elif isinstance(decl, A.TableDecl):
                fq = self.cc.fqname(ctl, decl.name, decl.annotations)
                info = next(t for t in self.cc.tables if t.fqname == fq)
                self.table_decls[fq] = (decl, scope)
                scope.add(decl.name, Sym("table", info=info))
        return vars_

    def control_fn(self, role: str, d: A.ControlDecl) -> None:
        scope = self.block_scope(d, role)
        cscope = Scope(scope)
        vars_ = self.control_locals(d, cscope)
        end = f"exit_{role}"
        self.out(
            f"__attribute__((noinline)) int blk_{role}(struct __sk_buff *skb, struct work *w) {{"
        )
        self.ind += 1
        self.out("if (!w || !skb) return 0;")
        self.in_parser = False
        for v in vars_:
            self.var_decl(v, cscope)
        ctx = CCtx("control", end, end)
        body = Scope(cscope)
        for s in d.body.stmts:
            self.stmt(s, body, ctx)
        self.out(f"{end}: ;")
        self.out("return 0;")
        self.ind -= 1
        self.out("}")

    def deparser_fn(self, d: A.ControlDecl) -> None:
        scope = self.block_scope(d, "deparser")
        self.out(
            "__attribute__((noinline)) int blk_deparser(struct __sk_buff *skb, struct work *w) {"
        )
        self.ind += 1
        self.out("if (!w || !skb) return 0;")
        self.out("u32 pos = 0;")
        ctx = CCtx("deparser", "deparsed", "deparsed")
        for s in d.body.stmts:
            self.stmt(s, Scope(scope), ctx)
        self.out("deparsed: ;")
        self.out("w->emitted = pos;")
        self.out("return 0;")
        self.ind -= 1
        self.out("}")

    def emit_value(self, e: CE) -> None:
        t = e.type
        if isinstance(t, Header):
            hn = header_cname(t)
            n = t.width // 8
            self.emit_bytes += n
            self.out(
                f"if ({e.code}._v) {{ pack_{hn}(w->dp + (pos & DP_MASK), &{e.code}); pos += {n}; }}"
            )
        elif isinstance(t, Stack):
            for i in range(t.size):
                self.emit_value(CE(f"{e.code}.h[{i}]", t.elem))
        elif isinstance(t, Struct):
            for n, ft in t.fields:
                self.emit_value(CE(f"{e.code}.{cname(n)}", ft))

    # ---- parser ---------------------------------------------------------------------------
    def parser_fn(self, d: A.ParserDecl) -> None:
        scope = self.block_scope(d, "parser")
        pscope = Scope(scope)
        self.in_parser = True
        self.out(
            "__attribute__((noinline)) int blk_parser(struct __sk_buff *skb, struct work *w) {"
        )
        self.ind += 1
        self.out("if (!w || !skb) return 0;")
        self.out("u32 off = 0, steps = 0, plen = skb->len;")
        self.out("int err = -1;")
        ctx = CCtx("parser", "reject", "reject")
        for decl in d.locals:
            self.var_decl(decl, pscope)
        states = {s.name for s in d.states}
        self.out("goto st_start;")
        for s in d.states:
            self.out(f"st_{s.name}:")
            self.out(f"if (++steps > {self.max_parser_steps}) goto too_long;")
            sscope = Scope(pscope)
            self.out("{")
            self.ind += 1
            for stmt in s.stmts:
                self.stmt(stmt, sscope, ctx)
            self.transition(s, sscope, states)
            self.ind -= 1
            self.out("}")
        self.out("too_long:")
        self.out("w->stats_parser_loop = 1;")
        self.out("reject:")
        self.out("w->off = off;")
        self.out("if (err >= 0) w->sm.parser_error = err;")
        self.out("return 0;")
        self.out("accept:")
        self.out("w->off = off;")
        self.out("return 0;")
        self.ind -= 1
        self.out("}")
        self.in_parser = False

    def goto_state(self, name: A.Name, states: set[str]) -> str:
        if name.name == "accept":
            return "goto accept;"
        if name.name == "reject":
            return "goto reject;"
        assert name.name in states
        return f"goto st_{name.name};"

    def transition(self, s: A.ParserState, scope: Scope, states: set[str]) -> None:
        t = s.transition
        if t is None:
            self.out("goto reject;")
            return
        if isinstance(t, A.Name):
            self.out(self.goto_state(t, states))
            return
        keys = [self.cx(e, scope) for e in t.exprs]
        names = []
        for k in keys:
            if k.wide:
                raise unsupported(t.loc, f"a select on {k.type} (wider than 64 bits)")
            n = self.local("k")
            self.out(f"u64 {n} = (u64){k.code};")
            names.append(n)
        for c in t.cases:
            ks = c.keyset
            items = ks.items if isinstance(ks, A.ListExpr) else [ks]
            if len(items) == 1 and isinstance(items[0], A.Default | A.DontCare):
                self.out(self.goto_state(c.state, states))
                continue
            conds = []
            for item, k, kn in zip(items, keys, names, strict=True):
                cond = self.keyset_cond(item, k.type, kn, scope)
                if cond is not None:
                    conds.append(cond)
            self.out(
                f"if ({' && '.join(conds) if conds else '1'}) {self.goto_state(c.state, states)}"
            )
        self.out("goto accept;")  # no case matched: BMv2 accepts without an error

    def keyset_cond(self, item: Any, kt: Type, kn: str, scope: Scope) -> str | None:
        w = scalar_width(kt) or 32
        full = (1 << w) - 1
        if isinstance(item, A.Default | A.DontCare):
            return None
        if isinstance(item, A.Mask):
            v = self.typed(item.value, scope, kt)
            m = self.typed(item.mask, scope, kt)
            mm = m.const & full
            return f"({kn} & {u64lit(mm)}) == {u64lit(v.const & mm)}"
        if isinstance(item, A.RangeExpr):
            lo = self.typed(item.lo, scope, kt).const & full
            hi = self.typed(item.hi, scope, kt).const & full
            return f"({kn} >= {u64lit(lo)} && {kn} <= {u64lit(hi)})"
        v = self.typed(item, scope, kt)
        if isinstance(kt, Bits) and kt.signed:
            return f"{kn} == (u64)({v.const}LL)"
        return f"{kn} == {u64lit(int(v.const) & full)}"

    def packet_in_call(self, c: A.Call, m: str, scope: Scope) -> None:
        pts = self.cc.errors["PacketTooShort"]
        if m == "extract":
            a = c.args[0].expr
            if isinstance(a, A.Member) and a.name == "next":
                st = self.cx(a.expr, scope)
                assert isinstance(st.type, Stack)
                el = st.type.elem
                n = el.width // 8
                self.need_buf(n)
                ni = self.local("ni")
                sob = self.cc.errors["StackOutOfBounds"]
                self.out(f"u32 {ni} = {st.lval}.next;")
                self.out(f"if ({ni} >= {st.type.size}) {{ err = {sob}; goto reject; }}")
                self.out(self.load_or_reject(n, pts))
                self.out(f"unpack_{header_cname(el)}(&{st.lval}.h[{ni}], w->buf);")
                self.out(f"{st.lval}.next = {ni} + 1;")
                self.out(f"off += {n};")
                return
            e = self.cx(a, scope)
            assert isinstance(e.type, Header)
            n = e.type.width // 8
            self.need_buf(n)
            self.out(self.load_or_reject(n, pts))
            self.out(f"unpack_{header_cname(e.type)}(&{e.lval}, w->buf);")
            self.out(f"off += {n};")
            return
        if m == "advance":
            n = self.cx_as(c.args[0].expr, scope, Bits(32))
            amt = self.local("adv")
            self.out(f"u64 {amt} = ((u64){n.code}) >> 3;")
            self.out(f"if (off + {amt} > plen) {{ err = {pts}; goto reject; }}")
            self.out(f"off += {amt};")
            return
        raise unsupported(c.loc, f"packet_in.{m}")

    def lookahead(self, n: A.Call, t: Type) -> CE:
        pts = self.cc.errors["PacketTooShort"]
        width = t.width if isinstance(t, Header | Bits) else scalar_width(t)
        assert width is not None
        nb = (width + 7) // 8
        self.need_buf(nb)
        self.out(self.load_or_reject(nb, pts))
        if isinstance(t, Header):
            tmp = self.temp(t)
            self.out(f"unpack_{header_cname(t)}(&{tmp}, w->buf);")
            return CE(tmp, t)
        from softswitch.ebpf.layout import unpack_value

        if is_wide(t):
            tmp = self.temp(t)
            for line in unpack_value("w->buf", 0, width, tmp):
                self.out(line)
            return CE(tmp, t)
        v = self.local("la")
        self.out(f"u64 {v};")
        for line in unpack_value("w->buf", 0, width, v):
            self.out(line)
        if isinstance(t, Bits) and t.signed:
            return CE(f"SEXT({v}, {width})", t)
        if isinstance(t, Bool):
            return CE(f"({v})", t)
        return CE(v, t)

    @staticmethod
    def load_or_reject(n: int, err: int) -> str:
        """Read n bytes at `off` into w->buf, or end parsing with PacketTooShort."""
        load = f"bpf_skb_load_bytes(skb, off, w->buf, {n})"
        return f"if (off + {n} > plen || {load}) {{ err = {err}; goto reject; }}"

    def need_buf(self, n: int) -> None:
        self.buf_bytes = max(self.buf_bytes, n)
