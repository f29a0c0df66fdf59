"""Cable links (testbed.cable): a pull takes the cable's middles down, so the switch ports
lose carrier and stay administratively up; frames cross the middle whole (802.1Q tags
included); a pull from outside (experiments.fail's RemoteNetwork) is seen by the owner; the
middles go with the network. On BMv2 a switch keeps forwarding between its other ports while
one of its links is pulled (a port taken down would stop its one receive thread)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import topologies
from testbed.network import Network
from testbed.remote import RemoteNetwork
from testbed.state import read
from testbed.switches import softswitch_cli_available

from .conftest import our_interfaces

pytestmark = [pytest.mark.root, pytest.mark.mininet]
DIAMOND = Path(topologies.__file__).parent / "fixed" / "diamond.yaml"
IFF_UP = 0x1


def _flags(intf: str) -> int:
    return int(Path(f"/sys/class/net/{intf}/flags").read_text(), 16)


def _carrier(intf: str) -> bool:
    try:
        return Path(f"/sys/class/net/{intf}/carrier").read_text().strip() == "1"
    except OSError:  # EINVAL while the interface is down
        return False


def _wait(cond, what: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, what
        time.sleep(0.05)


@pytest.fixture
def net(prefix: str, grpc_base: int, state_dir: Path) -> Iterator[Network]:
    if not softswitch_cli_available():
        pytest.skip("softswitch has no CLI")
    n = Network(topologies.load(DIAMOND), "softswitch", None, prefix=prefix,
                grpc_port_base=grpc_base, state_dir=state_dir, cables=True)  # fmt: skip
    try:
        yield n.start()
    finally:
        n.stop()
    assert our_interfaces(prefix) == []  # ports and middles alike


def test_a_pull_takes_the_carrier_and_leaves_the_ports_up(net: Network, state_dir: Path) -> None:
    p1 = next(p for p, i in net.switch_info("s1").ports.items() if i.peer == "s2")
    p2 = next(p for p, i in net.switch_info("s2").ports.items() if i.peer == "s1")
    s1, s2 = net.intf_name("s1", p1), net.intf_name("s2", p2)
    events = []
    net.subscribe(events.append)
    net.set_link("s1-s2", up=False)
    _wait(lambda: not _carrier(s1) and not _carrier(s2), "the ports keep their carrier")
    assert _flags(s1) & IFF_UP and _flags(s2) & IFF_UP
    net.set_link("s1-s2", up=True)
    _wait(lambda: _carrier(s1) and _carrier(s2), "the carrier does not come back")
    assert [(e.kind, e.link) for e in events] == [("down", "s1-s2"), ("up", "s1-s2")]
    # a pull from outside: the state file names the middles, the owner reports it once
    (rec,) = [read(p) for p in state_dir.glob("*.state")]
    assert rec.cables["s1-s2"] == net.middles([lk.name for lk in net.topo.links].index("s1-s2"))
    RemoteNetwork(rec).set_link("s1-s2", up=False)
    _wait(lambda: len(events) == 3, "the owner did not notice the pull from outside")
    assert (events[2].kind, events[2].link) == ("down", "s1-s2")
    assert _flags(s1) & IFF_UP and not _carrier(s1)
    RemoteNetwork(rec).set_link("s1-s2", up=True)
    _wait(lambda: len(events) == 4, "the owner did not notice the plug from outside")


def test_frames_cross_a_cable_whole(net: Network, tmp_path: Path) -> None:
    """From host h1's eth0 to s1's port (one cable), tagged, untagged and jumbo, byte for
    byte."""
    from softswitch.ports import enable_auxdata, receive_frame

    port = net.intf_name("s1", net.topo.host_attachment("h1")[1])
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    enable_auxdata(rx)
    rx.bind((port, 0x0003))
    rx.settimeout(3)
    frames = [
        bytes.fromhex("0200000000fe020000000001") + b"\x81\x00\x20\x64\x88\xb5" + b"t" * 60,
        bytes.fromhex("0200000000fe020000000001") + b"\x88\xb5" + b"u" * 1486,
        # a jumbo frame: the middles carry the link's MTU (the topology's 9000)
        bytes.fromhex("0200000000fe020000000001") + b"\x88\xb5" + b"v" * 8000,
    ]
    # the frames go through a file: a long command line would not cross Mininet's terminal
    (tmp_path / "frames").write_bytes(b"".join(len(f).to_bytes(2, "big") + f for f in frames))
    send = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0))\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "while data:\n"
        "    n = int.from_bytes(data[:2], 'big'); s.send(data[2 : 2 + n]); data = data[2 + n :]\n"
    )
    (tmp_path / "send.py").write_text(send)
    sent = threading.Thread(
        target=lambda: net.host("h1").cmd(f"python3 {tmp_path / 'send.py'} {tmp_path / 'frames'}")
    )
    got = []
    try:
        sent.start()
        while len(got) < len(frames):
            frame, _pkttype = receive_frame(rx)
            if frame[12:14] in (b"\x81\x00", b"\x88\xb5"):
                got.append(frame)
    finally:
        sent.join()
        rx.close()
    assert got == frames


def test_the_host_namespace_is_recorded_with_its_cable_peer(net: Network, state_dir: Path) -> None:
    (rec,) = [read(p) for p in state_dir.glob("*.state")]
    peers = {node: peer for node, _inode, _mac, peer in rec.hostns}
    index = [lk.name for lk in net.topo.links].index("h1-s1")
    assert peers[net.node_name("h1")] == net.middles(index)[0]
    out = subprocess.run(
        ["ip", "-o", "link", "show", "dev", net.middles(index)[0]],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "@if" in out  # a veth, paired with the host's eth0 inside its namespace


FORWARD_P4 = r"""
#include <core.p4>
#include <v1model.p4>
struct h_t { }
struct m_t { }
parser P(packet_in p, out h_t h, inout m_t m, inout standard_metadata_t sm) {
    state start { transition accept; }
}
control V(inout h_t h, inout m_t m) { apply { } }
control I(inout h_t h, inout m_t m, inout standard_metadata_t sm) {
    action to_port(bit<9> port) { sm.egress_spec = port; }
    action drop() { mark_to_drop(sm); }
    table fwd { key = { sm.ingress_port: exact; } actions = { to_port; drop; }
                default_action = drop(); }
    apply { fwd.apply(); }
}
control E(inout h_t h, inout m_t m, inout standard_metadata_t sm) { apply { } }
control C(inout h_t h, inout m_t m) { apply { } }
control D(packet_out p, in h_t h) { apply { } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""


def _rx(intf: str) -> int:
    return int(Path(f"/sys/class/net/{intf}/statistics/rx_packets").read_text())


@pytest.mark.bmv2
@pytest.mark.p4c
def test_bmv2_forwards_on_while_another_link_is_pulled(
    prefix: str, grpc_base: int, state_dir: Path, tmp_path: Path
) -> None:
    """s1 forwards h1's frames to s2 while its link to s3 is down and after it is back."""
    from softswitch import build_all

    src = tmp_path / "forward.p4"
    src.write_text(FORWARD_P4)
    out = build_all.Outputs(p4info=tmp_path / "f.p4info.txtpb", device_config=tmp_path / "f.json")
    r = subprocess.run(build_all.p4c_command(src, out, {}), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    n = Network(topologies.load(DIAMOND), "bmv2", out.device_config, prefix=prefix,
                grpc_port_base=grpc_base, thrift_port_base=grpc_base + 20,
                state_dir=state_dir, log_dir=tmp_path / "logs")  # fmt: skip
    assert n.cables
    try:
        n.start()
        s1 = n.switch_info("s1")
        port = {i.peer: p for p, i in s1.ports.items()}
        cli = subprocess.run(
            ["simple_switch_CLI", "--thrift-ip", "127.0.0.1", "--thrift-port", str(s1.thrift_port)],
            input=f"table_add I.fwd I.to_port {port['h1']} => {port['s2']}\n",
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "Entry has been added" in cli.stdout, cli.stdout + cli.stderr
        s2_in = n.intf_name(
            "s2", next(p for p, i in n.switch_info("s2").ports.items() if i.peer == "s1")
        )
        gen = n.host("h1").popen(
            ["python3", "-c",
             "import socket, time\n"
             "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0))\n"
             "f = bytes.fromhex('0200000000fe020000000001') + b'\\x88\\xb5' + bytes(60)\n"
             "end = time.time() + 12\n"
             "while time.time() < end:\n    s.send(f); time.sleep(0.002)\n"],
        )  # fmt: skip
        try:
            counts = []
            for step in ("before", "pulled", "plugged"):
                if step == "pulled":
                    n.set_link("s1-s3", up=False)
                elif step == "plugged":
                    n.set_link("s1-s3", up=True)
                time.sleep(1)
                a = _rx(s2_in)
                time.sleep(2)
                counts.append((step, _rx(s2_in) - a))
        finally:
            gen.kill()
            gen.wait()
        # up to 500 frames/s offered (fewer on a busy machine); a switch that stopped
        # reading its ports forwards none at all
        assert all(c > 50 for _, c in counts), counts
    finally:
        n.stop()
    assert our_interfaces(prefix) == []
