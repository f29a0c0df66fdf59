"""SRv6 addressing (wire.srv6): locators, Replication-SIDs, the sender's source address."""

from __future__ import annotations

import ipaddress

import pytest

from wire.srv6 import host_address, locator, parse_sid, replication_sid, sid_parts


def test_locator_and_sid_layout() -> None:
    assert locator(3) == ipaddress.IPv6Network("5f00:0:3::/48")
    assert locator(0xBEEF) == ipaddress.IPv6Network("5f00:0:beef::/48")
    sid = replication_sid(3, 100000)  # 100000 = 0x186a0: hextets 0x0001, 0x86a0
    assert sid == ipaddress.IPv6Address("5f00:0:3:1:86a0::")
    assert sid in locator(3) and sid not in locator(4)
    assert sid_parts(sid) == (3, 100000)
    assert sid_parts("5f00:0:ffff:ffff:ffff::") == (0xFFFF, 0xFFFFFFFF)


def test_host_address_embeds_ipv4() -> None:
    assert host_address("10.0.0.1") == ipaddress.IPv6Address("fd00::a00:1")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: locator(0), "device id 0 does not fit a locator (1..65535)"),
        (lambda: locator(70000), "device id 70000 does not fit a locator (1..65535)"),
        (lambda: replication_sid(1, 0), "SID function 0 does not fit in 32 bits"),
        (lambda: replication_sid(1, 1 << 32), "SID function 4294967296 does not fit in 32 bits"),
        (lambda: parse_sid("16001"), "'16001' is not an IPv6 address (an SRv6 SID)"),
        (
            lambda: parse_sid("2001:db8::1"),
            "2001:db8::1 is not a Replication-SID (5f00:0:<device>:<function>::)",
        ),
        (
            lambda: parse_sid("5f00:0:1:0:1::1"),
            "5f00:0:1:0:1::1 is not a Replication-SID (5f00:0:<device>:<function>::)",
        ),
    ],
)
def test_bad_values_name_themselves(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message
