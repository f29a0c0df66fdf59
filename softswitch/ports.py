"""Linux interfaces as switch ports: AF_PACKET sockets, one epoll loop, carrier watching over
rtnetlink (linkmon.netlink), optional per-port pcap files.

One thread runs `PortSet.run()`: it reads frames from every port and hands each to
`on_frame(port, frame)`, or each batch read from one port in one go to `on_batch(port, frames)`
(cheaper per frame); link changes go to `on_carrier(port, up)`. Sending (`send`, `send_many`)
may be called from any thread (a socket send is atomic per frame).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from linkmon.netlink import LinkOverrun, LinkReader, dump

log = logging.getLogger("softswitch.ports")

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # sll_pkttype of frames this host sent
PACKET_IGNORE_OUTGOING = 23  # Linux >= 4.20: do not even queue our own transmissions
SOL_PACKET = 263
RCVBUF = 8 << 20
SNDBUF = 4 << 20
MAX_FRAME = 65536


def parse_port_spec(spec: str) -> tuple[int, str]:
    """'1@veth1' -> (1, 'veth1'), as simple_switch's -i takes it."""
    num, sep, iface = spec.partition("@")
    if not sep or not iface or not num.isdigit():
        raise ValueError(f"bad interface spec {spec!r}: expected PORT@IFACE, e.g. 1@veth1")
    port = int(num)
    if port > 511:
        raise ValueError(f"bad interface spec {spec!r}: port {port} exceeds 511 (9 bits)")
    return port, iface


def read_carrier(iface: str) -> bool:
    """Administratively up and the link layer has carrier (False when it does not exist)."""
    state = dump([iface]).get(iface)
    return state is not None and state.up


