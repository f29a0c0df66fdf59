"""`make net` as a Mininet user drives it: the CLI on a terminal (a pty), pingall, ping by
name, `tables`, Ctrl-C on a command that hangs, exit."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import topologies
from experiments.net import topology_path
from topologies.model import switch_port_mac

from .conftest import REPO, our_interfaces

pytestmark = [pytest.mark.root, pytest.mark.mininet, pytest.mark.slow]

PROMPT = "testbed> "


class Terminal:
    """A program on a pseudo-terminal, read and typed at as a person would."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(cwd)
            os.execv(argv[0], argv)
        self.seen = ""

    def read_until(self, text: str, timeout: float) -> str:
        """Everything read up to and including `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} within {timeout} s; the screen:\n{self.seen}")
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the program ended
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"ended before {text!r}; the screen:\n{self.seen}")
                self.seen += chunk.decode(errors="replace").replace("\r", "")
        upto = self.seen.index(text) + len(text)
        out, self.seen = self.seen[:upto], self.seen[upto:]
        return out

    def command(self, line: str, timeout: float = 60) -> str:
        """Type a line; its output up to the next prompt (the echoed line left out)."""
        os.write(self.fd, line.encode() + b"\n")
        out = self.read_until(PROMPT, timeout)
        return out.split("\n", 1)[1].removesuffix(PROMPT) if "\n" in out else ""

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 65536)  # keep the pty drained
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"still running after {timeout} s")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)  # the network's handler tears it down
            self.wait(120)
        except (ProcessLookupError, ChildProcessError):
            pass
        finally:
            os.close(self.fd)


@pytest.fixture
def net_cli(
    prefix: str,
    grpc_base: int,
    softswitch_build: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Terminal]:
    argv = [
        sys.executable, "-m", "experiments.net", "diamond", "--target", "softswitch",
        "--prefix", prefix, "--grpc-port-base", str(grpc_base), "--build", str(softswitch_build),
        "--log-dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    monkeypatch.setenv("MCAST_TESTBED_STATE_DIR", str(tmp_path / "state"))
    term = Terminal(argv, REPO)
    try:
        yield term
    finally:
        term.kill()
    assert our_interfaces(prefix) == []


def test_pingall_ping_by_name_tables_and_ctrl_c(net_cli: Terminal, prefix: str) -> None:
    term = net_cli
    before = term.read_until(PROMPT, timeout=300)
    assert "ready " in before
    assert "gNMI" not in before and "WARNING" not in before, before
    h = [f"{prefix}h{k}" for k in range(1, 5)]

    # every pair answers: Mininet knows each host's address
    out = term.command("pingall", timeout=120)
    assert out.splitlines() == [
        "*** Ping: testing ping reachability",
        f"{h[0]} -> {h[1]} {h[2]} {h[3]} ",
        f"{h[1]} -> {h[0]} {h[2]} {h[3]} ",
        f"{h[2]} -> {h[0]} {h[1]} {h[3]} ",
        f"{h[3]} -> {h[0]} {h[1]} {h[2]} ",
        "*** Results: 0% dropped (12/12 received)",
    ], out

    # a host's name stands for its address
    out = term.command(f"{h[0]} ping -c1 -W5 {h[3]}")
    assert out.startswith("PING 10.0.0.4 (10.0.0.4) 56(84) bytes of data.\n"), out
    assert "1 packets transmitted, 1 received, 0% packet loss" in out

    # MAC addresses as MACs, IPv4 addresses dotted, ports in decimal
    topo = topologies.load(topology_path("diamond"))
    s1 = topo.switch("s1")
    lines = term.command("tables s1").splitlines()
    port_macs = [
        f"  MyEgress.port_mac[standard_metadata.egress_port={p}] -> MyEgress.set_src_mac("
        f"mac={switch_port_mac(s1.device_id, p)})"
        for p in sorted(topo.neighbours("s1"))
    ]
    assert [line for line in lines if "port_mac" in line] == port_macs, lines
    h1 = topo.host("h1")
    _, port, _ = topo.host_attachment("h1")
    assert (
        f"  MyIngress.ipv4_lpm[hdr.ipv4.dst_addr=10.0.0.1/32] -> MyIngress.ipv4_route("
        f"port={port}, dmac={h1.mac})"
    ) in lines, lines
    macs = re.findall(r"mac=(\S+?)\)", "\n".join(lines))
    assert macs and all(re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", m) for m in macs), lines

    # Ctrl-C ends the command that hangs, not the network
    os.write(term.fd, f"{h[0]} sleep 600\n".encode())
    term.read_until(f"{h[0]} sleep 600\n", timeout=30)
    time.sleep(1)  # a person's pause (either way, Ctrl-C must not end the network)
    os.write(term.fd, b"\x03")
    term.read_until(PROMPT, timeout=60)
    os.write(term.fd, f"{h[1]} ping {h[2]}\n".encode())
    term.read_until("icmp_seq=1 ", timeout=60)
    os.write(term.fd, b"\x03")
    out = term.read_until(PROMPT, timeout=60)
    assert re.search(r"(\d+) packets transmitted, \1 received, 0% packet loss", out), out
    out = term.command(f"{h[2]} ping -c1 -W5 {h[0]}")
    assert "1 packets transmitted, 1 received, 0% packet loss" in out, out

    os.write(term.fd, b"exit\n")
    assert term.wait(180) == 0
