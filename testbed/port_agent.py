"""Local port-status agent for a BMv2 switch: what softswitch's `--port-status-register`
does inside the switch, done beside it.

The P4 programs read `MyEgress.port_status[port]` (1 = port down) for BIER fast reroute and
to drop copies to a dead port (p4src/README.md). BMv2 has no carrier input to P4, so this
agent watches the carrier of the switch's interfaces (linkmon.netlink) and writes
the register over BMv2's Thrift server (`--thrift-port`), which needs no P4Runtime
arbitration: with the `bm_runtime` Python client when importable, else by feeding
`register_write NAME PORT VALUE` lines to `simple_switch_CLI --thrift-port N`.

    agent = PortAgent({1: "s1-eth1", 2: "s1-eth2"}, make_writer(9091, "MyEgress.port_status"))
    agent.start()   # writes the ports that are down now, then follows carrier changes
    agent.stop()

Ports that are down are written again every `resync` seconds: a write made before the
pipeline is loaded fails, and loading a pipeline resets the register to zeros.

Beside a BMv2 switch of the testbed it runs as a process of its own, the switch's agent
(`python -m testbed.port_agent`, `agent_command`): carrier and BFD on the switch-to-switch
ports (linkmon.status.PortMonitor), the port status into the register, and the same served
over gNMI (linkmon.gnmi) for the controller, as softswitch does in its own process.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from linkmon.netlink import LinkState, LinkWatch, dump

CLI = "simple_switch_CLI"
DOWN, UP = 1, 0  # register values (p4src/README.md)
IFF_UP = 0x1
UNKNOWN = -1  # a cell whose last write failed


class PortAgentError(RuntimeError):
    """A register write that did not happen; the message says why."""


# -- carrier ---------------------------------------------------------------------------------
def carrier_up(intf: str, sysfs: Path = Path("/sys/class/net")) -> bool | None:
    """Administratively up and with carrier (as softswitch reads it); None: no such
    interface. Read from sysfs: every agent reads every port each second, and a netlink dump
    decodes every interface of the namespace (hundreds on a busy machine) in Python."""
    base = sysfs / intf
    try:
        flags = int((base / "flags").read_text(), 16)
    except (OSError, ValueError):
        return None
    if not flags & IFF_UP:
        return False
    try:
        return (base / "carrier").read_text().strip() == "1"
    except OSError:  # EINVAL while the interface is down
        return False


# -- writers ---------------------------------------------------------------------------------
class RegisterWriter(Protocol):
    describe: str

    def write(self, values: dict[int, int]) -> None:
        """Set register[port] = value for every item; PortAgentError if it did not."""


class CliWriter:
    """One `simple_switch_CLI --thrift-port N` run per batch, commands on its stdin."""

    def __init__(
        self, thrift_port: int, register: str, cli: str = CLI, timeout: float = 15.0
    ) -> None:
        self.thrift_port = thrift_port
        self.register = register
        self.cli = cli
        self.timeout = timeout
        self.describe = f"{cli} --thrift-port {thrift_port}"

    def command(self) -> list[str]:
        return [self.cli, "--thrift-ip", "127.0.0.1", "--thrift-port", str(self.thrift_port)]

    def input_for(self, values: dict[int, int]) -> str:
        return "".join(
            f"register_write {self.register} {port} {value}\n"
            for port, value in sorted(values.items())
        )

    def write(self, values: dict[int, int]) -> None:
        text = self.input_for(values)
        try:
            r = subprocess.run(
                self.command(), input=text, capture_output=True, text=True, timeout=self.timeout
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PortAgentError(f"{self.describe}: {e}") from e
        errors = cli_errors(r.stdout + r.stderr)
        if r.returncode != 0 or errors:
            detail = "; ".join(errors) or "\n".join((r.stdout + r.stderr).splitlines()[-8:])
            raise PortAgentError(
                f"{self.describe} (exit {r.returncode}) on {text.strip()!r}: {detail}"
            )


def cli_errors(output: str) -> list[str]:
    """The lines of simple_switch_CLI output that report a failed command or connection
    (runtime_CLI prints "Error: ...", "Invalid ..." and "Could not connect ...")."""
    keys = ("error", "invalid", "could not connect", "traceback")
    return [ln.strip() for ln in output.splitlines() if any(k in ln.lower() for k in keys)]


class ThriftWriter:
    """BMv2's Python Thrift client (`bm_runtime.standard`), one connection kept open."""

    def __init__(self, thrift_port: int, register: str, host: str = "127.0.0.1") -> None:
        self.thrift_port = thrift_port
        self.register = register
        self.host = host
        self.describe = f"bm_runtime Thrift client to {host}:{thrift_port}"
        self._transport: Any = None
        self._client: Any = None

    def _connect(self) -> Any:
        # imported here: the modules exist only where BMv2 is installed
        from bm_runtime.standard import Standard  # type: ignore[import-not-found]
        from thrift.protocol import (  # type: ignore[import-not-found]
            TBinaryProtocol,
            TMultiplexedProtocol,
        )
        from thrift.transport import TSocket, TTransport  # type: ignore[import-not-found]

        transport = TTransport.TBufferedTransport(TSocket.TSocket(self.host, self.thrift_port))
        protocol = TMultiplexedProtocol.TMultiplexedProtocol(
            TBinaryProtocol.TBinaryProtocol(transport), "standard"
        )
        transport.open()
        self._transport, self._client = transport, Standard.Client(protocol)
        return self._client

    def write(self, values: dict[int, int]) -> None:
        try:
            client = self._client or self._connect()
            for port, value in sorted(values.items()):
                client.bm_register_write(0, self.register, port, value)  # context 0
        except Exception as e:  # thrift errors have no common base we can import here
            self.close()
            raise PortAgentError(f"{self.describe}: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
        self._transport = self._client = None


def thrift_client_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("bm_runtime", "thrift"))


