"""Table applies and v1model externs as C for the eBPF backend (mixed into the emitter).

A table apply looks the key up in the table's map (hash, LPM trie or a bpf_loop scan, see
tablelayout), falls back to the table's default in ss_defaults, counts the direct counter on
a hit and runs the action chosen by the entry, inlined. Counters are per-CPU array cells
(summed when read), registers plain array maps, clone/resubmit/recirculate/truncate requests
fields of the work area that the programs act on after ingress and egress.
"""

from __future__ import annotations

from typing import Any

from softswitch.core import ast as A
from softswitch.core.gen import Scope, Sym
from softswitch.core.model import ExternInfo, TableInfo
from softswitch.core.types import Bits, Bool, Enum, Header, Struct, Type
from softswitch.ebpf.cexpr import CE, u64lit
from softswitch.ebpf.cstmt import CCtx
from softswitch.ebpf.errors import unsupported
from softswitch.ebpf.layout import cname, header_fields, is_wide, pack_bytes, scalar_width, words
from softswitch.ebpf.tablelayout import TableLayout

CLONE_I2E, CLONE_E2E = 1, 2


class CExterns:
    """Tables and externs, mixed into the C emitter."""

    # ---- tables ---------------------------------------------------------------------------
    def table_apply(self, t: TableInfo, scope: Scope) -> tuple[str, str, TableInfo]:
        tl: TableLayout = self.table_layout[t.fqname]
        decl, tscope = self.table_decls[t.fqname]
        n = tl.cname
        hit, act = self.local("hit"), self.local("act")
        self.out(f"u64 {hit} = 0, {act} = 0;")
        self.out(f"{{ /* table {t.fqname} */")
        self.ind += 1
        self.out(f"struct TV_{n} *v = 0;")
        codes: dict[str, tuple[str, int]] = {}
        if tl.mode != "none":
            props = {p.name: p for p in decl.properties}
            for k, ke in zip(tl.keys, props["key"].value, strict=True):
                e = self.cx(ke.expr, tscope)
                codes[k.name] = (self.key_bits(e), k.width)
        if tl.mode in ("exact", "lpm"):
            key = self.work_slot(f"struct TK_{n}")
            if tl.mode == "exact":
                for i, k in enumerate(tl.keys):
                    code, width = codes[k.name]
                    if width > 64:
                        self.out(f"__builtin_memcpy({key}.k{i}, {code}, {8 * words(width)});")
                    else:
                        self.out(f"{key}.k{i} = {code};")
            else:
                for line in tl.c_lpm_key(codes, key):
                    self.out(line)
            self.out(f"v = bpf_map_lookup_elem(&T_{n}, &{key});")
        elif tl.mode == "scan":
            self.out(f"struct SC_{n} sc = {{}};")
            for i, k in enumerate(tl.keys):
                code, width = codes[k.name]
                if width > 64:
                    self.out(f"__builtin_memcpy(sc.k{i}, {code}, {8 * words(width)});")
                else:
                    self.out(f"sc.k{i} = {code};")
            self.out(f"u32 ti = {tl.index};")
            self.out("struct ss_scanhdr *sh = bpf_map_lookup_elem(&ss_scan, &ti);")
            self.out("if (sh && sh->count) {")
            self.out("    sc.base = sh->base;")
            self.out(f"    bpf_loop(sh->count, scan_{n}, &sc, 0);")
            self.out("    if (sc.found) {")
            self.out(f"        struct TE_{n} *e = bpf_map_lookup_elem(&T_{n}, &sc.idx);")
            self.out("        if (e) v = &e->v;")
            self.out("    }")
            self.out("}")
        self.out(f"if (v) {hit} = 1;")
        self.out(f"else {{ u32 di = {tl.index}; v = bpf_map_lookup_elem(&ss_defaults, &di); }}")
        self.out("if (v) {")
        self.ind += 1
        self.out(f"{act} = v->action;")
        if t.direct_counter is not None:
            self.out(f"if ({hit}) ss_dcount_hit({tl.dc_base} + v->slot, w->sm.packet_length);")
        ctx = CCtx("control", self.cur_exit, self.cur_exit)
        self.out(f"switch ({act}) {{")
        for i, ref in enumerate(t.actions):
            a = ref.action
            self.out(f"case {i}:")
            self.ind += 1
            args = []
            for p, pt in zip(a.params, self.cp_param_types(a), strict=True):
                member = f"v->p.a{i}.{cname(p.name)}"
                if p.width > 64:
                    args.append((CE(member, pt), ""))
                elif isinstance(pt, Bits) and pt.signed:
                    args.append((CE(f"SEXT({member}, {p.width})", pt), ""))
                else:
                    args.append((CE(member, pt), ""))
            self.inline_action(a, args, ctx)
            self.out("break;")
            self.ind -= 1
        self.out("}")
        self.ind -= 1
        self.out("}")
        self.ind -= 1
        self.out("}")
        self.used_tables.add(t.fqname)
        return hit, act, t

    def cp_param_types(self, a: Any) -> list[Type]:
        return [t for t, d in zip(a.param_types, a.directions, strict=True) if not d]

    def key_bits(self, e: CE) -> str:
        if e.wide:
            return e.code
        if isinstance(e.type, Bits) and e.type.signed:
            return f"((u64){e.code} & {u64lit(e.type.mask)})"
        return f"((u64){e.code})"

    def work_slot(self, ctype: str) -> str:
        self.ntemp += 1
        self.temp_decls.append(f"{ctype} t{self.ntemp};")
        return f"w->T.t{self.ntemp}"

    # ---- extern objects -------------------------------------------------------------------
    def extern_method(self, sym: Sym, m: str, c: A.Call, scope: Scope) -> None:
        info: ExternInfo = sym.info
        idx_t = Bits(32)
        if info.kind == "counter" and m == "count":
            i = self.cx(c.args[0].expr, scope, idx_t)
            base = self.counter_base[info.fqname]
            self.out(f"ss_count({base}, {info.size}, (u64){i.code}, w->sm.packet_length);")
            return
        if info.kind == "direct_counter" and m == "count":
            return  # counted on every hit of the table's entries
        if info.kind == "register" and m == "read":
            et = info.elem_type  # type: ignore[attr-defined]
            r = self.cx(c.args[0].expr, scope, et)
            i = self.cx(c.args[1].expr, scope, idx_t)
            self.store(r, self.register_read(info, i, et))
            return
        if info.kind == "register" and m == "write":
            et = info.elem_type  # type: ignore[attr-defined]
            i = self.cx(c.args[0].expr, scope, idx_t)
            v = self.cx_as(c.args[1].expr, scope, et)
            cell = self.reg_cell(info, i)
            if info.width > 64:
                self.out(
                    f"if ({cell}) __builtin_memcpy({cell}, {v.code}, {8 * words(info.width)});"
                )
            else:
                self.out(f"if ({cell}) *{cell} = {self.key_bits(v)};")
            return
        raise unsupported(c.loc, f"{info.kind}.{m}")

    def reg_name(self, info: ExternInfo) -> str:
        from softswitch.core.gen import mangle

        return "R_" + mangle(info.fqname)

    def reg_cell(self, info: ExternInfo, index: CE) -> str:
        """A pointer to a register cell, NULL for an index out of range (reads give 0 and
        writes are ignored, as in the Python backend)."""
        cell = self.local("cell")
        self.out(f"u64 *{cell} = ss_reg(&{self.reg_name(info)}, {info.size}, (u64){index.code});")
        return cell

    def register_read(self, info: ExternInfo, index: CE, t: Type) -> CE:
        cell = self.reg_cell(info, index)
        if info.width > 64:
            tmp = self.temp(t)
            K = words(info.width)
            self.out(f"w_zero({tmp}, {K});")
            self.out(f"if ({cell}) __builtin_memcpy({tmp}, {cell}, {8 * K});")
            return CE(tmp, t)
        v = self.local("reg")
        self.out(f"u64 {v} = {cell} ? *{cell} : 0;")
        if isinstance(t, Bits) and t.signed:
            return CE(f"SEXT({v}, {t.width})", t)
        return CE(v, t)

    # ---- extern functions -----------------------------------------------------------------
    def extern_func(self, name: str, c: A.Call, scope: Scope, ctx: CCtx) -> None:
        args = [a.expr for a in c.args]
        if name == "verify":
            cond = self.cx(args[0], scope)
            err = self.cx(args[1], scope)
            self.out(f"if (!({cond.code})) {{ err = {err.code}; goto reject; }}")
            return
        if name == "mark_to_drop":
            sm = self.cx(args[0], scope)
            self.out(f"{sm.lval}.egress_spec = 511; {sm.lval}.mcast_grp = 0;")
            return
        if name in ("verify_checksum", "update_checksum"):
            cond = self.cx(args[0], scope)
            ck = self.cx(args[2], scope)
            algo = self.enum_name(args[3], scope)
            self.out(f"if ({cond.code}) {{")
            self.ind += 1
            nbits = self.pack_list(args[1], scope, algo)
            value = self.hash_value(algo, nbits, ck.type.width)  # type: ignore[union-attr]
            if name == "verify_checksum":
                self.out(f"if (({value}) != (u64){ck.code}) w->sm.checksum_error = 1;")
            else:
                self.store(ck, CE(f"({value})", ck.type))
            self.ind -= 1
            self.out("}")
            return
        if name == "hash":
            r = self.cx(args[0], scope)
            algo = self.enum_name(args[1], scope)
            base = self.cx(args[2], scope)
            mx = self.cx(args[4], scope)
            rw = scalar_width(r.type)
            assert rw is not None
            if rw > 64 or base.wide or mx.wide:
                raise unsupported(c.loc, "hash() with values wider than 64 bits")
            nbits = self.pack_list(args[3], scope, algo)
            h = self.local("h")
            mxv, bv = self.local("mx"), self.local("hb")
            self.out(f"u64 {mxv} = (u64){mx.code}, {bv} = (u64){base.code}, {h};")
            mask = u64lit((1 << rw) - 1)
            nb = (nbits + 7) // 8
            if algo == "identity" and nb > 8:
                hv = f"ss_mod_bytes(w->hb, {nb}, {mxv})"
            else:
                hv = f"({self.hash_value(algo, nbits, 64)}) % {mxv}"
            self.out(f"if ({mxv} == 0) {h} = {bv} & {mask}; else {h} = ({bv} + {hv}) & {mask};")
            self.store(r, CE(h, r.type))
            return
        if name == "random":
            r = self.cx(args[0], scope)
            lo = self.cx_as(args[1], scope, r.type)
            hi = self.cx_as(args[2], scope, r.type)
            self.store(r, CE(f"ss_random({lo.code}, {hi.code})", r.type))
            return
        if name == "log_msg":
            return  # no logging from the kernel data path
        if name in ("clone", "clone_preserving_field_list"):
            kind = self.enum_name(args[0], scope)
            sess = self.cx(args[1], scope, Bits(32))
            fl = 0
            if name == "clone_preserving_field_list":
                fl = self.cc.const_int(args[2], scope, "a field list") + 1
            k = CLONE_I2E if kind == "I2E" else CLONE_E2E
            self.out(
                f"w->hid.clone = {k}; w->hid.clone_sess = (u32){sess.code}; w->hid.clone_fl = {fl};"
            )
            return
        if name in ("resubmit_preserving_field_list", "recirculate_preserving_field_list"):
            fl = self.cc.const_int(args[0], scope, "a field list") + 1
            what = "resub" if name.startswith("resubmit") else "recirc"
            self.out(f"w->hid.{what} = {fl};")
            return
        if name == "truncate":
            n = self.cx(args[0], scope, Bits(32))
            self.out(f"w->hid.trunc = (u32){n.code}; w->hid.has_trunc = 1;")
            return
        raise unsupported(c.loc, f"the extern {name}")

    def enum_name(self, node: Any, scope: Scope) -> str:
        e = self.typed(node, scope, None)
        assert isinstance(e.type, Enum)
        names = {v: k for k, v in e.type.members.items()}
        return names[e.const]

    def pack_list(self, node: Any, scope: Scope, algo: str) -> int:
        """Pack a field list MSB first into w->hb (zero padded to whole bytes, to 16-bit
        words for csum16 and xor16); returns its width in bits."""
        items = node.items if isinstance(node, A.ListExpr) else [node]
        parts: list[tuple[str, int, int]] = []
        off = 0
        for it in items:
            e = self.cx(it, scope)
            if isinstance(e.type, Header):
                for f in header_fields(e.type):
                    parts.append((f"{e.code}.{cname(f.name)}", off + f.offset, f.width))
                off += e.type.width
                continue
            if isinstance(e.type, Struct):
                raise unsupported(it.loc, "a struct in a field list")
            w = scalar_width(e.type)
            assert w is not None
            if is_wide(e.type):
                parts.append((e.code, off, w))
            else:
                code = self.local("f")
                self.out(
                    f"u64 {code} = {self.key_bits(e) if not isinstance(e.type, Bool) else e.code};"
                )
                parts.append((code, off, w))
            off += w
        nb = (off + 7) // 8
        if algo in ("csum16", "xor16") and nb % 2:
            nb += 1
        self.hb_bytes = max(self.hb_bytes, nb)
        for line in pack_bytes(parts, nb, "w->hb"):
            self.out(line)
        self.hb_len = nb
        return off

    def hash_value(self, algo: str, nbits: int, width: int) -> str:
        nb = self.hb_len
        mask = u64lit((1 << min(width, 64)) - 1)
        fn = {
            "csum16": f"ss_csum16(w->hb, {nb})",
            "crc16": f"ss_crc16(w->hb, {nb})",
            "crc32": f"ss_crc32(w->hb, {nb})",
            "xor16": f"ss_xor16(w->hb, {nb})",
            "identity": f"ss_be_low64(w->hb, {nb})",
        }.get(algo)
        if fn is None:
            raise ValueError(f"hash algorithm {algo}")
        return f"({fn} & {mask})"
