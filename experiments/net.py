"""`make net TOPO=...`: bring a topology up and open the Mininet CLI with the testbed's
commands (fail/restore links, show tables; `help testbed`).

    python -m experiments.net diamond|FILE.yaml [--target auto|softswitch|bmv2|bridge]
        [--program NAME|FILE.json] [--prefix P] [--controller MODULE:FACTORY] [--no-cli]

With --no-cli the network stays up until SIGTERM or Ctrl-C (it prints `ready RUN-ID` first).
In the CLI, Ctrl-C interrupts the command that runs, never the network: `exit` or Ctrl-D
ends it. Log records of the control plane and its libraries go to net.log in the log folder
(errors are also printed), not into the prompt line.

The control plane: --controller MODULE:FACTORY (called with no arguments) if given, else
controlplane.testbed:ControlPlane(technology=--technology, build=--build): it connects to
every switch, pushes the pipeline from build/<target>/, installs the technology's state and
reacts to the network's link events.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import topologies
from experiments.runner import REPO, RunnerUnavailable, ensure_programs
from testbed import hooks
from testbed.network import Network, NetworkError
from testbed.switches import SwitchStartError
from topologies.generators import FIXED
from wire.technology import P4

FIXED_DIR = Path(topologies.__file__).parent / "fixed"


def topology_path(arg: str) -> Path:
    if arg in FIXED:
        return FIXED_DIR / f"{arg}.yaml"
    return Path(arg)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.net",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("topo", nargs="?", default="diamond", help=f"{'|'.join(FIXED)} or a file")
    ap.add_argument(
        "--target",
        default="auto",
        choices=["auto", "softswitch", "bmv2", "bridge"],
        help="the switches: auto (BMv2 where installed, else softswitch), or Linux bridges",
    )
    ap.add_argument("--program", default=None, help="P4 program name or device-config .json")
    ap.add_argument("--prefix", default="", help="prepended to node and interface names")
    ap.add_argument(
        "--grpc-port-base", type=int, default=9559, help="switch N serves P4Runtime on base + N"
    )
    ap.add_argument(
        "--delay",
        choices=["refuse", "netem", "ignore"],
        default="refuse",
        help="links with a delay where the kernel has no netem: refuse or ignore the delay",
    )
    ap.add_argument(
        "--port-status-register",
        default=None,
        help="register the switches set to 1 at [port] while the port is down",
    )
    ap.add_argument(
        "--thrift-port-base", type=int, default=9090, help="BMv2's Thrift ports: base + N"
    )
    ap.add_argument("--pcap", action="store_true", help="per-port pcaps in the switch logs")
    ap.add_argument("--debug-log", action="store_true", help="switches log at debug level")
    ap.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="switch logs here (default: a temporary folder, kept and printed)",
    )
    ap.add_argument(
        "--controller",
        default=None,
        help=f"control plane factory MODULE:ATTR (default: {hooks.DEFAULT_FACTORY} if present)",
    )
    ap.add_argument(
        "--technology",
        default="unicast",
        choices=list(P4),
        help="what the control plane installs",
    )
    ap.add_argument("--build", type=Path, default=None, help="compiled programs (build/)")
    ap.add_argument("--no-controller", action="store_true", help="leave the switches empty")
    ap.add_argument("--no-cli", action="store_true", help="stay up until SIGTERM/Ctrl-C")
    return ap


def controller(args: argparse.Namespace, target: str) -> Any | None:
    if args.no_controller or target == "bridge":
        return None
    if args.controller:
        return hooks.load_factory(args.controller)()
    try:
        factory = hooks.load_factory(hooks.DEFAULT_FACTORY)
    except (ImportError, AttributeError) as e:
        print(
            f"net: no control plane attached ({hooks.DEFAULT_FACTORY}: {e}); the switches "
            "stay unprogrammed and `tables` has nothing to show",
            file=sys.stderr,
        )
        return None
    # A fresh clone has no build/: compile the programs the control plane pushes, as the
    # experiment runner does.
    build = args.build if args.build is not None else REPO / "build"
    try:
        ensure_programs(build, target, lambda m: print(f"net: {m}", file=sys.stderr))
    except RunnerUnavailable as e:
        raise ValueError(str(e)) from e
    return factory(technology=args.technology, build=build)


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
            thrift_port_base=args.thrift_port_base,
            pcap=args.pcap,
            debug_log=args.debug_log,
            log_dir=args.log_dir,
            keep_logs=True,  # the path is printed for the user to read afterwards
            say=lambda m: print(f"net: {m}", file=sys.stderr),
        )
        cp = controller(args, net.target)
    except (
        topologies.TopologyError, NetworkError, SwitchStartError, ValueError, OSError,
        ImportError, AttributeError,
    ) as e:  # fmt: skip
        print(f"net: error: {e}", file=sys.stderr)
        return 2
    try:
        with net:
            _log_to(net.log_dir)
            if net.blocked_links:
                print(
                    f"net: bridge baseline: links kept out of the bridges to avoid loops: "
                    f"{', '.join(net.blocked_links)}",
                    file=sys.stderr,
                )
            try:
                if cp is not None:
                    try:
                        net.attach(cp)
                    except Exception as e:  # the control plane's own errors, whatever they are
                        print(f"net: error: control plane: {e}", file=sys.stderr)
                        return 2
                print(f"ready {net.run_id} (logs: {net.log_dir})", flush=True)
                if args.no_cli:
                    _wait()
                else:
                    _cli(net)
            finally:
                if cp is not None:
                    cp.stop()
    except (NetworkError, SwitchStartError) as e:
        print(f"net: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _log_to(log_dir: Path | None) -> None:
    """Records go to log_dir/net.log, errors also to stderr on lines of their own: the
    control plane logs from its own thread, and a bare record would land in the prompt."""
    handlers: list[logging.Handler] = []
    if log_dir is not None:
        handlers.append(logging.FileHandler(log_dir / "net.log"))
        handlers[-1].setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    shown = logging.StreamHandler(sys.stderr)
    shown.setLevel(logging.ERROR)
    shown.setFormatter(logging.Formatter("\nnet: %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[*handlers, shown], force=True)


def _cli(net: Network) -> None:
    from testbed.cli import TestbedCLI

    while True:
        try:
            TestbedCLI(net)
            return
        except KeyboardInterrupt:
            # Mininet's CLI takes Ctrl-C itself, but not one that lands while it reports the
            # last: that one, too, is no reason to end the network
            print("\nInterrupt (exit or Ctrl-D ends the network)", flush=True)


def _wait() -> None:
    # SIGTERM raises SystemExit (Network's handler) and Ctrl-C KeyboardInterrupt: both unwind
    # through `with net`, which tears everything down.
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
