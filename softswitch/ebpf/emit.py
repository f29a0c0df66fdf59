"""The C program for tc-BPF that runs one P4 v1model program (see README "eBPF backend").

Two BPF programs: `ss_ingress` on every port's tc ingress hook runs the parser, verify
checksum and ingress, then makes I2E clones, resubmits (a tail call into itself), multicasts
(one bpf_clone_redirect per replica, the last one a bpf_redirect) or sends the frame to its
egress port with bpf_redirect. `ss_egress` on every port's tc egress hook picks up each copy,
runs egress, E2E clones, compute checksum and the deparser, resizes the frame to the emitted
headers, truncates and recirculates (a tail call into ss_ingress) or lets it leave.

Ingress and egress meet in a per-CPU work area: the copies of one frame are made and sent on
the CPU that received it, and the egress hook of the output port runs before the frame is
queued (nested in bpf_clone_redirect, or right after the ingress program returns for
bpf_redirect). The ingress side writes the headers, metadata and standard_metadata of the
frame into work level L, and puts a tag into the copy's skb->cb: magic, L, a sequence number,
the copy's egress port, rid, instance_type, field list and truncation. Egress checks the tag
against level L, copies level L into L+1 and works there, so a copy never disturbs the next
one. What bounds it: NLEVELS nested levels (recirculation and E2E clones each take one; the
kernel's own limit of 8 nested transmissions comes first), MAX_PASSES ingress passes per frame,
MAX_REPLICAS copies per group or session (a bpf_loop), and nothing else: the work area is as
large as the program's types need.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from softswitch.core import ast as A
from softswitch.core.compiler import Compiler
from softswitch.core.gen import V1_BLOCKS, mangle
from softswitch.core.model import ProgramModel
from softswitch.core.parser import parse
from softswitch.core.rt import _CRC16
from softswitch.core.types import Header, Stack, Struct
from softswitch.ebpf.cexpr import CExprs
from softswitch.ebpf.cext import CExterns
from softswitch.ebpf.cstmt import CStmts
from softswitch.ebpf.layout import Layout, cname, struct_cname, words
from softswitch.ebpf.tablelayout import TableLayout, defaults_value_size, table_layouts

RUNTIME_H = Path(__file__).with_name("runtime.h")
NLEVELS = 8
MAX_PASSES = 16
MAX_REPLICAS = 256  # per multicast group or clone session (a power of two)
MAX_GROUPS = 4096
MAX_SESSIONS = 1024
MOVE_CHUNK = 256
MAX_FRAME = MOVE_CHUNK * 64  # frames the deparser can shrink (moving the payload)
NO_PREALLOC = "    __uint(map_flags, BPF_F_NO_PREALLOC);"  # memory for the groups that exist only
STATS = ["levels", "passes", "parser_loop", "deparse", "no_port"]


@dataclass
class CProgram:
    """What the emitter produced: the C source and what the control plane needs to know."""

    source: str
    model: ProgramModel
    tables: list[TableLayout]
    counter_base: dict[str, int]  # counter fqname -> first cell in ss_counters
    counter_cells: int
    registers: dict[str, str]  # register fqname -> map name
    defaults_size: int


def crc32_table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        out.append(c)
    assert zlib.crc32(b"a") == _crc32(b"a", out)
    return out


def _crc32(data: bytes, table: list[int]) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class CEmitter(CExprs, CStmts, CExterns):
    def __init__(self, source: str, name: str) -> None:
        self.cc = Compiler(parse(source, name))
        self.model = self.cc.compile()
        self.layout = Layout(self.cc.headers, self.cc.structs)
        self.lines: list[str] = []
        self.ind = 0
        self.nlabel = self.ntemp = self.nlocal = 0
        self.temp_decls: list[str] = []
        self.zero_headers: set[str] = set()
        self.applied: dict[int, tuple] = {}
        self.action_decls: dict[str, tuple] = {}
        self.table_decls: dict[str, tuple] = {}
        self.used_tables: set[str] = set()
        self.in_parser = False
        self.buf_bytes = 8
        self.hb_bytes = 8
        self.hb_len = 0
        self.emit_bytes = 0
        self.cur_exit = ""
        layouts = table_layouts(self.model.tables)
        self.tables = layouts
        self.table_layout = {tl.info.fqname: tl for tl in layouts}
        self.counter_base: dict[str, int] = {}
        cells = 0
        for x in self.model.externs:
            if x.kind == "counter":
                self.counter_base[x.fqname] = cells
                cells += x.size
        self.counter_cells = cells
        for d in self.cc.prog.decls:
            if isinstance(d, A.ActionDecl):
                fq = self.cc.fqname(None, d.name, d.annotations)
                self.action_decls[fq] = (d, self.cc.top)
        hdr_t = self.model.hdr_type
        stack_elems = sum(t.size for _, t in hdr_t.fields if isinstance(t, Stack))
        self.max_parser_steps = 4 * (16 + stack_elems)

    # ---- the whole file -------------------------------------------------------------------
    def emit(self) -> CProgram:
        main = self.cc.main
        assert main is not None
        for role, arg in zip(V1_BLOCKS, main.args, strict=True):
            d = self.cc.decls[arg.expr.func.name]
            self.cur_exit = f"exit_{role}"
            if role == "parser":
                self.parser_fn(d)
            elif role == "deparser":
                self.deparser_fn(d)
            else:
                self.control_fn(role, d)
            self.out("")
        blocks = self.lines
        m = self.model
        regs = {x.fqname: "R_" + mangle(x.fqname) for x in m.externs if x.kind == "register"}
        src: list[str] = [
            "/* generated by softswitch's eBPF backend from P4 source; do not edit */",
            '#include "runtime.h"',
            f"#define NLEVELS {NLEVELS}",
            f"#define MAX_PASSES {MAX_PASSES}",
            f"#define MAX_REPLICAS {MAX_REPLICAS}",
            f"#define MOVE_CHUNK {MOVE_CHUNK}",
            f"#define MOVE_CHUNKS {MAX_FRAME // MOVE_CHUNK}",
            "#define CB_MAGIC 0x55A5",
            "#define DROP_PORT 511",
        ]
        for i, s in enumerate(STATS):
            src.append(f"#define ST_{s.upper()} {i}")
        maxemit = max(self.emit_bytes, 1)
        dp = 1
        while dp < maxemit:
            dp <<= 1
        src.append(f"#define DP_MASK {dp - 1}")
        src.append(f"#define MAXEMIT {maxemit}")
        src += [ln.replace("};", "} __attribute__((aligned(8)));") if ln == "};" else ln
                for ln in self.layout.declarations()]  # fmt: skip
        for tl in self.tables:
            src += tl.c_decls()
        src += self.work_decls()
        src += self.map_decls(regs)
        src += self.layout.codecs()
        src += self.helpers()
        for tl in self.tables:
            if tl.mode == "scan" and tl.info.fqname in self.used_tables:
                src += tl.c_scan_callback()
        src += self.preserve_fn()
        src += blocks
        src += self.programs()
        src.append('char _license[] SEC("license") = "GPL";')
        return CProgram(
            "\n".join(src) + "\n",
            m,
            self.tables,
            self.counter_base,
            self.counter_cells,
            regs,
            defaults_value_size(self.tables),
        )

    def work_decls(self) -> list[str]:
        m = self.model
        sm_t = self.cc.types["standard_metadata_t"]
        out = [
            "struct ss_hidden {",
            "    u32 clone, clone_sess, clone_fl, resub, recirc, trunc, has_trunc, passes;",
            "};",
            "struct ss_temps { u64 _none; "
            + " ".join(self.temp_decls)
            + " } __attribute__((aligned(8)));",
            "struct ss_zero { u64 _none; "
            + " ".join(f"struct {h} {h};" for h in sorted(self.zero_headers))
            + " } __attribute__((aligned(8)));",
            "struct work {",
            "    u32 seq, off, stats_parser_loop, emitted;",
            f"    struct {struct_cname(m.hdr_type)} hdr;",
            f"    struct {struct_cname(m.meta_type)} meta;",
            f"    struct {struct_cname(sm_t)} sm;",
            "    struct ss_hidden hid;",
            "    struct ss_temps T;",
            "    struct ss_zero Z;",
            f"    u8 buf[{max(self.buf_bytes, 8)}];",
            f"    u8 hb[{max(self.hb_bytes, 8)}];",
            "    u8 dp[DP_MASK + 1 + MAXEMIT];",
            "    u8 mv[MOVE_CHUNK];",
            "} __attribute__((aligned(8)));",
            "struct ss_cont {",
            "    u32 pending, level, itype, fl, passes, seq;",
            f"    struct {struct_cname(m.meta_type)} meta;",
            "} __attribute__((aligned(8)));",
            "struct ss_replica { u16 port; u16 rid; };",
            "struct ss_group { u32 count; u32 trunc; struct ss_replica r[MAX_REPLICAS]; };",
            "struct ss_cnt { u64 packets; u64 bytes; };",
            "struct ss_scanhdr { u32 base; u32 count; };",
            f"struct ss_defval {{ u8 b[{defaults_value_size(self.tables)}]; }};",
        ]
        return out

    def map_decls(self, regs: dict[str, str]) -> list[str]:
        def m(name: str, typ: str, n: int, key: str, value: str, extra: str = "") -> list[str]:
            return [
                "struct {",
                f"    __uint(type, BPF_MAP_TYPE_{typ});",
                f"    __uint(max_entries, {n});",
                f"    __type(key, {key});",
                f"    __type(value, {value});",
                *([extra] if extra else []),
                f'}} {name} SEC(".maps");',
            ]

        ntab = max(1, len(self.tables))
        ndc = max(1, sum(tl.size for tl in self.tables if tl.info.direct_counter))
        out = (
            m("ss_work", "PERCPU_ARRAY", NLEVELS, "u32", "struct work")
            + m("ss_cont", "PERCPU_ARRAY", 1, "u32", "struct ss_cont")
            + m("ss_port2if", "ARRAY", 512, "u32", "u32")
            + m("ss_if2port", "HASH", 1024, "u32", "u32")
            + m("ss_mcast", "HASH", MAX_GROUPS, "u32", "struct ss_group", NO_PREALLOC)
            + m("ss_clone", "HASH", MAX_SESSIONS, "u32", "struct ss_group", NO_PREALLOC)
            + m("ss_defaults", "ARRAY", ntab, "u32", "struct ss_defval")
            + m("ss_scan", "ARRAY", ntab, "u32", "struct ss_scanhdr")
            + m("ss_dcount", "PERCPU_ARRAY", ndc, "u32", "struct ss_cnt")
            + m("ss_counters", "PERCPU_ARRAY", max(1, self.counter_cells), "u32", "struct ss_cnt")
            + m("ss_stats", "PERCPU_ARRAY", len(STATS), "u32", "u64")
            + [
                "struct {",
                "    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);",
                "    __uint(max_entries, 1);",
                "    __uint(key_size, 4);",
                "    __uint(value_size, 4);",
                '} ss_progs SEC(".maps");',
            ]
        )
        for x in self.model.externs:
            if x.kind == "register":
                val = f"u64[{words(x.width)}]" if x.width > 64 else "u64"
                vt = f"struct {{ u64 v[{words(x.width)}]; }}" if x.width > 64 else "u64"
                del val
                out += m(regs[x.fqname], "ARRAY", max(1, x.size), "u32", vt)
        for tl in self.tables:
            out += tl.c_map()
        return out

    def helpers(self) -> list[str]:
        crc16 = ", ".join(f"{v:#x}" for v in _CRC16)
        crc32 = ", ".join(f"{v:#x}" for v in crc32_table())
        return [
            f"static const u16 ss_crc16_tab[256] = {{ {crc16} }};",
            f"static const u32 ss_crc32_tab[256] = {{ {crc32} }};",
            "static __always_inline u64 ss_crc16(const u8 *b, int n) {",
            "    u32 c = 0;",
            "    for (int i = 0; i < n; i++) c = (c >> 8) ^ ss_crc16_tab[(c ^ b[i]) & 0xff];",
            "    return c & 0xffff;",
            "}",
            "static __always_inline u64 ss_crc32(const u8 *b, int n) {",
            "    u32 c = 0xffffffff;",
            "    for (int i = 0; i < n; i++) c = ss_crc32_tab[(c ^ b[i]) & 0xff] ^ (c >> 8);",
            "    return c ^ 0xffffffff;",
            "}",
            "static __always_inline u64 ss_random(u64 lo, u64 hi) {",
            "    if (hi <= lo) return lo;",
            "    u64 r = ((u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();",
            "    u64 span = hi - lo + 1;",
            "    return span ? lo + r % span : r;",
            "}",
            "static __always_inline u64 *ss_reg(void *map, u64 size, u64 i) {",
            "    if (i >= size) return 0;",
            "    u32 k = i;",
            "    return bpf_map_lookup_elem(map, &k);",
            "}",
            "static __always_inline void ss_stat(u32 i) {",
            "    u64 *c = bpf_map_lookup_elem(&ss_stats, &i);",
            "    if (c) *c += 1;",
            "}",
            "static __always_inline void ss_count(u32 base, u32 size, u64 i, u64 len) {",
            "    if (i >= size) return;",
            "    u32 k = base + (u32)i;",
            "    struct ss_cnt *c = bpf_map_lookup_elem(&ss_counters, &k);",
            "    if (c) { c->packets += 1; c->bytes += len; }",
            "}",
            "static __always_inline void ss_dcount_hit(u32 k, u64 len) {",
            "    struct ss_cnt *c = bpf_map_lookup_elem(&ss_dcount, &k);",
            "    if (c) { c->packets += 1; c->bytes += len; }",
            "}",
            # the barrier keeps clang from turning a long loop into memcpy or memset, which
            # the BPF target cannot call (structs past about 512 bytes: bier.p4 at BSL 512)
            "static __always_inline void ss_copy(void *d, const void *s, u32 n) {",
            "    u64 *dd = d; const u64 *ss = s;",
            "    for (u32 i = 0; i < n / 8; i++) { dd[i] = ss[i]; ss_barrier(); }",
            "}",
            "static __always_inline void ss_zero(void *d, u32 n) {",
            "    u64 *dd = d;",
            "    for (u32 i = 0; i < n / 8; i++) { dd[i] = 0; ss_barrier(); }",
            "}",
        ]

    def preserve_fn(self) -> list[str]:
        meta = self.model.meta_type
        mn = struct_cname(meta)
        out = [
            "static __always_inline void ss_preserve(u32 fl,",
            f"        struct {mn} *d, const struct {mn} *s) {{",
            "    switch (fl) {",
        ]
        for fl, names in sorted(self.model.field_lists.items()):
            out.append(f"    case {fl + 1}:")
            for n in names:
                ft = meta.field_type(n)
                cn = cname(n)
                if isinstance(ft, Header | Struct | Stack) or (
                    ft is not None and getattr(ft, "width", 0) > 64
                ):
                    out.append(f"        __builtin_memcpy(&d->{cn}, &s->{cn}, sizeof(d->{cn}));")
                else:
                    out.append(f"        d->{cn} = s->{cn};")
            out.append("        break;")
        out += ["    }", "}"]
        return out

    def programs(self) -> list[str]:
        return PROGRAMS.splitlines()


PROGRAMS = r"""
static __always_inline int ss_send(struct __sk_buff *skb, u32 port, u32 rid, u32 level, u32 seq,
                                   u32 itype, u32 fl, u32 trunc, int redirect) {
    u32 p = port & 0x1ff;
    u32 *ifx = bpf_map_lookup_elem(&ss_port2if, &p);
    if (!ifx || !*ifx) {
        ss_stat(ST_NO_PORT);
        return redirect ? TC_ACT_SHOT : 0;
    }
    skb->cb[0] = (CB_MAGIC << 16) | (level << 8) | itype;
    skb->cb[1] = seq;
    skb->cb[2] = p | (rid << 16);
    skb->cb[3] = fl;
    skb->cb[4] = trunc;
    if (redirect)
        return bpf_redirect(*ifx, 0);
    bpf_clone_redirect(skb, *ifx, 0);
    return 0;
}

