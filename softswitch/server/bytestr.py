"""P4Runtime byte strings (spec 8.4): big-endian, canonical form is the shortest string
(one zero byte for 0); padded forms are accepted on input as long as the value fits."""

from __future__ import annotations

from softswitch.server.errors import error


def decode(data: bytes, bitwidth: int, what: str) -> int:
    """The value of `data` for a field of `bitwidth` bits; OUT_OF_RANGE when it does not fit.
    An empty string is INVALID_ARGUMENT (the spec requires at least one byte)."""
    if not data:
        raise error("INVALID_ARGUMENT", f"{what}: empty byte string")
    value = int.from_bytes(data, "big")
    if bitwidth > 0 and value >> bitwidth:
        raise error(
            "OUT_OF_RANGE",
            f"{what}: value 0x{data.hex()} does not fit in {bitwidth} bits",
        )
    return value


def encode(value: int) -> bytes:
    """The canonical byte string of a non-negative value."""
    if value < 0:
        raise ValueError(f"negative value {value}")
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def encode_padded(value: int, bitwidth: int) -> bytes:
    """The full-width byte string (ceil(bitwidth / 8) bytes), as older clients send it."""
    return value.to_bytes(max(1, (bitwidth + 7) // 8), "big")
