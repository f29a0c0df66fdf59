"""The BMv2 path of the testbed without BMv2: simple_switch_grpc's command line, the ports it
gets, the readiness wait, the choice of target, and the port-status agent (carrier -> the
exact simple_switch_CLI input). Nothing here imitates BMv2: the readiness tests run against
a plain TCP listener this test opens itself, and the agent's writes are recorded as the text
simple_switch_CLI would read. What needs a real BMv2 is in test_bmv2_real.py (marked bmv2).
"""

from __future__ import annotations

import queue
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import topologies
from testbed import port_agent as pa
from testbed import switches as sw
from testbed.network import Network, NetworkError, switch_tcp_ports
from testsupport.signals import CAN_SIGNAL_A_THREAD, signal_another_thread
from topologies import generators as gen

FIXED = Path(topologies.__file__).parent / "fixed"
REG = "MyEgress.port_status"


def _bmv2(**kw: object) -> SimpleNamespace:
    base = dict(
        program=Path("/b/bier.json"), device_id=3, grpc_port=9562, thrift_port=9093,
        log_dir=Path("/l"), pcap=False, debug_log=False,
        iface_args=lambda: ["-i", "1@s3-eth1", "-i", "2@s3-eth2"],
    )  # fmt: skip
    base.update(kw)
    return SimpleNamespace(**base)


# -- command line ------------------------------------------------------------------------------
def test_bmv2_command_line_has_logging_and_pcap_off() -> None:
    # the class is a Mininet node (it starts a shell); its command line is plain data
    assert sw.Bmv2Switch.command(_bmv2()) == [
        "simple_switch_grpc", "-i", "1@s3-eth1", "-i", "2@s3-eth2", "--device-id", "3",
        "--thrift-port", "9093", "/b/bier.json", "--", "--grpc-server-addr",
        "127.0.0.1:9562", "--cpu-port", "255",
    ]  # fmt: skip


def test_bmv2_command_line_for_debugging() -> None:
    cmd = sw.Bmv2Switch.command(_bmv2(program=None, pcap=True, debug_log=True))
    assert cmd == [
        "simple_switch_grpc", "-i", "1@s3-eth1", "-i", "2@s3-eth2", "--device-id", "3",
        "--thrift-port", "9093", "--log-console", "--log-level", "debug", "--pcap=/l",
        "--no-p4", "--", "--grpc-server-addr", "127.0.0.1:9562", "--cpu-port", "255",
    ]  # fmt: skip
    # only logging, only pcap
    assert sw.Bmv2Switch.command(_bmv2(debug_log=True))[9:13] == [
        "--log-console", "--log-level", "debug", "/b/bier.json",
    ]  # fmt: skip
    assert sw.Bmv2Switch.command(_bmv2(pcap=True))[9:11] == ["--pcap=/l", "/b/bier.json"]


def test_bmv2_waits_for_grpc_and_thrift() -> None:
    s = SimpleNamespace(grpc_port=9562, thrift_port=9093)
    assert sw.Bmv2Switch.listen_ports(s) == [9562, 9093]  # type: ignore[arg-type]


# -- ports ---------------------------------------------------------------------------------------
def test_thrift_ports_are_distinct_per_device() -> None:
    t = topologies.from_dict(gen.multicloud(3))
    ids = {s.name: s.device_id or 0 for s in t.switches}
    ports = switch_tcp_ports(ids, 9559, 9090)
    assert ports == {n: (9559 + d, 9090 + d) for n, d in ids.items()}
    used = [p for pair in ports.values() for p in pair]
    assert len(used) == len(set(used)) == 2 * len(ids)
    assert switch_tcp_ports(ids, 9559, None) == {n: (9559 + d, None) for n, d in ids.items()}


def test_overlapping_port_ranges_are_refused() -> None:
    with pytest.raises(NetworkError) as e:
        switch_tcp_ports({"s1": 1, "s2": 2}, 9000, 9001)
    assert str(e.value) == (
        "switch s2: P4Runtime port 9002 is also used by s1 (Thrift); choose grpc_port_base "
        "and thrift_port_base further apart"
    )
    with pytest.raises(NetworkError, match=r"^switch s1: Thrift port 65536 is not a TCP port$"):
        switch_tcp_ports({"s1": 1}, 9000, 65535)


