"""The project's one rtnetlink link reader: interface state (administratively up, carrier)
as the kernel announces it, decoded by pyroute2.

`LinkReader` is a non-blocking socket subscribed to RTMGRP_LINK, so it fits an existing
epoll loop (`fileno()`, then `read()` when readable); `LinkWatch` runs one in a thread of its
own and hands every batch of changes to a callback; `dump()` is the state of every interface
now. pyroute2 decodes the messages; the socket is our own so that nothing is read ahead of
the caller's loop (pyroute2's IPRoute buffers messages that select() then never reports).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_LINK
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000  # the driver reports carrier (RFC 2863 "lower layer up")
RCVBUF = 1 << 20

log = logging.getLogger("linkmon.netlink")


class LinkOverrun(OSError):
    """The kernel dropped link messages (ENOBUFS): re-read every interface with dump()."""


@dataclass(frozen=True)
class LinkState:
    index: int  # the kernel's ifindex
    name: str
    admin_up: bool  # IFF_UP
    carrier: bool  # IFF_LOWER_UP
    deleted: bool = False  # RTM_DELLINK: the interface is gone

    @property
    def up(self) -> bool:
        """Usable for traffic: administratively up, with carrier, still there."""
        return self.admin_up and self.carrier and not self.deleted


def _state(msg: object) -> LinkState | None:
    event = msg.get("event")  # type: ignore[attr-defined]
    if event not in ("RTM_NEWLINK", "RTM_DELLINK"):
        return None
    flags = int(msg["flags"])  # type: ignore[index]
    return LinkState(
        index=int(msg["index"]),  # type: ignore[index]
        name=str(msg.get("ifname") or ""),  # type: ignore[attr-defined]
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        deleted=event == "RTM_DELLINK",
    )


def parse(data: bytes) -> list[LinkState]:
    """The link messages of one netlink datagram, in order (others are skipped)."""
    return [s for m in MarshalRtnl().parse(data) if (s := _state(m)) is not None]


class LinkReader:
    """Link changes of this network namespace, read without blocking."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            self.sock.bind((0, RTMGRP_LINK))
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise
        self._marshal = MarshalRtnl()

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[LinkState]:
        """Every link message queued now (possibly none); LinkOverrun when the kernel had
        to drop some (the caller then reads the current state with dump())."""
        out: list[LinkState] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return out
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    raise LinkOverrun(errno.ENOBUFS, "rtnetlink link messages were lost") from e
                raise
            out += [s for m in self._marshal.parse(data) if (s := _state(m)) is not None]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> LinkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dump(names: Iterable[str] | None = None) -> dict[str, LinkState]:
    """The state of every interface of this namespace now (only `names`, when given; a
    name that does not exist is missing from the result)."""
    with IPRoute() as ip:
        if names is None:
            links = ip.get_links()
        else:  # one small request per name: a namespace may hold thousands of interfaces
            links = []
            for name in dict.fromkeys(names):
                try:
                    links += ip.link("get", ifname=name)
                except NetlinkError as e:
                    if e.code not in (errno.ENODEV, errno.EINVAL):  # none by that name
                        raise
    out = {}
    for m in links:
        s = _state(m)
        if s is not None:
            out[s.name] = s
    return out


Callback = Callable[[list[LinkState]], None]


class LinkWatch:
    """A thread that hands every batch of link changes to `callback` (from that thread).
    After a lost message it hands over the current state of every interface instead, so the
    callback always ends up with the truth."""

    def __init__(self, callback: Callback, name: str = "link-watch") -> None:
        self.callback = callback
        self.name = name
        self.reader: LinkReader | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1

    def start(self) -> None:
        """Subscribed once this returns: no change made afterwards is missed."""
        self.reader = LinkReader()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.reader is not None
        while True:
            ready, _, _ = select.select([self.reader, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                changes = self.reader.read()
            except LinkOverrun:
                changes = list(dump().values())
            except OSError:
                return  # closed under us: stopping
            if changes:
                try:
                    self.callback(changes)
                except Exception:  # a failing callback must not end the watch
                    log.exception("link watch callback failed")

    def stop(self) -> None:
        if self._thread is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        self._thread = None
        if self.reader is not None:
            self.reader.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
