"""Packet-test harness for P4 switches: namespaces, veth pairs, a switch process, P4Runtime.

Use it from any test (it is a plain module; run pytest from the repository root):

    from testsupport.harness import Testbed, program_config, target_of

    def test_forward(request):
        target = target_of(request.config)            # "softswitch" (default) or "bmv2"
        p4info, blob = program_config(target, "p4src/bier.p4")   # skips if it cannot build
        with Testbed(target, ports=[1, 2, 3], cpu_port=255) as tb:
            c = tb.client()                           # P4Runtime, primary (election id 1)
            c.set_pipeline(p4info, blob)
            c.write([c.insert(c.table_entry("Ingress.fwd", {"hdr.x": Exact(1)},
                                            "Ingress.out", {"port": 2}))])
            tb.send(1, frame)                         # from the host side of port 1
            tb.expect({2: [expected_frame]})          # exactly this, nothing on other ports

What it builds: for every switch port N a veth pair; the switch end `<tag>sN` stays in the
root namespace and is given to the switch as `-i N@<tag>sN`; the host end moves into its own
namespace `<tag>-hN` (IPv6 off, offloads off, so the kernel sends nothing on its own). The
test process holds an AF_PACKET socket on every host end (opened inside the namespace), so
`send` and `expect` work without subprocesses; frames read there keep their 802.1Q tags
(restored from PACKET_AUXDATA as softswitch's ports and libpcap do). The tag is "ssb" + 5
random hex digits; everything is removed on exit, also when the test fails (and by atexit as
a last resort).

Targets: the environment variable SWITCH_TARGET=softswitch|bmv2 works everywhere (and
SOFTSWITCH_BACKEND=python|ebpf|auto gives softswitch its --backend); the pytest
option `--target` works from any test path (it is registered in tests/conftest.py).
`bmv2` runs `simple_switch_grpc` and compiles with `p4c-bm2-ss`; both skip with the reason
when absent. Other switch flags go in `extra_args`, e.g.
`Testbed(..., extra_args=["--port-status-register", "MyEgress.port_status"])`;
`tb.set_carrier(port, False)` takes a port's link down (the switch end loses carrier).
BMv2 cannot take `--port-status-register`: `tb.port_agent("MyEgress.port_status")` runs
testbed.port_agent beside it instead (carrier -> register over BMv2's Thrift port).
`Testbed(..., start=False)` gives only the namespaces and veths (no switch).

Expectations: `expect(frames_by_port)` waits until every listed frame has arrived (up to
`timeout`), then for a quiet period (at most another `timeout`), and asserts that each port
got exactly the listed frames in order and every other port nothing. Link-liveness frames
(BFD: to 01:80:c2:00:00:0e with Ethertype 0x88B5, sent by a switch with `--bfd-port`) are not
counted: they are the link's chatter, not forwarding. `tb.client()` returns a synchronous
P4Runtime client (`P4RTClient`) with helpers that build entities by P4Info names from
softswitch.api values.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import secrets
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc
import pytest
from finsy.proto import U128, p4i, p4r, p4r_grpc

from softswitch.api import MatchValue, TableEntry
from softswitch.ports import enable_auxdata, receive_frame
from softswitch.server import bytestr
from softswitch.server import translate as tr
from softswitch.server.errors import batch_errors
from softswitch.server.p4info_index import P4InfoIndex
from testbed.netns import in_netns

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
CODE_NAMES = {sc.value[0]: sc.name for sc in grpc.StatusCode}

_live: set[str] = set()  # namespaces and links still to remove at exit


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r


def _cleanup_all() -> None:
    for item in list(_live):
        kind, name = item.split(":", 1)
        if kind == "ns":
            sh("ip", "netns", "del", name, check=False)
        else:
            sh("ip", "link", "del", name, check=False)
        _live.discard(item)


atexit.register(_cleanup_all)


def target_of(config: pytest.Config | None = None) -> str:
    """The target chosen by --target or SWITCH_TARGET (default softswitch)."""
    t = None
    if config is not None:
        with contextlib.suppress(ValueError):
            t = config.getoption("--target")
    t = t or os.environ.get("SWITCH_TARGET") or "softswitch"
    if t not in ("softswitch", "bmv2"):
        raise pytest.UsageError(f"unknown switch target {t!r} (softswitch or bmv2)")
    return t


def need_target(target: str) -> None:
    """Skip with the reason when the target cannot run here."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and veth pairs")
    if target == "bmv2" and shutil.which("simple_switch_grpc") is None:
        pytest.skip("target bmv2: simple_switch_grpc is not installed (vagrant/ VM only)")