@pytest.fixture
def bmv2_installed(monkeypatch: pytest.MonkeyPatch) -> str:
    """shutil.which answers as where simple_switch_grpc is installed (no BMv2 runs)."""
    path = "/opt/p4/bin/simple_switch_grpc"
    real = sw.shutil.which
    monkeypatch.setattr(
        sw.shutil,
        "which",
        lambda name, *a, **k: path if name == "simple_switch_grpc" else real(name),
    )
    return path


def test_network_gives_bmv2_switches_their_thrift_ports(bmv2_installed: str) -> None:
    t = topologies.load(FIXED / "diamond.yaml")
    net = Network(t, "bmv2", None, grpc_port_base=30000, thrift_port_base=31000)
    assert net.switch_cls is sw.Bmv2Switch
    assert net.target_note == f"target bmv2 ({bmv2_installed})"
    assert net.tcp_ports == {f"s{i}": (30000 + i, 31000 + i) for i in range(1, 5)}
    assert Network(t, "bmv2", None).tcp_ports["s4"] == (9563, 9094)  # BMv2's 9090 + id
    assert Network(t, "softswitch", None).tcp_ports["s4"] == (9563, None)


# -- target choice -------------------------------------------------------------------------------
def test_auto_chooses_the_ebpf_backend_first_where_it_can_run(
    bmv2_installed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sw, "ebpf_available", lambda: (True, "kernel 6.1, clang 14"))
    cls, note = sw.choose_target("auto")
    assert (cls, cls.target, cls.backend) == (sw.EbpfSoftSwitch, "softswitch", "auto")
    assert note == "target auto: softswitch on its eBPF backend (kernel 6.1, clang 14)"
    cmd = cls("s1", program=None, grpc_port=1, topo_name="s1", device_id=1).command()
    assert cmd[-2:] == ["--backend", "auto"]


def test_auto_chooses_bmv2_when_it_is_installed_and_says_so(
    bmv2_installed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sw, "ebpf_available", lambda: (False, "not root"))
    assert sw.choose_target("auto") == (
        sw.Bmv2Switch,
        f"target auto: bmv2 (simple_switch_grpc is installed: {bmv2_installed}; "
        "softswitch's eBPF backend cannot run here: not root)",
    )


def test_auto_chooses_softswitch_without_bmv2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sw.shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr(sw, "ebpf_available", lambda: (False, "clang is not installed"))
    assert sw.choose_target("auto") == (
        sw.SoftSwitch,
        "target auto: softswitch on its Python backend (simple_switch_grpc is not installed; "
        "the eBPF backend cannot run here: clang is not installed)",
    )
    with pytest.raises(sw.SwitchStartError) as e:
        sw.choose_target("bmv2")
    assert str(e.value) == "target bmv2: simple_switch_grpc is not installed here"


# -- readiness -----------------------------------------------------------------------------------
def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


