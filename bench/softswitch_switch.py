"""Benchmark: packets per second through one softswitch process on veth pairs, against a bare
Python AF_PACKET forward loop (no pipeline) on veth pairs of its own, in the same run.

    python -m bench.softswitch_switch [--rounds 3] [--seconds 2] [--small 100] [--large 1400]

(a) IPv4 forwarding (ref_l3_mcast, LPM route) with small frames, port 1 -> port 2;
(b) one-in, eight-out replication (multicast group of ports 2..9) with 1,400-byte frames.
The forwarder (switch or bare loop) is pinned to one CPU and the traffic generator to the
other when there are two (the receiving thread with the generator). Reported: offered and
delivered packets per second (input frames forwarded per second, counted on port 2), the same
per CPU second the forwarder process ran (exact scheduler run time: what one whole core would
give, much steadier than wall-clock rates on a shared, loaded machine; softirq time the kernel
accounts apart is not in it, for either forwarder), and the ratios switch / bare loop. The
bare loop, the switch and the pipeline alone (in this process) are measured in alternating
rounds and the medians reported: this VM's speed drifts by tens of percent within minutes,
so figures taken minutes apart would compare the drift. Results and what limits them:
softswitch/server/README.md, "Throughput". Needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testbed.netns import in_netns  # noqa: E402
from testsupport.harness import (  # noqa: E402
    PYTHON,
    Testbed,
)

ETH_P_ALL = 0x0003


def bare_loop(in_iface: str, out_ifaces: list[str]) -> None:
    """The baseline: receive on one interface, send every frame to each output interface."""
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
    rx.setsockopt(263, 23, 1)  # PACKET_IGNORE_OUTGOING
    rx.bind((in_iface, 0))
    outs = []
    for name in out_ifaces:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        outs.append(s)
    print("ready", flush=True)
    ep = select.epoll()
    ep.register(rx.fileno(), select.EPOLLIN)
    rx.setblocking(False)
    while True:
        ep.poll()
        for _ in range(64):
            try:
                frame = rx.recv(65536)
            except BlockingIOError:
                break
            for s in outs:
                try:  # noqa: SIM105 (cheaper than contextlib.suppress per frame)
                    s.send(frame)
                except OSError:
                    pass


def _pin(pid: int, cpu: int) -> None:
    if os.cpu_count() and os.cpu_count() >= 2:
        os.sched_setaffinity(pid, {cpu})


def cpu_seconds(pid: int) -> float:
    """CPU time process `pid` has run so far, all threads: the scheduler's exact run time
    (schedstat), not the tick-sampled utime/stime, which is coarse for a starved process."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def measure(
    tb: Testbed, frame: list[bytes], seconds: float, rate: float = 0, pid: int | None = None
) -> tuple[float, float, float]:
    """Offer the frames of `frame` in turn on port 1 for `seconds`, at `rate` pps (0: as
    fast as one CPU allows); return (offered pps, delivered pps on port 2, frames delivered
    per CPU second of the forwarder process `pid`). The last one hardly depends on how much
    of its CPU the forwarder got on a loaded machine: it is the rate one whole core would
    give."""

    def make_tx() -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((f"{tb.tag}h1", 0))
        return s

    tx = in_netns(tb.ns(1), make_tx)
    rx = tb.ports[2].sock
    tb.drain()
    count, first, last = 0, 0.0, 0.0
    done = threading.Event()

    def receive() -> None:
        nonlocal count, first, last
        # With the generator, off the forwarder's CPU: its wake-ups would steal the
        # forwarder's time (pid 0 = this thread).
        _pin(0, 0)
        while True:
            r, _, _ = select.select([rx], [], [], 1.0)
            if not r:
                if done.is_set():
                    return
                continue
            while True:
                try:
                    _, addr = rx.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == 4:
                    continue
                now = time.perf_counter()
                if count == 0:
                    first = now
                last = now
                count += 1

    t = threading.Thread(target=receive)
    cpu0 = cpu_seconds(pid) if pid else 0.0
    t.start()
    _pin(0, 0)
    sent, start = 0, time.perf_counter()
    end = start + seconds
    burst = 64 if rate else 256
    while (now := time.perf_counter()) < end:
        if rate and sent > (now - start) * rate:
            time.sleep(burst / rate / 4)
            continue
        for i in range(burst):
            try:
                tx.send(frame[i & VARIANTS_MASK])
                sent += 1
            except OSError:
                pass
    offered = sent / (time.perf_counter() - start)
    done.set()
    t.join()
    cpu = cpu_seconds(pid) - cpu0 if pid else 0.0
    tx.close()
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    delivered = (count - 1) / (last - first) if count > 1 and last > first else 0.0
    return offered, delivered, count / cpu if cpu > 0 else 0.0


VARIANTS_MASK = 255  # frames offered in turn: 256, one per IPv4 identification