def program_config(target: str, source: str | Path) -> tuple[p4i.P4Info, bytes]:
    """(P4Info, device config) of a P4 program for the target; skips when it cannot build."""
    src = Path(source)
    if not src.is_absolute():
        src = REPO / src
    if target == "bmv2":
        if shutil.which("p4c-bm2-ss") is None:
            pytest.skip("target bmv2: p4c-bm2-ss is not installed (vagrant/ VM only)")
        out = Path(tempfile.mkdtemp(prefix="ssb-p4c-"))
        sh(*p4c_bmv2_command(src, out))
        from google.protobuf import text_format

        info = text_format.Parse((out / "p4info.txtpb").read_text(), p4i.P4Info())
        return info, (out / "prog.json").read_bytes()
    need_target(target)
    from softswitch import api

    program = api.Program.from_file(str(src))
    return program.p4info, program.device_config()


def p4c_bmv2_command(src: Path, out: Path) -> list[str]:
    """p4c-bm2-ss with the flags `make p4` uses (softswitch.build_all), into `out`."""
    from softswitch.build_all import Outputs, p4c_command

    return p4c_command(
        src, Outputs(p4info=out / "p4info.txtpb", device_config=out / "prog.json"), {}
    )


def bmv2_command(
    program: str | None,
    ifaces: dict[int, str],
    device_id: int,
    grpc_addr: str,
    thrift_port: int,
    log_file: Path,
    cpu_port: int | None = None,
    pcap_dir: Path | None = None,
    extra_args: Iterable[str] = (),
) -> list[str]:
    """simple_switch_grpc: its own Thrift port (the default 9090 would be shared by every
    test's switch), target options (gRPC address, CPU port) after `--`."""
    cmd = ["simple_switch_grpc", program or "--no-p4"]
    cmd += [a for n, i in ifaces.items() for a in ("-i", f"{n}@{i}")]
    cmd += ["--device-id", str(device_id), "--thrift-port", str(thrift_port)]
    cmd += ["--log-file", str(log_file), "--log-level", "info"]
    if pcap_dir is not None:  # "=": the value of --pcap is optional, a separate word may be lost
        cmd.append(f"--pcap={pcap_dir}")
    cmd += [*extra_args, "--", "--grpc-server-addr", grpc_addr]
    if cpu_port is not None:
        cmd += ["--cpu-port", str(cpu_port)]
    return cmd


# linkmon.liveness: BFD frames go to the nearest-bridge address with Ethertype 0x88B5
LIVENESS_HEADER = (bytes.fromhex("0180c200000e"), (0x88B5).to_bytes(2, "big"))


def is_liveness(frame: bytes) -> bool:
    return frame[:6] == LIVENESS_HEADER[0] and frame[12:14] == LIVENESS_HEADER[1]


class HostPort:
    """The host end of one switch port: a raw socket inside its namespace."""

    def __init__(self, port: int, ns: str, iface: str) -> None:
        self.port, self.ns, self.iface = port, ns, iface

        def make() -> socket.socket:
            # Protocol 0 until bind(): an ETH_P_ALL socket would queue every interface's
            # frames (here: lo's) until it is bound to one.
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            enable_auxdata(s)  # 802.1Q tags come back as sent (softswitch.ports)
            s.bind((iface, ETH_P_ALL))
            s.setblocking(False)
            return s

        self.sock: socket.socket = in_netns(ns, make)

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def drain(self) -> list[bytes]:
        out = []
        while True:
            try:
                frame, pkttype = receive_frame(self.sock)
            except BlockingIOError:
                return out
            if pkttype != PACKET_OUTGOING and not is_liveness(frame):
                out.append(frame)


