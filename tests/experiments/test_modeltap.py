"""Per-model link bytes (experiments.modeltap): the model id found behind every encapsulation
the testbed uses, and the counts per direction and model from a real interface (root)."""

from __future__ import annotations

import os
import random
import socket
import string
import subprocess
import time

import pytest

from experiments.modeltap import OTHER, ModelTap, TapEnd, model_of
from wire.codec import HEADER_LEN, DeliveryHeader, MsgType, pack_into
from wire.frames import (
    bier_template,
    ipv4_template,
    sr_p2mp_template,
    srv6_p2mp_template,
)

SW, HOST = "02:5e:00:01:00:01", "02:00:00:00:00:01"


def _frame(tpl, model_id: int, payload: bytes = b"x" * 100) -> bytes:  # type: ignore[no-untyped-def]
    hdr = DeliveryHeader(MsgType.DATA, 0, model_id, 3, 9, 1000, len(payload), 0, 1)
    o = tpl.dgram_offset
    tpl.buf[o + HEADER_LEN : o + HEADER_LEN + len(payload)] = payload
    pack_into(tpl.buf, o, hdr)
    return bytes(tpl.finish(HEADER_LEN + len(payload)))


@pytest.mark.parametrize("bsl", [64, 256, 512])
def test_the_model_behind_every_encapsulation(bsl: int) -> None:
    mid = 0x1234_5678_9ABC_DEF0
    frames = [
        _frame(ipv4_template(SW, HOST, "10.0.0.1", "10.0.0.2", 2000), mid),
        _frame(bier_template(SW, HOST, "10.0.0.1", bytes(bsl // 8), 0, 2000), mid),
        _frame(sr_p2mp_template(SW, HOST, "10.0.0.1", 16005, 2000), mid),
        _frame(srv6_p2mp_template(SW, HOST, "10.0.0.1", "fd00::1", "5f00:0:1:1::", 2000), mid),
    ]
    assert [model_of(f) for f in frames] == [mid] * 4
    # two labels deep (a pushed segment list): still found
    two = frames[2][:14] + bytes([0x0F, 0xA0, 0x00, 0x40]) + frames[2][14:]
    assert model_of(two) == mid


def test_frames_of_no_model() -> None:
    ipv4 = _frame(ipv4_template(SW, HOST, "10.0.0.1", "10.0.0.2", 2000), 7)
    assert model_of(ipv4[:30]) is None  # cut short
    assert model_of(ipv4[:12] + b"\x88\xb5" + ipv4[14:]) is None  # liveness
    bad = bytearray(ipv4)
    bad[42:44] = b"\x00\x00"  # not the delivery header's magic
    assert model_of(bytes(bad)) is None
    v6 = _frame(srv6_p2mp_template(SW, HOST, "10.0.0.1", "fd00::1", "5f00:0:1:1::", 2000), 7)
    assert model_of(v6[:20] + b"\x29" + v6[21:]) is None  # IPv6 carrying IPv6


@pytest.mark.root
def test_counts_per_direction_and_model() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (a veth pair)")
    tag = "mt" + "".join(random.choices(string.ascii_lowercase, k=4))
    a, b = f"{tag}a", f"{tag}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for i in (a, b):
            subprocess.run(["ip", "link", "set", i, "up"], check=True)
        tap = ModelTap([TapEnd(a, out=("s1", "s2"))], {11: "llama", 22: "mistral"}).start()
        time.sleep(0.1)
        f11 = _frame(ipv4_template(SW, HOST, "10.0.0.1", "10.0.0.2", 2000), 11)
        f22 = _frame(bier_template(SW, HOST, "10.0.0.1", bytes(32), 0, 2000), 22, b"y" * 900)
        fx = _frame(ipv4_template(SW, HOST, "10.0.0.1", "10.0.0.2", 2000), 99)
        sa, sb = (socket.socket(socket.AF_PACKET, socket.SOCK_RAW) for _ in range(2))
        sa.bind((a, 0))
        sb.bind((b, 0))
        for _ in range(3):
            sa.send(f11)  # out of a: s1 -> s2
        sb.send(f22)  # into a: s2 -> s1
        sb.send(fx)
        time.sleep(0.5)
        tap.stop()
        sa.close()
        sb.close()
        assert tap.bytes[("s1", "s2", "llama")] == 3 * len(f11)
        assert tap.packets[("s1", "s2", "llama")] == 3
        assert tap.bytes[("s2", "s1", "mistral")] == len(f22) > 256  # counted whole
        assert tap.bytes[("s2", "s1", OTHER)] >= len(fx)  # model 99 is none of ours
        rows = tap.rows({"round": 0}, {("s1", "s2"): "s1-s2", ("s2", "s1"): "s1-s2"})
        assert {(r["src"], r["model"], r["link"]) for r in rows} >= {
            ("s1", "llama", "s1-s2"),
            ("s2", "mistral", "s1-s2"),
        }
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)
