"""testbed.watch.LinkWatcher: a link change made by the owner is never reported back, even when
the kernel's messages about its two ends arrive in separate batches; a change made from
outside is reported once. Real interfaces (a veth pair): the watcher reads the kernel's state."""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Iterator

import pytest

from linkmon.netlink import LinkState
from testbed.watch import LinkWatcher, admin_up_now

pytestmark = pytest.mark.root


def _ip(*args: str) -> None:
    subprocess.run(["ip", "link", *args], check=True, capture_output=True)


@pytest.fixture
def ends() -> Iterator[list[str]]:
    tag = "bwt" + secrets.token_hex(3)
    names = [f"{tag}a", f"{tag}b"]
    try:
        _ip("add", names[0], "type", "veth", "peer", "name", names[1])
        for n in names:
            _ip("set", n, "up")
        yield names
    finally:
        subprocess.run(["ip", "link", "del", names[0]], capture_output=True)


def _state(name: str, up: bool) -> LinkState:
    return LinkState(index=0, name=name, admin_up=up, carrier=up)


def test_owner_change_heard_half_is_not_reported(ends: list[str]) -> None:
    a, b = ends
    known = {"s1-s2": True}
    reports: list[tuple[str, bool]] = []
    w = LinkWatcher(
        {"s1-s2": ends}, known.__getitem__, lambda *r: reports.append(r), threading.RLock()
    )
    w.admin = {a: True, b: True}
    # the owner pulls the cable (both ends down), the watcher hears both in one batch
    known["s1-s2"] = False
    _ip("set", a, "down")
    _ip("set", b, "down")
    w._changes([_state(a, False), _state(b, False)])
    # the owner plugs it back; the watcher hears end a first, end b in a later batch
    known["s1-s2"] = True
    _ip("set", a, "up")
    _ip("set", b, "up")
    w._changes([_state(a, True)])
    w._changes([_state(b, True)])
    assert reports == []
    assert admin_up_now(a) is True and admin_up_now("bwt-missing0") is None


def test_outside_change_reported_once(ends: list[str]) -> None:
    a, b = ends
    reports: list[tuple[str, bool]] = []
    w = LinkWatcher(
        {"s1-s2": ends}, lambda _l: True, lambda *r: reports.append(r), threading.RLock()
    )
    w.admin = {a: True, b: True}
    _ip("set", b, "down")  # someone else takes one end down
    w._changes([_state(b, False)])
    assert reports == [("s1-s2", False)]
