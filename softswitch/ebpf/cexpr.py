"""P4 expressions as C for the eBPF backend.

Types, constants and the program's correctness come from softswitch's own compiler (its
`expr` is asked for the type of every node, in scopes whose symbols carry C code); this module
only chooses C for each node. Scalars up to 64 bits are C expressions of type u64 (masked to
their width; bool is 0/1) or s64 for `int<W>` (sign-extended). Wider values, headers, structs
and stacks are C l-values: a field, a variable, or a temporary in the per-packet work area
(`w->T`) that statements emitted before the current one (`self.out`) fill in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from softswitch.core import ast as A
from softswitch.core.gen import Scope, Sym, fold
from softswitch.core.lexer import Loc
from softswitch.core.types import (
    ActionRunT,
    Bits,
    Bool,
    Enum,
    ErrorT,
    Header,
    InfInt,
    ListT,
    Stack,
    Struct,
    TableResultT,
    Type,
)
from softswitch.ebpf.errors import unsupported
from softswitch.ebpf.layout import (
    cname,
    header_cname,
    is_wide,
    scalar_width,
    stack_cname,
    struct_cname,
    top_mask,
    words,
)


@dataclass
class CE:
    """A translated expression."""

    code: str  # rvalue (scalar) or l-value (wide, header, struct, stack)
    type: Type
    const: Any = None
    lval: str | None = None  # where a store goes; None: not assignable
    field: bool = False  # lval is a struct member in storage format (not a C local)
    sym: Any = None  # table apply results: (hit var, action var, TableInfo)

    @property
    def wide(self) -> bool:
        return is_wide(self.type)


def u64lit(v: int) -> str:
    return f"{v:#x}ULL"


def mask_of(width: int) -> int:
    return (1 << width) - 1


class CExprs:
    """Expression translation, mixed into the C emitter (which provides cc, out, temps)."""

    cc: Any  # softswitch.core.compiler.Compiler, after compile()
    in_parser: bool

    # ---- temporaries ----------------------------------------------------------------------
    def temp(self, t: Type) -> str:
        """A fresh temporary for a wide value, header or struct in the work area."""
        self.ntemp += 1
        name = f"t{self.ntemp}"
        w = scalar_width(t)
        if w is not None:
            self.temp_decls.append(f"u64 {name}[{words(w)}];")
        elif isinstance(t, Header):
            self.temp_decls.append(f"struct {header_cname(t)} {name};")
        elif isinstance(t, Struct):
            self.temp_decls.append(f"struct {struct_cname(t)} {name};")
        elif isinstance(t, Stack):
            self.layout.add_stack(t)
            self.temp_decls.append(f"struct {stack_cname(t)} {name};")
        else:
            raise AssertionError(f"no temporary of type {t}")
        return f"w->T.{name}"

    def local(self, base: str) -> str:
        self.nlocal += 1
        return f"v{self.nlocal}_{base}"

    # ---- constants ------------------------------------------------------------------------
    def lit(self, v: Any, t: Type) -> CE:
        if isinstance(t, Bool):
            return CE("1" if v else "0", t, bool(v))
        if isinstance(t, Bits):
            if t.width > 64:
                tmp = self.temp(t)
                v &= mask_of(t.width)
                for k in range(words(t.width)):
                    self.out(f"{tmp}[{k}] = {u64lit((v >> (64 * k)) & mask_of(64))};")
                return CE(tmp, t, v)
            if t.signed:
                return CE(f"((s64){v})" if v >= 0 else f"((s64)({v}LL))", t, v)
            return CE(u64lit(v & t.mask), t, v)
        if isinstance(t, Enum) and t.underlying is not None:
            return CE(u64lit(v & t.underlying.mask), t, v)
        if isinstance(t, Enum | ErrorT):
            return CE(f"{int(v)}ULL", t, v)
        if isinstance(t, InfInt):
            return CE(f"((s64){v})" if v >= 0 else f"((s64)({v}LL))", t, v)
        raise AssertionError(f"constant of type {t}")

    # ---- entry point ----------------------------------------------------------------------
    def typed(self, n: Any, scope: Scope, want: Type | None) -> Any:
        return self.cc.expr(n, scope, want, allow_nonvalue=True)

    def cx(self, n: Any, scope: Scope, want: Type | None = None) -> CE:
        e = self.typed(n, scope, want)
        if e.const is not None and isinstance(e.type, Bits | Bool | InfInt | Enum | ErrorT):
            return self.lit(e.const, e.type)
        return self._cx(n, e.type, scope, want)

    def coerce(self, e: CE, t: Type, loc: Loc) -> CE:
        if isinstance(e.type, InfInt) and isinstance(t, Bits):
            return self.lit(fold(e.const, t), t)
        if isinstance(e.type, ListT) and isinstance(t, Header | Struct):
            return self.list_to(e.sym, t, loc)
        if isinstance(e.type, Enum) and e.type.underlying == t:
            return CE(e.code, t, e.const, e.lval, e.field)
        return e

    def cx_as(self, n: Any, scope: Scope, t: Type) -> CE:
        return self.coerce(self.cx(n, scope, t), t, n.loc)

    def _cx(self, n: Any, t: Type, scope: Scope, want: Type | None) -> CE:
        if isinstance(n, A.Name):
            sym = self.cc.top.lookup(n.name) if n.dotted_prefix else scope.lookup(n.name)
            if sym is None or sym.kind != "var":
                return CE("", t, sym=sym)
            return self.var_ref(sym.code, t, local=sym.info != "mem")
        if isinstance(n, A.Member):
            return self.member(n, t, scope)
        if isinstance(n, A.Index):
            return self.index(n, t, scope)
        if isinstance(n, A.Slice):
            base = self.cx(n.expr, scope)
            lo = self.cc.const_int(n.lo, scope, "a slice bound")
            width = scalar_width(t)
            assert width is not None
            return self.slice_of(base, lo, width, t)
        if isinstance(n, A.Unary):
            return self.unary(n, t, scope, want)
        if isinstance(n, A.Binary):
            return self.binary(n, t, scope)
        if isinstance(n, A.Cond):
            return self.cond(n, t, scope, want)
        if isinstance(n, A.Cast):
            return self.cast(self.cx(n.expr, scope, t), t, n.loc)
        if isinstance(n, A.Call):
            return self.call_value(n, t, scope)
        if isinstance(n, A.ListExpr):
            return CE("", t, sym=[(x, scope) for x in n.items])
        if isinstance(n, A.StructExpr):
            assert isinstance(want, Header | Struct)
            vals = dict(n.fields)
            return self.list_to([(vals[f], scope) for f, _ in want.fields], want, n.loc)
        raise unsupported(n.loc, f"the expression {type(n).__name__}")

    # ---- references -----------------------------------------------------------------------
    def var_ref(self, code: str, t: Type, local: bool) -> CE:
        """A variable: C locals hold scalars in expression form; everything else is memory."""
        if local and not is_wide(t) and scalar_width(t) is not None:
            return CE(code, t, lval=code)
        if local and isinstance(t, Enum | ErrorT):
            return CE(code, t, lval=code)
        return self.stored(code, t)

    def stored(self, lv: str, t: Type) -> CE:
        """A value in storage format (a struct member) as an expression."""
        w = scalar_width(t)
        if w is None or w > 64:
            return CE(lv, t, lval=lv, field=True)
        if isinstance(t, Bits) and t.signed:
            return CE(f"SEXT({lv}, {w})", t, lval=lv, field=True)
        return CE(f"((u64){lv})", t, lval=lv, field=True)

    def member(self, n: A.Member, t: Type, scope: Scope) -> CE:
        base = self.cx(n.expr, scope)
        bt = base.type
        if isinstance(bt, Header | Struct):
            lv = f"{base.code}.{cname(n.name)}"
            ce = self.stored(lv, t)
            if base.lval is None:
                ce.lval = None
            return ce
        if isinstance(bt, Stack):
            if n.name == "size":
                return self.lit(bt.size, t)
            if n.name == "nextIndex":
                return CE(f"((u64){base.code}.next)", t)
            if n.name == "lastIndex":
                return CE(f"(((u64){base.code}.next - 1) & 0xffffffffULL)", t)
            if n.name == "last":
                idx = f"((u64){base.code}.next - 1)"
                return self.stack_elem(base, idx, n.loc, dynamic=True)
        if isinstance(bt, TableResultT):
            hit, act, _ = base.sym
            if n.name == "hit":
                return CE(f"((u64){hit})", t)
            if n.name == "miss":
                return CE(f"((u64)!{hit})", t)
            if n.name == "action_run":
                return CE(f"((u64){act})", ActionRunT(bt.table), sym=base.sym)
        raise unsupported(n.loc, f"the member {n.name} of {bt}")

    def index(self, n: A.Index, t: Type, scope: Scope) -> CE:
        base = self.cx(n.expr, scope)
        assert isinstance(base.type, Stack)
        i = self.cx(n.index, scope)
        if i.const is not None:
            lv = f"{base.code}.h[{i.const}]"
            return CE(lv, t, lval=lv if base.lval else None, field=True)
        return self.stack_elem(base, i.code, n.loc, dynamic=True)

    def stack_elem(self, base: CE, idx: str, loc: Loc, dynamic: bool) -> CE:
        """A stack element at a run-time index. In a parser an index outside the stack is
        the StackOutOfBounds error; in a control it reads as an invalid header (zeros)."""
        st = base.type
        assert isinstance(st, Stack)
        hn = header_cname(st.elem)
        self.layout.add_stack(st)
        iv = self.local("i")
        self.out(f"u64 {iv} = {idx};")
        if self.in_parser:
            sob = self.cc.errors["StackOutOfBounds"]
            self.out(f"if ({iv} >= {st.size}) {{ err = {sob}; goto reject; }}")
        self.zero_headers.add(hn)
        ptr = self.local("p")
        self.out(f"struct {hn} *{ptr} = &w->Z.{hn};")
        self.out(f"if ({iv} < {st.size}) {ptr} = &{base.code}.h[{iv}];")
        return CE(f"(*{ptr})", st.elem)

    def slice_of(self, base: CE, lo: int, width: int, t: Type) -> CE:
        if base.wide:
            if width <= 64:
                return CE(f"w_get({base.code}, {lo}, {width})", t)
            tmp = self.temp(t)
            self.out(f"w_extract({tmp}, {words(width)}, {base.code}, {lo}, {width});")
            return CE(tmp, t)
        v = f"(u64){base.code}"
        code = (
            f"(({v} >> {lo}) & {u64lit(mask_of(width))})"
            if lo
            else f"({v} & {u64lit(mask_of(width))})"
        )
        return CE(code, t)

    # ---- operators ------------------------------------------------------------------------
    def unify(self, a: CE, b: CE, loc: Loc) -> tuple[CE, CE]:
        if isinstance(a.type, InfInt) and isinstance(b.type, Bits):
            return self.lit(fold(a.const, b.type), b.type), b
        if isinstance(b.type, InfInt) and isinstance(a.type, Bits):
            return a, self.lit(fold(b.const, a.type), a.type)
        return a, b

    def unary(self, n: A.Unary, t: Type, scope: Scope, want: Type | None) -> CE:
        e = self.cx(n.expr, scope, want)
        if n.op == "!":
            return CE(f"((u64)!{e.code})", t)
        if n.op == "+":
            return e
        assert isinstance(t, Bits)
        if e.wide:
            tmp = self.temp(t)
            K = words(t.width)
            if n.op == "~":
                self.out(f"w_not({tmp}, {e.code}, {K}, {u64lit(top_mask(t.width))});")
            else:
                self.out(f"w_neg({tmp}, {e.code}, {K}, {u64lit(top_mask(t.width))});")
            return CE(tmp, t)
        if n.op == "-":
            if t.signed:
                return CE(f"SEXT(0 - (u64){e.code}, {t.width})", t)
            return CE(self.wrapu(f"(0 - {e.code})", t.width), t)
        if n.op == "~":
            return CE(f"(~{e.code})" if t.signed else f"({e.code} ^ {u64lit(t.mask)})", t)
        raise unsupported(n.loc, f"the operator {n.op}")

    @staticmethod
    def wrapu(code: str, width: int) -> str:
        return code if width == 64 else f"({code} & {u64lit(mask_of(width))})"

    def binary(self, n: A.Binary, t: Type, scope: Scope) -> CE:
        op = n.op
        if op in ("&&", "||"):
            a = self.cx(n.left, scope)
            b = self.cx(n.right, scope)
            return CE(f"((u64)({a.code} {op} {b.code}))", t)
        a = self.cx(n.left, scope)
        b = self.cx(n.right, scope)
        if op in ("<<", ">>"):
            return self.shift(n, a, b, t)
        if op == "++":
            return self.concat(a, b, t)
        a, b = self.unify(a, b, n.loc)
        at = a.type
        if op in ("==", "!=", "<", ">", "<=", ">="):
            if a.wide:
                K = words(scalar_width(at))  # type: ignore[arg-type]
                if op in ("==", "!="):
                    r = f"w_eq({a.code}, {b.code}, {K})"
                    return CE(f"((u64){'!' if op == '!=' else ''}{r})", t)
                c = f"w_cmp({a.code}, {b.code}, {K})"
                return CE(f"((u64)({c} {op} 0))", t)
            return CE(f"((u64)({a.code} {op} {b.code}))", t)
        assert isinstance(t, Bits)
        if a.wide:
            return self.wide_arith(n, a, b, t)
        w = t.width
        if op in ("&", "|", "^"):
            return CE(f"({a.code} {op} {b.code})", t)
        if op in ("+", "-", "*"):
            if t.signed:
                return CE(f"SEXT((u64){a.code} {op} (u64){b.code}, {w})", t)
            return CE(self.wrapu(f"({a.code} {op} {b.code})", w), t)
        if op in ("/", "%"):
            return CE(f"({b.code} ? {a.code} {op} {b.code} : 0)", t)
        if op in ("|+|", "|-|"):
            if t.signed:
                if w == 64:
                    raise unsupported(n.loc, f"saturating {op} on int<64>")
                o = "+" if op == "|+|" else "-"
                lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
                return CE(f"ss_clamp({a.code} {o} {b.code}, {lo}LL, {hi}LL)", t)
            if op == "|+|":
                return CE(f"ss_sat_add({a.code}, {b.code}, {u64lit(t.mask)})", t)
            return CE(f"({a.code} > {b.code} ? {a.code} - {b.code} : 0)", t)
        raise unsupported(n.loc, f"the operator {op}")

    def wide_arith(self, n: A.Binary, a: CE, b: CE, t: Bits) -> CE:
        K = words(t.width)
        fn = {"&": "w_and", "|": "w_or", "^": "w_xor", "+": "w_add", "-": "w_sub"}.get(n.op)
        if fn is None:
            raise unsupported(n.loc, f"the operator {n.op} on bit<{t.width}> (wider than 64 bits)")
        tmp = self.temp(t)
        self.out(f"{fn}({tmp}, {a.code}, {b.code}, {K}, {u64lit(top_mask(t.width))});")
        return CE(tmp, t)

    def shift(self, n: A.Binary, a: CE, b: CE, t: Type) -> CE:
        if not isinstance(t, Bits):
            raise unsupported(n.loc, f"a shift of {t}")
        w = t.width
        if a.wide:
            if b.const is None:
                raise unsupported(n.loc, f"a shift of bit<{w}> by a run-time amount")
            tmp = self.temp(t)
            fn = "w_shl" if n.op == "<<" else "w_shr"
            self.out(f"{fn}({tmp}, {a.code}, {b.const}, {words(w)}, {u64lit(top_mask(w))});")
            return CE(tmp, t)
        amt = b.code
        if n.op == "<<":
            if t.signed:
                return CE(f"({amt} >= {w} ? 0 : SEXT((u64){a.code} << {amt}, {w}))", t)
            return CE(f"({amt} >= {w} ? 0 : {self.wrapu(f'({a.code} << {amt})', w)})", t)
        if t.signed:
            return CE(f"({amt} >= 64 ? ({a.code} < 0 ? -1 : 0) : ({a.code} >> {amt}))", t)
        return CE(f"({amt} >= 64 ? 0 : ({a.code} >> {amt}))", t)

    def bits_of(self, e: CE) -> str:
        """A narrow value as its unsigned bit pattern."""
        assert isinstance(e.type, Bits)
        if e.type.signed:
            return f"((u64){e.code} & {u64lit(e.type.mask)})"
        return e.code

    def concat(self, a: CE, b: CE, t: Type) -> CE:
        assert isinstance(t, Bits) and isinstance(a.type, Bits) and isinstance(b.type, Bits)
        wb = b.type.width
        if t.width <= 64:
            code = f"(({self.bits_of(a)} << {wb}) | {self.bits_of(b)})"
            return CE(f"SEXT({code}, {t.width})" if t.signed else code, t)
        if t.signed:
            raise unsupported(Loc("?", 0, 0), f"int<{t.width}> (wider than 64 bits)")
        K = words(t.width)
        tmp = self.temp(t)
        self.out(f"w_zero({tmp}, {K});")
        for e, lo in ((b, 0), (a, wb)):
            if e.wide:
                self.out(f"w_deposit_w({tmp}, {K}, {lo}, {e.code}, {e.type.width});")  # type: ignore[union-attr]
            else:
                self.out(f"w_set({tmp}, {K}, {lo}, {e.type.width}, {self.bits_of(e)});")  # type: ignore[union-attr]
        return CE(tmp, t)

    def cond(self, n: A.Cond, t: Type, scope: Scope, want: Type | None) -> CE:
        c = self.cx(n.cond, scope)
        a = self.cx(n.then, scope, want)
        b = self.cx(n.other, scope, want)
        a, b = self.unify(a, b, n.loc)
        if (scalar_width(t) is not None and not is_wide(t)) or isinstance(t, Enum | ErrorT):
            return CE(f"({c.code} ? {a.code} : {b.code})", t)
        tmp = self.temp(t)
        self.out(f"if ({c.code}) {self.copy_stmt(tmp, a)} else {self.copy_stmt(tmp, b)}")
        return CE(tmp, t)

    def copy_stmt(self, dst: str, src: CE) -> str:
        if src.wide:
            return f"__builtin_memcpy({dst}, {src.code}, {8 * words(src.type.width)});"  # type: ignore[union-attr]
        return f"{dst} = {src.code};"

    def cast(self, e: CE, t: Type, loc: Loc) -> CE:
        s = e.type
        if e.const is not None and isinstance(s, InfInt):
            return self.lit(fold(e.const, t), t) if isinstance(t, Bits) else self.lit(e.const, t)
        if s == t or (isinstance(t, Enum) and s is t):
            return e
        if isinstance(s, ListT):
            assert isinstance(t, Header | Struct)
            return self.list_to(e.sym, t, loc)
        if isinstance(s, Enum) and s.underlying is not None:
            return self.cast(CE(e.code, s.underlying), t, loc)
        if isinstance(t, Enum) and t.underlying is not None:
            inner = self.cast(e, t.underlying, loc)
            return CE(inner.code, t)
        if isinstance(t, Bool):
            return CE(f"((u64)({e.code} == 1))", t)
        if isinstance(s, Bool):
            return CE(f"((u64){e.code})", t)
        assert isinstance(s, Bits) and isinstance(t, Bits)
        if s.width > 64 or t.width > 64:
            return self.cast_wide(e, s, t, loc)
        if t.signed:
            if s.signed and t.width >= s.width:
                return CE(e.code, t)
            return CE(f"SEXT({e.code}, {t.width})", t)
        if s.signed:
            return CE(f"((u64){e.code} & {u64lit(t.mask)})", t)
        if t.width < s.width:
            return CE(f"({e.code} & {u64lit(t.mask)})", t)
        return CE(e.code, t)

    def cast_wide(self, e: CE, s: Bits, t: Bits, loc: Loc) -> CE:
        if s.signed or t.signed:
            raise unsupported(loc, "int<W> wider than 64 bits")
        if t.width <= 64:
            return CE(f"({e.code}[0] & {u64lit(t.mask)})", t)
        tmp = self.temp(t)
        K = words(t.width)
        if s.width <= 64:
            self.out(f"w_zero({tmp}, {K}); {tmp}[0] = {e.code};")
        else:
            self.out(
                f"w_resize({tmp}, {K}, {e.code}, {words(s.width)}, {u64lit(top_mask(t.width))});"
            )
        return CE(tmp, t)

    # ---- composite values -----------------------------------------------------------------
    def list_to(self, items: list[tuple[Any, Scope]], t: Header | Struct, loc: Loc) -> CE:
        """A list or struct expression as a temporary header (valid) or struct."""
        tmp = self.temp(t)
        fields = t.fields
        if len(items) != len(fields):
            raise unsupported(loc, f"{len(items)} values for {t}")
        for (fname, ft), (node, scope) in zip(fields, items, strict=True):
            v = self.cx_as(node, scope, ft)
            self.store(self.stored(f"{tmp}.{cname(fname)}", ft), v)
        if isinstance(t, Header):
            self.out(f"{tmp}._v = 1;")
        return CE(tmp, t)

    def store(self, dst: CE, v: CE) -> None:
        """Emit `dst = v` (v already coerced to dst's type)."""
        lv = dst.lval
        assert lv is not None
        t = dst.type
        w = scalar_width(t)
        if w is not None and w > 64:
            self.out(f"__builtin_memcpy({lv}, {v.code}, {8 * words(w)});")
        elif w is not None and dst.field and isinstance(t, Bits) and t.signed:
            self.out(f"{lv} = (u64){v.code} & {u64lit(t.mask)};")
        elif w is not None and isinstance(t, Bool):
            self.out(f"{lv} = {v.code} ? 1 : 0;")
        else:
            self.out(f"{lv} = {v.code};")

    # ---- calls used as values -------------------------------------------------------------
    def call_value(self, n: A.Call, t: Type, scope: Scope) -> CE:
        f = n.func
        if isinstance(f, A.Member):
            if f.name == "isValid":
                base = self.cx(f.expr, scope)
                return CE(f"((u64){base.code}._v)", t)
            if f.name == "apply":
                res = self.applied.get(id(n))
                if res is None:
                    raise unsupported(n.loc, "a table applied in this position")
                return CE("", t, sym=res)
            obj = self.typed(f.expr, scope, None)
            sym = obj.sym
            if isinstance(sym, Sym) and sym.kind == "packet_in" and f.name == "lookahead":
                return self.lookahead(n, t)
            if isinstance(sym, Sym) and sym.kind == "extern" and f.name == "read":
                i = self.cx_as(n.args[0].expr, scope, Bits(32))
                return self.register_read(sym.info, i, t)
        raise unsupported(n.loc, "this call in an expression")