LISTENER = (
    "import socket, sys, time\n"
    "ss = [socket.create_server(('127.0.0.1', int(p))) for p in sys.argv[1:]]\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def test_ready_when_the_process_listens_on_every_port(procs: list) -> None:
    """Against a plain TCP listener (a Python one-liner), not BMv2."""
    grpc_port, thrift_port = _free_ports(2)
    procs.append(
        subprocess.Popen([sys.executable, "-c", LISTENER, str(grpc_port), str(thrift_port)])
    )
    sw.wait_listening(procs[0], [grpc_port, thrift_port], time.monotonic() + 20, "bmv2 switch s3",
                      20, lambda: "no log")  # fmt: skip
    assert procs[0].poll() is None


def test_not_ready_names_the_port_missing_and_ends_with_the_log(
    procs: list, tmp_path: Path
) -> None:
    """Listening on the gRPC port only (a plain TCP listener): the Thrift port is missing."""
    grpc_port, thrift_port = _free_ports(2)
    out = tmp_path / "s3.out"
    out.write_text("simple_switch_grpc ...\n" + "".join(f"line {i}\n" for i in range(30)))
    procs.append(subprocess.Popen([sys.executable, "-c", LISTENER, str(grpc_port)]))
    with pytest.raises(sw.SwitchStartError) as e:
        sw.wait_listening(procs[0], [grpc_port, thrift_port], time.monotonic() + 2,
                          "bmv2 switch s3", 2, lambda: sw.log_tail([out, out]))  # fmt: skip
    assert str(e.value) == (
        f"bmv2 switch s3 not listening on 127.0.0.1:{thrift_port} after 2 s\n"
        f"--- {out} (last 20 lines)\n" + "\n".join(f"line {i}" for i in range(10, 30)) + "\n"
    )


def test_exit_before_listening_reports_status_and_log(procs: list, tmp_path: Path) -> None:
    grpc_port, thrift_port = _free_ports(2)
    out = tmp_path / "s3.out"
    with open(out, "w") as f:
        procs.append(subprocess.Popen(
            [sys.executable, "-c", "print('cannot bind'); raise SystemExit(3)"], stdout=f
        ))  # fmt: skip
    tail = lambda: sw.log_tail([out, tmp_path / "none"])  # noqa: E731
    with pytest.raises(sw.SwitchStartError) as e:
        sw.wait_listening(procs[0], [grpc_port, thrift_port], time.monotonic() + 20,
                          "bmv2 switch s3", 20, tail)  # fmt: skip
    assert str(e.value) == (
        f"bmv2 switch s3 exited (status 3) before listening on 127.0.0.1:{grpc_port}, "
        f"127.0.0.1:{thrift_port}\n--- {out} (last 1 lines)\ncannot bind\n"
    )
    assert sw.log_tail([tmp_path / "none"]) == "(no log written)"


# -- port-status agent: pieces -------------------------------------------------------------------
def test_cli_command_and_input() -> None:
    w = pa.CliWriter(9093, REG)
    assert w.command() == [
        "simple_switch_CLI", "--thrift-ip", "127.0.0.1", "--thrift-port", "9093",
    ]  # fmt: skip
    assert w.input_for({3: 1, 1: 0}) == (
        "register_write MyEgress.port_status 1 0\nregister_write MyEgress.port_status 3 1\n"
    )


def test_cli_errors_are_picked_from_its_output() -> None:
    out = (
        "Obtaining JSON from switch...\nDone\nControl utility for runtime P4 table manipulation\n"
        "RuntimeCmd: Invalid register operation (INVALID_INDEX)\nRuntimeCmd: \n"
    )
    assert pa.cli_errors(out) == ["RuntimeCmd: Invalid register operation (INVALID_INDEX)"]
    assert pa.cli_errors("RuntimeCmd: RuntimeCmd: \n") == []


def test_writer_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pa, "thrift_client_available", lambda: True)
    assert isinstance(pa.make_writer(9093, REG), pa.ThriftWriter)
    monkeypatch.setattr(pa, "thrift_client_available", lambda: False)
    monkeypatch.setattr(pa.shutil, "which", lambda name, *a, **k: f"/usr/bin/{name}")
    w = pa.make_writer(9093, REG)
    assert isinstance(w, pa.CliWriter) and w.describe == "simple_switch_CLI --thrift-port 9093"
    monkeypatch.setattr(pa.shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(pa.PortAgentError) as e:
        pa.make_writer(9093, REG)
    msg = (
        "port-status register MyEgress.port_status: cannot write it on BMv2 without BMv2's "
        "Thrift client: neither the Python module bm_runtime nor simple_switch_CLI is installed"
    )
    assert str(e.value) == msg
    # a BMv2 switch asked for the register fails before it starts anything
    with pytest.raises(sw.SwitchStartError) as e2:
        sw.Bmv2Switch.port_writer(
            SimpleNamespace(thrift_port=9093, port_status_register=REG, topo_name="s3")  # type: ignore[arg-type]
        )
    assert str(e2.value) == f"bmv2 switch s3: {msg}"


class Recorder(pa.CliWriter):
    """Records the text simple_switch_CLI would read instead of running it; `fail` makes
    the next writes fail as a CLI without a reachable switch would."""

    def __init__(self) -> None:
        super().__init__(9093, REG)
        self.inputs: queue.Queue[str] = queue.Queue()
        self.fail = 0

    def write(self, values: dict[int, int]) -> None:
        if self.fail:
            self.fail -= 1
            raise pa.PortAgentError("could not connect")
        self.inputs.put(self.input_for(values))


def test_agent_writes_changes_and_retries_failed_writes() -> None:
    rec = Recorder()
    agent = pa.PortAgent({1: "x1", 2: "x2"}, rec)
    assert agent.apply({1: True, 2: True}) == {}  # the register starts as zeros
    assert agent.apply({2: False}) == {2: 1}
    assert rec.inputs.get_nowait() == "register_write MyEgress.port_status 2 1\n"
    assert agent.apply({2: False}) == {}  # no change
    assert agent.apply({}, reassert=True) == {2: 1}  # down ports again (pipeline reset)
    rec.inputs.get_nowait()
    rec.fail = 1
    assert agent.apply({2: True, 1: False}) == {}
    assert agent.written == {2: pa.UNKNOWN, 1: pa.UNKNOWN}
    assert agent.apply({}) == {1: 1, 2: 0}  # the next sync writes both
    assert rec.inputs.get_nowait() == (
        "register_write MyEgress.port_status 1 1\nregister_write MyEgress.port_status 2 0\n"
    )
    assert rec.inputs.empty()


# -- port-status agent: real carrier changes on a veth pair --------------------------------------
@pytest.fixture
def veth() -> Iterator[tuple[str, str]]:
    tag = "bmm" + secrets.token_hex(3)
    a, b = f"{tag}a", f"{tag}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for i in (a, b):
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{i}.disable_ipv6=1"], check=False)
            subprocess.run(["ip", "link", "set", i, "up"], check=True)
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)


