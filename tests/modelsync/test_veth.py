"""The sender's raw frames through a real AF_PACKET socket on a veth pair (root).

The sender runs in-process (first pass and a BIER repair, no POLLs, so no IP traffic leaves
the pair); a capture socket on the peer reads exactly what came out of the interface."""

from __future__ import annotations

import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether

from modelsync.manifest import sha256_file
from modelsync.reassembly import Reassembler
from modelsync.sender import Sender, SenderConfig
from modelsync.targets import ReceiverSpec
from wire.bier import BIER, bfr_ids_of
from wire.delivery import Delivery

from .helpers import small_model

pytestmark = pytest.mark.root
ETH_P_ALL = 0x0003


@pytest.fixture
def veth() -> Iterator[tuple[str, str]]:
    tag = secrets.token_hex(3)
    a, b = f"msda{tag}", f"msdb{tag}"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for n in (a, b):
            subprocess.run(["ip", "link", "set", n, "up"], check=True)
            # No IPv6 autoconfiguration chatter in the capture.
            Path(f"/proc/sys/net/ipv6/conf/{n}/disable_ipv6").write_text("1")
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)


class Capture:
    def __init__(self, iface: str) -> None:
        # Protocol 0 until bind(): an ETH_P_ALL socket in the root namespace would queue
        # every interface's frames (other tests' too) until it is bound to this one.
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.s.bind((iface, ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.s.settimeout(0.3)
        self.frames: list[bytes] = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.stop = False
        self.t.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                self.frames.append(self.s.recv(65535))
            except TimeoutError:
                continue

    def close(self) -> list[bytes]:
        self.stop = True
        self.t.join()
        self.s.settimeout(0.3)  # what is still queued or in flight through the veth
        while True:
            try:
                self.frames.append(self.s.recv(65535))
            except TimeoutError:
                break
        self.s.close()
        return [f for f in self.frames if f[12:14] in (b"\xab\x37", b"\x88\x47")]


def _sender(tmp: Path, iface: str, tech: str) -> Sender:
    m = small_model(tmp / "m", 80_000, 1)
    cfg = SenderConfig(
        manifest=m, model_dir=tmp / "m", technology=tech, iface=iface, src_ip="10.0.0.1",
        dst_mac="02:5e:00:01:00:01", bfir_id=9, root_sid=17001, control_port=0,
        listen_ip="127.0.0.1", rate_mbps=200,
        receivers=[ReceiverSpec(name="h2", ip="10.0.0.2", bfr_id=1),
                   ReceiverSpec(name="h3", ip="10.0.0.3", bfr_id=2)],
    )  # fmt: skip
    s = Sender(cfg)
    s.open_raw()
    return s


def _reassembles(tmp: Path, s: Sender, dgrams: list[bytes]) -> None:
    rx = Reassembler(s.m, tmp / "out")
    rx.open(0.0)
    for d in dgrams:
        rx.handle(d, 1.0)
    assert rx.done and rx.counters.corrupt == 0
    for f in s.m.files:
        assert sha256_file(tmp / "out" / f.name) == f.sha256
    rx.close()


def test_bier_frames_out_of_the_interface(tmp_path: Path, veth: tuple[str, str]) -> None:
    a, b = veth
    cap = Capture(b)
    s = _sender(tmp_path, a, "bier")
    s.first_pass()
    s.repair({1: {0: frozenset({"h3"})}})
    frames = cap.close()
    s.close()
    mac_a = Path(f"/sys/class/net/{a}/address").read_text().strip()
    n = sum(s.counts)
    assert len(frames) == n + 1
    for raw in frames:
        f = Ether(raw)
        assert (f.dst, f.src) == ("02:5e:00:01:00:01", mac_a)
        assert (f[BIER].bfir_id, f[BIER].bift_id, f[BIER].bsl) == (9, 1, 3)
    assert [bfr_ids_of(Ether(x)[BIER].bitstring) for x in frames] == [[1, 2]] * n + [[2]]
    last = Ether(frames[-1])[Delivery]
    assert (last.round, last.flags, last.shard, last.chunk) == (1, 1, 1, 0)
    _reassembles(tmp_path, s, [bytes(Ether(x)[UDP].payload) for x in frames[:n]])


def test_sr_p2mp_frames_out_of_the_interface(tmp_path: Path, veth: tuple[str, str]) -> None:
    a, b = veth
    cap = Capture(b)
    s = _sender(tmp_path, a, "sr-p2mp")
    s.first_pass()
    frames = cap.close()
    s.close()
    assert len(frames) == sum(s.counts)
    for raw in frames:
        m = Ether(raw)[MPLS]
        assert (m.label, m.s, m.ttl) == (17001, 1, 64)
    _reassembles(tmp_path, s, [bytes(Ether(x)[UDP].payload) for x in frames])
