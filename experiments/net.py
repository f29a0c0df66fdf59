"""`make net TOPO=...`: bring a topology up and open the Mininet CLI with the testbed's
commands (fail/restore links, show tables; `help testbed`).

    python -m experiments.net diamond|FILE.yaml [--target auto|softswitch|bmv2|bridge]
        [--program NAME|FILE.json] [--prefix P] [--controller MODULE:FACTORY] [--no-cli]

With --no-cli the network stays up until SIGTERM or Ctrl-C (it prints `ready RUN-ID` first).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import topologies
from testbed import hooks
from testbed.network import Network, NetworkError
from testbed.switches import SwitchStartError
from topologies.generators import FIXED

FIXED_DIR = Path(topologies.__file__).parent / "fixed"


def topology_path(arg: str) -> Path:
    if arg in FIXED:
        return FIXED_DIR / f"{arg}.yaml"
    return Path(arg)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m experiments.net", description=__doc__)
    ap.add_argument("topo", nargs="?", default="diamond", help=f"{'|'.join(FIXED)} or a file")
    ap.add_argument("--target", default="auto", choices=["auto", "softswitch", "bmv2", "bridge"])
    ap.add_argument("--program", default=None, help="P4 program name or device-config .json")
    ap.add_argument("--prefix", default="", help="prepended to node and interface names")
    ap.add_argument("--grpc-port-base", type=int, default=9559)
    ap.add_argument("--delay", choices=["refuse", "netem", "ignore"], default="refuse")
    ap.add_argument("--port-status-register", default=None)
    ap.add_argument(
        "--controller",
        default=None,
        help=f"control plane factory MODULE:ATTR (default: {hooks.DEFAULT_FACTORY} if present)",
    )
    ap.add_argument("--no-cli", action="store_true", help="stay up until SIGTERM/Ctrl-C")
    return ap


def controller(spec: str | None) -> object | None:
    try:
        return hooks.load_factory(spec or hooks.DEFAULT_FACTORY)()
    except (ImportError, AttributeError) as e:
        if spec is not None:
            raise
        print(
            f"net: no control plane attached ({hooks.DEFAULT_FACTORY}: {e}); the switches "
            "stay unprogrammed and `tables` has nothing to show",
            file=sys.stderr,
        )
        return None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        topo = topologies.load(topology_path(args.topo))
        net = Network(
            topo,
            args.target,
            args.program,
            prefix=args.prefix,
            grpc_port_base=args.grpc_port_base,
            delay=args.delay,
            port_status_register=args.port_status_register,
            say=lambda m: print(f"net: {m}", file=sys.stderr),
        )
        cp = controller(args.controller)
    except (topologies.TopologyError, NetworkError, SwitchStartError, ValueError, OSError) as e:
        print(f"net: error: {e}", file=sys.stderr)
        return 2
    try:
        with net:
            if net.blocked_links:
                print(
                    f"net: bridge baseline: links kept out of the bridges to avoid loops: "
                    f"{', '.join(net.blocked_links)}",
                    file=sys.stderr,
                )
            if cp is not None:
                net.attach(cp)
            print(f"ready {net.run_id} (logs: {net.log_dir})", flush=True)
            if args.no_cli:
                _wait()
            else:
                from testbed.cli import TestbedCLI

                TestbedCLI(net)
            if cp is not None:
                cp.stop()  # type: ignore[attr-defined]
    except (NetworkError, SwitchStartError) as e:
        print(f"net: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _wait() -> None:
    # SIGTERM raises SystemExit (Network's handler) and Ctrl-C KeyboardInterrupt: both unwind
    # through `with net`, which tears everything down.
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
