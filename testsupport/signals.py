"""A signal to one thread of another process (tgkill(2)). The kernel hands a process's signal to
any of its threads that does not block it; a long-running program must stop whichever thread
got it, and tests send it to one that is not the main thread to hold them to that."""

from __future__ import annotations

import ctypes
import os

SYS_TGKILL = {"x86_64": 234, "aarch64": 131}  # the system call's number per architecture
CAN_SIGNAL_A_THREAD = os.uname().machine in SYS_TGKILL


def signal_another_thread(pid: int, sig: int) -> int:
    """Send `sig` to a thread of process `pid` other than its main one; returns its id."""
    others = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
    if not others:
        raise RuntimeError(f"process {pid} runs no thread besides its main one")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(SYS_TGKILL[os.uname().machine], pid, others[-1], sig) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"tgkill({pid}, {others[-1]}): {os.strerror(err)}")
    return others[-1]
