"""Extern calls of the compiler: packet_in/packet_out, v1model externs and extern instances."""

from __future__ import annotations

from typing import Any

from softswitch.core import ast as A
from softswitch.core.gen import (
    HASH_ALGOS,
    Ctx,
    Scope,
    Sym,
    mangle,
)
from softswitch.core.lexer import error
from softswitch.core.model import (
    ExternInfo,
)
from softswitch.core.types import (
    BOOL,
    ERROR,
    STR,
    Bits,
    Bool,
    Enum,
    ErrorT,
    ExternT,
    Header,
    InfInt,
    Stack,
    Str,
    Struct,
    scalar_width,
)


class Externs:
    """Extern calls and instances, mixed into Compiler."""

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
            o(f"if {cond}:")
            o.ind += 1
            o(f"_d = {data}")
            if algo == "csum16":
                # inline, no memo: the header's own fields (identification, TTL) differ from
                # frame to frame, and the sum is two integer operations (rt.hash_csum16)
                v = f"(_d << {(-w) % 16})" if (-w) % 16 else "_d"
                o(f"_ck = (65535 - ({v} % 65535 or (65535 if _d else 0))) & {ck.type.mask}")
            else:  # the costly hashes remember the last input (a flow's frames repeat it)
                memo = self.fresh("M")
                self.module_init.append(f"{memo} = [None, 0]")
                o(
                    f"if _d != {memo}[0]: {memo}[0] = _d; {memo}[1] = hash_{algo}(_d, {w}) & "
                    f"{ck.type.mask}"
                )
                o(f"_ck = {memo}[1]")
            if name == "verify_checksum":
                o(f"if _ck != {ck.code}: _sm.checksum_error = 1")
            else:
                o(self.store(ck, "_ck"))
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
