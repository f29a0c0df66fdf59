"""Fixtures for linkmon tests: veth pairs with names unique to this test run."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def veth_pair() -> Iterator[Callable[[], tuple[str, str]]]:
    """make() -> (a, b): a veth pair in the root namespace, both ends up, IPv6 off (no
    stray router solicitations); every pair is deleted at the end of the test."""
    made: list[str] = []

    def make() -> tuple[str, str]:
        tag = "lm" + secrets.token_hex(3)
        a, b = f"{tag}a", f"{tag}b"
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        made.append(a)
        for i in (a, b):
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{i}.disable_ipv6=1"], check=False)
            subprocess.run(["ip", "link", "set", i, "up"], check=True)
        return a, b

    try:
        yield make
    finally:
        for a in made:
            subprocess.run(["ip", "link", "del", a], check=False, capture_output=True)
