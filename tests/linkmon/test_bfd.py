"""linkmon.bfd: RFC 5880 control packets byte for byte (against scapy's BFD layer) and the
session state machine on a simulated clock."""

from __future__ import annotations

import random

import pytest
from scapy.contrib.bfd import BFD

from linkmon.bfd import SLOW_TX_S, Control, Diag, PacketError, Session, State, Timers

T = Timers(interval_ms=50, multiplier=3)


def test_control_packet_matches_rfc_5880_as_scapy_reads_it() -> None:
    pkt = Control(State.UP, Diag.NEIGHBOR_DOWN, 3, 0x11223344, 0x55667788, 50_000, 40_000)
    data = pkt.encode()
    assert len(data) == 24
    assert data[:4] == bytes([0x20 | 3, 0xC0, 3, 24])  # version 1, diag 3; Up, no flags
    s = BFD(data)
    assert (s.version, s.diag, s.sta, s.detect_mult, s.len) == (1, 3, 3, 3, 24)
    assert (s.my_discriminator, s.your_discriminator) == (0x11223344, 0x55667788)
    assert (s.min_tx_interval, s.min_rx_interval, s.echo_rx_interval) == (50_000, 40_000, 0)
    assert Control.decode(data) == pkt
    ours = Control.decode(
        bytes(BFD(sta=1, my_discriminator=9, your_discriminator=0, detect_mult=5))
    )
    assert (ours.state, ours.my_disc, ours.your_disc, ours.detect_mult) == (State.DOWN, 9, 0, 5)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x20\x40\x03\x18" + b"\x00" * 10, "shorter than 24"),
        (bytes(BFD(version=2, my_discriminator=1)), "version 2"),
        (bytes(BFD(detect_mult=0, my_discriminator=1)), "Detect Mult 0"),
        (bytes(BFD(my_discriminator=0)), "My Discriminator 0"),
        (bytes(BFD(my_discriminator=1, flags=0x01)), "Multipoint"),
        (bytes(BFD(my_discriminator=1, len=30)), "length field 30"),
    ],
)
def test_packets_to_discard_are_refused_with_the_reason(data: bytes, why: str) -> None:
    with pytest.raises(PacketError, match=why):
        Control.decode(data)


def _pair(t0: float = 0.0) -> tuple[Session, Session]:
    return Session(1, T, t0, random.Random(1)), Session(2, T, t0, random.Random(2))


def _exchange(a: Session, b: Session, now: float) -> None:
    """Every packet due at `now` goes across at once."""
    for _ in range(4):
        for x, y in ((a, b), (b, a)):
            _, due = x.poll(now)
            if due:
                y.receive(x.packet(), now)
                x.sent(now)


def test_three_way_handshake_brings_both_ends_up_at_once() -> None:
    a, b = _pair()
    assert a.state == b.state == State.DOWN
    assert a.packet().your_disc == 0  # nothing learnt yet
    _exchange(a, b, 0.0)
    assert a.state == b.state == State.UP
    assert (a.remote_disc, b.remote_disc) == (2, 1)
    assert (a.changes, b.changes) == (1, 2)  # a: Down -> Up on Init; b: Down -> Init -> Up
    # Up: the configured interval, less up to 25 % jitter
    assert a.tx_interval() == pytest.approx(0.05)
    a.sent(1.0)
    assert 1.0375 <= a.next_tx <= 1.05


def test_not_up_sends_at_most_once_a_second() -> None:
    a = Session(1, T, 0.0, random.Random(3))
    assert a.tx_interval() == SLOW_TX_S
    assert a.packet().desired_min_tx_us == 1_000_000


def test_silence_for_the_detection_time_brings_the_session_down() -> None:
    a, b = _pair()
    _exchange(a, b, 0.0)
    t = 0.0
    while t < 1.0:  # steady state: both send on their own timers
        t = min(a.deadline(), b.deadline())
        _exchange(a, b, t)
    assert a.state == State.UP
    last = t
    # from now on b's packets are lost: a goes Down 3 x 50 ms after the last one it heard
    assert a.detect_at == pytest.approx(last + T.detection_s)
    changed, _ = a.poll(last + T.detection_s - 1e-6)
    assert not changed and a.state == State.UP
    changed, due = a.poll(last + T.detection_s)
    assert changed and due
    assert (a.state, a.diag) == (State.DOWN, Diag.DETECTION_TIME_EXPIRED)
    assert a.packet().your_disc == 0  # forgot the peer
    # b hears a's Down and follows (neighbour signalled down)
    b.receive(a.packet(), last + T.detection_s)
    assert (b.state, b.diag) == (State.DOWN, Diag.NEIGHBOR_DOWN)


def test_packets_for_another_session_are_ignored() -> None:
    a, b = _pair()
    _exchange(a, b, 0.0)
    stranger = Control(State.DOWN, Diag.NONE, 3, 77, 12345, 50_000, 50_000)
    assert a.receive(stranger, 0.1) is False and a.state == State.UP
    confused = Control(State.UP, Diag.NONE, 3, 77, 0, 50_000, 50_000)  # Up, no your_disc
    assert a.receive(confused, 0.1) is False and a.state == State.UP


def test_carrier_loss_is_path_down_and_silent_until_back() -> None:
    a, b = _pair()
    _exchange(a, b, 0.0)
    assert a.path_down(0.2) is True
    assert (a.state, a.diag) == (State.DOWN, Diag.PATH_DOWN)
    assert a.poll(5.0) == (False, False)  # sends nothing, never expires
    assert a.deadline() == float("inf")
    a.path_up(6.0)
    assert a.poll(6.0) == (False, True)
