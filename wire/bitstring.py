"""RFC 8296 / RFC 8279 numbers and BitString helpers, without scapy (fast to import).

Bit positions follow RFC 8279: BFR-id k lives in set identifier SI = (k-1) div BSL at bit
position ((k-1) mod BSL) + 1, and bit position 1 is the least significant (last) bit of the
BitString on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable

# RFC 8296 section 2.1.2: BSL code k means 2^(k+5) bits.
BSL_CODES: dict[int, int] = {64: 1, 128: 2, 256: 3, 512: 4, 1024: 5, 2048: 6, 4096: 7}
BSL_BITS: dict[int, int] = {code: bits for bits, code in BSL_CODES.items()}

# RFC 8296 section 2.1.2 "Proto" values.
PROTO_MPLS_DOWNSTREAM = 1
PROTO_MPLS_UPSTREAM = 2
PROTO_ETHERNET = 3
PROTO_IPV4 = 4
PROTO_OAM = 5
PROTO_IPV6 = 6
PROTO_NAMES = {
    1: "MPLS-downstream",
    2: "MPLS-upstream",
    3: "Ethernet",
    4: "IPv4",
    5: "OAM",
    6: "IPv6",
    7: "experimental",
}

BIER_NIBBLE = 0b0101
BIER_FIXED_LEN = 12  # bytes before the BitString


def bsl_code(bits: int) -> int:
    """BSL field value for a BitString length in bits (64..4096)."""
    try:
        return BSL_CODES[bits]
    except KeyError:
        raise ValueError(f"BSL {bits} is not one of {sorted(BSL_CODES)} bits") from None


def bsl_bits(code: int) -> int:
    """BitString length in bits for a BSL field value (1..7)."""
    try:
        return BSL_BITS[code]
    except KeyError:
        raise ValueError(f"BSL code {code} is not one of {sorted(BSL_BITS)}") from None


def bier_header_len(bsl: int) -> int:
    """Bytes of a BIER header with a BitString of `bsl` bits."""
    bsl_code(bsl)
    return BIER_FIXED_LEN + bsl // 8


def bift_id(bsl: int, si: int = 0, sd: int = 0) -> int:
    """A 20-bit BIFT-id as (BSL code, SD, SI), the encoding of
    draft-ietf-bier-non-mpls-bift-encoding; any 20-bit value is legal in RFC 8296."""
    if not 0 <= si <= 255 or not 0 <= sd <= 255:
        raise ValueError(f"SI {si} and SD {sd} must be 0..255")
    return (bsl_code(bsl) << 16) | (sd << 8) | si


def si_of(bfr_id: int, bsl: int = 256) -> int:
    """Set identifier of a BFR-id (RFC 8279: SI = (id-1) div BSL)."""
    if bfr_id < 1 or bfr_id > 0xFFFF:
        raise ValueError(f"BFR-id {bfr_id} outside 1..65535")
    return (bfr_id - 1) // bsl


def bit_position(bfr_id: int, bsl: int = 256) -> int:
    """Bit position (1-based, 1 = least significant) of a BFR-id inside its SI."""
    si_of(bfr_id, bsl)
    return (bfr_id - 1) % bsl + 1


def bitstrings_by_si(bfr_ids: Iterable[int], bsl: int = 256) -> dict[int, bytes]:
    """BitStrings (bsl/8 bytes each, big-endian) keyed by SI for a set of BFR-ids."""
    bsl_code(bsl)
    words: dict[int, int] = {}
    for bfr_id in bfr_ids:
        si = si_of(bfr_id, bsl)
        words[si] = words.get(si, 0) | (1 << (bit_position(bfr_id, bsl) - 1))
    return {si: w.to_bytes(bsl // 8, "big") for si, w in sorted(words.items())}


def bitstring(bfr_ids: Iterable[int], bsl: int = 256, si: int = 0) -> bytes:
    """BitString of one SI. Every BFR-id must belong to `si`."""
    ids = list(bfr_ids)
    for k in ids:
        if si_of(k, bsl) != si:
            raise ValueError(f"BFR-id {k} is in SI {si_of(k, bsl)}, not SI {si} (BSL {bsl})")
    return bitstrings_by_si(ids, bsl).get(si, bytes(bsl // 8))


def bfr_ids_of(bits: bytes, si: int = 0) -> list[int]:
    """The BFR-ids whose bits are set in a BitString of SI `si` (inverse of `bitstring`)."""
    bsl = len(bits) * 8
    bsl_code(bsl)
    word = int.from_bytes(bits, "big")
    return [si * bsl + pos + 1 for pos in range(bsl) if word >> pos & 1]
