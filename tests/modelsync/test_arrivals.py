"""The receiver's arrival log: datagram times as the kernel stamped them (so a pause in the
data shows even when the receiver reads late), kept as first, last, count and every gap."""

from __future__ import annotations

import socket
import time

from modelsync.batchrecv import SO_TIMESTAMPNS, kernel_stamp
from modelsync.receiver import ArrivalLog


def test_gaps_of_at_least_the_floor_are_kept_with_their_ends() -> None:
    log = ArrivalLog(min_gap=0.005)
    for t in (10.000, 10.001, 10.002, 10.010, 10.011, 10.0159, 10.030):
        log.add(t)
    r = log.record()
    assert (r.first, r.last, r.count, r.clock) == (10.0, 10.030, 7, "kernel")
    assert r.gaps == [(10.002, 10.010), (10.0159, 10.030)]  # 8 ms and 14.1 ms; 4.9 ms is not
    log.add(10.031, kernel=False)
    assert log.record().clock == "user"


def _stamped_on_arrival(rx: socket.socket, tx: socket.socket) -> None:
    """Wait until the kernel stamps datagrams as they arrive. Setting SO_TIMESTAMPNS enables
    receive stamps through a deferred work item; until it ran, a datagram is stamped when it
    is read, and the first test datagrams' pause would not show."""
    buf = bytearray(2048)
    rx.settimeout(1)
    for _ in range(100):
        tx.sendto(b"p", rx.getsockname())
        time.sleep(0.01)
        before_read = time.time()
        _, anc, _, _ = rx.recvmsg_into([buf], socket.CMSG_SPACE(16))
        stamp = kernel_stamp(anc)
        if stamp is not None and stamp < before_read:
            return
    raise AssertionError("the kernel never stamped a datagram on its arrival")


def test_a_pause_shows_in_kernel_stamps_although_everything_is_read_afterwards() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        rx.bind(("127.0.0.1", 0))
        _stamped_on_arrival(rx, tx)
        for _ in range(5):
            tx.sendto(b"x" * 100, rx.getsockname())
        time.sleep(0.05)  # the sender pauses
        for _ in range(5):
            tx.sendto(b"y" * 100, rx.getsockname())
        log = ArrivalLog(min_gap=0.02)
        rx.settimeout(1)
        buf = bytearray(2048)
        for _ in range(10):  # read only now: the reading itself has no gap
            n, anc, _, _ = rx.recvmsg_into([buf], socket.CMSG_SPACE(16))
            stamp = kernel_stamp(anc)
            assert stamp is not None and n == 100
            log.add(stamp)
        r = log.record()
        assert r.count == 10 and r.clock == "kernel"
        assert len(r.gaps) == 1
        a, b = r.gaps[0]
        assert b - a >= 0.05 and r.first <= a < b <= r.last
    finally:
        rx.close()
        tx.close()