/* the copies of a multicast group or clone session, one bpf_loop iteration each (the
   verifier sees the body once, whatever the group's size); the last copy of a multicast
   group is the frame itself (bpf_redirect), the others clones */
struct ss_rep {
    struct __sk_buff *skb;
    struct ss_group *g;
    u32 n, level, seq, itype, fl, last_redirect;
    int verdict;
};

static long ss_rep_one(u32 i, void *ctx) {
    struct ss_rep *r = ctx;
    struct ss_group *g = r->g;
    if (i >= r->n || i >= MAX_REPLICAS)
        return 1;
    u32 k = i;
    asm volatile("" : "+r"(k)); /* clang must not drop the mask below, the verifier needs it */
    k &= MAX_REPLICAS - 1;      /* MAX_REPLICAS is a power of two */
    u32 port = g->r[k].port, rid = g->r[k].rid;
    if (r->last_redirect && i + 1 == r->n) {
        r->verdict = ss_send(r->skb, port, rid, r->level, r->seq, r->itype, r->fl, g->trunc, 1);
        return 1;
    }
    ss_send(r->skb, port, rid, r->level, r->seq, r->itype, r->fl, g->trunc, 0);
    return 0;
}

static __always_inline int ss_replicate(struct __sk_buff *skb, struct ss_group *g, u32 level,
                                        u32 seq, u32 itype, u32 fl, int last_redirect) {
    struct ss_rep r = {skb, g, g->count, level, seq, itype, fl, last_redirect, TC_ACT_SHOT};
    if (r.n > MAX_REPLICAS)
        r.n = MAX_REPLICAS;
    bpf_loop(r.n, ss_rep_one, &r, 0);
    return r.verdict;
}

