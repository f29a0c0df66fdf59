"""`python -m softswitch`: a switch process with the command line of BMv2's simple_switch_grpc.

    python -m softswitch [PROG.json | PROG.p4 | --no-p4] -i 1@veth1 -i 2@veth2 \\
        --device-id N --grpc-server-addr 127.0.0.1:50051 --cpu-port 255 \\
        --log-level info --log-file F --pcap DIR --port-status-register NAME \\
        --bfd-port 2 --bfd-interval-ms 50 --bfd-multiplier 3

PROG.json is the device config `python -m softswitch.compile --device-config` writes (a .p4
file is compiled on start). Target options may follow a bare `--`, as simple_switch_grpc takes
them. The process prints one line `softswitch: listening on HOST:PORT ...` once it serves and
exits with status 0 on SIGTERM or SIGINT.

Port status (linkmon): carrier of every port, and a BFD session on every `--bfd-port` (the
switch-to-switch ports); a port is down without carrier or once its session has failed. The
status goes into the `--port-status-register` (the data plane's fast reroute) and to any
controller subscribed to the gNMI service on the same address (OpenConfig leaves,
linkmon/gnmi.py).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from finsy.proto import p4r

from softswitch.ports import PortSet, parse_port_spec

LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": logging.CRITICAL + 10,
}


def parser() -> argparse.ArgumentParser:
    """simple_switch_grpc's options under its names (docs/contracts.md), then our own."""
    p = argparse.ArgumentParser(
        prog="python -m softswitch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("program", nargs="?", help="device config JSON (softswitch.compile) or .p4")
    p.add_argument("--no-p4", action="store_true", help="start without a program")
    p.add_argument(
        "-i",
        "--interface",
        action="append",
        default=[],
        metavar="PORT@IFACE",
        help="attach Linux interface IFACE as port PORT (repeatable)",
    )
    p.add_argument("--device-id", type=int, default=0, help="P4Runtime device id (0)")
    p.add_argument(
        "--grpc-server-addr",
        default="127.0.0.1:9559",
        metavar="HOST:PORT",
        help="where the P4Runtime (and gNMI) server listens (127.0.0.1:9559)",
    )
    p.add_argument("--cpu-port", type=int, default=None, help="port number of packet-in/out (none)")
    p.add_argument(
        "--log-level", "-L", default="info", choices=sorted(LEVELS), help="log level (info)"
    )
    p.add_argument("--log-file", default=None, help="log here instead of to stderr")
    p.add_argument("--log-console", action="store_true", help="log to stderr (the default)")
    p.add_argument("--pcap", metavar="DIR", default=None, help="write DIR/IFACE_{in,out}.pcap")
    p.add_argument(
        "--port-status-register",
        metavar="NAME",
        default=None,
        help="register the switch sets to 1 at [port] when the port loses carrier, 0 when up",
    )
    p.add_argument(
        "--bfd-port",
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="run a BFD session on PORT (repeatable; the ports facing other switches)",
    )
    p.add_argument(
        "--bfd-interval-ms",
        type=float,
        default=50.0,
        metavar="MS",
        help="BFD transmit and receive interval (50)",
    )
    p.add_argument(
        "--backend",
        choices=["python", "ebpf", "auto"],
        default="python",
        help="where the pipeline runs: python (this process), ebpf (tc-BPF in the kernel), "
        "auto (ebpf where the kernel, clang and the program allow it, else python)",
    )
    p.add_argument(
        "--bfd-multiplier",
        type=int,
        default=3,
        metavar="N",
        help="BFD detect multiplier: missed intervals before a session fails (3)",
    )
    # simple_switch options that make no difference here, accepted for drop-in use.
    p.add_argument("--thrift-port", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--nanolog", default=None, help=argparse.SUPPRESS)
    p.add_argument("--debugger", action="store_true", help=argparse.SUPPRESS)
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    argv = [a for a in argv if a != "--"]
    p = parser()
    args = p.parse_args(argv)
    if args.program and args.no_p4:
        p.error("give either PROG or --no-p4, not both")
    if not args.program and not args.no_p4:
        p.error("give a program (PROG.json) or --no-p4")
    try:
        args.ports = [parse_port_spec(s) for s in args.interface]
    except ValueError as exc:
        p.error(str(exc))
    if args.cpu_port is not None and not 0 <= args.cpu_port <= 511:
        p.error(f"--cpu-port {args.cpu_port} outside 0..511")
    if args.cpu_port is not None and args.cpu_port in {n for n, _ in args.ports}:
        p.error(f"--cpu-port {args.cpu_port} is also given as an interface port")
    unknown = sorted(set(args.bfd_port) - {n for n, _ in args.ports})
    if unknown:
        p.error(f"--bfd-port {unknown[0]}: not a port given with -i")
    if args.bfd_interval_ms < 1 or args.bfd_multiplier < 1:
        p.error("--bfd-interval-ms must be >= 1 and --bfd-multiplier >= 1")
    host, sep, port = args.grpc_server_addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        p.error(f"--grpc-server-addr {args.grpc_server_addr!r}: expected HOST:PORT")
    return args


def setup_logging(level: str, log_file: str | None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])


def load_initial_config(path: str) -> p4r.ForwardingPipelineConfig:
    """The pipeline config for PROG given on the command line (the Python core compiles a .p4
    file, imported here so that --help does not wait for it)."""
    from softswitch.core.program import Program

    src = Path(path)
    if src.suffix == ".p4":
        program = Program.from_file(str(src))
        blob = program.device_config()
    else:
        blob = src.read_bytes()
        program = Program.from_device_config(blob)
    cfg = p4r.ForwardingPipelineConfig(p4_device_config=blob)
    cfg.p4info.CopyFrom(program.p4info)
    return cfg


# How long a thread that wants the interpreter's lock waits before the one holding it must let
# go (Python's default is 5 ms). The forwarding thread lets go at every socket call; while a
# P4Runtime thread applied a controller's Write it then waited up to 5 ms per call, and a
# switch forwarding over a backup (BIER-FRR) stalled for 15-20 ms as the controller's
# reaction arrived, which counted as the network's outage.
SWITCH_INTERVAL_S = 0.0005


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.log_level, args.log_file)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    log = logging.getLogger("softswitch")

    # Imported here so that --help works even when grpc is slow to import.
    from linkmon.bfd import Timers
    from linkmon.gnmi import add_to_server as add_gnmi
    from linkmon.status import PortMonitor
    from softswitch.server.device import Device
    from softswitch.server.servicer import serve

    mode, reason = choose_backend(args)
    if mode is None:
        print(f"softswitch: error: --backend ebpf: {reason}", file=sys.stderr)
        return 2
    if reason:
        print(f"softswitch: backend auto: python ({reason})", flush=True)
        log.info("backend auto: python (%s)", reason)
    monitor: PortMonitor | None = None
    device = Device(
        args.device_id,
        args.cpu_port,
        port_status_register=args.port_status_register,
        carrier=lambda: {n: st.up for n, st in monitor.status().items()} if monitor else {},
    )
    try:
        ports = PortSet(
            args.ports,
            on_frame=device.process_frame,
            on_batch=device.process_batch,
            on_carrier=lambda port, up: monitor.set_carrier(port, up) if monitor else None,
            pcap_dir=Path(args.pcap) if args.pcap else None,
            receive=mode == "python",
        )
    except (OSError, ValueError) as exc:
        print(f"softswitch: error: {exc}", file=sys.stderr)
        return 2
    kernel = None
    if mode == "ebpf":
        try:
            kernel = KernelPath(args, device, ports)
        except OSError as exc:
            print(f"softswitch: error: {exc}", file=sys.stderr)
            ports.close()
            return 2
    try:
        monitor = PortMonitor(
            dict(args.ports),
            set(args.bfd_port),
            Timers(args.bfd_interval_ms, args.bfd_multiplier),
            carrier={n: p.carrier for n, p in ports.ports.items()},
            own_process=True,  # the forwarding thread must not hold up the sessions
        )
    except OSError as exc:
        print(f"softswitch: error: {exc}", file=sys.stderr)
        ports.close()
        return 2
    monitor.listen(lambda st: device.set_port_status(st.port, st.up))
    device.send = ports.send
    device.send_many = ports.send_many
    if args.program:
        try:
            device.set_pipeline(
                p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                load_initial_config(args.program),
            )
        except Exception as exc:
            print(f"softswitch: error: cannot load {args.program}: {exc}", file=sys.stderr)
            if kernel is not None:
                kernel.close()
            ports.close()
            return 2
    try:
        server, bound = serve(
            device, args.grpc_server_addr, also=lambda srv: add_gnmi(monitor, srv)
        )
    except (OSError, RuntimeError) as exc:
        print(f"softswitch: error: {exc}", file=sys.stderr)
        monitor.stop()
        if kernel is not None:
            kernel.close()
        ports.close()
        return 2

    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    loop = threading.Thread(target=ports.run, name="ports", daemon=True)
    loop.start()
    ports.ready.wait(timeout=30)  # "listening" promises that the ports are being read
    if kernel is not None:
        kernel.start()
    monitor.start()
    host = args.grpc_server_addr.rpartition(":")[0]
    print(
        f"softswitch: listening on {host}:{bound} device-id {args.device_id} "
        f"ports {','.join(f'{n}@{i}' for n, i in args.ports) or 'none'} "
        f"cpu-port {args.cpu_port if args.cpu_port is not None else 'none'} "
        f"backend {kernel.describe() if kernel is not None else 'python'}",
        flush=True,
    )
    log.info("P4Runtime server on %s:%d", host, bound)
    # a timed wait: a signal the kernel hands another thread (gRPC's, the ports') leaves an
    # untimed wait asleep, and the handler that sets `stop` runs only in this thread
    while not stop.wait(0.5):
        pass
    monitor.stop()
    ports.stop()
    server.stop(grace=0.2).wait(1.5)  # ends open streams too; well inside a 3 s SIGTERM wait
    loop.join(timeout=1)
    if kernel is not None:
        kernel.close()
    ports.close()
    log.info("stopped")
    return 0


