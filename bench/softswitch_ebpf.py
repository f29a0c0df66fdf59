"""Benchmark: softswitch's eBPF backend against its Python backend and the bare Python loop,
side by side in one run, driven by trafgen (netsniff-ng, C) on veth pairs.

    python -m bench.softswitch_ebpf [--seconds 3] [--rounds 3]

Workloads: (a) IPv4 forwarding (ref_l3_mcast, LPM route), 100-byte frames, port 1 -> 2;
(b) one in, eight out (multicast group of ports 2..9), 1,400-byte frames; (c) BIER (bier.p4,
BSL 256) to 8 neighbours on ports 2..9 (a BitString with a bit of each), 1,400-byte frames.
Each forwarder is a `python -m softswitch` process programmed over P4Runtime (`--backend
ebpf`, `--backend python`), or the bare loop of bench.softswitch_switch (receive, send to
every output; no pipeline). trafgen floods port 1 from CPU 0. The kernel handles a frame sent
on a veth in the sender's softirq, so the eBPF backend forwards on CPU 0 as well, sharing that
one core with the generator (a handicap: its rate is a lower bound); the Python forwarders
are pinned to CPU 1, with the kernel's receive work for them done on CPU 0. Counted by
the kernel: offered = received on the switch end of port 1, forwarded = frames sent on the
output ports (per output port for b and c, i.e. input frames fully replicated). Also: both
CPUs' busy shares. Forwarders alternate round by round
(this VM's speed drifts); medians are reported, with the ratios eBPF / Python and the goals.
Memory per switch: the switch process's RSS and the kernel memory of its BPF maps.
Needs root and trafgen (make setup).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.softswitch_switch import _pin, start_bare  # noqa: E402
from testsupport.harness import Testbed  # noqa: E402

OUT_PORTS = list(range(2, 10))
VARIANTS = 64  # frames offered in turn (IPv4 identification differs)
GOALS = {"a": 1_000_000, "b": 150_000, "c": 150_000}


# ---- frames --------------------------------------------------------------------------------
def ipv4_frames(dst: str, dport: int, size: int) -> list[bytes]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    out = []
    for ident in range(VARIANTS):
        p = (
            Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09")
            / IP(src="10.9.0.1", dst=dst, ttl=64, id=ident)
            / UDP(sport=7, dport=dport)
        )
        out.append(bytes(p / (b"\x00" * max(0, size - len(p)))))
    return out


def bier_frames(size: int) -> list[bytes]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from wire.bier import BIER, bitstring

    out = []
    bits = bitstring(list(range(1, 9)), 256, 0)
    for ident in range(VARIANTS):
        p = (
            Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09")
            / BIER(bift_id=1, ttl=64, bsl=3, proto=4, bitstring=bits)
            / IP(src="10.9.0.1", dst="239.1.0.1", ttl=64, id=ident)
            / UDP(sport=7, dport=5000)
        )
        out.append(bytes(p / (b"\x00" * max(0, size - len(p)))))
    return out


def trafgen_config(frames: list[bytes], path: Path) -> None:
    with path.open("w") as f:
        for fr in frames:
            f.write("{ " + ", ".join(f"0x{b:02x}" for b in fr) + " }\n")


# ---- programming over P4Runtime ------------------------------------------------------------
def program_l3(tb: Testbed) -> None:
    from finsy.proto import p4i
    from google.protobuf import text_format

    from softswitch.core.program import Program
    from testsupport import corpus

    d = corpus.corpus_dir()
    info = text_format.Parse((d / "ref_l3_mcast.p4info.txtpb").read_text(), p4i.P4Info())
    blob = Program.from_file(str(d / "ref_l3_mcast.p4")).device_config()
    c = tb.client()
    c.set_pipeline(info, blob)
    ups = [
        c.insert(c.table_entry(e.table, e.match, e.action, e.params, e.priority))
        for e in corpus.L3_MCAST_ENTRIES
    ]
    c.write([*ups, c.insert(c.multicast_group(1, [(p, 1) for p in OUT_PORTS]))])


def program_bier(tb: Testbed) -> None:
    from softswitch.core.program import Program
    from softswitch.entries import Exact

    prog = Program.from_file(str(REPO / "p4src" / "bier.p4"), defines={"BSL": "256"})
    c = tb.client()
    c.set_pipeline(prog.p4info, prog.device_config())
    fbms = [1 << i for i in range(8)]  # neighbour i owns BFR-id i + 1
    slots = {f"fbm{i}": fbms[i] for i in range(8)}
    ups = [
        c.insert(c.table_entry("MyIngress.bier_bift", {"hdr.bier.bift_id": Exact(1)},
                               "MyIngress.bier_set_slots", {"si": 0, "group_base": 0, **slots}))
    ]  # fmt: skip
    for i, port in enumerate(OUT_PORTS):
        key = {"meta.bier_si": Exact(0), "standard_metadata.egress_rid": Exact(i + 1)}
        nh = {"fbm": fbms[i], "dmac": 0x020000000100 + i}
        ups.append(c.insert(c.table_entry("MyEgress.bier_nh", key, "MyEgress.nh_neighbor", nh)))
        ups.append(c.insert(c.table_entry(
            "MyEgress.port_mac", {"standard_metadata.egress_port": Exact(port)},
            "MyEgress.set_src_mac", {"mac": 0x025E00010000 + port})))  # fmt: skip
    c.write(ups)
    c.write([c.insert(c.multicast_group(255, [(p, i + 1) for i, p in enumerate(OUT_PORTS)]))])


# ---- measuring -----------------------------------------------------------------------------
def counter(iface: str, what: str) -> int:
    return int(Path(f"/sys/class/net/{iface}/statistics/{what}").read_text())


def cpu_busy(cpu: int) -> tuple[float, float]:
    """(busy, total) jiffies of one CPU."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + v[4]
            return sum(v) - idle, sum(v)
    return 0.0, 1.0