class PcapWriter:
    """A classic pcap file (microsecond timestamps, Ethernet link type), flushed per frame."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "wb")  # noqa: SIM115 (closed in close())
        self._f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, MAX_FRAME, 1))
        self._f.flush()
        self._lock = threading.Lock()

    def write(self, frame: bytes) -> None:
        t = time.time()
        sec = int(t)
        rec = struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame))
        with self._lock:
            self._f.write(rec + frame)
            self._f.flush()

    def close(self) -> None:
        with self._lock:
            self._f.close()


class Port:
    def __init__(self, number: int, iface: str, pcap_dir: Path | None) -> None:
        self.number = number
        self.iface = iface
        self.ifindex = socket.if_nametoindex(iface)  # OSError when it does not exist
        # Protocol 0: the socket receives nothing until bind() names the interface and
        # ETH_P_ALL. Opened with ETH_P_ALL it would queue frames of EVERY interface in the
        # namespace until bind(), and hand other links' traffic to this port.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, 32, SNDBUF)  # SO_SNDBUFFORCE
        try:  # Linux >= 4.20; otherwise own frames are filtered by pkttype in the loop
            self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            self.kernel_filters_outgoing = True
        except OSError:
            self.kernel_filters_outgoing = False
        self.sock.bind((iface, ETH_P_ALL))  # Python puts the protocol in network order
        self.sock.setblocking(False)
        self.carrier = read_carrier(iface)
        self.pcap_in = self.pcap_out = None
        if pcap_dir is not None:
            self.pcap_in = PcapWriter(pcap_dir / f"{iface}_in.pcap")
            self.pcap_out = PcapWriter(pcap_dir / f"{iface}_out.pcap")
        self.rx = self.tx = self.tx_errors = 0

    def close(self) -> None:
        self.sock.close()
        for p in (self.pcap_in, self.pcap_out):
            if p is not None:
                p.close()


FrameHandler = Callable[[int, bytes], None]
BatchHandler = Callable[[int, list[bytes]], None]
CarrierHandler = Callable[[int, bool], None]


class PortSet:
    def __init__(
        self,
        specs: list[tuple[int, str]],
        on_frame: FrameHandler,
        on_carrier: CarrierHandler | None = None,
        pcap_dir: Path | None = None,
        on_batch: BatchHandler | None = None,
    ) -> None:
        numbers = [n for n, _ in specs]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"port numbers given twice: {numbers}")
        if pcap_dir is not None:
            pcap_dir.mkdir(parents=True, exist_ok=True)
        self.ports: dict[int, Port] = {}
        try:
            for n, iface in specs:
                self.ports[n] = Port(n, iface, pcap_dir)
        except OSError as exc:
            self.close()
            raise OSError(f"cannot open interface {iface!r} for port {n}: {exc}") from exc
        self._by_fd = {p.sock.fileno(): p for p in self.ports.values()}
        self._by_ifindex = {p.ifindex: p for p in self.ports.values()}
        self.on_frame = on_frame
        self.on_batch = on_batch  # when set, used instead of on_frame
        self.on_carrier = on_carrier
        self._nl = LinkReader()
        self._stop_r, self._stop_w = os.pipe()
        self._stopped = False

    # --- sending -------------------------------------------------------------------------
    def send(self, port: int, frame: bytes) -> bool:
        """Send one frame; False when the port does not exist or the kernel refused it."""
        p = self.ports.get(port)
        if p is None:
            return False
        try:
            p.sock.send(frame)
        except OSError as exc:
            self._send_failed(p, exc)
            return False
        p.tx += 1
        if p.pcap_out is not None:
            p.pcap_out.write(frame)
        return True

    def send_many(self, outs: list[tuple[int, bytes]]) -> None:
        """`send` for each (port, frame) in order, in one call: the data plane's hot path.
        Frames to ports that do not exist are skipped."""
        ports = self.ports
        for port, frame in outs:
            p = ports.get(port)
            if p is None:
                continue
            try:
                p.sock.send(frame)
            except OSError as exc:
                self._send_failed(p, exc)
                continue
            p.tx += 1
            if p.pcap_out is not None:
                p.pcap_out.write(frame)

    @staticmethod
    def _send_failed(p: Port, exc: OSError) -> None:
        p.tx_errors += 1
        if exc.errno not in (errno.ENETDOWN, errno.ENXIO, errno.EAGAIN, errno.ENOBUFS):
            log.warning("port %d (%s): send failed: %s", p.number, p.iface, exc)

    def carrier(self, port: int) -> bool:
        return self.ports[port].carrier

    # --- the receive loop ----------------------------------------------------------------
    def run(self) -> None:
        """Receive until stop(); call from one dedicated thread."""
        ep = select.epoll()
        for fd in self._by_fd:
            ep.register(fd, select.EPOLLIN)
        ep.register(self._nl.fileno(), select.EPOLLIN)
        ep.register(self._stop_r, select.EPOLLIN)
        # Carrier may have changed between opening and now.
        self._resync_carrier()
        try:
            while not self._stopped:
                for fd, _ in ep.poll(1.0):
                    if fd == self._stop_r:
                        return
                    if fd == self._nl.fileno():
                        self._read_netlink()
                    else:
                        self._drain(self._by_fd[fd])
        finally:
            ep.close()

    def _drain(self, p: Port) -> None:
        # Bounded batch per wake-up so that one busy port cannot starve the others.
        frames = []
        if p.kernel_filters_outgoing:  # plain recv(): no address tuple per frame
            recv = p.sock.recv
            for _ in range(64):
                try:
                    frames.append(recv(MAX_FRAME))
                except BlockingIOError:
                    break
                except OSError as exc:  # e.g. ENETDOWN while the link flaps
                    log.debug("port %d: receive error %s", p.number, exc)
                    break
        else:
            for _ in range(64):
                try:
                    frame, addr = p.sock.recvfrom(MAX_FRAME)
                except BlockingIOError:
                    break
                except OSError as exc:
                    log.debug("port %d: receive error %s", p.number, exc)
                    break
                if addr[2] != PACKET_OUTGOING:
                    frames.append(frame)
        if not frames:
            return
        p.rx += len(frames)
        if p.pcap_in is not None:
            for frame in frames:
                p.pcap_in.write(frame)
        if self.on_batch is not None:
            try:
                self.on_batch(p.number, frames)
            except Exception:  # a bad frame must never end the loop
                log.exception("port %d: batch handler failed", p.number)
            return
        for frame in frames:
            try:
                self.on_frame(p.number, frame)
            except Exception:  # a bad frame must never end the loop
                log.exception("port %d: frame handler failed", p.number)

    def _read_netlink(self) -> None:
        try:
            changes = self._nl.read()
        except LinkOverrun:  # messages were lost: read every port's state instead
            self._resync_carrier()
            return
        for change in changes:
            p = self._by_ifindex.get(change.index)
            if p is not None:
                self._set_carrier(p, change.up)

    def _resync_carrier(self) -> None:
        now = dump(p.iface for p in self.ports.values())
        for p in self.ports.values():
            state = now.get(p.iface)
            self._set_carrier(p, state is not None and state.up)

    def _set_carrier(self, p: Port, up: bool) -> None:
        if up == p.carrier:
            return
        p.carrier = up
        log.info("port %d (%s): carrier %s", p.number, p.iface, "up" if up else "down")
        if self.on_carrier is not None:
            try:
                self.on_carrier(p.number, up)
            except Exception:
                log.exception("port %d: carrier handler failed", p.number)

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")

    def close(self) -> None:
        for p in self.ports.values():
            p.close()
        if hasattr(self, "_nl"):
            self._nl.close()
            os.close(self._stop_r)
            os.close(self._stop_w)