class P4RTClient:
    """A small synchronous P4Runtime client: one stream (arbitration, packet I/O), unary RPCs,
    and entity builders by P4Info names. Errors surface as grpc.RpcError."""

    def __init__(self, addr: str, device_id: int, election_id: int | None = 1) -> None:
        self.device_id = device_id
        self.election_id = election_id
        self.channel = grpc.insecure_channel(addr)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self.index: P4InfoIndex | None = None
        self.arbitrations: queue.Queue = queue.Queue()
        self.packet_ins: queue.Queue = queue.Queue()
        self.stream_errors: queue.Queue = queue.Queue()
        self.stream_status: grpc.RpcError | None = None
        self._requests: queue.Queue = queue.Queue()
        self._calls = self.stub.StreamChannel(iter(self._requests.get, None))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if election_id is not None:
            self.arbitrate(election_id)
            upd = self.arbitrations.get(timeout=10)
            self.last_arbitration = upd

    def arbitrate(self, election_id: int, device_id: int | None = None) -> None:
        m = p4r.StreamMessageRequest()
        m.arbitration.device_id = self.device_id if device_id is None else device_id
        m.arbitration.election_id.CopyFrom(U128.encode(election_id))
        self.election_id = election_id
        self._requests.put(m)

    def _read(self) -> None:
        try:
            for resp in self._calls:
                kind = resp.WhichOneof("update")
                if kind == "arbitration":
                    self.arbitrations.put(resp.arbitration)
                elif kind == "packet":
                    self.packet_ins.put(resp.packet)
                elif kind == "error":
                    self.stream_errors.put(resp.error)
        except grpc.RpcError as exc:
            self.stream_status = exc
            self.arbitrations.put(exc)

    def close(self) -> None:
        self._requests.put(None)
        with contextlib.suppress(Exception):
            self._calls.cancel()
        self.channel.close()

    # --- pipeline -------------------------------------------------------------------------
    def _eid(self, msg) -> None:
        if self.election_id is not None:
            msg.election_id.CopyFrom(U128.encode(self.election_id))

    def set_pipeline(
        self,
        p4info: p4i.P4Info | None,
        device_config: bytes | None,
        action: int = p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
        cookie: int | None = None,
    ) -> None:
        req = p4r.SetForwardingPipelineConfigRequest(device_id=self.device_id, action=action)
        self._eid(req)
        if p4info is not None or device_config is not None:
            if p4info is not None:
                req.config.p4info.CopyFrom(p4info)
            req.config.p4_device_config = device_config or b""
            if cookie is not None:
                req.config.cookie.cookie = cookie
        self.stub.SetForwardingPipelineConfig(req, timeout=60)
        if p4info is not None:
            self.index = P4InfoIndex(p4info)

    def get_pipeline(self, response_type: int = 0) -> p4r.ForwardingPipelineConfig:
        req = p4r.GetForwardingPipelineConfigRequest(
            device_id=self.device_id, response_type=response_type
        )
        return self.stub.GetForwardingPipelineConfig(req, timeout=30).config

    # --- write / read ----------------------------------------------------------------------
    def write(self, updates: Iterable[p4r.Update], device_id: int | None = None) -> None:
        req = p4r.WriteRequest(device_id=self.device_id if device_id is None else device_id)
        self._eid(req)
        req.updates.extend(updates)
        self.stub.Write(req, timeout=60)

    def read(self, *entities: p4r.Entity) -> list[p4r.Entity]:
        req = p4r.ReadRequest(device_id=self.device_id)
        req.entities.extend(entities)
        out: list[p4r.Entity] = []
        for resp in self.stub.Read(req, timeout=60):
            out.extend(resp.entities)
        return out

    @staticmethod
    def _update(kind: int, ent) -> p4r.Update:
        u = p4r.Update(type=kind)
        if isinstance(ent, p4r.Entity):
            u.entity.CopyFrom(ent)
        elif isinstance(ent, p4r.TableEntry):
            u.entity.table_entry.CopyFrom(ent)
        elif isinstance(ent, p4r.PacketReplicationEngineEntry):
            u.entity.packet_replication_engine_entry.CopyFrom(ent)
        elif isinstance(ent, p4r.CounterEntry):
            u.entity.counter_entry.CopyFrom(ent)
        elif isinstance(ent, p4r.DirectCounterEntry):
            u.entity.direct_counter_entry.CopyFrom(ent)
        elif isinstance(ent, p4r.RegisterEntry):
            u.entity.register_entry.CopyFrom(ent)
        else:
            raise TypeError(f"not an entity: {type(ent).__name__}")
        return u

    def insert(self, ent) -> p4r.Update:
        return self._update(p4r.Update.INSERT, ent)

    def modify(self, ent) -> p4r.Update:
        return self._update(p4r.Update.MODIFY, ent)

    def delete(self, ent) -> p4r.Update:
        return self._update(p4r.Update.DELETE, ent)

    # --- entity builders (by P4Info names, values from softswitch.api) ----------------------
    def table_entry(
        self,
        table: str,
        match: dict[str, MatchValue],
        action: str,
        params: dict[str, int] | None = None,
        priority: int = 0,
    ) -> p4r.TableEntry:
        assert self.index is not None, "set_pipeline first"
        return tr.entry_to_p4r(self.index, TableEntry(table, match, action, params or {}, priority))

    def default_entry(
        self, table: str, action: str | None, params: dict[str, int] | None = None
    ) -> p4r.TableEntry:
        assert self.index is not None, "set_pipeline first"
        e = p4r.TableEntry(table_id=self.index.tables_by_name[table].id, is_default_action=True)
        if action is not None:
            e.action.action.CopyFrom(tr.action_to_p4r(self.index, action, params or {}))
        return e

    def table_id(self, table: str) -> int:
        assert self.index is not None
        return self.index.tables_by_name[table].id

    # BMv2's P4Runtime server (PI) refuses a replica whose `port` bytes say 0 ("Port must be
    # non-negative.") and takes port 0 in the deprecated `egress_port` field instead
    zero_port_in_egress_port = False

    def _replica(self, replicas: Any, port: int, rid: int) -> None:
        if port == 0 and self.zero_port_in_egress_port:
            replicas.add(egress_port=0, instance=rid)
        else:
            replicas.add(port=bytestr.encode(port), instance=rid)

    def multicast_group(
        self, group: int, replicas: list[tuple[int, int]]
    ) -> p4r.PacketReplicationEngineEntry:
        g = p4r.MulticastGroupEntry(multicast_group_id=group)
        for port, rid in replicas:
            self._replica(g.replicas, port, rid)
        return p4r.PacketReplicationEngineEntry(multicast_group_entry=g)

    def clone_session(
        self, session: int, replicas: list[tuple[int, int]]
    ) -> p4r.PacketReplicationEngineEntry:
        c = p4r.CloneSessionEntry(session_id=session)
        for port, rid in replicas:
            self._replica(c.replicas, port, rid)
        return p4r.PacketReplicationEngineEntry(clone_session_entry=c)

    # --- packet I/O --------------------------------------------------------------------------
    def packet_out(self, payload: bytes, metadata: dict[str, int] | None = None) -> None:
        m = p4r.StreamMessageRequest()
        m.packet.payload = payload
        if metadata:
            assert self.index is not None
            cpm = self.index.cpm["packet_out"]
            by_name = {f.name: f for f in cpm.fields}
            for name, value in metadata.items():
                m.packet.metadata.add(metadata_id=by_name[name].id, value=bytestr.encode(value))
        self._requests.put(m)

    def send_packet_out(self, msg: p4r.PacketOut) -> None:
        m = p4r.StreamMessageRequest()
        m.packet.CopyFrom(msg)
        self._requests.put(m)

    def packet_in(self, timeout: float = 3.0) -> p4r.PacketIn:
        return self.packet_ins.get(timeout=timeout)