def task_seconds(pids: list[int]) -> float:
    """Run time of every thread of these processes (schedstat: exact, not tick-sampled)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, IndexError, ValueError):  # a thread just ended
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def group_pids(pgid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            out.append(int(stat.parent.name))
    return out


def ksoftirqd() -> list[int]:
    out = []
    for p in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):  # a process that just ended
            if p.read_text().startswith("ksoftirqd/"):
                out.append(int(p.parent.name))
    return out


def measure(
    tb: Testbed,
    cfg: Path,
    outs: list[int],
    seconds: float,
    forwarder: int | None,
    steer: bool = False,
) -> tuple[float, float, float, float, float]:
    """Flood port 1 for `seconds`: (offered pps, forwarded input pps, CPU 0 and CPU 1 busy
    shares, forwarded frames per CPU-second). The CPU is the forwarder process's (Python
    backend, bare loop) or, for the eBPF backend (forwarder None), trafgen's with the
    ksoftirqd threads': without IRQ time accounting the kernel charges the softirq work a
    sender triggers to the sender, so this is generating and forwarding together, a lower
    bound of what one core forwards. Other processes' load does not enter it.

    steer: the receive work of port 1 goes to CPU 1 (RPS), so that the eBPF backend forwards
    on a core of its own, as the Python forwarders do; trafgen then sends with sendto (its
    rate-limited path): with RPS, its zero-copy TX ring stalls once frames are redirected on
    another CPU. The eBPF figure per CPU-second is then CPU 1's busy time (other load on
    CPU 1 included: a lower bound)."""
    s1 = tb.switch_iface(1)
    Path(f"/sys/class/net/{s1}/queues/rx-0/rps_cpus").write_text("2" if steer else "0")
    cmd = ["ip", "netns", "exec", tb.ns(1), "taskset", "-c", "0", "trafgen", "--dev",
           f"{tb.tag}h1", "--conf", str(cfg), "--cpus", "1", "--no-sock-mem",
           *(["-b", "20000000pps"] if steer else [])]  # fmt: skip
    # its own process group: trafgen forks its workers, and SIGINT must reach them all
    gen = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        time.sleep(0.5)  # warm-up
        who = group_pids(gen.pid) + ksoftirqd() if forwarder is None else [forwarder]
        cpu0 = task_seconds(who)
        rx0 = counter(s1, "rx_packets")
        tx0 = [counter(tb.switch_iface(p), "tx_packets") for p in outs]
        b0, t0 = cpu_busy(1)
        c0, u0 = cpu_busy(0)
        start = time.monotonic()
        time.sleep(seconds)
        dt = time.monotonic() - start
        rx1 = counter(s1, "rx_packets")
        tx1 = [counter(tb.switch_iface(p), "tx_packets") for p in outs]
        b1, t1 = cpu_busy(1)
        c1, u1 = cpu_busy(0)
        cpu = task_seconds(who) - cpu0
        if steer and forwarder is None:
            cpu = (b1 - b0) / os.sysconf("SC_CLK_TCK")  # CPU 1's busy time
    finally:
        os.killpg(gen.pid, signal.SIGINT)
        try:
            gen.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(gen.pid, signal.SIGKILL)
            gen.wait(10)
    offered = (rx1 - rx0) / dt
    forwarded = sum(b - a for a, b in zip(tx0, tx1, strict=True)) / len(outs) / dt
    per_cpu = forwarded * dt / cpu if cpu > 0 else 0.0
    return offered, forwarded, (c1 - c0) / max(u1 - u0, 1), (b1 - b0) / max(t1 - t0, 1), per_cpu


def memory(tb: Testbed) -> tuple[int, int]:
    """(RSS of the switch process, kernel memory of its BPF maps) in bytes."""
    assert tb.proc is not None
    rss = 0
    for line in Path(f"/proc/{tb.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    maps = 0
    for fd in Path(f"/proc/{tb.proc.pid}/fdinfo").iterdir():
        try:
            text = fd.read_text()
        except OSError:
            continue
        if "map_type:" in text:
            for line in text.splitlines():
                if line.startswith("memlock:"):
                    maps += int(line.split()[1])
    return rss, maps


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.softswitch_ebpf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload")
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    ap.add_argument(
        "--steer",
        action="store_true",
        help="forward on CPU 1 (RPS), trafgen on CPU 0 with sendto: one core per forwarder",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("bench softswitch_ebpf: needs root (namespaces, veth, BPF)", file=sys.stderr)
        return 2
    if shutil.which("trafgen") is None:
        print("bench softswitch_ebpf: needs trafgen (netsniff-ng; make setup)", file=sys.stderr)
        return 2
    from softswitch.ebpf.backend import availability

    ok, why = availability()
    if not ok:
        print(f"bench softswitch_ebpf: the eBPF backend cannot run here: {why}", file=sys.stderr)
        return 2
    workloads = [
        ("a", "IPv4 forwarding, 100 B", ipv4_frames("10.1.2.3", 4000, 100), [2], program_l3),
        ("b", "1-in-8-out, 1400 B", ipv4_frames("239.1.1.5", 1500, 1400), OUT_PORTS, program_l3),
        ("c", "BIER 256 to 8 neighbours, 1400 B", bier_frames(1400), OUT_PORTS, program_bier),
    ]
    ports = list(range(1, 10))
    results: dict[str, dict[str, list]] = {}
    mem: dict[str, tuple[int, int]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="ssbench-"))
    try:
        with (
            Testbed(ports=ports, cpu_port=255, extra_args=["--backend", "ebpf"]) as ebpf_tb,
            Testbed(ports=ports, cpu_port=255, extra_args=["--backend", "python"]) as py_tb,
            Testbed(ports=ports, cpu_port=None, start=False) as bare_tb,
        ):
            for tb in (ebpf_tb, py_tb):
                assert tb.proc is not None
                _pin(tb.proc.pid, 1)
            for tb in (ebpf_tb, py_tb, bare_tb):
                for hp in tb.ports.values():
                    hp.sock.close()  # counted by the kernel: no capture socket on the hosts
            for key, what, frames, outs, prog in workloads:
                cfg = tmp / f"{key}.cfg"
                trafgen_config(frames, cfg)
                prog(ebpf_tb)
                prog(py_tb)
                mem[key] = memory(ebpf_tb)
                bare = start_bare(bare_tb, [bare_tb.switch_iface(p) for p in outs])
                rows: dict[str, list] = {"ebpf": [], "python": [], "bare loop": []}
                try:
                    for _ in range(args.rounds):
                        st = args.steer
                        rows["ebpf"].append(measure(ebpf_tb, cfg, outs, args.seconds, None, st))
                        rows["python"].append(
                            measure(py_tb, cfg, outs, args.seconds, py_tb.proc.pid, st)
                        )
                        rows["bare loop"].append(
                            measure(bare_tb, cfg, outs, args.seconds, bare.pid, st)
                        )
                finally:
                    bare.terminate()
                    bare.wait()
                results[key] = rows
                print(f"({key}) {what}: done", flush=True)
            alive = ebpf_tb.alive() and py_tb.alive()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(workloads, results, mem, alive)
    return 0


def report(workloads: list, results: dict, mem: dict, alive: bool) -> None:
    med = statistics.median
    print(f"{'workload (medians)':36} {'forwarder':10} {'offered':>10} {'forwarded':>10} "
          f"{'CPU0':>5} {'CPU1':>5} {'per CPU-s':>10}")  # fmt: skip
    for key, what, *_ in workloads:
        for name, rows in results[key].items():
            off, fwd, busy0, busy1, per_cpu = (med(r[i] for r in rows) for i in range(5))
            print(f"({key}) {what:32} {name:10} {off:10.0f} {fwd:10.0f} {busy0:5.0%} "
                  f"{busy1:5.0%} {per_cpu:10.0f}")  # fmt: skip
        e, ec = (med(r[i] for r in results[key]["ebpf"]) for i in (1, 4))
        p, pc = (med(r[i] for r in results[key]["python"]) for i in (1, 4))
        per_round = ", ".join(f"{r[1]:.0f}" for r in results[key]["ebpf"])
        met = e >= GOALS[key] and (key != "a" or e >= 5 * p)
        met_cpu = ec >= GOALS[key] and (key != "a" or ec >= 5 * pc)
        print(f"{'':36} eBPF per round: {per_round}; eBPF / Python {e / p if p else 0:.1f}x "
              f"(per CPU-s {ec / pc if pc else 0:.1f}x); goal {GOALS[key]:,} pps"
              f"{' and 5x Python' if key == 'a' else ''}: wall clock "
              f"{'met' if met else 'NOT met'}, "
              f"per CPU-second {'met' if met_cpu else 'NOT met'}")  # fmt: skip
        rss, maps = mem[key]
        print(f"{'':36} memory of the eBPF switch: process RSS {rss / 2**20:.1f} MiB, "
              f"BPF maps {maps / 2**20:.1f} MiB")  # fmt: skip
    print(f"load average at the end: {os.getloadavg()}; switches alive after the run: {alive}")
    print("offered: frames received on port 1 per second; forwarded: input frames sent on every "
          "output port per second; CPU0 (generator, eBPF forwarding) and CPU1 (Python forwarders): "
          "busy shares; per CPU-s: forwarded frames per CPU-second of the forwarder (eBPF: "
          "generator and kernel together)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
