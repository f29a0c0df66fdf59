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
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from linkmon.netlink import LinkOverrun, LinkReader, dump

CLI = "simple_switch_CLI"
DOWN, UP = 1, 0  # register values (p4src/README.md)
UNKNOWN = -1  # a cell whose last write failed


class PortAgentError(RuntimeError):
    """A register write that did not happen; the message says why."""


# -- carrier ---------------------------------------------------------------------------------
def carrier_up(intf: str) -> bool | None:
    """Administratively up and with carrier (as softswitch reads it); None: no such
    interface."""
    state = dump([intf]).get(intf)
    return None if state is None else state.up


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
class PortAgent:
    """Keeps register[port] = 1 while a port's interface is down (or lacks carrier), 0 while
    it is up. `ports`: port number -> interface name in this network namespace."""

    def __init__(
        self,
        ports: dict[int, str],
        writer: RegisterWriter,
        *,
        resync: float = 1.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.ports = dict(ports)
        self.writer = writer
        self.resync = resync
        self.log = log or (lambda _msg: None)
        self.state: dict[int, bool] = {}  # what the interfaces say now
        self.written: dict[int, int] = {}  # what the register holds, as far as we know
        self.index: dict[int, int] = {}  # ifindex -> port
        self._reader: LinkReader | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None  # a pipe: stop() wakes the thread with it
        self._lock = threading.Lock()

    def start(self) -> None:
        self._reader = LinkReader()  # before the first reading: no change is missed
        self._wake = os.pipe()
        names = {intf: port for port, intf in self.ports.items()}
        for name, state in dump(names).items():
            self.index[state.index] = names[name]
        self.log(f"writing through {self.writer.describe}; ports {self.ports}")
        self.sync(reassert=True)
        self._thread = threading.Thread(target=self._run, name="port-agent", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._reader is not None and self._wake is not None
        # by the clock, not on a quiet socket: it hears every link of the namespace
        next_sync = time.monotonic() + self.resync
        while not self._stop.is_set():
            wait = max(0.0, next_sync - time.monotonic())
            ready, _, _ = select.select([self._reader, self._wake[0]], [], [], wait)
            if self._stop.is_set():
                return
            if self._reader in ready:
                try:
                    heard = self._reader.read()
                except LinkOverrun:  # messages were lost: read every port now
                    self.sync(reassert=False)
                    heard = []
                changes = {
                    self.index[c.index]: c.up for c in heard if c.index in self.index
                }  # the last message of a port wins
                if changes:
                    self.apply(changes)
            if time.monotonic() >= next_sync:
                self.sync(reassert=True)
                next_sync = time.monotonic() + self.resync

    def sync(self, reassert: bool) -> None:
        """Read every port's state and write what differs; with `reassert`, write the
        ports that are down again (the register may have been reset)."""
        now = {p: carrier_up(i) for p, i in self.ports.items()}
        self.apply({p: up for p, up in now.items() if up is not None}, reassert)

    def apply(self, changes: dict[int, bool], reassert: bool = False) -> dict[int, int]:
        """Record port states and write the register cells that must change; returns what
        was written (empty when nothing had to be, or the write failed)."""
        with self._lock:
            self.state.update(changes)
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
        if self._wake is not None:
            os.write(self._wake[1], b"x")
        if self._thread is not None:
            self._thread.join(timeout=self.resync + 2)
        if self._reader is not None:
            self._reader.close()
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
        close = getattr(self.writer, "close", None)
        if close is not None:
            close()
