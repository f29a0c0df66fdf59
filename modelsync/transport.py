"""Sockets of the sender: an ordinary UDP socket (unicast, the model group, POLL/FIN, and
unicast repairs) and, for BIER and SR-P2MP, an AF_PACKET socket for prebuilt frames."""

from __future__ import annotations

import errno
import fcntl
import logging
import socket
import struct
import time

log = logging.getLogger("modelsync.transport")

_RETRY = (errno.ENOBUFS, errno.EAGAIN, errno.EWOULDBLOCK)


def iface_mac(iface: str) -> str:
    """The MAC of an interface of this network namespace (ioctl SIOCGIFHWADDR: unlike
    /sys/class/net, right inside a Mininet host, which shares the root's sysfs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            req = fcntl.ioctl(s.fileno(), 0x8927, struct.pack("256s", iface.encode()[:15]))
        except OSError as e:
            raise ValueError(f"interface {iface!r}: cannot read its MAC: {e.strerror}") from None
    return ":".join(f"{b:02x}" for b in req[18:24])


def open_raw(iface: str) -> socket.socket:
    """AF_PACKET socket bound to `iface`; errors say what is missing."""
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise PermissionError("raw frames (bier, sr-p2mp) need root or CAP_NET_RAW") from None
    try:
        s.bind((iface, 0))
    except OSError as e:
        s.close()
        raise ValueError(f"cannot bind raw socket to interface {iface!r}: {e.strerror}") from None
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s


def open_udp(src_ip: str = "0.0.0.0", mcast_ttl: int = 16) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, mcast_ttl)
    if src_ip != "0.0.0.0":
        try:
            s.bind((src_ip, 0))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src_ip))
        except OSError as e:
            # Not an address of this host (raw frames may still carry it): let routing pick.
            log.warning(
                "UDP socket cannot use source %s (%s); routing picks it", src_ip, e.strerror
            )
    return s


class SendStats:
    def __init__(self) -> None:
        self.errors = 0
        self.failed = 0
        self._logged: set[int] = set()

    def retry_or_fail(self, e: OSError, what: str) -> bool:
        """True: transient (queue full), try again. False: give the copy up (counted)."""
        self.errors += 1
        if e.errno in _RETRY:
            time.sleep(0.0005)
            return True
        self.failed += 1
        if e.errno not in self._logged:  # one line per kind of error, not per packet
            self._logged.add(e.errno or 0)
            log.warning("send %s failed: %s", what, e)
        return False


def send_udp(
    sock: socket.socket, data: memoryview | bytes, addr: tuple[str, int], st: SendStats
) -> bool:
    for _ in range(1000):
        try:
            sock.sendto(data, addr)
            return True
        except OSError as e:
            if not st.retry_or_fail(e, f"to {addr[0]}:{addr[1]}"):
                return False
    return False


def send_raw(sock: socket.socket, frame: memoryview | bytes, st: SendStats) -> bool:
    for _ in range(1000):
        try:
            sock.send(frame)
            return True
        except OSError as e:
            if not st.retry_or_fail(e, "raw frame"):
                return False
    return False