static __always_inline int ss_again(struct __sk_buff *skb, struct ss_cont *c, struct work *w,
                                    u32 level, u32 itype, u32 fl) {
    c->pending = 1;
    c->level = level;
    c->itype = itype;
    c->fl = fl;
    c->passes = w->hid.passes;
    ss_copy(&c->meta, &w->meta, sizeof(c->meta));
    bpf_tail_call(skb, &ss_progs, 0);
    c->pending = 0;
    return TC_ACT_SHOT;
}

static __always_inline int ss_after_ingress(struct __sk_buff *skb, struct ss_cont *c,
                                            struct work *w, u32 level) {
    u32 seq = ++c->seq;
    w->seq = seq;
    if (w->hid.clone == 1) {
        u32 s = w->hid.clone_sess;
        struct ss_group *g = bpf_map_lookup_elem(&ss_clone, &s);
        if (g)
            ss_replicate(skb, g, level, seq, 1, w->hid.clone_fl, 0);
    }
    if (w->hid.resub)
        return ss_again(skb, c, w, level, 6, w->hid.resub);
    if (w->sm.mcast_grp) {
        u32 gid = w->sm.mcast_grp;
        struct ss_group *g = bpf_map_lookup_elem(&ss_mcast, &gid);
        if (!g)
            return TC_ACT_SHOT;
        return ss_replicate(skb, g, level, seq, 5, 0, 1);
    }
    if (w->sm.egress_spec == DROP_PORT)
        return TC_ACT_SHOT;
    return ss_send(skb, w->sm.egress_spec, 0, level, seq, 0, 0, 0, 1);
}

