"""pimsm.mroute, the kernel's IPv4 multicast routing emulated below pimd: exact frames out of
exact interfaces for (S,G) and (*,G) entries, the RPF check, TTL thresholds and decrement, the
upcalls a socket reader gets in the kernel's struct igmpmsg layout, counters, the register vif
both ways, and the socket API's errors.

One router namespace r with eth1, eth2, eth3 to the peers a, b, c (one namespace each). In r
run mrtd and a stand-in for pimd (testsupport/mroute_client.py) under the shim, which makes
pimd's calls through libc. Frames are sent and captured with AF_PACKET in the peers. A frame
that must not arrive somewhere is sent before a marker that must: the marker's arrival on
that FIFO path proves the other one was not forwarded, without waiting for time to pass.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pimsm import mroute
from testbed.netns import in_netns

pytestmark = [pytest.mark.root, pytest.mark.mininet]

if mroute.kernel_routes_multicast():
    pytest.skip(
        "this kernel routes multicast itself (CONFIG_IP_MROUTE): the emulation does not run",
        allow_module_level=True,
    )

CLIENT = Path(__file__).resolve().parents[2] / "testsupport" / "mroute_client.py"
S_ADDR, G_ADDR = "10.9.1.2", "239.1.2.3"
MRT_DONE, MRT_ADD_VIF, MRT_DEL_VIF, MRT_ADD_MFC, MRT_DEL_MFC = 201, 202, 203, 204, 205
MRT_VERSION, MRT_ASSERT, MRT_PIM = 206, 207, 208
VIFF_REGISTER, VIFF_USE_IFINDEX = 0x4, 0x8
SIOCGETVIFCNT, SIOCGETSGCNT = 0x89E0, 0x89E1
IGMPMSG_NOCACHE, IGMPMSG_WRONGVIF, IGMPMSG_WHOLEPKT, IGMPMSG_WRVIFWHOLE = 1, 2, 3, 4
ETH_P_ALL = 0x0003
REG, V1, V2, V3 = 0, 1, 2, 3  # vif numbers: register, eth1 (a), eth2 (b), eth3 (c)


# -- packets ----------------------------------------------------------------------------------
def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: str, dst: str, ttl: int, proto: int, payload: bytes, ident: int = 1) -> bytes:
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def udp_packet(ident: int, ttl: int = 8, src: str = S_ADDR, group: str = G_ADDR) -> bytes:
    payload = b"mrt-%05d" % ident + bytes(range(48))
    return ipv4(
        src, group, ttl, 17, struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload, ident
    )


def forwarded(ip: bytes) -> bytes:
    """What ipmr sends on: TTL - 1, the header checksum computed anew (not incrementally)."""
    hdr = bytearray(ip[:20])
    hdr[8] -= 1
    hdr[10:12] = b"\0\0"
    hdr[10:12] = struct.pack("!H", csum(bytes(hdr)))
    return bytes(hdr) + ip[20:]


def mcast_mac(group: str) -> bytes:
    g = socket.inet_aton(group)
    return bytes([0x01, 0x00, 0x5E, g[1] & 0x7F, g[2], g[3]])


def vifctl(vifi: int, flags: int, ifindex: int = 0, threshold: int = 1) -> str:
    return struct.pack("=HBBIi4s", vifi, flags, threshold, 0, ifindex, bytes(4)).hex()


def mfcctl(origin: str, group: str, parent: int, ttls: dict[int, int]) -> str:
    t = bytearray(32)
    for v, ttl in ttls.items():
        t[v] = ttl
    return struct.pack(
        "=4s4sH32s2xIIIi", socket.inet_aton(origin), socket.inet_aton(group), parent, bytes(t),
        0, 0, 0, 0,
    ).hex()  # fmt: skip


def sg_req(origin: str = S_ADDR, group: str = G_ADDR) -> str:
    """struct sioc_sg_req for SIOCGETSGCNT."""
    return struct.pack("=4s4sQQQ", socket.inet_aton(origin), socket.inet_aton(group), 0, 0, 0).hex()


def sg_counts(answer: dict[str, Any]) -> tuple[int, int, int]:
    """(packets, bytes, wrong_if) of a SIOCGETSGCNT answer."""
    return struct.unpack("=4s4sQQQ", bytes.fromhex(answer["hex"]))[2:]


def vif_req(vifi: int) -> str:
    """struct sioc_vif_req for SIOCGETVIFCNT."""
    return struct.pack("=H6xQQQQ", vifi, 0, 0, 0, 0).hex()


def igmpmsg(data: bytes) -> dict[str, Any]:
    """struct igmpmsg (linux/mroute.h) over the first 20 bytes of an upcall."""
    _u1, _u2, msgtype, mbz, vif, vif_hi, src, dst = struct.unpack_from("=IIBBBB4s4s", data)
    return {
        "type": msgtype, "mbz": mbz, "vif": vif | vif_hi << 8,
        "src": socket.inet_ntoa(src), "dst": socket.inet_ntoa(dst),
    }  # fmt: skip


# -- the bench ------------------------------------------------------------------------------------
class Bench:
    """Namespaces r, a, b, c; mrtd and the pimd stand-in in r."""

    def __init__(self) -> None:
        from mininet.link import Link
        from mininet.node import Node

        self.tag = "mrt" + secrets.token_hex(2)
        self.nodes = {n: Node(f"{self.tag}-{n}", inNamespace=True) for n in ("r", "a", "b", "c")}
        self.ifindex: dict[str, int] = {}
        self.mac: dict[str, bytes] = {}
        for k, peer in enumerate(("a", "b", "c"), start=1):
            Link(self.nodes["r"], self.nodes[peer], intfName1=f"eth{k}", intfName2="eth0")
        for node in self.nodes.values():
            node.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0")
            node.cmd("ip link set lo up")
        for k, peer in enumerate(("a", "b", "c"), start=1):
            self.sh("r", f"ip addr add 10.9.{k}.1/24 dev eth{k} && ip link set eth{k} up")
            self.sh(peer, f"ip addr add 10.9.{k}.2/24 dev eth0 && ip link set eth0 up")
            self.ifindex[f"eth{k}"] = int(self.sh("r", f"cat /sys/class/net/eth{k}/ifindex"))
            self.mac[f"eth{k}"] = bytes.fromhex(
                self.sh("r", f"cat /sys/class/net/eth{k}/address").strip().replace(":", "")
            )
            self.mac[peer] = bytes.fromhex(
                self.sh(peer, "cat /sys/class/net/eth0/address").strip().replace(":", "")
            )
        self.caps = {p: in_netns(self.ns(p), self._capture_socket) for p in ("a", "b", "c")}
        self.tx = {p: in_netns(self.ns(p), self._send_socket) for p in ("a", "b", "c")}
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self.mrtd: subprocess.Popen | None = None
        self.client: subprocess.Popen | None = None

    def ns(self, name: str) -> str:
        return f"/proc/{self.nodes[name].pid}/ns/net"

    def sh(self, node: str, cmd: str) -> str:
        out = self.nodes[node].cmd(cmd + "; echo __rc=$?")
        body, _, rc = out.rpartition("__rc=")
        assert rc.strip() == "0", f"{node}: {cmd}: {body}"
        return body

    @staticmethod
    def _capture_socket() -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind(("eth0", 0))
        s.settimeout(10.0)
        return s

    @staticmethod
    def _send_socket() -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("eth0", 0))
        return s

    # -- mrtd and the reader --------------------------------------------------------------
    def start(self) -> None:
        b = mroute.build()
        sock = self.dir / "mrt.sock"
        with open(self.dir / "mrtd.log", "wb") as log:
            self.mrtd = self.nodes["r"].popen(
                mroute.daemon_argv(b, sock), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert self.mrtd.poll() is None, (self.dir / "mrtd.log").read_text()
            assert time.monotonic() < deadline, "mrtd made no socket"
            time.sleep(0.02)
        env = {**os.environ, **mroute.shim_env(b, sock)}
        self.client = self.nodes["r"].popen(
            [sys.executable, str(CLIENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, text=True,
        )  # fmt: skip
        for p in self.caps:  # nothing of an earlier test left in the capture sockets
            self.drain(p)

    def stop(self) -> None:
        for p in (self.client, self.mrtd):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(5)
        self.client = self.mrtd = None

    def close(self) -> None:
        self.stop()
        for s in (*self.caps.values(), *self.tx.values()):
            s.close()
        for node in self.nodes.values():
            node.terminate()
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)

    def call(self, **q: Any) -> dict[str, Any]:
        assert self.client is not None and self.client.stdin and self.client.stdout
        self.client.stdin.write(json.dumps(q) + "\n")
        self.client.stdin.flush()
        line = self.client.stdout.readline()
        assert line, f"the reader died: {self.client.stderr.read() if self.client.stderr else ''}"
        return json.loads(line)

    def ok(self, **q: Any) -> dict[str, Any]:
        a = self.call(**q)
        assert "errno" not in a, (q, os.strerror(a["errno"]))
        return a

    def setup_vifs(self) -> None:
        self.ok(op="open")
        self.ok(op="setopt", name=MRT_ADD_VIF, hex=vifctl(REG, VIFF_REGISTER))
        for k in (1, 2, 3):
            self.ok(op="setopt", name=MRT_ADD_VIF,
                    hex=vifctl(k, VIFF_USE_IFINDEX, self.ifindex[f"eth{k}"]))  # fmt: skip
        # what pimd asks for: WRONGVIF and WRVIFWHOLE upcalls (MRT_PIM = IGMPMSG_WRVIFWHOLE)
        self.ok(op="setopt", name=MRT_PIM, hex=struct.pack("i", IGMPMSG_WRVIFWHOLE).hex())

    def add_mfc(self, origin: str, group: str, parent: int, ttls: dict[int, int]) -> None:
        self.ok(op="setopt", name=MRT_ADD_MFC, hex=mfcctl(origin, group, parent, ttls))

    def upcall(self, timeout: float = 5.0) -> dict[str, Any]:
        a = self.ok(op="read", timeout=timeout)
        assert "hex" in a, "no upcall"
        a["data"] = bytes.fromhex(a.pop("hex"))
        return a

    def no_upcall(self) -> None:
        a = self.ok(op="read", timeout=0.3)
        assert a.get("timeout"), f"unexpected event on the mroute socket: {a}"

    # -- frames ------------------------------------------------------------------------------
    def send(self, peer: str, ip: bytes, dst_mac: bytes | None = None) -> None:
        dst = dst_mac or mcast_mac(socket.inet_ntoa(ip[16:20]))
        self.tx[peer].send(dst + self.mac[peer] + b"\x08\x00" + ip)

    def drain(self, peer: str) -> None:
        s = self.caps[peer]
        s.setblocking(False)
        try:
            while True:
                s.recv(65536)
        except BlockingIOError:
            pass
        finally:
            s.settimeout(10.0)

    def frames_until(self, peer: str, marker: bytes, limit: float = 10.0) -> list[bytes]:
        """Group frames (239/8) at `peer` up to and including the first whose IPv4 packet is
        `marker` (as forwarded); fails if it does not come."""
        got = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                f, addr = self.caps[peer].recvfrom(65536)
            except TimeoutError:
                break
            if addr[2] == socket.PACKET_OUTGOING or f[12:14] != b"\x08\x00" or f[30] != 239:
                continue  # the peer's own frames, and what is not for a group
            got.append(f)
            if f[14:] == marker:
                return got
        raise AssertionError(f"marker never reached {peer}; got {len(got)} group frames")


@pytest.fixture(scope="module")
def bench_ns() -> Iterator[Bench]:
    why = mroute.missing()
    if why is not None:
        pytest.skip(f"the multicast routing emulation cannot run here: {why}")
    b = Bench()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def bench(bench_ns: Bench) -> Iterator[Bench]:
    bench_ns.start()
    try:
        yield bench_ns
    finally:
        bench_ns.stop()


def marker(ident: int) -> bytes:
    return udp_packet(ident, ttl=8)


# -- tests ----------------------------------------------------------------------------------------
def test_sg_entry_forwards_exact_frames_and_counts(bench: Bench) -> None:
    bench.setup_vifs()
    bench.add_mfc(S_ADDR, G_ADDR, V1, {V2: 1, V3: 1})
    pkt = udp_packet(1, ttl=8)
    bench.send("a", pkt)
    want = forwarded(pkt)
    for peer, itf in (("b", "eth2"), ("c", "eth3")):
        (f,) = bench.frames_until(peer, want)
        # the group's MAC, the outgoing interface's own MAC, TTL 7 and a valid checksum
        assert f == mcast_mac(G_ADDR) + bench.mac[itf] + b"\x08\x00" + want
        assert csum(f[14:34]) == 0
    # SIOCGETSGCNT: one packet of len(pkt) bytes, no wrong interface
    assert sg_counts(bench.ok(op="ioctl", req=SIOCGETSGCNT, hex=sg_req())) == (1, len(pkt), 0)
    # SIOCGETVIFCNT: in on vif 1, out on vifs 2 and 3
    counts = {}
    for v in (V1, V2, V3):
        r = bench.ok(op="ioctl", req=SIOCGETVIFCNT, hex=vif_req(v))
        counts[v] = struct.unpack("=H6xQQQQ", bytes.fromhex(r["hex"]))[1:]
    assert counts == {V1: (1, 0, len(pkt), 0), V2: (0, 1, 0, len(pkt)), V3: (0, 1, 0, len(pkt))}
    # `ip mroute show` through the shim: the entry as the kernel would list it
    out = bench.nodes["r"].popen(
        ["ip", "mroute", "show"], stdout=subprocess.PIPE, text=True,
        env={**os.environ, **mroute.shim_env(mroute.build(), bench.dir / "mrt.sock")},
    ).communicate(timeout=10)[0]  # fmt: skip
    assert f"({S_ADDR},{G_ADDR})" in out.replace(" ", "")
    assert "Iif: eth1" in out and "Oifs: eth2 eth3" in out and "State: resolved" in out
    bench.no_upcall()


def test_ttl_threshold_and_expiry(bench: Bench) -> None:
    bench.setup_vifs()
    bench.add_mfc(S_ADDR, G_ADDR, V1, {V2: 1, V3: 4})
    # TTL 4: over eth2's threshold 1, not over eth3's 4 (ipmr forwards when ttl > threshold)
    four = udp_packet(10, ttl=4)
    # TTL 1: forwarded nowhere (it would leave with TTL 0)
    one = udp_packet(11, ttl=1)
    bench.send("a", four)
    bench.send("a", one)
    bench.send("a", marker(12))
    assert bench.frames_until("b", forwarded(marker(12))) == [
        mcast_mac(G_ADDR) + bench.mac["eth2"] + b"\x08\x00" + forwarded(p)
        for p in (four, marker(12))
    ]
    assert [f[14:] for f in bench.frames_until("c", forwarded(marker(12)))] == [
        forwarded(marker(12))
    ]


def test_rpf_failure_is_dropped_counted_and_reported(bench: Bench) -> None:
    bench.setup_vifs()
    bench.add_mfc(S_ADDR, G_ADDR, V1, {V2: 1, V3: 1})
    wrong = udp_packet(20)
    bench.send("b", wrong)  # arrives on vif 2, the entry's iif is vif 1
    # WRONGVIF: the IP header with msgtype 2 and the arrival vif, then an igmphdr
    up = bench.upcall()
    d = up["data"]
    assert igmpmsg(d) == {
        "type": IGMPMSG_WRONGVIF,
        "mbz": 0,
        "vif": V2,
        "src": S_ADDR,
        "dst": G_ADDR,
    }
    assert len(d) == 28 and struct.unpack("!H", d[2:4])[0] == 28 and d[20] == IGMPMSG_WRONGVIF
    assert up["ifindex"] == bench.ifindex["eth2"] and up["src"] == S_ADDR
    # WRVIFWHOLE (MRT_PIM asked for it): a 20-byte header, then the whole packet as it came
    up = bench.upcall()
    d = up["data"]
    assert igmpmsg(d) == {
        "type": IGMPMSG_WRVIFWHOLE,
        "mbz": 0,
        "vif": V2,
        "src": S_ADDR,
        "dst": G_ADDR,
    }
    assert d[20:] == wrong and struct.unpack("!H", d[2:4])[0] == 20 + len(wrong)
    # a second one within 3 s: counted, not reported again (MFC_ASSERT_THRESH)
    bench.send("b", udp_packet(21))
    bench.send("a", marker(22))
    got = bench.frames_until("c", forwarded(marker(22)))
    assert [f[14:] for f in got] == [forwarded(marker(22))]  # nothing from the wrong iif
    bench.no_upcall()
    pkt, _bytes, wrong_if = sg_counts(bench.ok(op="ioctl", req=SIOCGETSGCNT, hex=sg_req()))
    assert (pkt, wrong_if) == (3, 2)


def test_star_g_entry(bench: Bench) -> None:
    """(*,G) as FRR installs it: the iif is in its own outgoing list (the kernel matches a
    (*,G) only for arrival vifs in that list) and is never sent back out."""
    bench.setup_vifs()
    bench.add_mfc("0.0.0.0", G_ADDR, V1, {V1: 1, V2: 1})
    pkt = udp_packet(30)
    bench.send("a", pkt)
    (f,) = bench.frames_until("b", forwarded(pkt))
    assert f == mcast_mac(G_ADDR) + bench.mac["eth2"] + b"\x08\x00" + forwarded(pkt)
    # from c (vif 3, not in the list): no entry matches, so the (S,G) is unresolved
    from_c = udp_packet(31, src="10.9.3.2")
    bench.send("c", from_c)
    up = bench.upcall()
    assert igmpmsg(up["data"]) == {"type": IGMPMSG_NOCACHE, "mbz": 0, "vif": V3,
                                   "src": "10.9.3.2", "dst": G_ADDR}  # fmt: skip
    # from b (vif 2, in the list but not the iif): the RPF check fails
    bench.send("b", udp_packet(32, src="10.9.2.2"))
    assert igmpmsg(bench.upcall()["data"])["type"] == IGMPMSG_WRONGVIF
    assert igmpmsg(bench.upcall()["data"])["type"] == IGMPMSG_WRVIFWHOLE
    bench.send("a", marker(33))
    assert [g[14:] for g in bench.frames_until("b", forwarded(marker(33)))] == [
        forwarded(marker(33))
    ]
    # nothing went back out of the iif to a: a marker of another entry that is sent to a
    # after the (*,G) frames were forwarded to b comes first
    bench.add_mfc("10.9.2.2", "239.1.2.9", V2, {V1: 1})
    back = udp_packet(34, src="10.9.2.2", group="239.1.2.9")
    bench.send("b", back)
    assert [g[14:] for g in bench.frames_until("a", forwarded(back))] == [forwarded(back)]


def test_nocache_upcall_then_queued_frames_follow_the_new_entry(bench: Bench) -> None:
    bench.setup_vifs()
    pkts = [udp_packet(40 + i) for i in range(6)]
    for p in pkts:
        bench.send("a", p)
    up = bench.upcall()
    d = up["data"]
    # NOCACHE: a copy of the IP header (protocol 0, msgtype 1, vif), then an igmphdr
    assert igmpmsg(d) == {
        "type": IGMPMSG_NOCACHE,
        "mbz": 0,
        "vif": V1,
        "src": S_ADDR,
        "dst": G_ADDR,
    }
    assert len(d) == 28 and d[9] == 0 and d[20] == IGMPMSG_NOCACHE
    assert up["ifindex"] == bench.ifindex["eth1"]
    bench.no_upcall()  # one upcall per unresolved entry
    # `ip mroute show` lists it as unresolved
    out = bench.nodes["r"].popen(
        ["ip", "mroute", "show"], stdout=subprocess.PIPE, text=True,
        env={**os.environ, **mroute.shim_env(mroute.build(), bench.dir / "mrt.sock")},
    ).communicate(timeout=10)[0]  # fmt: skip
    assert "unresolved" in out
    # the entry arrives: the first 4 frames (the kernel keeps 4) go out, the others were dropped
    bench.add_mfc(S_ADDR, G_ADDR, V1, {V2: 1})
    bench.send("a", marker(49))
    got = [f[14:] for f in bench.frames_until("b", forwarded(marker(49)))]
    assert got == [forwarded(p) for p in pkts[:4]] + [forwarded(marker(49))]


def test_register_vif_whole_packet_and_decapsulation(bench: Bench) -> None:
    bench.setup_vifs()
    # first hop: the register vif in the list: a WHOLEPKT upcall with the packet as it came
    bench.add_mfc(S_ADDR, G_ADDR, V1, {REG: 1, V2: 1})
    pkt = udp_packet(50)
    bench.send("a", pkt)
    up = bench.upcall()
    d = up["data"]
    assert igmpmsg(d) == {
        "type": IGMPMSG_WHOLEPKT,
        "mbz": 0,
        "vif": REG,
        "src": S_ADDR,
        "dst": G_ADDR,
    }
    assert d[20:] == pkt and struct.unpack("!H", d[2:4])[0] == 20 + len(pkt) and d[0] == 0x45
    assert [f[14:] for f in bench.frames_until("b", forwarded(pkt))] == [forwarded(pkt)]
    # rendezvous point: a PIM Register to r's address; the inner packet arrives on the
    # register vif and goes out by the entry whose iif is that vif
    inner = udp_packet(51, src="10.7.0.9", group="239.1.2.4")
    bench.add_mfc("10.7.0.9", "239.1.2.4", REG, {V3: 1})
    pim = bytearray(b"\x21\x00\x00\x00\x00\x00\x00\x00")
    pim[2:4] = struct.pack("!H", csum(bytes(pim)))
    register = ipv4(S_ADDR, "10.9.1.1", 64, 103, bytes(pim) + inner, ident=7)
    null = bytearray(pim)
    null[4] = 0x40  # a Null-Register: never decapsulated
    null[2:4] = b"\0\0"
    null[2:4] = struct.pack("!H", csum(bytes(null)))
    null_inner = udp_packet(52, src="10.7.0.9", group="239.1.2.4")
    null_reg = ipv4(S_ADDR, "10.9.1.1", 64, 103, bytes(null) + null_inner, ident=8)
    bench.send("a", null_reg, dst_mac=bench.mac["eth1"])
    bench.send("a", register, dst_mac=bench.mac["eth1"])
    got = bench.frames_until("c", forwarded(inner))
    assert got == [mcast_mac("239.1.2.4") + bench.mac["eth3"] + b"\x08\x00" + forwarded(inner)]


def test_igmp_reaches_the_reader_with_its_interface(bench: Bench) -> None:
    bench.setup_vifs()
    bench.ok(op="join", group="224.0.0.22", ifindex=bench.ifindex["eth1"])  # as pimd does
    report = struct.pack("!BBHHH", 0x22, 0, 0, 0, 1) + struct.pack(
        "!BBH4s", 2, 0, 0, socket.inet_aton(G_ADDR)
    )
    report = report[:2] + struct.pack("!H", csum(report)) + report[4:]
    src, dst = socket.inet_aton(S_ADDR), socket.inet_aton("224.0.0.22")
    ra = b"\x94\x04\0\0"  # Router Alert
    hdr = struct.pack("!BBHHHBBH4s4s", 0x46, 0xC0, 24 + len(report), 9, 0, 1, 2, 0, src, dst) + ra
    ip = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + report
    bench.send("a", ip)
    up = bench.upcall()
    assert up["data"] == ip and up["ifindex"] == bench.ifindex["eth1"] and up["src"] == S_ADDR


def test_socket_api_errors_as_the_kernel(bench: Bench) -> None:
    assert bench.call(op="udp_init") == {"errno": 92}  # ENOPROTOOPT: not a raw IGMP socket
    bench.setup_vifs()
    assert bench.ok(op="getopt", name=MRT_VERSION) == {"value": 0x0305}
    assert bench.ok(op="getopt", name=MRT_PIM) == {"value": 1}
    errno = {
        "dup vif": bench.call(op="setopt", name=MRT_ADD_VIF, hex=vifctl(V1, VIFF_USE_IFINDEX, 1)),
        "vif 32": bench.call(op="setopt", name=MRT_ADD_VIF, hex=vifctl(32, VIFF_USE_IFINDEX, 1)),
        "no dev": bench.call(op="setopt", name=MRT_ADD_VIF, hex=vifctl(9, VIFF_USE_IFINDEX, 999)),
        "short": bench.call(op="setopt", name=MRT_ADD_VIF, hex="00"),
        "parent": bench.call(op="setopt", name=MRT_ADD_MFC, hex=mfcctl(S_ADDR, G_ADDR, 40, {})),
        "unicast": bench.call(op="setopt", name=MRT_ADD_MFC, hex=mfcctl(S_ADDR, "10.1.1.1", 1, {})),
        "del none": bench.call(op="setopt", name=MRT_DEL_MFC, hex=mfcctl(S_ADDR, G_ADDR, 1, {})),
        "del vif": bench.call(op="setopt", name=MRT_DEL_VIF, hex=vifctl(7, 0)),
        "sg none": bench.call(op="ioctl", req=SIOCGETSGCNT, hex=bytes(32).hex()),
        "vif range": bench.call(op="ioctl", req=SIOCGETVIFCNT, hex=vif_req(20)),
    }  # fmt: skip
    assert {k: v.get("errno") for k, v in errno.items()} == {
        "dup vif": 98, "vif 32": 23, "no dev": 99, "short": 22, "parent": 23, "unicast": 22,
        "del none": 2, "del vif": 99, "sg none": 99, "vif range": 22,
    }  # fmt: skip
    # closing the mroute socket takes everything down: the register device and the filters
    bench.ok(op="close")

    def left() -> list[str]:
        out = ["pimreg"] if "pimreg" in bench.sh("r", "ip -o link show") else []
        return out + [i for i in ("eth1", "eth2", "eth3")
                      if bench.sh("r", f"tc filter show dev {i} ingress").strip()]  # fmt: skip

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and left():
        time.sleep(0.05)
    assert left() == []
