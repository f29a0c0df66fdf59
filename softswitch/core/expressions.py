"""Expressions of the compiler: typing, P4's width rules, constant folding, Python code."""

from __future__ import annotations

from typing import Any

from softswitch.core import ast as A
from softswitch.core.gen import (
    E,
    Scope,
    Sym,
    fold,
    py_attr,
    wrap,
)
from softswitch.core.lexer import Loc, error
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
    Header,
    InfInt,
    ListT,
    Stack,
    Struct,
    TableResultT,
    Type,
    scalar_width,
)


class Expressions:
    """Expression compilation, mixed into Compiler (uses its types, scopes and output)."""

    def copy_if_composite(self, e: E) -> str:
        if isinstance(e.type, Struct | Stack) and e.lv:
            return f"{e.code}._copy()"
        return e.code

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
