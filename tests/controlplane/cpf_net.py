"""A small multi-switch network of softswitch processes for control-plane integration tests.

Every topology link becomes a veth pair in the root namespace. Switch ends are given to the
switch processes (`-i PORT@IFACE`); a host end stays a bare interface (IPv6 off, no address:
the kernel sends nothing on it) on which the test holds an AF_PACKET socket to send and
receive the host's frames. Names: "cpf" + 4 hex digits (unique per network) + "s<dev>p<port>"
or "h<k>". Everything is removed on exit, also when a test fails (and by atexit).
"""

from __future__ import annotations

import atexit
import secrets
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

from controlplane.client import Fabric, SwitchConn
from topologies.model import Topology

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
_live: set[str] = set()


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r


@atexit.register
def _cleanup_all() -> None:
    for name in list(_live):
        sh("ip", "link", "del", name, check=False)
        _live.discard(name)


def build_programs(out: Path) -> Path:
    """Compile p4src/ for softswitch into out/softswitch/ (P4Info + device config)."""
    d = out / "softswitch"
    d.mkdir(parents=True, exist_ok=True)
    for prog in ("bier", "sr_p2mp"):
        sh(
            str(PYTHON), "-m", "softswitch.compile",
            "--p4info", str(d / f"{prog}.p4info.txtpb"),
            "--device-config", str(d / f"{prog}.json"),
            str(REPO / "p4src" / f"{prog}.p4"),
        )  # fmt: skip
    return out


class SwitchNet:
    def __init__(self, topo: Topology, build: Path, program: str) -> None:
        self.topo = topo
        self.build = build
        self.program = program
        self.tag = "cpf" + secrets.token_hex(2)
        self.dev = {s.name: int(s.device_id or 0) for s in topo.switches}
        self.iface: dict[tuple[str, int], str] = {}  # (switch, port) -> interface
        self.host_if: dict[str, str] = {}
        self.socks: dict[str, socket.socket] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.addr: dict[str, str] = {}
        self.workdir = Path(f"/tmp/{self.tag}")

    # -- set-up ------------------------------------------------------------------------------
    def __enter__(self) -> SwitchNet:
        try:
            self.workdir.mkdir(exist_ok=True)
            for k, link in enumerate(self.topo.links):
                ends = []
                for node, port in ((link.a, link.a_port), (link.b, link.b_port)):
                    if node in self.dev:
                        name = f"{self.tag}s{self.dev[node]}p{port}"
                        self.iface[(node, port or 0)] = name
                    else:
                        name = f"{self.tag}h{k}"
                        self.host_if[node] = name
                    ends.append(name)
                sh("ip", "link", "add", ends[0], "type", "veth", "peer", "name", ends[1])
                _live.add(ends[0])
                for n in ends:
                    sh("sysctl", "-qw", f"net.ipv6.conf.{n}.disable_ipv6=1", check=False)
                    sh("ip", "link", "set", n, "mtu", "9000", "up")
                    sh("ethtool", "-K", n, "tx", "off", "rxvlan", "off", "txvlan", "off",
                       check=False)  # fmt: skip
            for host, name in self.host_if.items():
                # Protocol 0 until bind(): an ETH_P_ALL socket in the root namespace would
                # queue every interface's frames (other tests' too) until it is bound.
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
                s.bind((name, ETH_P_ALL))
                s.setblocking(False)
                self.socks[host] = s
            for sw in self.dev:
                self._start(sw)
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, sw: str) -> None:
        ifs = [a for (s, p), n in sorted(self.iface.items()) if s == sw for a in ("-i", f"{p}@{n}")]
        log = self.workdir / f"{sw}.log"
        cmd = [
            str(PYTHON), "-m", "softswitch", "--no-p4", *ifs,
            "--device-id", str(self.dev[sw]), "--grpc-server-addr", "127.0.0.1:0",
            "--cpu-port", "255", "--port-status-register", "MyEgress.port_status",
            "--log-file", str(log),
        ]  # fmt: skip
        p = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.procs[sw] = p
        deadline = time.monotonic() + 60
        assert p.stdout is not None
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError(f"softswitch {sw} exited: {p.poll()} (log {log})")
            if "listening on " in line:
                self.addr[sw] = line.split("listening on ", 1)[1].split()[0]
                return
        raise RuntimeError(f"softswitch {sw} did not start in 60 s (log {log})")

    def fabric(self) -> Fabric:
        d = self.build / "softswitch"
        return Fabric(
            [SwitchConn(sw, self.addr[sw], self.dev[sw]) for sw in self.dev],
            d / f"{self.program}.p4info.txtpb",
            d / f"{self.program}.json",
        )

    def close(self) -> None:
        for s in self.socks.values():
            s.close()
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for name in list(_live):
            if name.startswith(self.tag):
                sh("ip", "link", "del", name, check=False)
                _live.discard(name)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close()
        if exc_type is None:  # keep the switch logs of a failed test
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"cpf_net: switch logs kept in {self.workdir}")

    # -- traffic ---------------------------------------------------------------------------
    def drain(self) -> None:
        for s in self.socks.values():
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break

    def send(self, host: str, frame: bytes) -> None:
        self.socks[host].send(frame)

    def collect(
        self, expect: set[str], timeout: float = 15.0, quiet: float = 0.7
    ) -> dict[str, list[bytes]]:
        """Frames received by each host: waits (up to `timeout`) until every host in `expect`
        got one, then until `quiet` seconds pass without any frame (late copies show)."""
        got: dict[str, list[bytes]] = {h: [] for h in self.socks}
        by_fd = {s.fileno(): h for h, s in self.socks.items()}
        end = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < end:
            waiting = any(not got[h] for h in expect)
            if not waiting and time.monotonic() - last >= quiet:
                break
            r, _, _ = select.select(list(self.socks.values()), [], [], 0.05)
            for s in r:
                while True:
                    try:
                        data, addr = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    if addr[2] == PACKET_OUTGOING:
                        continue  # our own transmission
                    got[by_fd[s.fileno()]].append(data)
                    last = time.monotonic()
            if waiting and not any(not got[h] for h in expect):
                last = time.monotonic()
        return {h: f for h, f in got.items() if f}

    def set_link(self, name: str, up: bool) -> None:
        """Pull the cable: the switch ends go administratively down (carrier lost)."""
        a, _, b = name.partition("-")
        link = next(lk for lk in self.topo.links if {lk.a, lk.b} == {a, b})
        for node, port in ((link.a, link.a_port), (link.b, link.b_port)):
            if (node, port or 0) in self.iface:
                sh("ip", "link", "set", self.iface[(node, port or 0)], "up" if up else "down")
