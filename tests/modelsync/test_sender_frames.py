"""Frames and datagrams the sender emits per technology, checked field by field.

The send functions are replaced by recorders, so these tests need no root; the veth test in
test_veth.py sends the same frames through a real AF_PACKET socket."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

import modelsync.sender as sender_mod
from modelsync.manifest import Manifest, sha256_file
from modelsync.reassembly import Reassembler
from modelsync.sender import Sender, SenderConfig
from modelsync.targets import ReceiverSpec
from wire.bier import BIER, bfr_ids_of
from wire.delivery import FLAG_REPAIR, Delivery, decode
from wire.frames import ipv4_checksum

from .helpers import small_model

SW_MAC = "02:5e:00:01:00:01"
SRC_MAC = "02:00:00:00:00:01"
RX = [
    ReceiverSpec(name="h2", ip="10.0.0.2", bfr_id=1),
    ReceiverSpec(name="h3", ip="10.0.0.3", bfr_id=2),
    ReceiverSpec(name="h4", ip="10.0.0.4", bfr_id=300),  # SI 1
]


def _sender(
    tmp: Path, technology: str, monkeypatch, **extra
) -> tuple[Sender, Manifest, list, list]:  # type: ignore[no-untyped-def]
    m = small_model(tmp / "m", extra.pop("model_size", 60_000), 1)
    frames: list[bytes] = []
    udp: list[tuple[bytes, tuple[str, int]]] = []
    monkeypatch.setattr(
        sender_mod, "send_udp", lambda s, d, a, st: udp.append((bytes(d), a)) or True
    )
    sid = extra.pop("root_sid_text", 16005)
    cfg = SenderConfig(
        manifest=m, model_dir=tmp / "m", receivers=RX, technology=technology,
        src_ip="10.0.0.1", iface="lo", dst_mac=SW_MAC, src_mac=SRC_MAC, bfir_id=17,
        root_sid=sid, control_port=0, listen_ip="127.0.0.1", session=0x1234, **extra,
    )  # fmt: skip
    s = Sender(cfg)
    # Recorders instead of sockets: nothing leaves this process.
    s.udp.close()
    s.udp = SimpleNamespace(  # type: ignore[assignment]
        sendto=lambda d, a: udp.append((bytes(d), a)), close=lambda: None
    )
    s.raw = SimpleNamespace(send=lambda f: frames.append(bytes(f)), close=lambda: None)  # type: ignore[assignment]
    return s, m, frames, udp


def _reassemble(tmp: Path, m: Manifest, dgrams: list[bytes]) -> None:
    rx = Reassembler(m, tmp / "out")
    rx.open(0.0)
    for d in dgrams:
        rx.handle(d, 1.0)
    assert rx.done
    for f in m.files:
        assert sha256_file(tmp / "out" / f.name) == f.sha256
    rx.close()


def _check_ip(f: Ether, n: int) -> None:
    ip = f[IP]
    assert (ip.src, ip.dst, ip.ttl, ip.proto, ip.len) == ("10.0.0.1", "239.1.0.1", 64, 17, 28 + n)
    hdr = bytes(ip)[:20]
    assert ipv4_checksum(hdr[:10] + b"\0\0" + hdr[12:]) == ip.chksum
    assert (f[UDP].sport, f[UDP].dport, f[UDP].len) == (50000, 50000, 8 + n)


def test_bier_first_pass_and_repair(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    s, m, frames, _udp = _sender(tmp_path, "bier", monkeypatch)
    s.first_pass()
    chunks = sum(s.counts)
    assert len(frames) == 2 * chunks  # one frame per SI
    mine = []
    for i, raw in enumerate(frames):
        f = Ether(raw)
        assert (f.dst, f.src, f.type) == (SW_MAC, SRC_MAC, 0xAB37)
        b = f[BIER]
        assert (b.nibble, b.ver, b.bsl, b.proto, b.bfir_id, b.ttl, b.s) == (5, 0, 3, 4, 17, 64, 1)
        si = i % 2  # SI 0 holds h2 and h3, SI 1 holds h4 (BFR-id 300)
        assert b.bift_id == si + 1  # the control plane's BIFT-id of SI k is k + 1
        assert bfr_ids_of(b.bitstring, si=si) == ([1, 2] if si == 0 else [300])
        d = f[Delivery]
        assert (d.round, d.flags, d.session, d.model_id) == (0, 0, 0x1234, m.model_id_int)
        _check_ip(f, 36 + d.payload_len)
        assert len(raw) <= 14 + 1500
        if i % 2 == 0:
            mine.append(bytes(f[UDP].payload))
    _reassemble(tmp_path, m, mine)
    assert s.c.first_pass_copies == 2 * chunks
    # Repair: chunk 1 of the biggest file to h3 only, chunk 2 to h2 and h4 (two SIs).
    big = max(range(len(m.files)), key=lambda k: m.files[k].size)
    frames.clear()
    s.repair({big: {1: frozenset({"h3"}), 2: frozenset({"h2", "h4"})}})
    got = [
        (Ether(x)[Delivery].chunk, bfr_ids_of(Ether(x)[BIER].bitstring, Ether(x)[BIER].bift_id - 1))
        for x in frames
    ]
    assert got == [(1, [2]), (2, [1]), (2, [300])]
    for x in frames:
        d = decode(bytes(Ether(x)[UDP].payload))
        assert d.round == 1 and d.flags == FLAG_REPAIR and d.shard == big
    assert s.c.chunks_repaired == 3
    s.close()


def test_sr_p2mp_first_pass_and_unicast_repair(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    s, m, frames, udp = _sender(tmp_path, "sr-p2mp", monkeypatch)
    s.first_pass()
    assert len(frames) == sum(s.counts) and not udp
    dgrams = []
    for raw in frames:
        f = Ether(raw)
        assert (f.dst, f.src, f.type) == (SW_MAC, SRC_MAC, 0x8847)
        mp = f[MPLS]
        assert (mp.label, mp.s, mp.ttl, mp.cos) == (16005, 1, 64, 0)
        _check_ip(f, 36 + f[Delivery].payload_len)
        dgrams.append(bytes(f[UDP].payload))
    _reassemble(tmp_path, m, dgrams)
    s.repair({0: {0: frozenset({"h4", "h2"})}})
    assert [a for _, a in udp] == [("10.0.0.2", 50000), ("10.0.0.4", 50000)]
    assert all(decode(d).round == 1 for d, _ in udp)
    s.close()


def test_srv6_p2mp_first_pass_and_unicast_repair(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sid = "5f00:0:1:1:86a0::"
    s, m, frames, udp = _sender(tmp_path, "srv6-p2mp", monkeypatch, root_sid_text=sid)
    s.first_pass()
    assert len(frames) == sum(s.counts) and not udp
    dgrams = []
    for raw in frames:
        f = Ether(raw)
        assert (f.dst, f.src, f.type) == (SW_MAC, SRC_MAC, 0x86DD)
        v6 = f[IPv6]
        assert (v6.src, v6.dst, v6.nh, v6.hlim, v6.tc, v6.fl) == ("fd00::a00:1", sid, 4, 64, 0, 0)
        n = 36 + f[Delivery].payload_len
        assert v6.plen == 20 + 8 + n  # the inner IPv4 packet, whatever the chunk's length
        _check_ip(f, n)
        dgrams.append(bytes(f[UDP].payload))
    assert len({len(f) for f in frames}) > 1  # a short last chunk was checked too
    _reassemble(tmp_path, m, dgrams)
    s.repair({0: {0: frozenset({"h3"})}})
    assert [a for _, a in udp] == [("10.0.0.3", 50000)]
    s.close()


def test_srv6_p2mp_follows_a_new_root_sid(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sid_file = tmp_path / "root-sid"
    sid_file.write_text("5f00:0:1:1:86a0::\n")
    s, m, frames, _udp = _sender(tmp_path, "srv6-p2mp", monkeypatch, root_sid_file=sid_file)
    big = max(range(len(m.files)), key=lambda k: m.files[k].size)
    s._frame(s._build(big, 0, 0, 0), False)
    sid_file.write_text("5f00:0:1:1:86a7::\n")
    os.utime(sid_file, ns=(1, 2))
    s._drain()
    s._frame(s._build(big, 1, 0, 0), False)
    sid_file.write_text("16005\n")  # an MPLS label is no SRv6 SID: kept, with a warning
    os.utime(sid_file, ns=(3, 4))
    s._drain()
    s._frame(s._build(big, 2, 0, 0), False)
    dsts = [Ether(f)[IPv6].dst for f in frames]
    assert dsts == ["5f00:0:1:1:86a0::", "5f00:0:1:1:86a7::", "5f00:0:1:1:86a7::"]
    assert {Ether(f)[IPv6].plen for f in frames} == {Ether(frames[0])[IPv6].plen}
    assert s.c.root_sid_changes == 1
    s.close()


@pytest.mark.parametrize("tech", ["unicast", "pim-sm"])
def test_udp_technologies(tmp_path: Path, monkeypatch, tech: str) -> None:  # type: ignore[no-untyped-def]
    s, m, frames, udp = _sender(tmp_path, tech, monkeypatch)
    s.first_pass()
    n = sum(s.counts)
    assert not frames
    if tech == "unicast":
        assert len(udp) == 3 * n
        assert [a for _, a in udp[:3]] == [(r.ip, 50000) for r in RX]
        _reassemble(tmp_path, m, [d for d, a in udp if a[0] == "10.0.0.3"])
    else:
        assert len(udp) == n and {a for _, a in udp} == {("239.1.0.1", 50000)}
        _reassemble(tmp_path, m, [d for d, _ in udp])
    s.close()


def test_config_errors_are_named(tmp_path: Path) -> None:
    m = small_model(tmp_path / "m", 60_000, 1)
    base = dict(manifest=m, model_dir=tmp_path / "m", control_port=0, listen_ip="127.0.0.1")
    rx = [ReceiverSpec(name="a", ip="10.0.0.2")]
    with pytest.raises(ValueError, match="unknown technology 'ip-multicast'; one of unicast, bier"):
        Sender(SenderConfig(receivers=rx, technology="ip-multicast", **base))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs --iface"):
        Sender(SenderConfig(receivers=rx, technology="bier", **base))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"bfr_id for every receiver; missing: \['a'\]"):
        Sender(SenderConfig(receivers=rx, technology="bier", iface="lo", dst_mac=SW_MAC,
                            src_ip="10.0.0.1", **base))  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ValueError, match="needs --root-sid"):
        Sender(SenderConfig(receivers=rx, technology="sr-p2mp", iface="lo", dst_mac=SW_MAC,
                            src_ip="10.0.0.1", **base))  # type: ignore[arg-type]  # fmt: skip
    for tech, sid, why in (
        ("srv6-p2mp", "16005", "'16005' is not an IPv6 address"),
        ("srv6-p2mp", "2001:db8::1", "2001:db8::1 is not a Replication-SID"),
        ("sr-p2mp", "5f00:0:1:1:86a0::", "'5f00:0:1:1:86a0::' is not an MPLS label"),
        ("sr-p2mp", "1048576", "MPLS label 1048576 does not fit in 20 bits"),
    ):
        with pytest.raises(ValueError, match=f"^--root-sid: {re.escape(why)}"):
            Sender(SenderConfig(receivers=rx, technology=tech, iface="lo", dst_mac=SW_MAC,
                                src_ip="10.0.0.1", root_sid=sid, **base))  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ValueError, match="technology 'pim'"):
        Sender(SenderConfig(receivers=rx, technology="pim", **base))  # type: ignore[arg-type]
    (tmp_path / "m" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"config\.json: 2 bytes, the manifest says"):
        Sender(SenderConfig(receivers=rx, technology="unicast", **base))  # type: ignore[arg-type]


def test_sr_p2mp_follows_a_new_root_sid(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sid_file = tmp_path / "root-sid"
    sid_file.write_text("16005\n")
    s, m, frames, _udp = _sender(tmp_path, "sr-p2mp", monkeypatch, root_sid_file=sid_file)
    big = max(range(len(m.files)), key=lambda k: m.files[k].size)
    s._frame(s._build(big, 0, 0, 0), False)
    sid_file.write_text("16077\n")
    os.utime(sid_file, ns=(1, 2))  # a different mtime, whatever the clock's resolution
    s._drain()
    s._frame(s._build(big, 1, 0, 0), False)
    sid_file.write_text("garbage\n")
    os.utime(sid_file, ns=(3, 4))
    s._drain()  # kept, with a warning
    s._frame(s._build(big, 2, 0, 0), False)
    assert [Ether(f)[MPLS].label for f in frames] == [16005, 16077, 16077]
    assert s.c.root_sid_changes == 1
    s.close()


@pytest.mark.parametrize("tech", ["bier", "sr-p2mp", "srv6-p2mp"])
def test_raw_frames_go_to_the_data_port(tmp_path: Path, monkeypatch, tech: str) -> None:  # type: ignore[no-untyped-def]
    """One of several models at once has a data port of its own (its receivers listen there)."""
    sid = "5f00:0:1:1:86a0::" if tech == "srv6-p2mp" else 16005
    s, _m, frames, _udp = _sender(tmp_path, tech, monkeypatch, data_port=50010, root_sid_text=sid)
    s.first_pass()
    assert frames and {Ether(f)[UDP].dport for f in frames} == {50010}
    s.close()
