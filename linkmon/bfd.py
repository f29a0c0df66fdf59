"""BFD (RFC 5880) for one point-to-point link: the control packet and a session's state
machine in asynchronous mode, with the clock passed in (no sockets, no threads here).

The packet is RFC 5880's control packet (section 4.1, no authentication) unchanged. The
state machine is section 6.8.6's (Down -> Init -> Up by the three-way handshake, Up -> Down
when the detection time passes without a packet or the peer says Down). Simplifications,
all on the safe side for a point-to-point link with fixed timers: no Poll/Final sequence
(timers never change while a session is Up), no Demand mode, no Echo function. While not
Up a session sends at most once a second (section 6.8.3), and at once on every state
change, so a link comes Up within one packet exchange of both ends hearing each other.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from enum import IntEnum

VERSION = 1
LENGTH = 24
SLOW_TX_S = 1.0  # section 6.8.3: the least interval while a session is not Up
_PACKET = struct.Struct("!BBBBIIIII")


class State(IntEnum):
    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3


class Diag(IntEnum):
    NONE = 0
    DETECTION_TIME_EXPIRED = 1
    NEIGHBOR_DOWN = 3  # the peer said its session is Down
    PATH_DOWN = 5  # the local interface lost carrier
    ADMIN_DOWN = 7


class PacketError(ValueError):
    """A control packet that section 6.8.6 says to discard; the message says why."""


@dataclass(frozen=True)
class Control:
    """One BFD control packet (intervals in microseconds, as on the wire)."""

    state: State
    diag: Diag
    detect_mult: int
    my_disc: int
    your_disc: int
    desired_min_tx_us: int
    required_min_rx_us: int
    required_min_echo_rx_us: int = 0
    poll: bool = False
    final: bool = False

    def encode(self) -> bytes:
        flags = (self.state << 6) | (self.poll << 5) | (self.final << 4)
        return _PACKET.pack(
            (VERSION << 5) | self.diag,
            flags,
            self.detect_mult,
            LENGTH,
            self.my_disc,
            self.your_disc,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        )

    @classmethod
    def decode(cls, data: bytes) -> Control:
        """The packet at the start of `data`; PacketError for one to discard."""
        if len(data) < LENGTH:
            raise PacketError(f"BFD packet of {len(data)} bytes, shorter than {LENGTH}")
        vd, flags, mult, length, my, your, tx, rx, echo = _PACKET.unpack_from(data)
        if vd >> 5 != VERSION:
            raise PacketError(f"BFD version {vd >> 5}, expected {VERSION}")
        if length < LENGTH or length > len(data):
            raise PacketError(f"BFD length field {length} does not fit the {len(data)} bytes")
        if flags & 0x04:
            raise PacketError("BFD packet with authentication: not configured here")
        if flags & 0x01:
            raise PacketError("BFD packet with the Multipoint bit set")
        if mult == 0:
            raise PacketError("BFD packet with Detect Mult 0")
        if my == 0:
            raise PacketError("BFD packet with My Discriminator 0")
        diag = vd & 0x1F
        return cls(
            State(flags >> 6),
            Diag(diag) if diag in Diag._value2member_map_ else Diag.NONE,
            mult,
            my,
            your,
            tx,
            rx,
            echo,
            poll=bool(flags & 0x20),
            final=bool(flags & 0x10),
        )


@dataclass(frozen=True)
class Timers:
    """One setting for every BFD session of a run (the P4 switches' and FRR's alike)."""

    interval_ms: float = 50.0  # desired min TX = required min RX
    multiplier: int = 3

    @property
    def detection_s(self) -> float:
        """The detection time once both ends run these timers: multiplier x interval."""
        return self.multiplier * self.interval_ms / 1000.0


class Session:
    """One end of a BFD session. Call `receive(pkt, now)` for each packet from the peer,
    `poll(now)` whenever `deadline()` passes (it expires the session and says whether a
    packet is due), and `sent(now)` after sending `packet()`. `now`: seconds, monotonic."""

    def __init__(
        self,
        my_disc: int,
        timers: Timers,
        now: float,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < my_disc < 1 << 32:
            raise ValueError(f"discriminator {my_disc} outside 1..2^32-1")
        self.my_disc = my_disc
        self.timers = timers
        self.rng = rng or random.Random()
        self.state = State.DOWN
        self.diag = Diag.NONE
        self.remote_state = State.DOWN
        self.remote_disc = 0
        self.remote_min_rx_us = 1  # RFC 5880 6.8.1: initial bfd.RemoteMinRxInterval
        self.remote_tx_us = 0
        self.remote_mult = 0
        self.detect_at: float | None = None  # when the session goes Down without news
        self.next_tx = now  # the first packet at once
        self.changes = 0  # state changes so far
        self.enabled = True

    # -- timers --------------------------------------------------------------------------
    def _desired_tx_us(self) -> int:
        us = round(self.timers.interval_ms * 1000)
        return us if self.state == State.UP else max(us, round(SLOW_TX_S * 1e6))

    def _required_rx_us(self) -> int:
        return round(self.timers.interval_ms * 1000)

    def tx_interval(self) -> float:
        """Section 6.8.7: the larger of our desired TX and the peer's required RX."""
        return max(self._desired_tx_us(), self.remote_min_rx_us) / 1e6

    def detection_time(self) -> float:
        """Section 6.8.4, asynchronous mode: the peer's Detect Mult times the larger of our
        required RX and the peer's desired TX."""
        return self.remote_mult * max(self._required_rx_us(), self.remote_tx_us) / 1e6

    def deadline(self) -> float:
        """The next moment poll() has something to do."""
        if not self.enabled:
            return float("inf")
        return min(self.next_tx, self.detect_at if self.detect_at is not None else float("inf"))

    # -- events --------------------------------------------------------------------------
    def _set(self, state: State, diag: Diag, now: float) -> None:
        if state == self.state:
            return
        self.state, self.diag = state, diag
        self.changes += 1
        if state == State.DOWN:
            self.remote_disc = 0  # section 6.8.1: learnt again from the next packet
            self.detect_at = None
        self.next_tx = now  # tell the peer at once

    def receive(self, pkt: Control, now: float) -> bool:
        """Section 6.8.6 for one valid packet; True when the state changed."""
        if not self.enabled:
            return False
        if pkt.your_disc == 0 and pkt.state not in (State.DOWN, State.ADMIN_DOWN):
            return False  # discard: a peer past Down must know our discriminator
        if pkt.your_disc != 0 and pkt.your_disc != self.my_disc:
            return False  # discard: for another session
        before = self.state
        self.remote_disc = pkt.my_disc
        self.remote_state = pkt.state
        self.remote_min_rx_us = pkt.required_min_rx_us
        self.remote_tx_us = pkt.desired_min_tx_us
        self.remote_mult = pkt.detect_mult
        if pkt.state == State.ADMIN_DOWN:
            self._set(State.DOWN, Diag.NEIGHBOR_DOWN, now)
        elif self.state == State.DOWN:
            if pkt.state == State.DOWN:
                self._set(State.INIT, Diag.NONE, now)
            elif pkt.state == State.INIT:
                self._set(State.UP, Diag.NONE, now)
        elif self.state == State.INIT:
            if pkt.state in (State.INIT, State.UP):
                self._set(State.UP, Diag.NONE, now)
        elif pkt.state == State.DOWN:  # Up
            self._set(State.DOWN, Diag.NEIGHBOR_DOWN, now)
        if self.state in (State.INIT, State.UP):
            self.detect_at = now + self.detection_time()
        return self.state != before

    def poll(self, now: float) -> tuple[bool, bool]:
        """(state changed, a packet is due) at `now`."""
        if not self.enabled:
            return False, False
        changed = False
        if self.detect_at is not None and now >= self.detect_at:
            self._set(State.DOWN, Diag.DETECTION_TIME_EXPIRED, now)
            changed = True
        return changed, now >= self.next_tx

    def packet(self) -> Control:
        return Control(
            self.state,
            self.diag,
            self.timers.multiplier,
            self.my_disc,
            self.remote_disc,
            self._desired_tx_us(),
            self._required_rx_us(),
        )

    def sent(self, now: float) -> None:
        """Schedule the next packet: the interval less 0-25 % jitter (section 6.8.7; 10-25 %
        with a multiplier of 1)."""
        low = 0.75
        high = 0.90 if self.timers.multiplier == 1 else 1.0
        self.next_tx = now + self.tx_interval() * self.rng.uniform(low, high)

    def path_down(self, now: float) -> bool:
        """The local interface lost carrier: Down at once, and silent until path_up()."""
        before = self.state
        self._set(State.DOWN, Diag.PATH_DOWN, now)
        self.enabled = False
        return self.state != before

    def path_up(self, now: float) -> None:
        self.enabled = True
        self.next_tx = now
