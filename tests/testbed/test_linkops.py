"""testbed.linkops: a cable pull and a silent failure's queue, applied over rtnetlink in the
test's own process, on a veth pair of this test's own (unique prefix, removed after)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.linkops import LinkOpError, RootLinks, tc_handle

from .conftest import our_interfaces

pytestmark = [pytest.mark.root]


def test_tc_handles_read_as_tc_writes_them() -> None:
    assert tc_handle("5:1") == 0x00050001
    assert tc_handle("99:") == 0x00990000
    assert tc_handle("5:0") == 0x00050000


def sh(cmd: str) -> str:
    r = subprocess.run(cmd.split(), capture_output=True, text=True)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r.stdout


@pytest.fixture
def pair(prefix: str) -> Iterator[tuple[str, str]]:
    a, b = f"{prefix}lka", f"{prefix}lkb"
    sh(f"ip link add {a} type veth peer name {b}")
    try:
        sh(f"ip link set {a} up")
        sh(f"ip link set {b} up")
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True)
    assert our_interfaces(prefix) == []


def carrier(intf: str) -> str:
    try:
        return Path(f"/sys/class/net/{intf}/carrier").read_text().strip()
    except OSError:  # an interface that is administratively down has no carrier to read
        return "down"


def test_a_pull_takes_carrier_from_both_ends_and_gives_it_back(pair: tuple[str, str]) -> None:
    a, b = pair
    with RootLinks() as links:
        links.set_up(a, False)
        assert carrier(a) == "down" and carrier(b) == "0"
        links.set_up(a, True)
    assert "state UP" in sh(f"ip link show {a}")
    assert carrier(b) == "1"


def test_a_silent_queue_goes_under_the_htb_class_or_at_the_root(pair: tuple[str, str]) -> None:
    a, b = pair
    sh(f"tc qdisc add dev {a} root handle 5:0 htb default 1")
    sh(f"tc class add dev {a} parent 5:0 classid 5:1 htb rate 10mbit")
    with RootLinks() as links:
        links.silent(a, True)
        assert "qdisc pfifo 99: parent 5:1 limit 0p" in sh(f"tc qdisc show dev {a}")
        links.silent(b, True)  # unshaped: at the root
        assert "qdisc pfifo 99: root" in sh(f"tc qdisc show dev {b}")
        assert carrier(a) == "1" and carrier(b) == "1"  # carrier untouched
        links.silent(a, False)
        links.silent(b, False)
    assert "pfifo" not in sh(f"tc qdisc show dev {a}")
    assert "pfifo" not in sh(f"tc qdisc show dev {b}")


def test_an_unknown_interface_or_a_second_queue_is_a_clear_error(
    pair: tuple[str, str], prefix: str
) -> None:
    a, _ = pair
    with RootLinks() as links:
        with pytest.raises(LinkOpError, match=f"interface {prefix}nope does not exist"):
            links.set_up(f"{prefix}nope", False)
        links.silent(a, True)
        with pytest.raises(LinkOpError, match=f"{a}: cannot start dropping what it sends"):
            links.silent(a, True)
        links.silent(a, False)
