"""linkmon.netlink: link messages decoded from bytes, and from a real veth pair's changes."""

from __future__ import annotations

import struct
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from linkmon import netlink
from linkmon.netlink import IFF_LOWER_UP, IFF_UP, LinkReader, LinkState, LinkWatch

RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR = 16, 17, 20


def _msg(kind: int, index: int, flags: int, name: bytes) -> bytes:
    body = struct.pack("=BBHiII", 0, 0, 1, index, flags, 0xFFFFFFFF)
    attr = name + b"\x00"
    body += struct.pack("=HH", 4 + len(attr), 3) + attr  # IFLA_IFNAME
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


def test_link_messages_are_decoded_with_name_admin_state_and_carrier() -> None:
    data = (
        _msg(RTM_NEWLINK, 5, IFF_UP | IFF_LOWER_UP, b"eth5")
        + _msg(RTM_NEWLINK, 7, IFF_UP, b"eth7")  # up, no carrier
        + _msg(RTM_NEWLINK, 8, IFF_LOWER_UP, b"eth8")  # carrier, administratively down
        + _msg(RTM_DELLINK, 6, IFF_UP | IFF_LOWER_UP, b"eth6")
    )
    assert netlink.parse(data) == [
        LinkState(5, "eth5", True, True),
        LinkState(7, "eth7", True, False),
        LinkState(8, "eth8", False, True),
        LinkState(6, "eth6", True, True, deleted=True),
    ]
    assert [s.up for s in netlink.parse(data)] == [True, False, False, False]


def _wait(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.root
def test_reader_hears_both_ends_lose_carrier_when_one_goes_down(veth_pair) -> None:
    a, b = veth_pair()
    _wait(lambda: all(s.up for s in netlink.dump([a, b]).values()), "veth pair never up")
    with LinkReader() as r:
        subprocess.run(["ip", "link", "set", b, "down"], check=True)
        heard: dict[str, LinkState] = {}

        def both_down() -> bool:  # the kernel may say more about each first
            heard.update({s.name: s for s in r.read()})
            return a in heard and b in heard and not heard[a].carrier and not heard[b].admin_up

        _wait(both_down, f"not both heard down: {heard}")
    assert heard[b].up is False
    assert heard[a].admin_up is True and heard[a].up is False  # the peer lost carrier
    now = netlink.dump([a, b, "no-such-intf"])
    assert set(now) == {a, b}
    assert (now[a].carrier, now[b].admin_up) == (False, False)


@pytest.mark.root
def test_watch_calls_back_from_its_thread_and_stops(veth_pair) -> None:
    a, b = veth_pair()
    seen: list[LinkState] = []
    threads: set[str] = set()

    def cb(changes: list[LinkState]) -> None:
        threads.add(threading.current_thread().name)
        seen.extend(c for c in changes if c.name in (a, b))

    w = LinkWatch(cb, name="test-watch")
    w.start()
    try:
        subprocess.run(["ip", "link", "set", a, "down"], check=True)
        _wait(lambda: any(c.name == b and not c.carrier for c in seen), "no carrier loss heard")
        subprocess.run(["ip", "link", "set", a, "up"], check=True)
        _wait(lambda: any(c.name == b and c.up for c in seen[1:]), "no carrier back heard")
    finally:
        w.stop()
    assert threads == {"test-watch"}
    n = len(seen)
    subprocess.run(["ip", "link", "set", a, "down"], check=True)
    time.sleep(0.2)
    assert len(seen) == n  # stopped: nothing more
