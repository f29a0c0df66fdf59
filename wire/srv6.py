"""SRv6 addressing of SR-P2MP over SRv6 (RFC 9524 replication segments, RFC 8986 SIDs), one
definition for the control plane, the sender and the tests.

- Every switch has a locator, 5f00:0:D::/48 for device id D (5f00::/16 is the block RFC 9602
  sets aside for SRv6 SIDs). Transit nodes route a SID by its locator (longest prefix).
- A Replication-SID is an address of its node's locator: the locator with a 32-bit function
  (`replication_sid`): 5f00:0:D:FFFF:FFFF::. The controller takes the functions from its
  label block, so a SID's function equals the SR-MPLS label the same tree would use.
- The sender's IPv6 source address embeds its IPv4 address in fd00::/96 (a unique local
  prefix; nothing routes to it: repairs and reports are IPv4 unicast).
- The IPv6 packet carries the IPv4 packet (Next Header 4) that a leaf delivers.
"""

from __future__ import annotations

import ipaddress

SID_BLOCK = 0x5F00  # RFC 9602: 5f00::/16
LOCATOR_LEN = 48
FUNCTION_BITS = 32
FUNCTION_SHIFT = 128 - LOCATOR_LEN - FUNCTION_BITS  # the function follows the locator
HOST_PREFIX = ipaddress.IPv6Network("fd00::/96")
NEXT_HEADER_IPV4 = 4  # IANA protocol number of IPv4 (IPv4 in IPv6)
IPV6_LEN = 40


def locator(device_id: int) -> ipaddress.IPv6Network:
    """The locator of the switch with this device id: 5f00:0:<id>::/48."""
    if not 0 < device_id < 1 << 16:
        raise ValueError(f"device id {device_id} does not fit a locator (1..65535)")
    addr = SID_BLOCK << 112 | device_id << 80
    return ipaddress.IPv6Network((addr, LOCATOR_LEN))


def replication_sid(device_id: int, function: int) -> ipaddress.IPv6Address:
    """The Replication-SID with this function in the locator of `device_id`."""
    if not 0 < function < 1 << FUNCTION_BITS:
        raise ValueError(f"SID function {function} does not fit in {FUNCTION_BITS} bits")
    net = locator(device_id)
    return ipaddress.IPv6Address(int(net.network_address) | function << FUNCTION_SHIFT)


def sid_parts(sid: ipaddress.IPv6Address | str) -> tuple[int, int]:
    """(device id, function) of a Replication-SID; ValueError for an address outside the
    SID block or with bits after the function."""
    a = ipaddress.IPv6Address(sid)
    v = int(a)
    if v >> 112 != SID_BLOCK or v >> 96 & 0xFFFF or v & (1 << FUNCTION_SHIFT) - 1:
        raise ValueError(f"{a} is not a Replication-SID (5f00:0:<device>:<function>::)")
    return v >> 80 & 0xFFFF, v >> FUNCTION_SHIFT & (1 << FUNCTION_BITS) - 1


def host_address(ipv4: str | ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    """A host's IPv6 source address: its IPv4 address in fd00::/96."""
    v4 = ipaddress.IPv4Address(ipv4)
    return ipaddress.IPv6Address(int(HOST_PREFIX.network_address) | int(v4))


def parse_sid(text: str) -> ipaddress.IPv6Address:
    """A Replication-SID written as an IPv6 address, with an error that names it."""
    try:
        a = ipaddress.IPv6Address(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an IPv6 address (an SRv6 SID)") from None
    sid_parts(a)
    return a
