"""The packet-test harness (testsupport/harness.py) waiting for frames on real veths."""

from __future__ import annotations

import socket
import threading

import pytest

from testsupport.harness import Testbed

pytestmark = pytest.mark.root

FRAME = bytes.fromhex("02000000000202000000000188b5") + b"a port that never falls quiet" * 2


def test_a_port_that_never_falls_quiet_ends_the_wait_with_what_came() -> None:
    """A switch end sending on and on (as a switch looping a frame would) cannot hold
    `collect` open: once the wanted frames came it waits at most another `timeout` for quiet,
    and `expect` names the extra frames instead of hanging."""
    with Testbed(ports=[1, 2], start=False) as tb:
        sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sender.bind((tb.switch_iface(1), 0))
        stop = threading.Event()

        def chatter() -> None:
            while not stop.wait(0.02):
                sender.send(FRAME)

        thread = threading.Thread(target=chatter, daemon=True)
        thread.start()
        try:
            # quiet longer than timeout: only the cap can end these waits
            got = tb.collect({1: 1}, timeout=1.0, quiet=30.0)
            assert list(got) == [1] and len(got[1]) > 1 and set(got[1]) == {FRAME}
            with pytest.raises(AssertionError, match=r"port 1: expected 1 frame\(s\), got \d+"):
                tb.expect({1: [FRAME]}, timeout=1.0, quiet=30.0)
        finally:
            stop.set()
            thread.join()
            sender.close()