def make_writer(thrift_port: int, register: str) -> RegisterWriter:
    """The Thrift client when `bm_runtime` is importable, else simple_switch_CLI."""
    if thrift_client_available():
        return ThriftWriter(thrift_port, register)
    if shutil.which(CLI):
        return CliWriter(thrift_port, register)
    raise PortAgentError(
        f"port-status register {register}: cannot write it on BMv2 without BMv2's Thrift "
        f"client: neither the Python module bm_runtime nor {CLI} is installed"
    )


# -- the agent -------------------------------------------------------------------------------
Status = Callable[[], dict[int, bool]]


class PortAgent:
    """Keeps register[port] = 1 while a port is down, 0 while it is up. `ports`: port number
    -> interface name in this network namespace. `status()`: port -> up now; by default the
    interfaces' carrier (administratively up and with carrier), followed through the
    kernel's link messages. With a `status` of its own (the switch agent's port monitor:
    carrier and BFD), call `notify()` whenever it changes."""

    def __init__(
        self,
        ports: dict[int, str],
        writer: RegisterWriter,
        *,
        status: Status | None = None,
        resync: float = 1.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.ports = dict(ports)
        self.writer = writer
        self.resync = resync
        self.log = log or (lambda _msg: None)
        self.status = status or self._carrier
        self.state: dict[int, bool] = {}  # what the ports are now, as last read
        self.written: dict[int, int] = {}  # what the register holds, as far as we know
        self._watch: LinkWatch | None = (
            None if status else LinkWatch(self._links, "port-agent-links")
        )
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()

    def _carrier(self) -> dict[int, bool]:
        now = {p: carrier_up(i) for p, i in self.ports.items()}
        return {p: up for p, up in now.items() if up is not None}

    def _links(self, changes: list[LinkState]) -> None:
        names = set(self.ports.values())
        if any(c.name in names for c in changes):
            self.notify()

    def start(self) -> None:
        if self._watch is not None:
            self._watch.start()  # before the first reading: no change is missed
        self.log(f"writing through {self.writer.describe}; ports {self.ports}")
        self.sync(reassert=True)
        self._thread = threading.Thread(target=self._run, name="port-agent", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A port's status changed: write what differs now."""
        self._wake.set()

    def _run(self) -> None:
        # by the clock as well: a write that failed, or a register reset by a pipeline push
        next_sync = time.monotonic() + self.resync
        while not self._stop.is_set():
            woken = self._wake.wait(max(0.0, next_sync - time.monotonic()))
            if self._stop.is_set():
                return
            self._wake.clear()
            due = time.monotonic() >= next_sync
            self.sync(reassert=due)
            if due:
                next_sync = time.monotonic() + self.resync
            elif not woken:
                continue

    def sync(self, reassert: bool) -> None:
        """Read every port's status and write what differs; with `reassert`, write the
        ports that are down again (the register may have been reset)."""
        self.apply(self.status(), reassert)

    def apply(self, changes: dict[int, bool], reassert: bool = False) -> dict[int, int]:
        """Record port states and write the register cells that must change; returns what
        was written (empty when nothing had to be, or the write failed)."""
        with self._lock:
            self.state.update({p: up for p, up in changes.items() if p in self.ports})
            todo = {
                p: DOWN if not up else UP
                for p, up in sorted(self.state.items())
                if self.written.get(p, UP) != (DOWN if not up else UP) or (reassert and not up)
            }
            if not todo:
                return {}
            try:
                self.writer.write(todo)
            except PortAgentError as e:
                self.log(f"write failed (retried in {self.resync:g} s): {e}")
                for p in todo:  # unknown now: written again at the next sync
                    self.written[p] = UNKNOWN
                return {}
            self.written.update(todo)
            self.log("wrote " + ", ".join(f"[{p}]={v}" for p, v in todo.items()))
            return todo

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None:
            self._thread.join(timeout=self.resync + 2)
        close = getattr(self.writer, "close", None)
        if close is not None:
            close()


# -- the switch agent beside BMv2: a process of its own ------------------------------------------
def agent_command(
    ports: dict[int, str],
    *,
    thrift_port: int,
    register: str | None,
    gnmi_addr: str,
    bfd_ports: list[int],
    bfd_interval_ms: float,
    bfd_multiplier: int,
    log_file: str,
) -> list[str]:
    """The command line of the agent process (`python -m testbed.port_agent`)."""
    cmd = [sys.executable, "-m", "testbed.port_agent"]
    cmd += [a for p, i in sorted(ports.items()) for a in ("-i", f"{p}@{i}")]
    cmd += ["--thrift-port", str(thrift_port), "--gnmi-addr", gnmi_addr, "--log-file", log_file]
    if register:
        cmd += ["--register", register]
    cmd += [a for p in bfd_ports for a in ("--bfd-port", str(p))]
    cmd += ["--bfd-interval-ms", f"{bfd_interval_ms:g}", "--bfd-multiplier", str(bfd_multiplier)]
    return cmd


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m testbed.port_agent",
        description=inspect.cleandoc(main.__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "-i",
        "--interface",
        action="append",
        default=[],
        metavar="PORT@IFACE",
        help="the switch's port PORT is Linux interface IFACE (repeatable)",
    )
    ap.add_argument("--thrift-port", type=int, required=True, help="the BMv2 switch's Thrift port")
    ap.add_argument("--register", default=None, help="the port-status register to write")
    ap.add_argument(
        "--gnmi-addr", required=True, metavar="HOST:PORT", help="where to serve the port status"
    )
    ap.add_argument(
        "--bfd-port",
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="run a BFD session on PORT (repeatable; the ports facing other switches)",
    )
    ap.add_argument(
        "--bfd-interval-ms",
        type=float,
        default=50.0,
        metavar="MS",
        help="BFD transmit and receive interval (50)",
    )
    ap.add_argument(
        "--bfd-multiplier",
        type=int,
        default=3,
        metavar="N",
        help="BFD detect multiplier: missed intervals before a session fails (3)",
    )
    ap.add_argument("--log-file", default=None, help="log here instead of to stderr")
    return ap


def main(argv: list[str] | None = None) -> int:
    """What a BMv2 switch cannot do itself, beside it: carrier of its ports, BFD on the
    switch-to-switch ports (linkmon), the resulting port status written into the P4
    program's port-status register over Thrift (BIER-FRR), and served over gNMI."""
    import logging
    import signal
    from concurrent import futures

    import grpc

    from linkmon.bfd import Timers
    from linkmon.gnmi import add_to_server
    from linkmon.status import PortMonitor

    ap = parser()
    args = ap.parse_args(argv)
    logging.basicConfig(
        filename=args.log_file,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("port-agent")
    try:
        ports = dict(parse_port(s) for s in args.interface)
        now = dump(ports.values())
        monitor = PortMonitor(
            ports,
            set(args.bfd_port),
            Timers(args.bfd_interval_ms, args.bfd_multiplier),
            carrier={p: i in now and now[i].up for p, i in ports.items()},
            own_process=True,  # apart from the gRPC and register threads (linkmon.sessions)
        )
        writer = make_writer(args.thrift_port, args.register) if args.register else None
    except (ValueError, OSError, PortAgentError) as e:
        print(f"port-agent: error: {e}", file=sys.stderr)
        return 2
    by_name = {i: p for p, i in ports.items()}
    watch = LinkWatch(
        lambda changes: [
            monitor.set_carrier(by_name[c.name], c.up) for c in changes if c.name in by_name
        ],
        "agent-links",
    )
    agent = None
    if writer is not None:
        agent = PortAgent(
            ports,
            writer,
            status=lambda: {p: st.up for p, st in monitor.status().items()},
            log=log.info,
        )
        monitor.listen(lambda _st: agent.notify())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="gnmi"))
    add_to_server(monitor, server)
    bound = server.add_insecure_port(args.gnmi_addr)
    if bound == 0:
        print(f"port-agent: error: cannot listen on {args.gnmi_addr}", file=sys.stderr)
        return 2
    gnmi_addr = f"{args.gnmi_addr.rpartition(':')[0]}:{bound}"  # the port it got, for :0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    watch.start()
    for p, i in ports.items():  # carrier may have changed since the first reading
        state = dump([i]).get(i)
        monitor.set_carrier(p, state is not None and state.up)
    monitor.start()
    if agent is not None:
        agent.start()
    server.start()
    print(f"port-agent: gNMI on {gnmi_addr}; ports {ports}; BFD on {args.bfd_port}", flush=True)
    # a timed wait: a signal the kernel hands another thread (gRPC's, the carrier watch's) leaves an
    # untimed wait asleep, and the handler that sets `stop` runs only in this thread
    while not stop.wait(0.5):
        pass
    server.stop(0.2).wait(1)
    if agent is not None:
        agent.stop()
    monitor.stop()
    watch.stop()
    return 0


def parse_port(spec: str) -> tuple[int, str]:
    num, sep, iface = spec.partition("@")
    if not sep or not iface or not num.isdigit():
        raise ValueError(f"bad interface spec {spec!r}: expected PORT@IFACE, e.g. 1@s1-eth1")
    return int(num), iface


if __name__ == "__main__":
    sys.exit(main())