def write_error_codes(exc: grpc.RpcError) -> list[str]:
    """Code names of the per-update p4.v1.Errors of a failed Write (OK included)."""
    return [CODE_NAMES.get(e.canonical_code, str(e.canonical_code)) for e in batch_errors(exc)]


class Testbed:
    """Namespaces, veths and one running switch process; a context manager."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        target: str = "softswitch",
        ports: Iterable[int] = (1, 2),
        cpu_port: int | None = 255,
        device_id: int = 1,
        program: str | None = None,
        extra_args: Iterable[str] = (),
        pcap_dir: Path | None = None,
        start: bool = True,
    ) -> None:
        if start:
            need_target(target)
        elif os.geteuid() != 0:
            pytest.skip("needs root for network namespaces and veth pairs")
        self.start = start
        self.target = target
        self.port_numbers = list(ports)
        self.cpu_port = cpu_port
        self.device_id = device_id
        self.program = program
        self.extra_args = list(extra_args)
        self.pcap_dir = pcap_dir
        self.tag = "ssb" + secrets.token_hex(3)[:5]
        self.ports: dict[int, HostPort] = {}
        self.proc: subprocess.Popen | None = None
        self.addr = ""
        self.thrift_port: int | None = None  # bmv2: its Thrift server (simple_switch_CLI)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self.log_file = self.workdir / "switch.log"
        self._clients: list[P4RTClient] = []
        self._agents: list = []  # testbed.port_agent.PortAgent (bmv2)

    def switch_iface(self, port: int) -> str:
        return f"{self.tag}s{port}"

    def ns(self, port: int) -> str:
        return f"{self.tag}-h{port}"

    # --- set-up / tear-down --------------------------------------------------------------
    def __enter__(self) -> Testbed:
        try:
            for n in self.port_numbers:
                self._make_port(n)
            if self.start:
                self._start_switch()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _make_port(self, n: int) -> None:
        sw, ns, host = self.switch_iface(n), self.ns(n), f"{self.tag}h{n}"
        sh("ip", "netns", "add", ns)
        _live.add(f"ns:{ns}")
        sh("ip", "link", "add", sw, "type", "veth", "peer", "name", host)
        _live.add(f"link:{sw}")
        sh("ip", "link", "set", host, "netns", ns)
        for args in (
            ("sysctl", "-qw", f"net.ipv6.conf.{sw}.disable_ipv6=1"),
            ("ip", "link", "set", sw, "mtu", "9000", "up"),
            ("ethtool", "-K", sw, "tx", "off", "rxvlan", "off", "txvlan", "off"),
        ):
            sh(*args, check=False)
        for args in (
            ("sysctl", "-qw", f"net.ipv6.conf.{host}.disable_ipv6=1"),
            ("ip", "link", "set", host, "mtu", "9000", "up"),
            ("ethtool", "-K", host, "tx", "off", "rxvlan", "off", "txvlan", "off"),
        ):
            sh("ip", "netns", "exec", ns, *args, check=False)
        self.ports[n] = HostPort(n, ns, host)

    def _command(self) -> list[str]:
        ifs = [a for n in self.port_numbers for a in ("-i", f"{n}@{self.switch_iface(n)}")]
        prog = [self.program] if self.program else ["--no-p4"]
        common = ["--device-id", str(self.device_id), "--log-file", str(self.log_file)]
        cpu = ["--cpu-port", str(self.cpu_port)] if self.cpu_port is not None else []
        if self.target == "bmv2":
            self.addr = f"127.0.0.1:{_free_port()}"
            self.thrift_port = _free_port()
            return bmv2_command(
                self.program,
                {n: self.switch_iface(n) for n in self.port_numbers},
                self.device_id,
                self.addr,
                self.thrift_port,
                self.log_file,
                self.cpu_port,
                self.pcap_dir,
                self.extra_args,
            )
        pcap = ["--pcap", str(self.pcap_dir)] if self.pcap_dir else []
        backend = os.environ.get("SOFTSWITCH_BACKEND")
        if backend and "--backend" not in self.extra_args:
            pcap += ["--backend", backend]
        return [
            str(PYTHON),
            "-m",
            "softswitch",
            *prog,
            *ifs,
            *common,
            *cpu,
            *pcap,
            "--grpc-server-addr",
            "127.0.0.1:0",
            "--log-level",
            "info",
            *self.extra_args,
        ]

    def _start_switch(self) -> None:
        self.proc = subprocess.Popen(
            self._command(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        if self.target == "softswitch":
            line = self._read_line(timeout=30)
            # "softswitch: listening on 127.0.0.1:PORT ..."
            self.addr = line.split("listening on ", 1)[1].split()[0]
        else:
            # Waited for by connecting to its gRPC port, not with gRPC channels: closing a
            # channel whose readiness future timed out can hang (grpc/grpc#20026).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    out, err = self.proc.communicate()
                    raise RuntimeError(
                        f"simple_switch_grpc exited with status {self.proc.returncode} before"
                        f" it served P4Runtime: {(err + out).strip()[-2000:]}"
                    )
                if _listening(self.addr):
                    return
                time.sleep(0.1)
            raise RuntimeError("simple_switch_grpc did not start serving within 30 s.")

    def _read_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if "listening on" not in line:
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"switch did not start: {line!r} {err[-2000:]}")
        return line

    def stop_switch(self, sig_timeout: float = 10) -> int:
        """SIGTERM the switch and return its exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=sig_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def close(self) -> None:
        for agent in self._agents:
            agent.stop()
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self.stop_switch()
        for hp in self.ports.values():
            hp.sock.close()
        for n in self.port_numbers:
            if f"ns:{self.ns(n)}" in _live:
                sh("ip", "netns", "del", self.ns(n), check=False)
                _live.discard(f"ns:{self.ns(n)}")
            if f"link:{self.switch_iface(n)}" in _live:
                sh("ip", "link", "del", self.switch_iface(n), check=False)
                _live.discard(f"link:{self.switch_iface(n)}")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        # BMv2's file logger may add ".txt" to the name it is given
        for f in (self.log_file, self.log_file.with_name(self.log_file.name + ".txt")):
            if f.exists():
                return f.read_text()
        return ""

    # --- control ---------------------------------------------------------------------------
    def client(self, election_id: int | None = 1) -> P4RTClient:
        c = P4RTClient(self.addr, self.device_id, election_id)
        c.zero_port_in_egress_port = self.target == "bmv2"
        self._clients.append(c)
        return c

    def register_read(self, name: str) -> list[int]:
        """BMv2: a whole register read over its Thrift server (simple_switch_CLI), since its
        P4Runtime server answers register reads with UNIMPLEMENTED."""
        if self.thrift_port is None:
            raise RuntimeError("register_read: no BMv2 switch running (no Thrift port)")
        r = subprocess.run(
            ["simple_switch_CLI", "--thrift-ip", "127.0.0.1", "--thrift-port",
             str(self.thrift_port)],
            input=f"register_read {name}\n", capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        for line in r.stdout.splitlines():
            if f"{name}=" in line:
                return [int(v) for v in line.split("=", 1)[1].replace(",", " ").split()]
        raise RuntimeError(f"register_read {name}: no values in {r.stdout + r.stderr!r}")

    def port_agent(self, register: str, writer=None):
        """BMv2: what softswitch's --port-status-register does, done beside the switch by
        testbed.port_agent (the switch ends' carrier -> `register` over BMv2's Thrift
        server). `writer`: where the writes go (default: the running switch's Thrift port)."""
        from testbed.port_agent import PortAgent, make_writer

        if writer is None:
            if self.thrift_port is None:
                raise RuntimeError("port_agent: no BMv2 switch running (no Thrift port)")
            writer = make_writer(self.thrift_port, register)
        agent = PortAgent({n: self.switch_iface(n) for n in self.port_numbers}, writer)
        agent.start()
        self._agents.append(agent)
        return agent

    def set_carrier(self, port: int, up: bool) -> None:
        """Take the host end of `port` down or up: the switch end loses or regains carrier."""
        state = "up" if up else "down"
        sh("ip", "netns", "exec", self.ns(port), "ip", "link", "set", f"{self.tag}h{port}", state)

    # --- frames ----------------------------------------------------------------------------
    def send(self, port: int, frame: bytes) -> None:
        self.ports[port].send(frame)

    def drain(self) -> None:
        for hp in self.ports.values():
            hp.drain()

    def collect(
        self, want: dict[int, int] | None = None, timeout: float = 3.0, quiet: float = 0.25
    ) -> dict[int, list[bytes]]:
        """Frames received on host ends: until `want` counts are met (or timeout), then until
        nothing arrives for `quiet` seconds, for at most another `timeout` (a switch that
        never falls quiet, e.g. one looping a frame, ends the wait with what came)."""
        got: dict[int, list[bytes]] = {}
        socks = {hp.sock.fileno(): hp for hp in self.ports.values()}
        deadline = time.monotonic() + timeout
        quiet_until = None

        def satisfied() -> bool:
            return want is not None and all(len(got.get(p, [])) >= k for p, k in want.items())

        while True:
            now = time.monotonic()
            if satisfied() and quiet_until is None:
                quiet_until = now + quiet
                deadline = now + timeout
            end = min(quiet_until, deadline) if quiet_until is not None else deadline
            if now >= end:
                break
            r, _, _ = select.select(list(socks), [], [], end - now)
            for fd in r:
                hp = socks[fd]
                frames = hp.drain()
                if frames:
                    got.setdefault(hp.port, []).extend(frames)
                    if quiet_until is not None:
                        quiet_until = time.monotonic() + quiet
        return {p: f for p, f in got.items() if f}

    def expect(
        self, expected: dict[int, list[bytes]], timeout: float = 3.0, quiet: float = 0.25
    ) -> None:
        want = {p: len(f) for p, f in expected.items() if f}
        got = self.collect(want, timeout, quiet)
        exp = {p: list(f) for p, f in expected.items() if f}
        if got != exp:
            raise AssertionError(_diff(exp, got))


def _diff(exp: dict[int, list[bytes]], got: dict[int, list[bytes]]) -> str:
    lines = ["frames per port differ (expected vs got):"]
    for p in sorted(set(exp) | set(got)):
        e, g = exp.get(p, []), got.get(p, [])
        if e != g:
            lines.append(f"  port {p}: expected {len(e)} frame(s), got {len(g)}")
            for i in range(max(len(e), len(g))):
                lines.append(f"    [{i}] exp {e[i].hex() if i < len(e) else '-'}")
                lines.append(f"    [{i}] got {g[i].hex() if i < len(g) else '-'}")
    return "\n".join(lines)


def _listening(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
