"""C layout of a program's P4 types for the eBPF backend.

Every P4 value lives in plain C memory: a field of up to 64 bits in the smallest unsigned
integer that holds it (bool in a u8), a wider field in 64-bit words (`u64 f[K]`, word 0 the
least significant). Values are kept masked to their width; `int<W>` fields hold the W-bit
two's complement pattern and are sign-extended when read. A header is a struct with a validity
byte `_v` first; a header stack a struct with `next` (nextIndex) and the elements `h[N]`.
Header bytes are packed and unpacked per byte, so any field layout (unaligned, 1-bit, wide)
works; the bit arithmetic is constant and clang folds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.core.gen import mangle
from softswitch.core.types import Bits, Bool, Enum, ErrorT, Header, Stack, Struct, Type

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Bool", "asm", "u8", "u16", "u32", "u64",
    "s64", "w", "skb",
}  # fmt: skip


def cname(name: str) -> str:
    """A P4 identifier as a C member name."""
    return name + "_" if name in C_KEYWORDS or name.startswith("_") else name


def words(width: int) -> int:
    return (width + 63) // 64


def storage(width: int) -> str:
    for bits, t in ((8, "u8"), (16, "u16"), (32, "u32"), (64, "u64")):
        if width <= bits:
            return t
    raise ValueError(f"{width} bits is not a scalar")


def top_mask(width: int) -> int:
    """Mask of the most significant word of a wide value."""
    r = width % 64
    return (1 << r) - 1 if r else (1 << 64) - 1


def scalar_width(t: Type) -> int | None:
    if isinstance(t, Bits):
        return t.width
    if isinstance(t, Bool):
        return 1
    if isinstance(t, Enum) and t.underlying is not None:
        return t.underlying.width
    return None


def is_wide(t: Type) -> bool:
    w = scalar_width(t)
    return w is not None and w > 64


def header_cname(h: Header) -> str:
    return "H_" + mangle(h.name)


def struct_cname(s: Struct) -> str:
    return "S_" + mangle(s.name)


def stack_cname(s: Stack) -> str:
    return f"K_{mangle(s.elem.name)}_{s.size}"


def member_decl(name: str, t: Type) -> str:
    """The C declaration of a struct member holding a value of P4 type t."""
    n = cname(name)
    w = scalar_width(t)
    if w is not None:
        return f"u64 {n}[{words(w)}];" if w > 64 else f"{storage(w)} {n};"
    if isinstance(t, Enum | ErrorT):
        return f"u32 {n};"
    if isinstance(t, Header):
        return f"struct {header_cname(t)} {n};"
    if isinstance(t, Stack):
        return f"struct {stack_cname(t)} {n};"
    if isinstance(t, Struct):
        return f"struct {struct_cname(t)} {n};"
    raise ValueError(f"no C layout for {t}")


@dataclass(frozen=True)
class FieldBits:
    name: str
    type: Type
    offset: int  # bit offset from the header's first bit (most significant first)
    width: int


def header_fields(h: Header) -> list[FieldBits]:
    out = []
    off = 0
    for n, t in h.fields:
        w = scalar_width(t)
        assert w is not None
        out.append(FieldBits(n, t, off, w))
        off += w
    return out


@dataclass(frozen=True)
class Chunk:
    """Bits [vlo, vlo + n) of a value (least significant bit 0) that sit in byte `byte` of
    a packed buffer at bit `shift` of that byte (counted from the byte's LSB)."""

    byte: int
    shift: int
    vlo: int
    n: int


def chunks(offset: int, width: int) -> list[Chunk]:
    """How a value of `width` bits packed MSB first at bit `offset` spreads over bytes."""
    out = []
    for i in range(offset // 8, (offset + width - 1) // 8 + 1):
        s, e = max(offset, 8 * i), min(offset + width, 8 * i + 8)
        out.append(Chunk(i, 8 * i + 8 - e, width - (e - offset), e - s))
    return out


def value_bits(code: str, width: int, vlo: int, n: int) -> str:
    """C expression for bits [vlo, vlo+n) of a value: `code` is a u64 expression for a
    narrow value, or a u64 array for a wide one."""
    m = (1 << n) - 1
    if width <= 64:
        return f"(({code} >> {vlo}) & {m:#x})" if vlo else f"({code} & {m:#x})"
    k, s = divmod(vlo, 64)
    if s + n <= 64:
        return f"(({code}[{k}] >> {s}) & {m:#x})" if s else f"({code}[{k}] & {m:#x})"
    return f"((({code}[{k}] >> {s}) | ({code}[{k + 1}] << {64 - s})) & {m:#x})"


def pack_bytes(items: list[tuple[str, int, int]], nbytes: int, buf: str) -> list[str]:
    """Statements that write values into `buf[0..nbytes)` packed MSB first.

    items: (C code of the value, bit offset, width); a wide value's code names its words.
    Every byte is written once, as the OR of the bits that fall into it (padding is 0)."""
    per_byte: dict[int, list[str]] = {i: [] for i in range(nbytes)}
    for code, off, width in items:
        for c in chunks(off, width):
            bits = value_bits(code, width, c.vlo, c.n)
            per_byte[c.byte].append(f"({bits} << {c.shift})" if c.shift else bits)
    return [
        f"{buf}[{i}] = (u8)({' | '.join(parts)});" if parts else f"{buf}[{i}] = 0;"
        for i, parts in per_byte.items()
    ]


def unpack_value(buf: str, offset: int, width: int, dest: str) -> list[str]:
    """Statements that read a value packed MSB first at bit `offset` of `buf` into `dest`
    (a scalar l-value, or the words of a wide one)."""
    if width <= 64:
        parts = []
        for c in chunks(offset, width):
            m = (1 << c.n) - 1
            b = f"(((u64){buf}[{c.byte}] >> {c.shift}) & {m:#x})"
            parts.append(f"({b} << {c.vlo})" if c.vlo else b)
        return [f"{dest} = {' | '.join(parts)};"]
    per_word: dict[int, list[str]] = {k: [] for k in range(words(width))}
    for c in chunks(offset, width):
        m = (1 << c.n) - 1
        b = f"(((u64){buf}[{c.byte}] >> {c.shift}) & {m:#x})"
        k, s = divmod(c.vlo, 64)
        per_word[k].append(f"({b} << {s})" if s else b)
        if s + c.n > 64:  # the chunk's top bits go to the next word
            per_word[k + 1].append(f"({b} >> {64 - s})")
    return [f"{dest}[{k}] = {' | '.join(p) if p else '0'};" for k, p in per_word.items()]


class Layout:
    """C type declarations (headers, stacks, structs) and header pack/unpack functions."""

    def __init__(self, headers: list[Header], structs: list[Struct]) -> None:
        self.headers = headers
        self.structs = structs
        self.stacks: dict[str, Stack] = {}
        for s in structs:
            for _, t in s.fields:
                if isinstance(t, Stack):
                    self.stacks.setdefault(stack_cname(t), t)

    def add_stack(self, t: Stack) -> None:
        self.stacks.setdefault(stack_cname(t), t)

    def declarations(self) -> list[str]:
        out: list[str] = []
        for h in self.headers:
            out.append(f"struct {header_cname(h)} {{")
            out.append("    u8 _v;")
            out.extend("    " + member_decl(n, t) for n, t in h.fields)
            out.append("};")
        for name, st in self.stacks.items():
            out.append(
                f"struct {name} {{ u32 next; struct {header_cname(st.elem)} h[{st.size}]; }};"
            )
        for s in self.structs:
            out.append(f"struct {struct_cname(s)} {{")
            out.extend("    " + member_decl(n, t) for n, t in s.fields)
            if not s.fields:
                out.append("    u8 _empty;")
            out.append("};")
        return out

    def codecs(self) -> list[str]:
        """unpack_H(struct H *h, const u8 *b) and pack_H(u8 *b, const struct H *h)."""
        out: list[str] = []
        for h in self.headers:
            hn = header_cname(h)
            fs = header_fields(h)
            out.append(f"static __always_inline void unpack_{hn}(struct {hn} *h, const u8 *b) {{")
            out.append("    h->_v = 1;")
            for f in fs:
                for line in unpack_value("b", f.offset, f.width, f"h->{cname(f.name)}"):
                    out.append("    " + line)
            out.append("}")
            out.append(f"static __always_inline void pack_{hn}(u8 *b, const struct {hn} *h) {{")
            items = [(f"h->{cname(f.name)}", f.offset, f.width) for f in fs]
            out.extend("    " + line for line in pack_bytes(items, h.width // 8, "b"))
            out.append("}")
        return out