def choose_backend(args: argparse.Namespace) -> tuple[str | None, str]:
    """("python" | "ebpf", why not ebpf when asked for auto); (None, why) when --backend
    ebpf cannot run here."""
    if args.backend == "python":
        return "python", ""
    from softswitch.ebpf.backend import availability
    from softswitch.ebpf.selection import program_reason

    ok, why = availability()
    reason = "" if ok else why
    if not reason and args.pcap:
        reason = "--pcap needs the Python backend (with eBPF no frame passes this process)"
    if not reason:
        reason = program_reason(args.program) or ""
    if not reason:
        return "ebpf", ""
    return (None, reason) if args.backend == "ebpf" else ("python", reason)


class KernelPath:
    """The eBPF backend in the switch process: the backend given to the Device (with the
    Python one behind it in auto mode) and the thread that hands packet-ins to the Device."""

    def __init__(self, args: argparse.Namespace, device, ports: PortSet) -> None:
        from softswitch.ebpf.backend import EbpfBackend
        from softswitch.ebpf.selection import Fallback

        self.ebpf = EbpfBackend(args.ports, args.cpu_port)
        backend = self.ebpf
        if args.backend == "auto":
            backend = Fallback(self.ebpf, lambda mode: ports.set_receive(mode == "python"))
        device.backend = backend
        self.device = device
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def describe(self) -> str:
        from softswitch.ebpf.backend import versions

        return f"ebpf ({versions()})"

    def start(self) -> None:
        if self.ebpf.cpu is None:
            return
        sock = self.ebpf.cpu.sock
        assert sock is not None
        sock.settimeout(0.5)

        def run() -> None:
            while not self._stop.is_set():
                try:
                    frame = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    self.device.packet_in(frame)
                except Exception:
                    logging.getLogger("softswitch").exception("packet-in handling failed")

        self._thread = threading.Thread(target=run, name="packet-in", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        self.ebpf.close()
