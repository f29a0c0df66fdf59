"""Run Python code inside another network namespace without leaving this one: a thread joins
the namespace (setns affects only the calling thread), runs the function and ends. Sockets
made there stay in that namespace (raw sockets of the packet tests, rtnetlink reads of a
Mininet node's interfaces). No fork: a forked copy of a test or experiment process would run
its cleanup code a second time."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def netns_path(netns: str) -> str:
    """A name (`ip netns add NAME`) as its /run/netns path; a path as it is."""
    return netns if "/" in netns else f"/run/netns/{netns}"


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """fn() run in network namespace `netns` (a name or a path such as /proc/PID/ns/net);
    its result, or its exception raised here."""
    libc = ctypes.CDLL(None, use_errno=True)
    box: dict[str, object] = {}
    path = netns_path(netns)

    def body() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"cannot join network namespace {path}: {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=body, name=f"netns {path}")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
