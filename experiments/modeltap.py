"""Bytes per link direction and model, where several models cross the same links at once:
every frame that crosses one end of each link is read up to its delivery header (the first
256 bytes only: a packet socket with a filter that truncates), classified by the model id in
it, and counted with its length on the wire.

A frame is a model's when it carries modelsync's delivery header (magic 0x4D44) of that
model: data, repairs, POLLs and FINs; NACKs and reports (JSON to the sender) and anything
else are counted as `OTHER`. The encapsulations the testbed uses are taken apart on the way:
BIER (RFC 8296, any BSL), an MPLS label stack, IPv6 carrying IPv4 (SRv6), then IPv4/UDP.
Incoming and outgoing frames of an interface are told apart by the packet socket's
pkttype, so one end of a link gives both directions. The kernel hands a packet socket each
frame as it is on the wire: an incoming one before tc's ingress hook (a switch's eBPF
program) sees it, an outgoing one after tc's egress hook made it; the length counted is the
whole frame's, as the interface's own byte counters count it.
"""

from __future__ import annotations

import contextlib
import ctypes
import select
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from testbed.netns import in_netns

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SOL_PACKET, PACKET_AUXDATA = 263, 8
AUX = struct.Struct("IIIHHHH")  # struct tpacket_auxdata: status, len, snaplen, mac, net, vlan
SNAP = 256  # enough for Ethernet, BIER (512-bit BitString) or 4 labels or IPv6, IPv4, UDP, header
MAGIC = 0x4D44
OTHER = ""  # frames of no model


@dataclass(frozen=True)
class TapEnd:
    """One end of a link: its interface, the namespace it is in (None: this one), and the
    link direction of the frames it sends (`out`: (src, dst)); those it receives are the
    other direction."""

    ifname: str
    out: tuple[str, str]
    netns: str | None = None


def model_of(frame: bytes) -> int | None:
    """The model id of the delivery header a frame carries, or None."""
    try:
        off, et = 14, struct.unpack_from("!H", frame, 12)[0]
        if et == 0xAB37:  # BIER: 12 bytes, then the BitString of 2^(code + 5) bits
            code = frame[off + 5] >> 4
            if frame[off + 9] & 0x3F != 4:  # Proto: IPv4 only
                return None
            off += 12 + (1 << (code + 5)) // 8
        elif et == 0x8847:  # MPLS: to the bottom of the stack
            while not frame[off + 2] & 1:
                off += 4
            off += 4
        elif et == 0x86DD:  # IPv6: IPv4 inside (Next Header 4)
            if frame[off + 6] != 4:
                return None
            off += 40
        elif et != 0x0800:
            return None
        if frame[off] >> 4 != 4 or frame[off + 9] != 17:
            return None
        udp = off + (frame[off] & 0x0F) * 4
        hdr = udp + 8
        if struct.unpack_from("!H", frame, hdr)[0] != MAGIC:
            return None
        return struct.unpack_from("!Q", frame, hdr + 8)[0]
    except (IndexError, struct.error):
        return None


def _truncating_filter(snap: int) -> tuple[bytes, ctypes.Array]:
    """A classic BPF program of one instruction, `ret #snap`: every frame, cut to snap. The
    sock_fprog to hand to SO_ATTACH_FILTER and the buffer it points to (keep it until then)."""
    insn = struct.pack("HBBI", 0x06, 0, 0, snap)  # BPF_RET | BPF_K
    buf = ctypes.create_string_buffer(insn)
    return struct.pack("HL", 1, ctypes.addressof(buf)), buf


def _open(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        fprog, keep = _truncating_filter(SNAP)
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        del keep
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)  # the length before the filter cut it
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((ifname, 0))
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


class ModelTap:
    """Counts per (src, dst, model) while running; `models`: model id -> its name."""

    def __init__(self, ends: Iterable[TapEnd], models: Mapping[int, str]) -> None:
        self.ends = list(ends)
        self.models = dict(models)
        self.bytes: Counter[tuple[str, str, str]] = Counter()
        self.packets: Counter[tuple[str, str, str]] = Counter()
        self._socks: dict[int, tuple[socket.socket, TapEnd]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exi-modeltap", daemon=True)

    def start(self) -> ModelTap:
        try:
            for e in self.ends:
                s = (
                    _open(e.ifname)
                    if e.netns is None
                    else in_netns(e.netns, lambda e=e: _open(e.ifname))
                )
                self._socks[s.fileno()] = (s, e)
        except OSError as ex:
            self.close()
            raise OSError(f"cannot read the frames of {e.ifname}: {ex.strerror or ex}") from None
        self._thread.start()
        return self

    def _run(self) -> None:
        buf = bytearray(SNAP)
        view = memoryview(buf)
        anc = socket.CMSG_SPACE(AUX.size)
        while not self._stop.is_set():
            ready, _, _ = select.select(list(self._socks), [], [], 0.1)
            for fd in ready:
                s, end = self._socks[fd]
                while True:
                    try:
                        got, cmsgs, _flags, addr = s.recvmsg_into([buf], anc)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    n = got  # the frame's length on the wire, from the packet's aux data
                    for level, kind, data in cmsgs:
                        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 8:
                            n = AUX.unpack_from(data.ljust(AUX.size, b"\0"))[1]
                    src, dst = end.out if addr[2] == PACKET_OUTGOING else end.out[::-1]
                    mid = model_of(bytes(view[:got]))
                    name = self.models.get(mid, OTHER) if mid is not None else OTHER
                    self.bytes[(src, dst, name)] += n
                    self.packets[(src, dst, name)] += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.close()

    def close(self) -> None:
        for s, _ in self._socks.values():
            with contextlib.suppress(OSError):
                s.close()
        self._socks.clear()

    def rows(self, keys: Mapping[str, object], links: Mapping[tuple[str, str], str]) -> list[dict]:
        """model_links rows: per link direction and model (OTHER: "") its bytes and frames."""
        return [
            {**keys, "model": model, "link": links.get((src, dst), f"{src}-{dst}"),
             "src": src, "dst": dst, "bytes": b, "packets": self.packets[(src, dst, model)]}
            for (src, dst, model), b in sorted(self.bytes.items())
        ]  # fmt: skip
