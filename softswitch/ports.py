"""Linux interfaces as switch ports: AF_PACKET sockets, one epoll loop, carrier watching over
rtnetlink (linkmon.netlink), optional per-port pcap files. Received frames keep their 802.1Q
tags (restored from PACKET_AUXDATA, as libpcap does for BMv2).

One thread runs `PortSet.run()`: it reads frames from every port and hands each to
`on_frame(port, frame)`, or each batch read from one port in one go to `on_batch(port, frames)`
(cheaper per frame); link changes go to `on_carrier(port, up)`, ahead of frames that became
readable at the same time (a port that went down while the loop was held up is not sent
the frames queued meanwhile). Sending (`send`, `send_many`)
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
import sys
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
# The kernel takes an 802.1Q tag out of a received frame (into skb->vlan_tci, whatever
# `ethtool -K rxvlan` says on veths) and reports it in PACKET_AUXDATA; libpcap, and so BMv2,
# puts it back. So do we.
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
ETH_P_8021Q = 0x8100
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
AUX_SPACE = socket.CMSG_SPACE(_AUXDATA.size)
# the byte of tp_status (host order) that holds TP_STATUS_VLAN_VALID: a cheap test per frame
_STATUS_LOW = 0 if sys.byteorder == "little" else 3


def enable_auxdata(sock: socket.socket) -> None:
    """Ask for PACKET_AUXDATA on an AF_PACKET socket (read it with `receive_frame`)."""
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)


def restore_vlan(frame: bytes, ancdata: list[tuple[int, int, bytes]]) -> bytes:
    """The frame as it was on the wire: the 802.1Q tag the kernel moved into the auxdata
    put back after the MAC addresses, as libpcap does."""
    for level, kind, data in ancdata:
        if level != SOL_PACKET or kind != PACKET_AUXDATA or len(data) < _AUXDATA.size:
            continue
        status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(data)
        if not status & TP_STATUS_VLAN_VALID or len(frame) < 12:
            return frame
        if not status & TP_STATUS_VLAN_TPID_VALID:
            tpid = ETH_P_8021Q
        return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]
    return frame


def receive_frame(sock: socket.socket) -> tuple[bytes, int]:
    """One frame from an AF_PACKET socket with auxdata on: (frame with its VLAN tag,
    sll_pkttype). Raises BlockingIOError when none is queued."""
    frame, anc, _flags, addr = sock.recvmsg(MAX_FRAME, AUX_SPACE)
    if anc:
        frame = restore_vlan(frame, anc)
    return frame, addr[2]


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
    def __init__(
        self, number: int, iface: str, pcap_dir: Path | None, receive: bool = True
    ) -> None:
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
        enable_auxdata(self.sock)
        # Python puts the protocol in network order; protocol 0 receives nothing (a port
        # whose frames the kernel forwards, as with the eBPF backend, is only sent on)
        self.sock.bind((iface, ETH_P_ALL if receive else 0))
        self.sock.setblocking(False)
        self.carrier = read_carrier(iface)
        self.pcap_in = self.pcap_out = None
        if pcap_dir is not None:
            self.pcap_in = PcapWriter(pcap_dir / f"{iface}_in.pcap")
            self.pcap_out = PcapWriter(pcap_dir / f"{iface}_out.pcap")
        self.rx = self.tx = self.tx_errors = 0
        self.oversize = 0  # frames longer than the interface's MTU (dropped; in tx_errors)

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
        receive: bool = True,
    ) -> None:
        numbers = [n for n, _ in specs]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"port numbers given twice: {numbers}")
        if pcap_dir is not None:
            pcap_dir.mkdir(parents=True, exist_ok=True)
        self.ports: dict[int, Port] = {}
        try:
            for n, iface in specs:
                self.ports[n] = Port(n, iface, pcap_dir, receive)
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
        # set once run() reads: frames sent after it are taken (the CLI's "listening" waits)
        self.ready = threading.Event()

    # --- sending -------------------------------------------------------------------------
    def send(self, port: int, frame: bytes) -> bool:
        """Send one frame; False when the port does not exist or the kernel refused it."""
        p = self.ports.get(port)
        if p is None:
            return False
        try:
            p.sock.send(frame)
        except OSError as exc:
            self._send_failed(p, exc, len(frame))
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
                self._send_failed(p, exc, len(frame))
                continue
            p.tx += 1
            if p.pcap_out is not None:
                p.pcap_out.write(frame)

    @staticmethod
    def _send_failed(p: Port, exc: OSError, length: int) -> None:
        p.tx_errors += 1
        if exc.errno == errno.EMSGSIZE:  # longer than the link's MTU: the kernel refuses it
            p.oversize += 1
            if p.oversize == 1:  # once per port: such frames tend to come in streams
                log.warning(
                    "port %d (%s): a frame of %d bytes is longer than the interface's MTU "
                    "allows; it is dropped, as every such frame will be (counted in the "
                    "port's tx errors)", p.number, p.iface, length,
                )  # fmt: skip
            return
        if exc.errno not in (errno.ENETDOWN, errno.ENXIO, errno.EAGAIN, errno.ENOBUFS):
            log.warning("port %d (%s): send failed: %s", p.number, p.iface, exc)

    def carrier(self, port: int) -> bool:
        return self.ports[port].carrier

    def set_receive(self, receive: bool) -> None:
        """Read the ports' frames (Python backend) or leave them to the kernel (eBPF)."""
        for p in self.ports.values():
            p.sock.bind((p.iface, ETH_P_ALL if receive else 0))

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
        self.ready.set()
        nl = self._nl.fileno()
        try:
            while not self._stopped:
                ready = ep.poll(1.0)
                if len(ready) > 1:  # link changes before frames: a port found down now is
                    ready.sort(key=lambda e: e[0] != nl)  # not sent the frames queued meanwhile
                for fd, _ in ready:
                    if fd == self._stop_r:
                        return
                    if fd == nl:
                        self._read_netlink()
                    else:
                        self._drain(self._by_fd[fd])
        finally:
            ep.close()

    def _drain(self, p: Port) -> None:
        # Bounded batch per wake-up so that one busy port cannot starve the others.
        frames = []
        recvmsg = p.sock.recvmsg
        keep_outgoing = p.kernel_filters_outgoing
        for _ in range(64):
            try:
                frame, anc, _flags, addr = recvmsg(MAX_FRAME, AUX_SPACE)
            except BlockingIOError:
                break
            except OSError as exc:  # e.g. ENETDOWN while the link flaps
                log.debug("port %d: receive error %s", p.number, exc)
                break
            if keep_outgoing or addr[2] != PACKET_OUTGOING:
                if anc and anc[0][2][_STATUS_LOW] & TP_STATUS_VLAN_VALID:
                    frame = restore_vlan(frame, anc)
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
