"""Datagrams in batches: recvmmsg(2) takes up to `batch` datagrams from a UDP socket in one
system call, into one preallocated buffer (Python's socket module has no recvmmsg; it is
called through ctypes). Where libc has no recvmmsg, one recv_into per datagram does the
same job more slowly.

    rx = BatchReceiver(sock, batch=64, control=CMSG_SPACE(16))
    n = rx.receive(timeout=0.05)           # 0 after the timeout
    for i in range(n):
        datagram = rx.datagram(i)          # a memoryview, valid until the next receive()
        t = rx.stamp(i)                    # the kernel's receive time (SO_TIMESTAMPNS) or None

A datagram longer than a slot (`slot` bytes, 64 KiB by default: any UDP datagram) is
truncated by the kernel; its length is then reported as the slot's, so the caller's length
checks reject it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import socket
import struct

MSG_DONTWAIT = 0x40
MAX_DATAGRAM = 65536
SO_TIMESTAMPNS = 35  # linux/asm-generic/socket.h (also SCM_TIMESTAMPNS)
_CMSG_STAMP = struct.Struct("@Qiiqq")  # cmsghdr (len, level, type) + struct timespec


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_IoVec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


def _libc_recvmmsg():  # type: ignore[no-untyped-def]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.POINTER(_MMsgHdr), ctypes.c_uint, ctypes.c_int,
                   ctypes.c_void_p]  # fmt: skip
    fn.restype = ctypes.c_int
    return fn


_RECVMMSG = _libc_recvmmsg()


def kernel_stamp(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time in a datagram's ancillary data (SCM_TIMESTAMPNS), wall
    clock in seconds; None without one."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("@qq", data)
            return sec + nsec / 1e9
    return None


class BatchReceiver:
    """Batched receive on one datagram socket (see the module docstring). The socket is used
    non-blocking from here on; `receive` waits with poll(2)."""

    def __init__(
        self,
        sock: socket.socket,
        batch: int = 64,
        slot: int = MAX_DATAGRAM,
        control: int = 0,
        use_recvmmsg: bool = True,
    ) -> None:
        """control: bytes of ancillary data kept per datagram (socket.CMSG_SPACE(16) for the
        kernel's SO_TIMESTAMPNS stamp; 0: none)."""
        self.sock = sock
        self.fd = sock.fileno()
        self.batch = batch
        self.slot = slot
        self.control = control
        sock.setblocking(False)
        self.buf = bytearray(batch * slot)
        self.view = memoryview(self.buf)
        self.ctrl = bytearray(max(1, batch * control))
        self._c_buf = (ctypes.c_char * len(self.buf)).from_buffer(self.buf)
        self._c_ctrl = (ctypes.c_char * len(self.ctrl)).from_buffer(self.ctrl)
        base, cbase = ctypes.addressof(self._c_buf), ctypes.addressof(self._c_ctrl)
        self._iov = (_IoVec * batch)()
        self._msgs = (_MMsgHdr * batch)()
        for i in range(batch):
            self._iov[i].base = base + i * slot
            self._iov[i].len = slot
            self._msgs[i].hdr.iov = ctypes.pointer(self._iov[i])
            self._msgs[i].hdr.iovlen = 1
            if control:
                self._msgs[i].hdr.control = cbase + i * control
                self._msgs[i].hdr.controllen = control
        self.lengths = [0] * batch
        self.ctrl_lengths = [0] * batch
        self._anc: list[list[tuple[int, int, bytes]]] = [[] for _ in range(batch)]
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN)
        self.batched = use_recvmmsg and _RECVMMSG is not None
        self.calls = 0  # receive system calls made (recvmmsg or recv_into)
        self.datagrams = 0

    def receive(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for datagrams; take up to `batch` of them. Returns how
        many (0: none came). An error of the socket (other than 'nothing queued') is raised
        as OSError."""
        n = self._take()
        if n:
            return n
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return 0
        return self._take()

    def _take(self) -> int:
        if not self.batched:
            return self._take_one_by_one()
        self.calls += 1
        n = _RECVMMSG(self.fd, self._msgs, self.batch, MSG_DONTWAIT, None)
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return 0
            raise OSError(err, os.strerror(err))
        msgs, lengths = self._msgs, self.lengths
        for i in range(n):
            lengths[i] = msgs[i].len
        if self.control:
            clens, control = self.ctrl_lengths, self.control
            for i in range(n):
                hdr = msgs[i].hdr
                clens[i] = hdr.controllen
                hdr.controllen = control  # the kernel wrote what it used: room again
        self.datagrams += n
        return n

    def _take_one_by_one(self) -> int:
        n = 0
        view, slot = self.view, self.slot
        while n < self.batch:
            self.calls += 1
            try:
                got, anc, _, _ = self.sock.recvmsg_into(
                    [view[n * slot : (n + 1) * slot]], self.control
                )
            except (BlockingIOError, InterruptedError):
                break
            self.lengths[n] = got
            self._anc[n] = anc
            n += 1
        self.datagrams += n
        return n

    def datagram(self, i: int) -> memoryview:
        """The i-th datagram of the last receive (valid until the next one)."""
        start = i * self.slot
        return self.view[start : start + self.lengths[i]]

    def stamp(self, i: int) -> float | None:
        """The kernel's receive time of the i-th datagram (SO_TIMESTAMPNS on the socket and
        `control` room for it), wall clock in seconds; None without one."""
        if not self.batched:
            return kernel_stamp(self._anc[i])
        if self.ctrl_lengths[i] < _CMSG_STAMP.size:
            return None
        _len, level, kind, sec, nsec = _CMSG_STAMP.unpack_from(self.ctrl, i * self.control)
        if level != socket.SOL_SOCKET or kind != SO_TIMESTAMPNS:
            return None
        return sec + nsec / 1e9

    def close(self) -> None:
        """Release the buffer (the socket stays the caller's)."""
        self._poll.unregister(self.fd)
        del self._c_buf, self._c_ctrl
        self.view.release()
