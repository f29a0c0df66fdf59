"""The CPU port of an eBPF switch: a veth pair. The outer end sits beside the data ports and
carries the BPF programs as port `cpu_port`; the inner end lives in a network namespace that
only this process holds (an unshared thread's, kept by a file descriptor), where an
AF_PACKET socket reads packet-ins and writes packet-outs.

When the process ends, however it ends, the kernel frees that namespace, which deletes the
inner end and with it the outer one: nothing of the CPU port outlives the switch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import socket
import threading
from pathlib import Path

from pyroute2 import IPRoute

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
INNER = "cpu0"
MAX_FRAME = 65536
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23


def _unshare_net() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")


def _no_ipv6(iface: str) -> None:
    # the kernel would send router/neighbour solicitations into the pipeline otherwise
    with contextlib.suppress(OSError):
        Path(f"/proc/sys/net/ipv6/conf/{iface}/disable_ipv6").write_text("1")


class CpuPort:
    def __init__(self) -> None:
        self.outer = "sscpu" + secrets.token_hex(3)
        self.sock: socket.socket | None = None
        self._nsfd = -1
        box: dict[str, object] = {}
        created = threading.Event()
        done = threading.Event()

        def inside() -> None:
            # this thread alone moves into a new network namespace
            try:
                _unshare_net()
                box["nsfd"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            except BaseException as exc:  # reported to the constructor
                box["error"] = exc
                created.set()
                return
            created.set()
            done.wait()
            if "error" in box:
                return
            try:
                _no_ipv6(INNER)
                with IPRoute() as ipr:
                    idx = ipr.link_lookup(ifname=INNER)[0]
                    ipr.link("set", index=idx, state="up", mtu=9000)
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)  # not our packet-outs
                s.bind((INNER, ETH_P_ALL))
                box["sock"] = s
            except BaseException as exc:
                box["error"] = exc

        t = threading.Thread(target=inside, name="cpu-port-ns", daemon=True)
        t.start()
        created.wait()
        if "error" in box:
            raise OSError(f"cannot create the CPU port's namespace: {box['error']}")
        self._nsfd = int(box["nsfd"])  # type: ignore[arg-type]
        try:
            with IPRoute() as ipr:
                ipr.link(
                    "add",
                    ifname=self.outer,
                    kind="veth",
                    peer={"ifname": INNER, "net_ns_fd": self._nsfd},
                )
                _no_ipv6(self.outer)
                idx = ipr.link_lookup(ifname=self.outer)[0]
                ipr.link("set", index=idx, state="up", mtu=9000)
        except Exception as exc:
            box["error"] = exc
            done.set()
            t.join()
            self.close()
            raise OSError(f"cannot create the CPU port veth {self.outer}: {exc}") from exc
        done.set()
        t.join()
        if "error" in box:
            self.close()
            raise OSError(f"cannot open the CPU port: {box['error']}")
        self.sock = box["sock"]  # type: ignore[assignment]

    def send(self, frame: bytes) -> None:
        """A packet-out (packet_out header first): into the pipeline at the CPU port."""
        assert self.sock is not None
        self.sock.send(frame)

    def recv(self) -> bytes:
        """The next packet-in (blocking)."""
        assert self.sock is not None
        return self.sock.recv(MAX_FRAME)

    def fileno(self) -> int:
        assert self.sock is not None
        return self.sock.fileno()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self._nsfd >= 0:
            os.close(self._nsfd)  # the namespace goes, and both veth ends with it
            self._nsfd = -1
        with contextlib.suppress(Exception), IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=self.outer)
            if idx:
                ipr.link("del", index=idx[0])