SEC("tc")
int ss_ingress(struct __sk_buff *skb) {
    u32 zero = 0;
    struct ss_cont *c = bpf_map_lookup_elem(&ss_cont, &zero);
    if (!c)
        return TC_ACT_SHOT;
    u32 level = 0, itype = 0, port = 0, fl = 0, passes = 1;
    if (c->pending) {
        c->pending = 0;
        level = c->level;
        itype = c->itype;
        fl = c->fl;
        passes = c->passes + 1;
        if (passes > MAX_PASSES) {
            ss_stat(ST_PASSES);
            return TC_ACT_SHOT;
        }
    } else {
        u32 ifx = skb->ifindex;
        u32 *p = bpf_map_lookup_elem(&ss_if2port, &ifx);
        if (!p)
            return TC_ACT_OK;
        port = *p;
    }
    if (level >= NLEVELS) {
        ss_stat(ST_LEVELS);
        return TC_ACT_SHOT;
    }
    struct work *w = bpf_map_lookup_elem(&ss_work, &level);
    if (!w)
        return TC_ACT_SHOT;
    ss_zero(&w->hdr, sizeof(w->hdr));
    ss_zero(&w->meta, sizeof(w->meta));
    ss_zero(&w->sm, sizeof(w->sm));
    ss_zero(&w->hid, sizeof(w->hid));
    w->hid.passes = passes;
    w->sm.ingress_port = port;
    w->sm.instance_type = itype;
    w->sm.packet_length = skb->len;
    if (fl)
        ss_preserve(fl, &w->meta, &c->meta);
    blk_parser(skb, w);
    blk_verify(skb, w);
    blk_ingress(skb, w);
    int verdict = ss_after_ingress(skb, c, w, level);
    /* frames to link-local group addresses (01:80:c2:00:00:0x: BFD, LLDP) that the program
       does not forward also go to the local stack, where the switch's own agents read them */
    if (verdict == TC_ACT_SHOT && level == 0 && itype == 0) {
        u8 dst[6];
        if (!bpf_skb_load_bytes(skb, 0, dst, 6) && dst[0] == 0x01 && dst[1] == 0x80 &&
            dst[2] == 0xc2 && dst[3] == 0 && dst[4] == 0 && (dst[5] & 0xf0) == 0)
            return TC_ACT_OK;
    }
    return verdict;
}

