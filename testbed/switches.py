"""Switch classes for the Mininet network. All run in the root namespace (as the p4lang
tutorials run BMv2) on the interfaces Mininet made for them, and share one interface:
`start` launches, the class's `batchStartup` waits until every switch is ready, `info()` hands
the control plane what it needs (address, device id, port map).

- `SoftSwitch`: `python -m softswitch PROG.json -i 1@s1-eth1 ... --device-id N
  --grpc-server-addr 127.0.0.1:PORT --cpu-port 255 --log-file LOG`
- `Bmv2Switch`: `simple_switch_grpc` with the same flags (target options after `--`),
  logging to a file and pcap only when asked
- `LinuxBridgeSwitch`: a plain Linux bridge (no P4, no gRPC): the baseline
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import psutil
from mininet.node import Switch

from linkmon.bfd import Timers
from testbed.port_agent import PortAgentError, RegisterWriter, agent_command, make_writer
from testbed.state import RunState

CPU_PORT = 255
# Switches stand in for hardware of their own: on a machine shared with other work they run
# ahead of it (as root), so a switch that is held up does not turn into the network's outage
# (a softswitch noticing a pulled cable 60 ms late at a load of 10 on 2 cores). Processes the
# switch starts later (its BFD sessions) inherit it.
SWITCH_NICE = -10
THRIFT_PORT_BASE = 9090  # BMv2's own default Thrift port


class SwitchStartError(RuntimeError):
    """A switch that did not come up; the message ends with the tail of its log."""


@dataclass(frozen=True)
class PortInfo:
    port: int
    intf: str  # the switch's interface in the root namespace
    peer: str  # topology name of the node at the other end
    peer_port: int  # the peer's port (0: a host's eth0)


@dataclass(frozen=True)
class SwitchInfo:
    """What the control plane needs of one switch."""

    name: str  # topology name ("s1")
    node: str  # Mininet node name (prefix + name)
    device_id: int
    target: str  # "softswitch", "bmv2" or "bridge"
    grpc_addr: str | None  # "127.0.0.1:PORT"; None for a bridge
    ports: dict[int, PortInfo] = field(default_factory=dict)
    pid: int | None = None
    log_file: str | None = None
    thrift_port: int | None = None  # BMv2 only: its Thrift server (simple_switch_CLI)
    gnmi_addr: str | None = None  # where the switch's port status is served (linkmon.gnmi)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (its own sockets, not another process's)."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


def log_tail(files: list[Path], lines: int = 20) -> str:
    """The last lines of each file that exists (each file once), headed by its name."""
    text = ""
    for f in dict.fromkeys(files):
        if f.exists():
            tail = f.read_text(errors="replace").splitlines()[-lines:]
            text += f"--- {f} (last {len(tail)} lines)\n" + "\n".join(tail) + "\n"
    return text or "(no log written)"


def wait_listening(
    proc: subprocess.Popen[bytes] | None,
    ports: list[int],
    deadline: float,
    what: str,
    timeout: float,
    tail: Callable[[], str],
) -> None:
    """Return once `proc` listens on every port; SwitchStartError (ending with `tail()`)
    when it exits first or `deadline` (time.monotonic()) passes."""
    where = ", ".join(f"127.0.0.1:{p}" for p in ports)
    while True:
        missing = [] if proc is None else [p for p in ports if p not in listening_ports(proc.pid)]
        if proc is not None and not missing:
            return
        if proc is None or proc.poll() is not None:
            code = None if proc is None else proc.returncode
            raise SwitchStartError(
                f"{what} exited (status {code}) before listening on {where}\n{tail()}"
            )
        if time.monotonic() > deadline:
            late = ", ".join(f"127.0.0.1:{p}" for p in missing)
            raise SwitchStartError(f"{what} not listening on {late} after {timeout:g} s\n{tail()}")
        time.sleep(0.05)


class TestbedSwitch(Switch):
    """Common part: topology name, device id, state-file bookkeeping."""

    target: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        *,
        topo_name: str,
        device_id: int,
        state: RunState | None = None,
        log_dir: Path | None = None,
        peers: dict[int, tuple[str, int]] | None = None,
        **params: Any,
    ) -> None:
        params.setdefault("inNamespace", False)
        super().__init__(name, dpid="%x" % max(device_id, 1), **params)
        self.topo_name = topo_name
        self.device_id = device_id
        self.state = state
        self.log_dir = log_dir or Path("/tmp")
        self.peers = peers or {}

    def data_ports(self) -> dict[int, str]:
        return {p: i.name for p, i in sorted(self.intfs.items()) if p > 0 and i.name != "lo"}

    def info_ports(self) -> dict[int, PortInfo]:
        out = {}
        for port, intf in self.data_ports().items():
            peer, peer_port = self.peers.get(port, ("?", 0))
            out[port] = PortInfo(port, intf, peer, peer_port)
        return out

    def info(self) -> SwitchInfo:
        return SwitchInfo(
            self.topo_name, self.name, self.device_id, self.target, None, self.info_ports()
        )


class P4Switch(TestbedSwitch):
    """A P4 target process serving P4Runtime on 127.0.0.1:grpc_port."""

    ready_timeout: ClassVar[float] = 30.0
    # CPU seconds the process spends per frame it receives or sends (each copy counts), on a
    # loaded 2-core machine: what the runner's `auto` sending rate plans with
    frame_cpu_s: ClassVar[float | None] = None
    # the share of the machine's cores all switches may take for that (None: the planner's
    # own, experiments.ideal.SWITCH_CPU_SHARE)
    forwarding_share: ClassVar[float | None] = None

    def __init__(
        self,
        name: str,
        *,
        program: Path | None,
        grpc_port: int,
        port_status_register: str | None = None,
        pcap: bool = False,
        debug_log: bool = False,
        bfd: Timers | None = None,
        **params: Any,
    ) -> None:
        super().__init__(name, **params)
        self.program = program
        self.grpc_port = grpc_port
        self.port_status_register = port_status_register
        self.bfd = bfd
        self.pcap = pcap
        self.debug_log = debug_log
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file = self.log_dir / f"{self.topo_name}.log"
        self.out_file = self.log_dir / f"{self.topo_name}.out"

    def command(self) -> list[str]:
        raise NotImplementedError

    def iface_args(self) -> list[str]:
        return [a for p, i in self.data_ports().items() for a in ("-i", f"{p}@{i}")]

    def bfd_ports(self) -> list[int]:
        """The ports facing another switch: a BFD session on each (hosts run none)."""
        if self.bfd is None:
            return []
        return [p for p in self.data_ports() if self.peers.get(p, ("?", 0))[1] > 0]

    def bfd_args(self) -> list[str]:
        ports = self.bfd_ports()
        if not ports:
            return []
        assert self.bfd is not None
        return [
            *(a for p in ports for a in ("--bfd-port", str(p))),
            "--bfd-interval-ms", f"{self.bfd.interval_ms:g}",
            "--bfd-multiplier", str(self.bfd.multiplier),
        ]  # fmt: skip

    def start(self, controllers: list[Any]) -> None:
        cmd = self.command()
        with open(self.out_file, "wb") as out:
            out.write((" ".join(cmd) + "\n").encode())
            out.flush()
            # own session: a Ctrl-C at the terminal reaches us, and we stop switches in order
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        with contextlib.suppress(OSError):  # not root: as it is
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, SWITCH_NICE)
        if self.state is not None:
            self.state.add_process("proc", self.proc.pid, f"{self.target}:{self.name}")

    def listen_ports(self) -> list[int]:
        """The TCP ports on 127.0.0.1 the process serves once it is ready."""
        return [self.grpc_port]

    def log_tail(self, lines: int = 20) -> str:
        return log_tail([self.out_file, self.log_file], lines)

    def wait_ready(self, deadline: float) -> None:
        wait_listening(
            self.proc,
            self.listen_ports(),
            deadline,
            f"{self.target} switch {self.topo_name}",
            self.ready_timeout,
            self.log_tail,
        )

    @classmethod
    def batchStartup(cls, switches: list[P4Switch], run: Any = None) -> list[P4Switch]:
        deadline = time.monotonic() + max((s.ready_timeout for s in switches), default=0)
        for s in switches:
            s.wait_ready(deadline)
        return list(switches)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def stop(self, deleteIntfs: bool = True) -> None:
        self._signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        super().stop(deleteIntfs)

    @classmethod
    def batchShutdown(cls, switches: list[P4Switch], run: Any = None) -> list[P4Switch]:
        for s in switches:  # signal all first, then wait: shutdown in parallel
            s._signal(signal.SIGTERM)
        for s in switches:
            s.stop()
        return list(switches)

    def info(self) -> SwitchInfo:
        return SwitchInfo(
            self.topo_name,
            self.name,
            self.device_id,
            self.target,
            f"127.0.0.1:{self.grpc_port}",
            self.info_ports(),
            self.proc.pid if self.proc else None,
            str(self.log_file),
        )


class SoftSwitch(P4Switch):
    target = "softswitch"
    # 20-27 µs per frame forwarded (one in, one out) at 3,000-6,000 frames/s, load 9
    frame_cpu_s = 15e-6
    backend: ClassVar[str] = "python"  # softswitch's --backend

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "softswitch",
            str(self.program) if self.program else "--no-p4",
            *self.iface_args(),
            "--device-id",
            str(self.device_id),
            "--grpc-server-addr",
            f"127.0.0.1:{self.grpc_port}",
            "--cpu-port",
            str(CPU_PORT),
            "--log-file",
            str(self.log_file),
        ]
        if self.port_status_register:
            cmd += ["--port-status-register", self.port_status_register]
        return [*cmd, *self.bfd_args(), "--backend", self.backend]

    def info(self) -> SwitchInfo:
        return replace(super().info(), gnmi_addr=f"127.0.0.1:{self.grpc_port}")

    def backend_in_use(self) -> str | None:
        """The backend the process says it runs ("ebpf", "python"), once it listens."""
        try:
            text = self.out_file.read_text(errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            if "listening on" in line and " backend " in line:
                return line.split(" backend ", 1)[1].split()[0]
        return None


# kernel CPU per frame a node forwards in a tc-BPF program (softirq, no process: softswitch's
# eBPF backend, the emulated multicast routing under FRR): 1.5-4 µs per copy in
# bench.softswitch_ebpf on this 2-core VM under load; the larger figure, to be safe. In a
# 128-host unicast round the sender and softirq spent 4.6 µs per frame and node crossed.
KERNEL_FRAME_CPU_S = 4e-6
# Forwarding in the kernel is no process competing with the hosts': it runs in the softirq of
# the sender's own sends (the sender is niced) and of the veths, so it may plan with more of
# the cores than switch processes do. 128-host 64 MB unicast round, same run, BIER beside it:
# 0.5 of 2 cores 41.5 s (1.3 cores busy), 0.7: 33.1 s (1.63), 0.85: 33.0 s (the one sender,
# whose sends carry the forwarding, the limit), no chunk repaired in any.
KERNEL_FORWARDING_SHARE = 0.7


class EbpfSoftSwitch(SoftSwitch):
    """softswitch on its eBPF backend (tc-BPF in the kernel), with --backend auto: a program
    the eBPF backend cannot run falls back to the Python backend, as the process says."""

    backend = "auto"
    frame_cpu_s = KERNEL_FRAME_CPU_S
    forwarding_share = KERNEL_FORWARDING_SHARE


def ebpf_available() -> tuple[bool, str]:
    """(True, kernel and clang versions) when softswitch's eBPF backend can run here, else
    (False, why not)."""
    try:
        from softswitch.ebpf.backend import availability
    except Exception as exc:  # a broken install is a reason too
        return False, f"softswitch.ebpf cannot be imported ({exc})"
    return availability()


# simple_switch_grpc 1.15.5 (-O2, logging off): 53-59 µs of CPU per frame forwarded (one in,
# one out) by a one-table program at 3,000-6,000 frames/s, load 9; the programs of p4src/
# apply more tables per frame
BMV2_FRAME_CPU_S = 40e-6


class Bmv2Switch(P4Switch):
    """BMv2 simple_switch_grpc. It also serves Thrift (default port 9090), so every switch
    gets its own (`thrift_port`, default THRIFT_PORT_BASE + device id). Beside it runs the
    switch's agent (`python -m testbed.port_agent`, a process of its own): BMv2 cannot
    originate packets nor see carrier, so the agent runs the BFD sessions and follows
    carrier, writes the port status into the port-status register (when one is given) and
    serves it over gNMI (`gnmi_addr`), as softswitch does itself."""

    target = "bmv2"
    frame_cpu_s = BMV2_FRAME_CPU_S
    agent_timeout: ClassVar[float] = 20.0

    def __init__(
        self, name: str, *, thrift_port: int | None = None, agent_resync: float = 1.0, **params: Any
    ) -> None:
        super().__init__(name, **params)
        self.thrift_port = THRIFT_PORT_BASE + self.device_id if thrift_port is None else thrift_port
        self.agent_resync = agent_resync
        self.agent_proc: subprocess.Popen[bytes] | None = None
        self.gnmi_addr: str | None = None
        self.agent_log = self.log_dir / f"{self.topo_name}.agent.log"
        # BMv2 logs (only with debug_log) to the console, which is the .out file
        self.log_file = self.out_file

    def command(self) -> list[str]:
        cmd = [
            "simple_switch_grpc",
            *self.iface_args(),
            "--device-id",
            str(self.device_id),
            "--thrift-port",
            str(self.thrift_port),
        ]
        # logging and pcap cost most of BMv2's speed: off unless asked for
        if self.debug_log:  # to stdout, which goes to the switch's .out file
            cmd += ["--log-console", "--log-level", "debug"]
        if self.pcap:  # "=": --pcap's value is optional, a separate word may not be taken
            cmd += [f"--pcap={self.log_dir}"]
        cmd += [
            str(self.program) if self.program else "--no-p4",
            "--",
            "--grpc-server-addr",
            f"127.0.0.1:{self.grpc_port}",
            "--cpu-port",
            str(CPU_PORT),
        ]
        return cmd

    def agent_command(self) -> list[str]:
        bfd = self.bfd or Timers()
        return agent_command(
            self.data_ports(),
            thrift_port=self.thrift_port,
            register=self.port_status_register,
            gnmi_addr="127.0.0.1:0",  # it says which port it got
            bfd_ports=self.bfd_ports(),
            bfd_interval_ms=bfd.interval_ms,
            bfd_multiplier=bfd.multiplier,
            log_file=str(self.agent_log),
        )

    def listen_ports(self) -> list[int]:
        return [self.grpc_port, self.thrift_port]

    def log_tail(self, lines: int = 20) -> str:
        return log_tail([self.out_file, self.agent_log], lines)

    def start(self, controllers: list[Any]) -> None:
        if self.port_status_register:
            self.port_writer()  # fails before anything runs when the register cannot be written
        super().start(controllers)

    def port_writer(self) -> RegisterWriter:
        assert self.port_status_register is not None
        try:
            return make_writer(self.thrift_port, self.port_status_register)
        except PortAgentError as e:
            raise SwitchStartError(f"bmv2 switch {self.topo_name}: {e}") from e

    def wait_ready(self, deadline: float) -> None:
        super().wait_ready(deadline)
        if self.agent_proc is None:
            self._start_agent(max(deadline, time.monotonic() + self.agent_timeout))

    def _start_agent(self, deadline: float) -> None:
        cmd = self.agent_command()
        err = open(self.agent_log.with_suffix(".out"), "wb")  # noqa: SIM115 (the child's)
        with err:
            self.agent_proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        with contextlib.suppress(OSError):  # it tells the switch of carrier changes
            os.setpriority(os.PRIO_PROCESS, self.agent_proc.pid, SWITCH_NICE)
        if self.state is not None:
            self.state.add_process("proc", self.agent_proc.pid, f"agent:{self.name}")
        out = self.agent_proc.stdout
        assert out is not None
        line = b""
        while time.monotonic() < deadline and self.agent_proc.poll() is None:
            ready, _, _ = select.select([out], [], [], 0.1)
            if ready:
                line = out.readline()
                break
        text = line.decode(errors="replace")
        if not text.startswith("port-agent: gNMI on "):
            tail = log_tail([self.agent_log, self.agent_log.with_suffix(".out")])
            self.stop_agent()
            raise SwitchStartError(
                f"bmv2 switch {self.topo_name}: its agent did not start ({' '.join(cmd)}): "
                f"{text.strip() or 'no word from it'}\n{tail}"
            )
        self.gnmi_addr = text.split("gNMI on ", 1)[1].split(";", 1)[0].strip()

    def stop_agent(self) -> None:
        """Before the links go: their removal is no port failure to report."""
        proc, self.agent_proc = self.agent_proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def stop(self, deleteIntfs: bool = True) -> None:
        self.stop_agent()
        super().stop(deleteIntfs)

    def info(self) -> SwitchInfo:
        return replace(super().info(), thrift_port=self.thrift_port, gnmi_addr=self.gnmi_addr)


class LinuxBridgeSwitch(TestbedSwitch):
    """A Linux bridge without STP; ports in `blocked_ports` are left out of it (the network
    blocks the links outside a spanning tree, so loops cannot form)."""

    target = "bridge"

    def __init__(
        self,
        name: str,
        *,
        blocked_ports: set[int] | None = None,
        bridge_name: str | None = None,
        **params: Any,
    ):
        super().__init__(name, **params)
        self.blocked_ports = blocked_ports or set()
        # the kernel's name of the bridge (testbed.names: short where the node name is long)
        self.bridge = bridge_name or name

    def start(self, controllers: list[Any]) -> None:
        if self.state is not None:
            self.state.add("bridge", self.bridge)
        _ip(
            "link",
            "add",
            "name",
            self.bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        )
        _sysctl(f"net.ipv6.conf.{self.bridge}.disable_ipv6", "1")
        for port, intf in self.data_ports().items():
            if port not in self.blocked_ports:
                _ip("link", "set", "dev", intf, "master", self.bridge)
        _ip("link", "set", "dev", self.bridge, "up")

    def stop(self, deleteIntfs: bool = True) -> None:
        subprocess.run(["ip", "link", "del", "dev", self.bridge], capture_output=True, check=False)
        super().stop(deleteIntfs)


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


def _sysctl(key: str, value: str) -> None:
    subprocess.run(["sysctl", "-q", "-w", f"{key}={value}"], capture_output=True, check=False)


TARGETS: dict[str, type[TestbedSwitch]] = {
    "softswitch": SoftSwitch,
    "bmv2": Bmv2Switch,
    "bridge": LinuxBridgeSwitch,
}


def softswitch_cli_available() -> bool:
    return importlib.util.find_spec("softswitch.__main__") is not None


def choose_target(target: str) -> tuple[type[TestbedSwitch], str]:
    """The switch class for a target name, and a sentence saying what was chosen and why."""
    if target == "auto":
        ok, why = ebpf_available() if softswitch_cli_available() else (False, "no softswitch")
        if ok:
            return EbpfSoftSwitch, f"target auto: softswitch on its eBPF backend ({why})"
        if path := shutil.which("simple_switch_grpc"):
            return Bmv2Switch, (
                f"target auto: bmv2 (simple_switch_grpc is installed: {path}; "
                f"softswitch's eBPF backend cannot run here: {why})"
            )
        if softswitch_cli_available():
            return SoftSwitch, (
                "target auto: softswitch on its Python backend (simple_switch_grpc is not "
                f"installed; the eBPF backend cannot run here: {why})"
            )
        raise SwitchStartError(
            "target auto: neither simple_switch_grpc nor softswitch's CLI "
            "(python -m softswitch) is available"
        )
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: auto, {', '.join(TARGETS)}")
    if target == "bmv2":
        if not (path := shutil.which("simple_switch_grpc")):
            raise SwitchStartError("target bmv2: simple_switch_grpc is not installed here")
        return Bmv2Switch, f"target bmv2 ({path})"
    if target == "softswitch" and not softswitch_cli_available():
        raise SwitchStartError("target softswitch: softswitch has no CLI (python -m softswitch)")
    return TARGETS[target], f"target {target}"


def resolve_program(program: str | Path | None, target: str, root: Path | None = None) -> Path:
    """A device config: a path to a .json file, or a program name looked up as
    build/<target>/<name>.json (written by `make p4`)."""
    if program is None:
        raise ValueError(f"target {target} needs a P4 program (name or device-config .json)")
    p = Path(program)
    if p.suffix == ".json":
        if not p.exists():
            raise FileNotFoundError(f"device config {p} does not exist")
        return p.resolve()
    path = (root or Path.cwd()) / "build" / target / f"{program}.json"
    if not path.exists():
        raise FileNotFoundError(f"device config {path} does not exist (run `make p4` first)")
    return path
