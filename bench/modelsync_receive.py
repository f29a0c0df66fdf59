"""CPU cost per received megabyte of modelsync's receiver, against a bare receive loop in the
same run (the ratio is the result, not the absolute numbers).

The datagrams of a generated model (unicast, 9000-byte MTU unless --mtu says otherwise) are
queued on a loopback UDP socket in rounds of --queue datagrams; each round is then drained
by one of these, and only the draining is timed (the thread's CPU time, user and system):

  bare       recv_into into one buffer, nothing else (the floor: the kernel's copy)
  receiver   modelsync's receive path as it runs (Receiver.take: recvmmsg batches of 64,
             checks, CRC-32, pwritev of consecutive chunks, sha256 as chunks arrive,
             arrival times), every file verified at the end
  per-dgram  the same receiver taking one datagram per system call (--batch 1)
  stored     the receiver with a store that holds the model already (as the launcher seeds
             it): chunks hashed on arrival are not written (modelsync.store)

The three alternate, and each reports the median of --repeat runs (the machine is shared).

Queued datagrams fill every batch. At scale they do not: 128 receivers of one sender on 2
cores each see a few hundred datagrams a second. The paced part sends the same datagrams
from a modelsync sender in a process of its own at --paced datagrams per second and times
the receiver's whole run (Receiver.run: reading, polls, NACKs, verification) in two ways:

  woken      a wake-up for every datagram that comes (--coalesce-ms 0)
  coalescing after a batch short of 64, the datagrams gather (--coalesce-ms, 100 by default)

    python -m bench.modelsync_receive [--size 64MB] [--mtu 9000] [--repeat 5] [--queue 512]
                                      [--paced 500] [--paced-size 16MB]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
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
from modelsync.manifest import Manifest  # noqa: E402
from modelsync.receiver import Receiver, ReceiverConfig  # noqa: E402
from modelsync.sender import Sender, SenderConfig  # noqa: E402
from modelsync.sizes import parse_size  # noqa: E402
from modelsync.store import seed  # noqa: E402
from modelsync.targets import ReceiverSpec  # noqa: E402

SO_RCVBUFFORCE = 33


def datagrams(model: Path, m: Manifest, mtu: int) -> list[bytes]:
    cfg = SenderConfig(
        manifest=m, model_dir=model, technology="unicast", mtu=mtu, control_port=0,
        listen_ip="127.0.0.1", receivers=[ReceiverSpec(name="r1", ip="127.0.0.1")],
    )  # fmt: skip
    s = Sender(cfg)
    try:
        return [s.datagram(f, c) for f, n in enumerate(s.counts) for c in range(n)]
    finally:
        s.close()


def _rcvbuf(sock: socket.socket, queue: int, size: int) -> None:
    need = queue * (size + 4096) * 2 + (4 << 20)  # the kernel charges more than the payload
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, need)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, need)


def _rounds(dgrams: list[bytes], queue: int) -> list[list[bytes]]:
    return [dgrams[i : i + queue] for i in range(0, len(dgrams), queue)]


def bare(dgrams: list[bytes], queue: int) -> float:
    """CPU seconds to drain every datagram with recv_into."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _rcvbuf(rx, queue, max(map(len, dgrams)))
    rx.bind(("127.0.0.1", 0))
    addr = rx.getsockname()
    buf = bytearray(65536)
    cpu = 0.0
    try:
        for part in _rounds(dgrams, queue):
            for d in part:
                tx.sendto(d, addr)
            t = time.thread_time()
            for _ in range(len(part)):
                rx.recv_into(buf)
            cpu += time.thread_time() - t
    finally:
        rx.close()
        tx.close()
    return cpu


def receiver(
    m: Manifest, dgrams: list[bytes], queue: int, batch: int, out: Path, store: Path | None = None
) -> float:
    """CPU seconds of modelsync's receive path (Receiver.take) for every datagram."""
    cfg = ReceiverConfig(
        name="r1", manifest=m, out_dir=out, sender_ip="127.0.0.1", sender_port=9,
        port=0, bind="127.0.0.1", group=None, batch=batch, store=store,
    )  # fmt: skip
    r = Receiver(cfg)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _rcvbuf(r.sock, queue, max(map(len, dgrams)))
    addr = r.sock.getsockname()
    r.rx.open(time.time())
    rxb = r.batch_receiver()
    cpu = 0.0
    try:
        for part in _rounds(dgrams, queue):
            for d in part:
                tx.sendto(d, addr)
            left = len(part)
            t = time.thread_time()
            while left > 0:
                n, _ = r.take(rxb, 1.0)
                if n == 0:
                    raise SystemExit("datagrams were lost in the queue: raise --queue's buffer")
                left -= n
            cpu += time.thread_time() - t
        if not r.rx.done:
            raise SystemExit("the receiver did not verify every file")
    finally:
        rxb.close()
        r.rx.close()
        r.close()
        tx.close()
    return cpu