/* move the payload from P to E (E < P) and cut the frame's tail by P - E */
static __always_inline int ss_shrink(struct __sk_buff *skb, u32 E, u32 P, u8 *buf) {
    u32 len = skb->len;
    /* An IPv4 or IPv6 frame (as the kernel knows it) loses the bytes right after its Ethernet
       header in place: bpf_skb_change_tail refuses to cut a frame below the transport header
       the kernel found when it was sent (a short IPv4-in-IPv6 packet decapsulated). */
    if ((skb->protocol == bpf_htons(0x0800) || skb->protocol == bpf_htons(0x86DD)) && E >= 14 &&
        P - E < 0x1000 && !bpf_skb_adjust_room(skb, -(s32)(P - E), BPF_ADJ_ROOM_MAC, 0))
        return 0;
    for (u32 i = 0; i < MOVE_CHUNKS; i++) {
        u32 from = P + i * MOVE_CHUNK;
        if (from >= len)
            break;
        u32 n = len - from;
        if (n > MOVE_CHUNK)
            n = MOVE_CHUNK;
        n = ((n - 1) & (MOVE_CHUNK - 1)) + 1; /* 1..MOVE_CHUNK, as the verifier sees it too */
        if (bpf_skb_load_bytes(skb, from, buf, n))
            return -1;
        if (bpf_skb_store_bytes(skb, E + i * MOVE_CHUNK, buf, n, 0))
            return -1;
    }
    if (len - P > MOVE_CHUNK * MOVE_CHUNKS)
        return -1;
    return bpf_skb_change_tail(skb, len - (P - E), 0);
}