def _wait_carrier(intf: str, up: bool) -> None:
    deadline = time.monotonic() + 10
    while pa.carrier_up(intf) is not up:
        assert time.monotonic() < deadline, f"{intf}: carrier never {'up' if up else 'down'}"
        time.sleep(0.02)


@pytest.mark.root
def test_agent_turns_carrier_events_into_cli_input(veth: tuple[str, str]) -> None:
    a, b = veth
    _wait_carrier(a, True)
    rec = Recorder()
    said: list[str] = []
    agent = pa.PortAgent({4: a}, rec, resync=30, log=said.append)  # no resync in this test
    agent.start()
    try:
        assert rec.inputs.empty()  # everything up: nothing to write
        subprocess.run(["ip", "link", "set", b, "down"], check=True)  # the far end: no carrier
        assert rec.inputs.get(timeout=10) == "register_write MyEgress.port_status 4 1\n"
        subprocess.run(["ip", "link", "set", b, "up"], check=True)
        assert rec.inputs.get(timeout=10) == "register_write MyEgress.port_status 4 0\n"
        subprocess.run(["ip", "link", "set", a, "down"], check=True)  # its own end down
        assert rec.inputs.get(timeout=10) == "register_write MyEgress.port_status 4 1\n"
    finally:
        agent.stop()
    assert rec.inputs.empty()
    assert said[0] == f"writing through simple_switch_CLI --thrift-port 9093; ports {{4: '{a}'}}"
    assert said[1:] == ["wrote [4]=1", "wrote [4]=0", "wrote [4]=1"]


@pytest.mark.root
def test_agent_writes_ports_already_down_when_it_starts(veth: tuple[str, str]) -> None:
    a, b = veth
    subprocess.run(["ip", "link", "set", b, "down"], check=True)
    _wait_carrier(a, False)
    rec = Recorder()
    agent = pa.PortAgent({2: a}, rec, resync=30)
    agent.start()
    try:
        assert rec.inputs.get_nowait() == "register_write MyEgress.port_status 2 1\n"
    finally:
        agent.stop()


# -- the Mininet node itself ----------------------------------------------------------------------
@pytest.mark.mininet
def test_bmv2_node_defaults(tmp_path: Path) -> None:
    """A Bmv2Switch node made (its shell runs) but never started: BMv2's port defaults."""
    name = "bmm" + secrets.token_hex(3)
    node = sw.Bmv2Switch(name, topo_name="s3", device_id=3, program=None, grpc_port=40003,
                         log_dir=tmp_path, port_status_register=REG)  # fmt: skip
    try:
        assert node.thrift_port == 9093
        assert node.listen_ports() == [40003, 9093]
        assert node.log_file == node.out_file == tmp_path / "s3.out"
        assert node.agent_log == tmp_path / "s3.agent.log"
        assert node.command() == [
            "simple_switch_grpc", "--device-id", "3", "--thrift-port", "9093", "--no-p4", "--",
            "--grpc-server-addr", "127.0.0.1:40003", "--cpu-port", "255",
        ]  # fmt: skip
        info = node.info()
        assert (info.target, info.thrift_port, info.grpc_addr) == ("bmv2", 9093, "127.0.0.1:40003")
        other = sw.Bmv2Switch(name + "b", topo_name="s4", device_id=4, program=None,
                              grpc_port=40004, thrift_port=41004, log_dir=tmp_path)  # fmt: skip
        try:
            assert other.thrift_port == 41004
        finally:
            other.stop()
            other.terminate()
    finally:
        node.stop()
        node.terminate()


