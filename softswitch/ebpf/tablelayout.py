"""How one P4 table lives in BPF maps: key, value and entry layouts, shared by the C the
emitter writes and the bytes the control plane writes into the maps.

Lookup by key kinds (the same split as the Python backend):
- only exact keys: a BPF hash map keyed by the key values; O(1) per lookup.
- one lpm key (plus exact keys): a BPF LPM trie keyed by the exact fields then the lpm
  field, big-endian; the kernel's trie walks at most (key bits) nodes per lookup.
- any ternary, range or optional key: an array of entries sorted by priority (larger first,
  equal priorities in insertion order), scanned with bpf_loop until the first match; O(n)
  per lookup for n entries. Two halves: writes fill the idle half and then switch over, so
  a lookup never sees a half-written table.
- no key: the default action only.
Values: u32 action index (position in the table's action list), u32 direct-counter slot, then
the action's parameters, 8 bytes per parameter up to 64 bits, 8 per 64-bit word above.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from softswitch.core.gen import mangle
from softswitch.core.model import KeyInfo, TableInfo
from softswitch.ebpf.layout import cname, pack_bytes, words


def le_words(v: int, width: int) -> bytes:
    """A value as its 64-bit words, least significant first, little-endian."""
    return b"".join(
        struct.pack("<Q", (v >> (64 * k)) & ((1 << 64) - 1)) for k in range(words(width))
    )


@dataclass
class TableLayout:
    info: TableInfo
    index: int  # position in the program's table list (defaults, scan headers)
    dc_base: int = 0  # first slot of its direct counters in ss_dcount

    @property
    def cname(self) -> str:
        return mangle(self.info.fqname)

    @property
    def keys(self) -> list[KeyInfo]:
        return self.info.keys

    @property
    def mode(self) -> str:
        kinds = [k.match_kind for k in self.keys]
        if not kinds:
            return "none"
        if set(kinds) <= {"exact"}:
            return "exact"
        if set(kinds) <= {"exact", "lpm"} and kinds.count("lpm") == 1:
            return "lpm"
        return "scan"

    @property
    def size(self) -> int:
        return max(1, self.info.size)

    # ---- values ---------------------------------------------------------------------------
    def param_bytes(self, action_index: int) -> int:
        a = self.info.actions[action_index].action
        return sum(8 * words(p.width) for p in a.params)

    @property
    def value_size(self) -> int:
        return 8 + max([self.param_bytes(i) for i in range(len(self.info.actions))] + [8])

    def pack_value(self, action_index: int, slot: int, args: list[int] | tuple) -> bytes:
        a = self.info.actions[action_index].action
        body = b"".join(le_words(v, p.width) for p, v in zip(a.params, args, strict=True))
        raw = struct.pack("<II", action_index, slot) + body
        return raw + bytes(self.value_size - len(raw))

    # ---- keys -----------------------------------------------------------------------------
    def lpm_fields(self) -> list[tuple[KeyInfo, int, int]]:
        """(key, byte offset in the trie data, bytes): exact fields first, the lpm one last."""
        ordered = [k for k in self.keys if k.match_kind != "lpm"]
        ordered += [k for k in self.keys if k.match_kind == "lpm"]
        out = []
        off = 0
        for k in ordered:
            nb = (k.width + 7) // 8
            out.append((k, off, nb))
            off += nb
        return out

    @property
    def lpm_data_bytes(self) -> int:
        return sum(nb for _, _, nb in self.lpm_fields())

    @property
    def key_size(self) -> int:
        if self.mode == "lpm":
            return 4 + self.lpm_data_bytes
        return sum(8 * words(k.width) for k in self.keys)

    def pack_key(self, match: tuple) -> bytes:
        """Map key of an exact or lpm entry; `match` is the Python backend's canonical
        tuple (per key: value, (value, prefix_len) or None for a /0 prefix)."""
        if self.mode == "exact":
            return b"".join(le_words(m, k.width) for k, m in zip(self.keys, match, strict=True))
        vals = dict(zip((k.name for k in self.keys), match, strict=True))
        data = 0
        nbits = 8 * self.lpm_data_bytes
        plen = 0
        for k, off, nb in self.lpm_fields():
            m = vals[k.name]
            if k.match_kind == "lpm":
                v, p = (0, 0) if m is None else m
                shift = 8 * nb - k.width  # left-aligned: prefixes start at the top bit
                plen += 8 * off + p
            else:
                v, shift = m, 0
            data |= (v << shift) << (nbits - 8 * (off + nb))
        return struct.pack("<I", plen) + data.to_bytes(self.lpm_data_bytes, "big")

    # ---- scan entries ---------------------------------------------------------------------
    @property
    def entry_size(self) -> int:
        return sum(16 * words(k.width) for k in self.keys) + self.value_size

    def pack_entry(self, match: tuple, value: bytes) -> bytes:
        """An entry of a scan table: the value, then per key (a, b) = (value, mask) or
        (low, high)."""
        out = value
        for k, m in zip(self.keys, match, strict=True):
            full = (1 << k.width) - 1
            if k.match_kind == "range":
                a, b = (0, full) if m is None else m
            elif m is None:
                a, b = 0, 0
            elif k.match_kind in ("exact", "optional"):
                a, b = m, full
            elif k.match_kind == "lpm":
                a, b = m[0], full ^ ((1 << (k.width - m[1])) - 1)
            else:
                a, b = m
            out += le_words(a, k.width) + le_words(b, k.width)
        return out

    # ---- C declarations -------------------------------------------------------------------
    def c_decls(self) -> list[str]:
        n = self.cname
        out = []
        for i, ref in enumerate(self.info.actions):
            ps = ref.action.params
            if ps:
                members = " ".join(
                    f"u64 {cname(p.name)}{f'[{words(p.width)}]' if p.width > 64 else ''};"
                    for p in ps
                )
                out.append(f"struct TP_{n}_{i} {{ {members} }};")
        union = " ".join(
            f"struct TP_{n}_{i} a{i};" for i, r in enumerate(self.info.actions) if r.action.params
        )
        out.append(f"struct TV_{n} {{ u32 action; u32 slot; union {{ u64 _none; {union} }} p; }};")
        if self.mode == "exact":
            members = " ".join(self._key_member(i, k) for i, k in enumerate(self.keys))
            out.append(f"struct TK_{n} {{ {members} }};")
        elif self.mode == "lpm":
            out.append(f"struct TK_{n} {{ u32 plen; u8 d[{self.lpm_data_bytes}]; }};")
        elif self.mode == "scan":
            ab = " ".join(
                f"{self._key_member(i, k, 'a')} {self._key_member(i, k, 'b')}"
                for i, k in enumerate(self.keys)
            )
            out.append(f"struct TE_{n} {{ struct TV_{n} v; {ab} }};")  # v first: &e->v is e
            ks = " ".join(self._key_member(i, k) for i, k in enumerate(self.keys))
            out.append(f"struct SC_{n} {{ {ks} u32 base; u32 found; u32 idx; }};")
        return out

    @staticmethod
    def _key_member(i: int, k: KeyInfo, prefix: str = "k") -> str:
        return f"u64 {prefix}{i}{f'[{words(k.width)}]' if k.width > 64 else ''};"

    def c_map(self) -> list[str]:
        n = self.cname
        if self.mode == "exact":
            return [
                "struct {",
                "    __uint(type, BPF_MAP_TYPE_HASH);",
                f"    __uint(max_entries, {self.size});",
                f"    __type(key, struct TK_{n});",
                f"    __type(value, struct TV_{n});",
                f'}} T_{n} SEC(".maps");',
            ]
        if self.mode == "lpm":
            return [
                "struct {",
                "    __uint(type, BPF_MAP_TYPE_LPM_TRIE);",
                f"    __uint(max_entries, {self.size});",
                "    __uint(map_flags, BPF_F_NO_PREALLOC);",
                f"    __type(key, struct TK_{n});",
                f"    __type(value, struct TV_{n});",
                f'}} T_{n} SEC(".maps");',
            ]
        if self.mode == "scan":
            return [
                "struct {",
                "    __uint(type, BPF_MAP_TYPE_ARRAY);",
                f"    __uint(max_entries, {2 * self.size});",
                "    __type(key, u32);",
                f"    __type(value, struct TE_{n});",
                f'}} T_{n} SEC(".maps");',
            ]
        return []

    def c_scan_callback(self) -> list[str]:
        n = self.cname
        conds = []
        for i, k in enumerate(self.keys):
            if k.width > 64:
                for j in range(words(k.width)):
                    if k.match_kind == "range":
                        raise ValueError("range keys wider than 64 bits")
                    conds.append(f"(s->k{i}[{j}] & e->b{i}[{j}]) == e->a{i}[{j}]")
            elif k.match_kind == "range":
                conds.append(f"s->k{i} >= e->a{i} && s->k{i} <= e->b{i}")
            else:
                conds.append(f"(s->k{i} & e->b{i}) == e->a{i}")
        return [
            f"static long scan_{n}(u32 i, void *c) {{",
            f"    struct SC_{n} *s = c;",
            "    u32 k = s->base + i;",
            f"    struct TE_{n} *e = bpf_map_lookup_elem(&T_{n}, &k);",
            "    if (!e) return 1;",
            f"    if ({' && '.join(conds) or '1'}) {{ s->found = 1; s->idx = k; return 1; }}",
            "    return 0;",
            "}",
        ]

    def c_lpm_key(self, codes: dict[str, tuple[str, int]], dst: str) -> list[str]:
        """Statements filling the trie key `dst` (a struct TK_ l-value) from key codes."""
        items: list[tuple[str, int, int]] = []
        for k, off, nb in self.lpm_fields():
            code, width = codes[k.name]
            pad = 8 * nb - width
            bit = 8 * off + (0 if k.match_kind == "lpm" else pad)
            items.append((code, bit, width))
        lines = [f"{dst}.plen = {8 * self.lpm_data_bytes};"]
        lines += pack_bytes(items, self.lpm_data_bytes, f"{dst}.d")
        return lines


def table_layouts(tables: list[TableInfo]) -> list[TableLayout]:
    out = []
    dc = 0
    for i, t in enumerate(tables):
        tl = TableLayout(t, i, dc)
        if t.direct_counter is not None:
            dc += tl.size
        out.append(tl)
    return out


def defaults_value_size(layouts: list[TableLayout]) -> int:
    return max([tl.value_size for tl in layouts] + [16])