static __always_inline int ss_deparse(struct __sk_buff *skb, struct work *w) {
    blk_deparser(skb, w);
    u32 E = w->emitted; /* from memory: a zero-extended u32 the verifier can bound */
    u32 P = w->off;
    if (E > MAXEMIT || P > skb->len)
        return -1;
    if (E > P) {
        if (bpf_skb_change_head(skb, E - P, 0))
            return -1;
    } else if (E < P) {
        if (ss_shrink(skb, E, P, w->mv))
            return -1;
    }
    if (E > 0 && E <= MAXEMIT && bpf_skb_store_bytes(skb, 0, w->dp, E, 0))
        return -1;
    return 0;
}

SEC("tc")
int ss_egress(struct __sk_buff *skb) {
    u32 tag = skb->cb[0];
    if ((tag >> 16) != CB_MAGIC)
        return TC_ACT_OK;
    u32 level = (tag >> 8) & 0xff, itype = tag & 0xff;
    u32 seq = skb->cb[1], pr = skb->cb[2], fl = skb->cb[3], trunc = skb->cb[4], len = skb->len;
    skb->cb[0] = 0;
    if (level + 1 >= NLEVELS) {
        ss_stat(ST_LEVELS);
        return TC_ACT_SHOT;
    }
    struct work *src = bpf_map_lookup_elem(&ss_work, &level);
    if (!src || src->seq != seq)
        return TC_ACT_OK;
    u32 nl = level + 1;
    struct work *w = bpf_map_lookup_elem(&ss_work, &nl);
    u32 zero = 0;
    struct ss_cont *c = bpf_map_lookup_elem(&ss_cont, &zero);
    if (!w || !c)
        return TC_ACT_SHOT;
    if (itype == 1) { /* I2E clone: the frame as it entered ingress, parsed again */
        ss_zero(&w->hdr, sizeof(w->hdr));
        ss_zero(&w->meta, sizeof(w->meta));
        ss_zero(&w->sm, sizeof(w->sm));
        ss_zero(&w->hid, sizeof(w->hid));
        blk_parser(skb, w);
        w->sm.packet_length = len;
        ss_barrier();
    } else if (itype == 2) { /* E2E clone: the headers as egress left them */
        ss_copy(&w->hdr, &src->hdr, sizeof(w->hdr));
        ss_zero(&w->meta, sizeof(w->meta));
        ss_zero(&w->sm, sizeof(w->sm));
        ss_zero(&w->hid, sizeof(w->hid));
        w->off = src->off;
        w->sm.packet_length = src->sm.packet_length;
        ss_barrier();
    } else {
        ss_copy(&w->hdr, &src->hdr, sizeof(w->hdr));
        ss_copy(&w->meta, &src->meta, sizeof(w->meta));
        ss_copy(&w->sm, &src->sm, sizeof(w->sm));
        ss_copy(&w->hid, &src->hid, sizeof(w->hid));
        w->hid.clone = 0;
        w->off = src->off;
        ss_barrier();
    }
    w->hid.passes = src->hid.passes;
    if (fl)
        ss_preserve(fl, &w->meta, &src->meta);
    w->sm.instance_type = itype;
    w->sm.egress_rid = pr >> 16;
    w->sm.egress_port = pr & 0xffff;
    w->sm.egress_spec = 0;
    blk_egress(skb, w);
    u32 nseq = ++c->seq;
    w->seq = nseq;
    if (w->hid.clone == 2) {
        u32 s = w->hid.clone_sess;
        struct ss_group *g = bpf_map_lookup_elem(&ss_clone, &s);
        if (g)
            ss_replicate(skb, g, nl, nseq, 2, w->hid.clone_fl, 0);
    }
    if (w->sm.egress_spec == DROP_PORT)
        return TC_ACT_SHOT;
    blk_compute(skb, w);
    if (ss_deparse(skb, w)) {
        ss_stat(ST_DEPARSE);
        return TC_ACT_SHOT;
    }
    if (w->hid.has_trunc && w->hid.trunc < skb->len)
        bpf_skb_change_tail(skb, w->hid.trunc, 0);
    if (trunc && trunc < skb->len)
        bpf_skb_change_tail(skb, trunc, 0);
    if (w->hid.recirc)
        return ss_again(skb, c, w, nl, 4, w->hid.recirc);
    return TC_ACT_OK;
}
"""


def emit_c(source: str, name: str) -> CProgram:
    """The C program for a P4 program (preprocessed source, as Program.source holds it)."""
    return CEmitter(source, name).emit()