def paced(model: Path, m: Manifest, rate: float, coalesce: float, mtu: int, out: Path) -> float:
    """CPU seconds of a receiver's whole run (Receiver.run) while `python -m modelsync send`
    in a process of its own sends it the model at `rate` datagrams per second (unicast
    over the loopback)."""
    port = 40000 + os.getpid() % 10000
    cfg = ReceiverConfig(
        name="r1", manifest=m, out_dir=out, sender_ip="127.0.0.1", sender_port=port + 1,
        port=port, bind="127.0.0.1", group=None, coalesce=coalesce, linger=0.2, deadline=120,
    )  # fmt: skip
    r = Receiver(cfg)
    targets = out.parent / f"{out.name}-receivers.json"
    targets.write_text(json.dumps([{"name": "r1", "ip": "127.0.0.1", "port": port}]))
    argv = [
        sys.executable, "-m", "modelsync", "send", "--model", str(model),
        "--receivers", str(targets), "--technology", "unicast", "--mtu", str(mtu),
        "--rate", f"{rate * (mtu + 14) * 8 / 1e6:.3f}", "--listen-ip", "127.0.0.1",
        "--control-port", str(port + 1), "--deadline", "120", "--poll-wait", "0.2",
    ]  # fmt: skip
    t = time.thread_time()
    snd = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        code = r.run()
        cpu = time.thread_time() - t
    finally:
        r.close()
        try:
            snd.wait(30)
        except subprocess.TimeoutExpired:
            snd.kill()
    if code != 0:
        raise SystemExit(f"the paced receiver did not verify the model (exit {code})")
    return cpu


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.modelsync_receive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--size", default="64MB", help="model size (default 64MB)")
    ap.add_argument("--mtu", type=int, default=9000, help="frame MTU (default 9000)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each, the median kept (5)")
    ap.add_argument("--queue", type=int, default=512, help="datagrams queued per round")
    ap.add_argument(
        "--paced", type=float, default=500, help="datagrams per second of the paced part (500)"
    )
    ap.add_argument("--paced-size", default="16MB", help="model size of the paced part (16MB)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="msrbench") as tmp:
        model = Path(tmp) / "model"
        m = make_model(model, parse_size(args.size), 4, seed=1)
        dgrams = datagrams(model, m, args.mtu)
        mb = sum(len(d) for d in dgrams) / 1e6
        store = Path(tmp) / "store"
        seed(store, model, m)
        runs: dict[str, list[float]] = {"bare": [], "receiver": [], "per-dgram": [], "stored": []}
        for k in range(args.repeat):
            runs["bare"].append(bare(dgrams, args.queue))
            for name, batch in (("receiver", 64), ("per-dgram", 1), ("stored", 64)):
                out = Path(tmp) / f"out-{name}-{k}"
                kept = store if name == "stored" else None
                runs[name].append(receiver(m, dgrams, args.queue, batch, out, kept))
                shutil.rmtree(out)  # its dirty pages go with it: each run starts alike
        med = {name: statistics.median(v) for name, v in runs.items()}
        small = Path(tmp) / "paced-model"
        pm = make_model(small, parse_size(args.paced_size), 2, seed=2)
        pmb = pm.total_size / 1e6
        pruns: dict[str, list[float]] = {"woken": [], "coalescing": []}
        for k in range(max(1, args.repeat // 2)):
            for name, co in (("woken", 0.0), ("coalescing", ReceiverConfig.coalesce)):
                out = Path(tmp) / f"paced-{name}-{k}"
                pruns[name].append(paced(small, pm, args.paced, co, args.mtu, out))
                shutil.rmtree(out)
        pmed = {name: statistics.median(v) for name, v in pruns.items()}
    print(
        f"model {args.size}: {len(dgrams)} datagrams of up to {max(map(len, dgrams))} bytes "
        f"(MTU {args.mtu}), {mb:.1f} MB received per run; medians of {args.repeat} runs"
    )
    for name, cpu in med.items():
        print(f"{name:10s} {cpu * 1e3 / mb:8.2f} ms CPU per MB  ({mb / cpu:7.0f} MB/s per core)")
    print(f"ratio receiver / bare loop    {med['receiver'] / med['bare']:6.2f} x")
    print(f"ratio per-dgram / bare loop   {med['per-dgram'] / med['bare']:6.2f} x")
    print(f"ratio per-dgram / receiver    {med['per-dgram'] / med['receiver']:6.2f} x")
    print(f"ratio stored / receiver       {med['stored'] / med['receiver']:6.2f} x")
    print(
        f"paced at {args.paced:g} datagrams/s, model {args.paced_size} "
        f"(the receiver's whole run; medians of {max(1, args.repeat // 2)})"
    )
    for name, cpu in pmed.items():
        x = cpu / pmb / (med["bare"] / mb)
        print(f"{name:10s} {cpu * 1e3 / pmb:8.2f} ms CPU per MB  ({x:6.2f} x the bare loop)")
    print(f"ratio woken / coalescing      {pmed['woken'] / pmed['coalescing']:6.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
