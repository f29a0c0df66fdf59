"""BFD sessions on a switch's ports, one per switch-to-switch port, in a thread of their own.

Each session's control packets travel in Ethernet frames of their own Ethertype
(`ETHERTYPE`, IEEE 802 local experimental 1) to the nearest-bridge group address, written
to and read from the port's interface directly, as a switch's CPU sends and receives its
link protocols. The P4 programs count such frames `LIVENESS` and forward nothing of them
(p4src/README.md). Each port's packet socket taps the interface ahead of any tc program (a
data path in eBPF that drops what the P4 program drops) and a classic BPF filter in the
kernel hands it these frames only, so the switch's data path pays nothing for them.

    lv = Liveness({2: "s1-eth2", 3: "s1-eth3"}, Timers(50, 3), on_change)
    lv.start()                      # on_change(port, old, new) from the liveness thread
    lv.set_carrier(2, False)        # the port lost carrier: its session is Down, silent
    lv.states() -> {2: State.DOWN, 3: State.UP}
    lv.stop()
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from linkmon.bfd import Control, PacketError, Session, State, Timers

ETHERTYPE = 0x88B5
DST_MAC = bytes.fromhex("0180c200000e")  # IEEE 802.1D nearest bridge: never forwarded
PACKET_OUTGOING = 4
PACKET_IGNORE_OUTGOING = 23
SOL_PACKET = 263
ETH_P_ALL = 0x0003
RT_PRIORITY = 10  # SCHED_FIFO priority of the sessions' thread (FRR's bfdd gets the same)
SO_ATTACH_FILTER = 26
# classic BPF: accept the frame when its Ethertype (bytes 12-13) is ETHERTYPE, else drop it
_FILTER = [
    (0x28, 0, 0, 12),  # ldh [12]
    (0x15, 0, 1, ETHERTYPE),  # jeq #ETHERTYPE, accept, drop
    (0x06, 0, 0, 0x40000),  # ret #262144: the whole frame
    (0x06, 0, 0, 0),  # ret #0
]


def liveness_socket(iface: str) -> socket.socket:
    """A packet socket on `iface` that gets only liveness frames, ahead of tc ingress."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # nothing queued until bind
    try:
        prog = b"".join(struct.pack("HBBI", *insn) for insn in _FILTER)
        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", len(_FILTER), ctypes.addressof(buf))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        with contextlib.suppress(OSError):
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.bind((iface, ETH_P_ALL))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


log = logging.getLogger("linkmon.liveness")

OnChange = Callable[[int, State, State], None]


def realtime(pid: int = 0) -> bool:
    """Run a BFD thread (0: the calling one; else every thread of process `pid`, such as
    FRR's bfdd) under SCHED_FIFO, as routers run BFD ahead of other work: on a busy machine
    a packet late by the scheduler's round (tens of ms) would take a healthy link down. The
    sessions sleep between packets and do little when awake; the kernel's real-time
    throttling bounds them anyway. False where not permitted (not root)."""
    tasks = [0] if pid == 0 else [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    try:
        for t in tasks:
            os.sched_setscheduler(t, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except (OSError, AttributeError):
        log.info("BFD: no real-time priority here; sessions run as ordinary work")
        return False
    return True


def discriminator(iface: str) -> int:
    """A session's own discriminator: stable for an interface name, never 0."""
    return zlib.crc32(iface.encode()) or 1


@dataclass
class _Port:
    number: int
    iface: str
    sock: socket.socket
    mac: bytes
    session: Session

    def frame(self, pkt: Control) -> bytes:
        return DST_MAC + self.mac + ETHERTYPE.to_bytes(2, "big") + pkt.encode()


class Liveness:
    def __init__(self, ports: dict[int, str], timers: Timers, on_change: OnChange) -> None:
        self.timers = timers
        self.on_change = on_change
        self.ports: dict[int, _Port] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        now = time.monotonic()
        try:
            for number, iface in ports.items():
                sock = liveness_socket(iface)
                mac = sock.getsockname()[4]
                session = Session(discriminator(iface), timers, now)
                self.ports[number] = _Port(number, iface, sock, mac, session)
        except OSError as e:
            self.close()
            raise OSError(f"liveness: cannot open interface {iface!r}: {e}") from e

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="liveness", daemon=True)
        self._thread.start()

    def states(self) -> dict[int, State]:
        with self._lock:
            return {n: p.session.state for n, p in self.ports.items()}

    def set_carrier(self, port: int, up: bool) -> None:
        """Carrier of a port as the switch sees it: lost, the session is Down at once and
        sends nothing; back, it starts again."""
        p = self.ports.get(port)
        if p is None:
            return
        now = time.monotonic()
        with self._lock:
            old = p.session.state
            if up:
                p.session.path_up(now)
                changed = False
            else:
                changed = p.session.path_down(now)
        if changed:
            self._report(port, old, State.DOWN)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _report(self, port: int, old: State, new: State) -> None:
        try:
            self.on_change(port, old, new)
        except Exception:  # a failing listener must not end the sessions
            log.exception("port %d: liveness listener failed", port)

    def _run(self) -> None:
        realtime()
        by_fd = {p.sock.fileno(): p for p in self.ports.values()}
        poller = select.epoll()
        try:
            for fd in by_fd:
                poller.register(fd, select.EPOLLIN)
            poller.register(self._wake_r, select.EPOLLIN)
            while True:
                with self._lock:
                    due = min((p.session.deadline() for p in self.ports.values()), default=1.0)
                wait = min(max(0.0, due - time.monotonic()), 1.0)
                for fd, _ in poller.poll(wait):
                    if fd == self._wake_r:
                        if os.read(self._wake_r, 64) == b"" or self._thread is None:
                            return
                        continue
                    self._receive(by_fd[fd])
                self._tick()
        except OSError:
            if self._thread is not None:
                log.exception("liveness loop failed")
        finally:
            poller.close()

    def _receive(self, p: _Port) -> None:
        while True:
            try:
                data, addr = p.sock.recvfrom(256)
            except BlockingIOError:
                return
            except OSError as e:  # e.g. ENETDOWN while the link flaps
                log.debug("port %d: receive error %s", p.number, e)
                return
            if addr[2] == PACKET_OUTGOING or len(data) < 14:
                continue
            try:
                pkt = Control.decode(data[14:])
            except PacketError as e:
                log.warning("port %d: %s", p.number, e)
                continue
            now = time.monotonic()
            with self._lock:
                old = p.session.state
                changed = p.session.receive(pkt, now)
                new = p.session.state
            if changed:
                self._report(p.number, old, new)

    def _tick(self) -> None:
        now = time.monotonic()
        for p in self.ports.values():
            with self._lock:
                old = p.session.state
                changed, due = p.session.poll(now)
                new = p.session.state
                frame = p.frame(p.session.packet()) if due else None
                if due:
                    p.session.sent(now)
            if changed:
                self._report(p.number, old, new)
            if frame is not None:
                try:
                    p.sock.send(frame)
                except OSError as e:  # no carrier, or a full queue: the peer times out
                    log.debug("port %d: send failed: %s", p.number, e)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._wake()
            thread.join(timeout=2)
        self.close()

    def close(self) -> None:
        for p in self.ports.values():
            p.sock.close()
        self.ports = {}
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
