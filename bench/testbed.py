"""Benchmark: bring-up and teardown time of the multi-cloud topology with 100 GPU hosts
(5 clouds x 4 leaves x 5 hosts, 31 switches, 133 links), with P4 switches (softswitch, or BMv2
where installed) against the same topology with plain Linux bridges, in the same run.

    python -m bench.testbed [--clouds 5 --leaves 4 --hosts 5] [--repeat 1] [--target auto]

Bring-up: from Network.start() until every switch serves P4Runtime (bridges: are up) and
every host is configured. Teardown: Network.stop(). Also checked after each run: nothing of
ours is left (interfaces with the benchmark's prefix). Needs root.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import topologies  # noqa: E402
from testbed.network import Network  # noqa: E402
from testbed.switches import SwitchStartError, choose_target  # noqa: E402
from topologies import generators as gen  # noqa: E402


def one_run(
    topo: topologies.Topology, target: str, prefix: str, base: int, program: str | None
) -> tuple[float, float]:
    program = None if target == "bridge" else program
    net = Network(topo, target, program, prefix=prefix, grpc_port_base=base, ready_timeout=180)
    t0 = time.perf_counter()
    try:
        net.start()
        up = time.perf_counter() - t0
    finally:
        t1 = time.perf_counter()
        net.stop()
        down = time.perf_counter() - t1
    left = [n for n in os.listdir("/sys/class/net") if n.startswith(prefix)]
    if left:
        raise SystemExit(f"bench: {target}: left behind: {left}")
    return up, down


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.testbed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--clouds", type=int, default=5, help="GPU clouds (5)")
    ap.add_argument("--leaves", type=int, default=4, help="leaf switches per cloud (4)")
    ap.add_argument("--hosts", type=int, default=5, help="GPU hosts per leaf (5)")
    ap.add_argument("--repeat", type=int, default=1, help="bring-ups of each (1)")
    ap.add_argument("--target", default="auto", help="the P4 target (auto: BMv2, else softswitch)")
    ap.add_argument(
        "--program", default=None, help="P4 program loaded at start (default: none, --no-p4)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("bench.testbed: needs root (Mininet)", file=sys.stderr)
        return 2
    spec = gen.CloudSpec(leaves=args.leaves, hosts=args.hosts)
    topo = topologies.from_dict(gen.multicloud(args.clouds, spec))
    print(
        f"topology {topo.name}: {len(topo.switches)} switches, {len(topo.gpu_hosts())} GPU "
        f"hosts, {len(topo.links)} links"
    )
    try:
        cls, note = choose_target(args.target)
        p4 = cls.target
        print(f"{note}; program: {args.program or 'none (--no-p4)'}")
    except SwitchStartError as e:
        p4 = None
        print(f"P4 switches not available ({e}): Linux bridges only")
    results: dict[str, list[tuple[float, float]]] = {"bridge": []}
    if p4:
        results[p4] = []
    base = random.randrange(20000, 40000)
    for i in range(args.repeat):
        for target in results:
            prefix = f"eb{i}"
            up, down = one_run(topo, target, prefix, base, args.program)
            results[target].append((up, down))
            print(f"  run {i + 1} {target:10s} bring-up {up:6.2f} s  teardown {down:6.2f} s")
    med = {
        t: (statistics.median(u for u, _ in r), statistics.median(d for _, d in r))
        for t, r in results.items()
    }
    print(f"{'target':12s} {'bring-up s':>11s} {'teardown s':>11s} {'x bridge up':>12s} "
          f"{'x bridge down':>14s}")  # fmt: skip
    bu, bd = med["bridge"]
    for t, (u, d) in med.items():
        print(f"{t:12s} {u:11.2f} {d:11.2f} {u / bu:12.2f} {d / bd:14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