@pytest.mark.root
def test_agent_retries_a_failed_write_at_the_next_resync(veth: tuple[str, str]) -> None:
    """As when the switch has no pipeline yet: the first write fails, the resync repeats it
    (and then keeps writing the down port, in case a pipeline push reset the register)."""
    a, b = veth
    subprocess.run(["ip", "link", "set", b, "down"], check=True)
    _wait_carrier(a, False)
    rec = Recorder()
    rec.fail = 1
    said: list[str] = []
    agent = pa.PortAgent({2: a}, rec, resync=0.2, log=said.append)
    agent.start()
    try:
        assert rec.inputs.get(timeout=10) == "register_write MyEgress.port_status 2 1\n"
        assert rec.inputs.get(timeout=10) == "register_write MyEgress.port_status 2 1\n"
    finally:
        agent.stop()
    assert said[1] == "write failed (retried in 0.2 s): could not connect"


@pytest.mark.root
def test_switch_agent_process_runs_bfd_writes_the_register_and_serves_gnmi(
    veth: tuple[str, str], tmp_path: Path
) -> None:
    """The agent beside BMv2 as the testbed starts it, with simple_switch_CLI replaced by a
    script that records its input: the BFD session with a peer on the other end comes Up,
    the peer falls silent, the agent writes port_status[1] = 1 and gNMI says why."""
    import asyncio
    import os
    import sys

    from finsy import GNMIClient, GNMIPath

    from linkmon.bfd import State, Timers
    from linkmon.status import PortMonitor

    a, b = veth
    bin_dir, out = tmp_path / "bin", tmp_path / "cli-input"
    bin_dir.mkdir()
    cli = bin_dir / "simple_switch_CLI"
    cli.write_text(f"#!/bin/sh\ncat >> {out}\n")
    cli.chmod(0o755)
    cmd = pa.agent_command(
        {1: a}, thrift_port=9999, register=REG, gnmi_addr="127.0.0.1:0", bfd_ports=[1],
        bfd_interval_ms=50, bfd_multiplier=3, log_file=str(tmp_path / "agent.log"),
    )  # fmt: skip
    assert cmd[:3] == [sys.executable, "-m", "testbed.port_agent"]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    peer = PortMonitor({1: b}, {1}, Timers(50, 3))
    peer.start()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("port-agent: gNMI on 127.0.0.1:"), proc.stderr.read()  # type: ignore[union-attr]
        addr = line.split("gNMI on ", 1)[1].split(";", 1)[0]
        deadline = time.monotonic() + 10
        while peer.status()[1].session != State.UP:
            assert time.monotonic() < deadline, "the session never came Up"
            time.sleep(0.02)
        peer.stop()  # silent from now on; carrier stays up
        deadline = time.monotonic() + 10
        while f"register_write {REG} 1 1" not in (out.read_text() if out.exists() else ""):
            assert time.monotonic() < deadline, "port_status[1] never written 1"
            time.sleep(0.02)

        async def ask() -> dict[str, object]:
            async with GNMIClient(addr) as c:
                got = await c.get(GNMIPath("bfd"), GNMIPath("interfaces"))
                return {str(u.path).rsplit("/", 1)[1]: u.value for u in got}

        leaves = asyncio.run(ask())
        assert leaves["oper-status"] == "UP"  # carrier
        assert (leaves["session-state"], leaves["failure-transitions"]) == ("DOWN", 1)
        assert leaves["ifindex"] == 1
    finally:
        # to a thread other than the main one, as the kernel may hand it: the agent stops too
        if CAN_SIGNAL_A_THREAD:
            signal_another_thread(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        assert proc.wait(10) == 0
        peer.stop()


def test_carrier_is_read_from_sysfs(tmp_path: Path) -> None:
    """Up = IFF_UP and carrier; a missing interface is None (no netlink dump per read)."""
    for name, flags, carrier in (("up", "0x1003", "1\n"), ("nocarrier", "0x1003", "0\n"),
                                 ("admindown", "0x1002", None)):  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "flags").write_text(flags + "\n")
        if carrier is not None:
            (tmp_path / name / "carrier").write_text(carrier)
    assert pa.carrier_up("up", tmp_path) is True
    assert pa.carrier_up("nocarrier", tmp_path) is False
    assert pa.carrier_up("admindown", tmp_path) is False
    assert pa.carrier_up("gone", tmp_path) is None
