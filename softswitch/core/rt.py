"""Runtime helpers the generated code uses (kept small: every call is on the packet path)."""

from __future__ import annotations

import logging
import random as _random
import zlib

__all__ = [
    "ONCE",
    "Exit",
    "Locals",
    "PErr",
    "Stack",
    "_fb",
    "_new",
    "advance",
    "div0",
    "hash_crc16",
    "hash_crc32",
    "hash_csum16",
    "hash_identity",
    "hash_result",
    "hash_xor16",
    "log_msg",
    "lookahead",
    "mk",
    "p4_random",
    "shl",
]

_new = object.__new__
ONCE = (None,)  # an inlined control body runs in `for _ in ONCE:` so that `return` can break
_fb = int.from_bytes
_log = logging.getLogger("softswitch.p4")


class PErr(Exception):
    """A parser error: `code` is the error's number (None: reject without an error)."""

    def __init__(self, code: int | None) -> None:
        self.code = code


class Exit(Exception):
    pass


class Locals:
    """Control-level variables of one control invocation."""


class Stack:
    """A header stack: elements `h` (header values as ints, see compiler) and nextIndex `n`."""

    __slots__ = ("h", "n")

    def __init__(self, h: list[int]) -> None:
        self.h = h
        self.n = 0

    def _copy(self) -> Stack:
        s = Stack(list(self.h))
        s.n = self.n
        return s

    def last(self) -> int:
        if self.n == 0:
            raise PErr(3)  # StackOutOfBounds
        return self.h[self.n - 1]

    def at(self, i: int) -> int:
        if i >= len(self.h):
            raise PErr(3)
        return self.h[i]

    # In controls an out-of-bounds element reads as an invalid header (P4_16 leaves it
    # undefined; nothing aborts the packet).
    def last_c(self) -> int:
        return self.h[self.n - 1] if self.n else 0

    def at_c(self, i: int) -> int:
        return self.h[i] if 0 <= i < len(self.h) else 0

    def push_front(self, count: int) -> None:
        # BMv2: shift towards the end (the last `count` fall off), the first become invalid
        h = self.h
        size = len(h)
        count = min(count, size)
        if count:
            h[:] = [0] * count + h[: size - count]
            self.n = min(self.n + count, size)

    def pop_front(self, count: int) -> None:
        h = self.h
        size = len(h)
        count = min(count, size)
        if count:
            h[:] = h[count:] + [0] * count
            self.n = max(self.n - count, 0)


def mk(cls, valid, **fields):  # type: ignore[no-untyped-def]
    """A struct value from a list or struct expression."""
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


def lookahead(pkt: bytes, off: int, nbits: int) -> int:
    nbytes = (nbits + 7) // 8
    if off + nbytes > len(pkt):
        raise PErr(1)  # PacketTooShort
    return _fb(pkt[off : off + nbytes], "big") >> (nbytes * 8 - nbits)


def advance(pkt: bytes, off: int, nbits: int) -> int:
    end = off + nbits // 8
    if end > len(pkt):
        raise PErr(1)
    return end


def shl(a: int, b: int, width: int) -> int:
    """a << b for a value of `width` bits: 0 once b reaches the width."""
    return a << b if b < width else 0


def div0(a: int, b: int, mod: bool) -> int:
    if b == 0:
        return 0
    return a % b if mod else a // b


def _data_bytes(value: int, nbits: int) -> bytes:
    # fields packed MSB first, zero-padded at the end to whole bytes (as BMv2 does)
    pad = (-nbits) % 8
    return (value << pad).to_bytes((nbits + pad) // 8, "big")


def _crc16_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC16 = _crc16_table()


def hash_crc16(value: int, nbits: int) -> int:
    """CRC-16/ARC (BMv2's crc16)."""
    crc = 0
    for b in _data_bytes(value, nbits):
        crc = (crc >> 8) ^ _CRC16[(crc ^ b) & 0xFF]
    return crc


def hash_crc32(value: int, nbits: int) -> int:
    return zlib.crc32(_data_bytes(value, nbits))


def hash_identity(value: int, nbits: int) -> int:
    # BMv2 keeps the bytes as they are; the caller's modulo/width keeps the last ones
    return _fb(_data_bytes(value, nbits), "big")


def hash_csum16(value: int, nbits: int) -> int:
    """Internet checksum of the data zero-padded to 16-bit words: the ones' complement sum
    of the words is the data taken as one number modulo 0xffff (0xffff if that is 0 and the
    data is not all zero)."""
    pad = (-nbits) % 16
    v = value << pad
    s = v % 0xFFFF
    if s == 0 and v:
        s = 0xFFFF
    return 0xFFFF - s


def hash_xor16(value: int, nbits: int) -> int:
    data = _data_bytes(value, nbits)
    if len(data) % 2:
        data += b"\0"
    x = 0
    for i in range(0, len(data), 2):
        x ^= (data[i] << 8) | data[i + 1]
    return x


def hash_result(h: int, base: int, mx: int, mask: int) -> int:
    if mx == 0:
        return base & mask
    return (base + h % mx) & mask


def p4_random(lo: int, hi: int) -> int:
    if hi < lo:
        return lo
    return _random.randint(lo, hi)


def log_msg(msg: str, values: tuple) -> None:
    if values:
        parts = msg.split("{}")
        text = parts[0]
        for i, p in enumerate(parts[1:]):
            text += (str(values[i]) if i < len(values) else "{}") + p
        msg = text
    _log.info("%s", msg)
