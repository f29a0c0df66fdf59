"""Benchmark of the delivery application's two hot loops, each against a baseline measured in
the same run (ratios, not absolute numbers, are the result):

1. Sender: packets per second of `Sender.first_pass()` (BIER frames built from the model's
   bytes per chunk: header, CRC-32, IPv4 length/checksum patch, AF_PACKET send) on a veth
   pair, against scapy's persistent socket (`conf.L2socket(iface=...).send`) sending the
   same prebuilt frame bytes.
2. Receiver: datagrams per second of the receive loop with reassembly (parse, CRC check,
   duplicate bitmap, pwrite, sha256 verification at the end) against a bare UDP
   `recv_into` loop, both draining the same datagrams queued on a loopback socket.

    python -m bench.modelsync [--size 16MB] [--repeat 5]

Needs root (veth pair, SO_RCVBUFFORCE). Interfaces are named msdbench<hex> and removed.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelsync.makemodel import make_model  # noqa: E402
from modelsync.reassembly import Reassembler  # noqa: E402
from modelsync.sender import Sender, SenderConfig  # noqa: E402
from modelsync.sizes import parse_size  # noqa: E402
from modelsync.targets import ReceiverSpec  # noqa: E402

SO_RCVBUFFORCE = 33


def sender_for(model: Path, m, iface: str) -> Sender:  # type: ignore[no-untyped-def]
    cfg = SenderConfig(
        manifest=m, model_dir=model, technology="bier", iface=iface, src_ip="10.0.0.1",
        dst_mac="02:5e:00:01:00:01", bfir_id=1, control_port=0, listen_ip="127.0.0.1",
        receivers=[ReceiverSpec(name=f"h{i}", ip="10.0.0.2", bfr_id=i) for i in range(1, 9)],
    )  # fmt: skip
    s = Sender(cfg)
    s.open_raw()
    return s


def bench_sender(model: Path, m, iface: str, repeat: int) -> tuple[float, float, float, float, int]:  # type: ignore[no-untyped-def]
    """Median pps of the three senders; interleaved per repetition so that the machine's
    load (shared cores) weighs on all three alike."""
    from scapy.all import conf  # L2socket is set once the arch layer is loaded

    s = sender_for(model, m, iface)
    assert s.tpl is not None
    frames = []  # the frames of one first pass, prebuilt, for the baselines
    for f, count in enumerate(s.counts):
        for c in range(count):
            frames.append(bytes(s.tpl.finish(s._build(f, c, 0, 0))))
    s.close()
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    raw.bind((iface, 0))
    l2 = conf.L2socket(iface=iface)
    ours: list[float] = []
    theirs: list[float] = []
    bare: list[float] = []
    try:
        for _ in range(repeat):
            s = sender_for(model, m, iface)
            t = time.perf_counter()
            s.first_pass()
            ours.append(s.c.copies / (time.perf_counter() - t))
            s.close()
            t = time.perf_counter()
            for fr in frames:
                l2.send(fr)
            theirs.append(len(frames) / (time.perf_counter() - t))
            t = time.perf_counter()
            for fr in frames:
                raw.send(fr)
            bare.append(len(frames) / (time.perf_counter() - t))
    finally:
        l2.close()
        raw.close()
    # scapy building every frame from layers (what a scapy sender does per packet), on a
    # sample of the frames: the cost the prebuilt-bytes design avoids.
    from scapy.layers.l2 import Ether

    import wire.bier  # binds BIER (and Delivery below) to scapy
    import wire.delivery  # noqa: F401

    sample = [Ether(fr) for fr in frames[:2000]]
    built: list[float] = []
    l2 = conf.L2socket(iface=iface)
    try:
        for _ in range(max(1, repeat // 2)):
            t = time.perf_counter()
            for p in sample:
                p.clear_cache()
                l2.send(p)
            built.append(len(sample) / (time.perf_counter() - t))
    finally:
        l2.close()
    return (
        statistics.median(ours),
        statistics.median(theirs),
        statistics.median(bare),
        statistics.median(built),
        len(frames),
    )


def _fill(port: int, dgrams: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for d in dgrams:
            tx.sendto(d, ("127.0.0.1", port))


def _rx_socket(need: int) -> socket.socket:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, need)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(1.0)
    return rx


def bench_receiver(m, dgrams: list[bytes], repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    need = len(dgrams) * 4096 + (16 << 20)  # kernel accounting is ~2-3 KB per datagram
    bare: list[float] = []
    full: list[float] = []
    buf = bytearray(65536)
    view = memoryview(buf)
    for _ in range(repeat):
        # bare loop
        rx = _rx_socket(need)
        _fill(rx.getsockname()[1], dgrams)
        t = time.perf_counter()
        got = 0
        for _ in range(len(dgrams)):
            rx.recv_into(buf)
            got += 1
        bare.append(got / (time.perf_counter() - t))
        rx.close()
        # with reassembly, into a fresh directory
        with tempfile.TemporaryDirectory(prefix="msdbench") as d:
            rx = _rx_socket(need)
            ra = Reassembler(m, Path(d))
            ra.open(0.0)
            _fill(rx.getsockname()[1], dgrams)
            t = time.perf_counter()
            for _ in range(len(dgrams)):
                n = rx.recv_into(buf)
                ra.handle(view[:n], 0.0)
            full.append(len(dgrams) / (time.perf_counter() - t))
            if not ra.done:
                raise SystemExit("reassembly did not complete: datagrams were lost in the queue")
            ra.close()
            rx.close()
    return statistics.median(full), statistics.median(bare)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.modelsync",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--size", default="16MB", help="model size (16MB)")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions, the median kept (5)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the fake source address is not ours: fine here
    if os.geteuid() != 0:
        print("bench.modelsync: needs root (veth pair, SO_RCVBUFFORCE); skipped")
        return 0
    tag = secrets.token_hex(3)
    a, b = f"msdbench{tag}a", f"msdbench{tag}b"[:15]
    a = a[:15]
    with tempfile.TemporaryDirectory(prefix="msdbench") as tmp:
        model = Path(tmp) / "model"
        m = make_model(model, parse_size(args.size), 4, seed=1)
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        try:
            for n in (a, b):
                subprocess.run(["ip", "link", "set", n, "up"], check=True)
            ours, scapy_pps, bare_pps, built_pps, n = bench_sender(model, m, a, args.repeat)
        finally:
            subprocess.run(["ip", "link", "del", a], check=False)
        print(f"model {args.size}: {n} BIER frames per pass (BSL 256, 1500-byte frames)")
        print(f"sender   modelsync first pass   {ours:10.0f} pps")
        print(f"sender   scapy L2socket.send    {scapy_pps:10.0f} pps (same prebuilt bytes)")
        print(f"sender   bare socket.send       {bare_pps:10.0f} pps (same prebuilt bytes)")
        print(f"sender   scapy build+send       {built_pps:10.0f} pps (layers built per frame)")
        print(f"sender   ratio to scapy         {ours / scapy_pps:10.2f} x")
        print(f"sender   ratio to scapy build   {ours / built_pps:10.2f} x")
        print(f"sender   ratio to bare send     {ours / bare_pps:10.2f} x")
        s = Sender(
            SenderConfig(
                manifest=m,
                model_dir=model,
                technology="unicast",
                control_port=0,
                listen_ip="127.0.0.1",
                receivers=[ReceiverSpec(name="r", ip="127.0.0.1")],
            )
        )
        dgrams = [s.datagram(f, c) for f, k in enumerate(s.counts) for c in range(k)]
        s.close()
        full, bare = bench_receiver(m, dgrams, args.repeat)
        print(f"receiver reassembly+verify      {full:10.0f} datagrams/s ({len(dgrams)} datagrams)")
        print(f"receiver bare recv_into loop    {bare:10.0f} datagrams/s")
        print(f"receiver ratio                  {full / bare:10.2f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
