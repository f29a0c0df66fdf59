"""Batched receive (recvmmsg through ctypes): the exact datagrams in order, several per
system call, each with the kernel's receive time; the one-by-one fallback gives the same."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from modelsync.batchrecv import SO_TIMESTAMPNS, BatchReceiver


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    rx.bind(("127.0.0.1", 0))
    yield rx, tx
    rx.close()
    tx.close()


def _receive_all(rxb: BatchReceiver, want: int) -> tuple[list[bytes], list[float | None]]:
    got: list[bytes] = []
    stamps: list[float | None] = []
    deadline = time.monotonic() + 10
    while len(got) < want and time.monotonic() < deadline:
        n = rxb.receive(0.5)
        assert n <= rxb.batch
        for i in range(n):
            got.append(bytes(rxb.datagram(i)))
            stamps.append(rxb.stamp(i))
    return got, stamps


@pytest.mark.parametrize("batched", [True, False], ids=["recvmmsg", "one-by-one"])
def test_datagrams_in_order_with_kernel_stamps(pair, batched: bool) -> None:  # type: ignore[no-untyped-def]
    rx, tx = pair
    sent = [bytes([k % 256]) * (100 + 37 * k) for k in range(100)]
    before = time.time()
    for d in sent:
        tx.sendto(d, rx.getsockname())
    rxb = BatchReceiver(rx, batch=16, control=socket.CMSG_SPACE(16), use_recvmmsg=batched)
    assert rxb.batched is batched
    got, stamps = _receive_all(rxb, len(sent))
    assert got == sent
    assert all(s is not None and before - 1 <= s <= time.time() for s in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    if batched:  # all 100 were queued: 16 per call
        assert rxb.calls <= 8 and rxb.datagrams == 100
    assert rxb.receive(0.05) == 0  # nothing left: the timeout passes
    rxb.close()


def test_no_control_room_means_no_stamp_and_long_datagrams_are_cut(pair) -> None:  # type: ignore[no-untyped-def]
    rx, tx = pair
    tx.sendto(b"a" * 50, rx.getsockname())
    tx.sendto(b"b" * 3000, rx.getsockname())
    rxb = BatchReceiver(rx, batch=4, slot=2048)
    got, stamps = _receive_all(rxb, 2)
    assert got == [b"a" * 50, b"b" * 2048]  # cut at the slot: the caller's checks reject it
    assert stamps == [None, None]
    rxb.close()


class _Stamped:
    """A BatchReceiver stand-in: each receive() hands over the next list of (data, stamp)."""

    batch = 64

    def __init__(self, batches: list[list[tuple[bytes, float]]]) -> None:
        self.batches = batches
        self.cur: list[tuple[bytes, float]] = []

    def receive(self, timeout: float) -> int:
        self.cur = self.batches.pop(0) if self.batches else []
        return len(self.cur)

    def datagram(self, i: int) -> memoryview:
        return memoryview(self.cur[i][0])

    def stamp(self, i: int) -> float:
        return self.cur[i][1]


def test_coalescing_waits_for_most_of_a_batch_at_the_recent_spacing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from modelsync.receiver import COALESCE_SHARE, Receiver, ReceiverConfig

    from .helpers import small_model

    m = small_model(tmp_path / "m", 20_000, 1, seed=1)
    r = Receiver(ReceiverConfig(name="r", manifest=m, out_dir=tmp_path / "o", sender_ip="127.0.0.1",
                                port=0, bind="127.0.0.1", group=None, coalesce=0.1))  # fmt: skip
    try:
        assert r.coalesce_s(64) == 0.0  # no spacing known yet: no wait
        # 4 datagrams 2 ms apart, then 4 more 2 ms apart: spacing 2 ms
        first = [(b"junk", 100.000 + 0.002 * k) for k in range(4)]
        second = [(b"junk", 100.008 + 0.002 * k) for k in range(4)]
        fake = _Stamped([first, second])
        assert r.take(fake, 0.0)[0] == 4 and r.spacing is None  # one batch: no span yet
        assert r.take(fake, 0.0)[0] == 4
        assert r.spacing == pytest.approx(0.002)
        assert r.coalesce_s(64) == pytest.approx(COALESCE_SHARE * 64 * 0.002)
        # datagrams 10 ms apart would make that 0.48 s: capped at --coalesce-ms
        r.spacing = 0.010
        assert r.coalesce_s(64) == 0.1
        assert r.counters.corrupt == 8  # the stand-in's junk, counted as such
    finally:
        r.close()