def frames(small: int, large: int) -> tuple[list[bytes], list[bytes]]:
    """256 frames of each kind that differ in the IPv4 identification (and so in the
    checksum), as real traffic does: a pipeline that remembers its last frame's work gains
    nothing from it."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    def mk(dst: str, dport: int, size: int) -> list[bytes]:
        out = []
        for ident in range(VARIANTS_MASK + 1):
            p = (
                Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09")
                / IP(src="10.9.0.1", dst=dst, ttl=64, id=ident)
                / UDP(sport=7, dport=dport)
            )
            out.append(bytes(p / (b"\x00" * max(0, size - len(p)))))
        return out

    return mk("10.1.2.3", 4000, small), mk("239.1.1.5", 1500, large)


GROUP_PORTS = range(2, 10)  # (b): one in, eight out


def program(tb: Testbed) -> None:
    """Load ref_l3_mcast over P4Runtime with the entries `core_switch` has."""
    from finsy.proto import p4i
    from google.protobuf import text_format

    from softswitch import api
    from testsupport import corpus

    d = corpus.corpus_dir()
    info = text_format.Parse((d / "ref_l3_mcast.p4info.txtpb").read_text(), p4i.P4Info())
    blob = api.Program.from_file(str(d / "ref_l3_mcast.p4")).device_config()
    c = tb.client()
    c.set_pipeline(info, blob)
    entries = [
        c.insert(c.table_entry(e.table, e.match, e.action, e.params, e.priority))
        for e in corpus.L3_MCAST_ENTRIES
    ]
    c.write([*entries, c.insert(c.multicast_group(1, [(p, 1) for p in GROUP_PORTS]))])


def core_switch() -> Any:
    """The switch of `program` in this process."""
    from testsupport import corpus

    return corpus.l3_mcast_switch(GROUP_PORTS)


def core_pps(sw: Any, frame: list[bytes], seconds: float) -> tuple[float, float]:
    """Switch.process alone, in this process, no I/O: what the pipeline itself costs
    (frames per wall second, frames per CPU second)."""
    _pin(0, 1)
    n, start, cpu0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - start < seconds:
        for f in frame:
            sw.process(1, f)
        n += len(frame)
    rate = n / (time.perf_counter() - start)
    cpu_rate = n / max(time.thread_time() - cpu0, 1e-9)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return rate, cpu_rate


def start_bare(tb: Testbed, outs: list[str]) -> subprocess.Popen:
    """The bare loop on `tb`'s port 1 forwarding to `outs`, pinned like the switch."""
    proc = subprocess.Popen(
        [
            str(PYTHON),
            "-c",
            "import sys; from bench.softswitch_switch import bare_loop;"
            f"bare_loop({tb.switch_iface(1)!r}, {outs!r})",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    _pin(proc.pid, 1)
    return proc


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.softswitch_switch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload")
    ap.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    ap.add_argument("--small", type=int, default=100, help="frame size for (a), bytes")
    ap.add_argument("--large", type=int, default=1400, help="frame size for (b), bytes")
    ap.add_argument("--rate", type=float, default=0, help="offered pps (default: flood)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("bench softswitch_switch: needs root (namespaces, veth)", file=sys.stderr)
        return 2
    small, large = frames(args.small, args.large)
    core = core_switch()
    rows = []
    with (
        Testbed(ports=range(1, 10), cpu_port=None, start=False) as bare_tb,
        Testbed(ports=range(1, 10), cpu_port=None) as sw_tb,
    ):
        assert sw_tb.proc is not None
        _pin(sw_tb.proc.pid, 1)
        program(sw_tb)
        for frame, what, outs in (
            (small, f"IPv4 forwarding, {len(small[0])} B", [2]),
            (large, f"1-in-8-out replication, {len(large[0])} B", list(GROUP_PORTS)),
        ):
            bare_proc = start_bare(bare_tb, [bare_tb.switch_iface(p) for p in outs])
            bare, sw, alone = [], [], []
            try:
                for _ in range(args.rounds):  # alternating: all three see the same drift
                    bare.append(measure(bare_tb, frame, args.seconds, args.rate, bare_proc.pid))
                    sw.append(measure(sw_tb, frame, args.seconds, args.rate, sw_tb.proc.pid))
                    alone.append(core_pps(core, frame, args.seconds / 2))
            finally:
                bare_proc.terminate()
                bare_proc.wait()
            rows.append((what, bare, sw, alone))
        alive = sw_tb.alive()
    med = statistics.median
    print(
        f"{'workload (medians)':34} {'bare offered':>12} {'bare pps':>9} {'sw offered':>10} "
        f"{'softswitch pps':>14} {'ratio':>6} {'bare/CPU-s':>10} {'sw/CPU-s':>9} {'ratio':>6} "
        f"{'core-only pps':>13} {'core/CPU-s':>10}"
    )
    for what, bare, sw, alone in rows:
        bo, bd, bc = (med(x[i] for x in bare) for i in range(3))
        so, sd, sc = (med(x[i] for x in sw) for i in range(3))
        core_w, core_c = (med(x[i] for x in alone) for i in range(2))
        print(
            f"{what:34} {bo:12.0f} {bd:9.0f} {so:10.0f} {sd:14.0f} {sd / bd if bd else 0:6.3f} "
            f"{bc:10.0f} {sc:9.0f} {sc / bc if bc else 0:6.3f} {core_w:13.0f} {core_c:10.0f}"
        )
        per_round = ", ".join(f"{x[1]:.0f}" for x in sw)
        ratios = ", ".join(f"{s_[1] / b[1]:.3f}" for s_, b in zip(sw, bare, strict=True) if b[1])
        print(f"{'':34} softswitch pps per round: {per_round}; ratio per round: {ratios}")
    print(
        "pps: frames delivered per wall second; /CPU-s: frames delivered per CPU second the "
        "forwarder process used (what one whole core would give; steadier on a loaded machine)"
    )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print("core-only: Switch.process in this process without sockets, pinned like the switch")
    print(f"goal (a): 80000 pps (median); switch alive after the run: {alive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
