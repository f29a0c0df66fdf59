"""The network with P4 switch processes (softswitch here; BMv2 where simple_switch_grpc is
installed): each switch comes up, serves P4Runtime on its port, and the port map handed to the
control plane matches the veths Mininet made."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from finsy.proto import p4i, p4r, p4r_grpc
from google.protobuf import text_format

import topologies
from testbed.network import Network
from testbed.switches import SwitchStartError, softswitch_cli_available

from .conftest import our_interfaces

pytestmark = [pytest.mark.root, pytest.mark.mininet]
DIAMOND = Path(topologies.__file__).parent / "fixed" / "diamond.yaml"
SOFTSWITCH = pytest.mark.skipif(not softswitch_cli_available(), reason="softswitch has no CLI yet")
TARGETS = [
    pytest.param("softswitch", marks=SOFTSWITCH),
    pytest.param("bmv2", marks=pytest.mark.bmv2),
]


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def net(prefix: str, grpc_base: int, state_dir: Path, target: str) -> Iterator[Network]:
    n = Network(topologies.load(DIAMOND), target, None, prefix=prefix,
                grpc_port_base=grpc_base, thrift_port_base=grpc_base + 20,
                state_dir=state_dir)  # fmt: skip
    try:
        yield n.start()
    finally:
        n.stop()
    assert our_interfaces(prefix) == []


def test_switches_listen_and_report_their_ports(net: Network, grpc_base: int, target: str) -> None:
    infos = net.switches()
    assert [(s.name, s.device_id, s.target) for s in infos] == [
        ("s1", 1, target), ("s2", 2, target), ("s3", 3, target), ("s4", 4, target),
    ]  # fmt: skip
    for s in infos:
        port = grpc_base + s.device_id
        assert s.grpc_addr == f"127.0.0.1:{port}"
        proc = psutil.Process(s.pid)
        listens = [c.laddr for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        # gRPC may listen on a dual-stack socket: ::ffff:127.0.0.1 is 127.0.0.1
        assert ("127.0.0.1", port) in [(a.ip.removeprefix("::ffff:"), a.port) for a in listens]
        cmd = proc.cmdline()
        assert cmd[cmd.index("--device-id") + 1] == str(s.device_id)
        assert cmd[cmd.index("--cpu-port") + 1] == "255"
        assert "--no-p4" in cmd
        if target == "softswitch":
            assert cmd[1:3] == ["-m", "softswitch"]
        given = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-i"]
        assert given == [f"{p}@{i.intf}" for p, i in s.ports.items()]
        assert {p: (i.peer, i.peer_port) for p, i in s.ports.items()} == net.topo.neighbours(s.name)


def _sys(intf: str, what: str) -> str:
    return Path(f"/sys/class/net/{intf}/{what}").read_text().strip()


def test_port_map_matches_the_veth_peers(net: Network) -> None:
    """Each port's veth peer is the peer's interface, or on a cable (BMv2) the cable's
    middle on this side, whose partner middle pairs with the peer's interface."""
    names = [lk.name for lk in net.topo.links]
    for s in net.switches():
        for port, pi in s.ports.items():
            assert pi.intf == net.intf_name(s.name, port)
            peer_index = _sys(pi.intf, "iflink")
            if net.cables:
                lk = net.topo.link_between(s.name, pi.peer)
                here, there = net.middles(names.index(lk.name))
                if lk.a != s.name:
                    here, there = there, here
                assert _sys(here, "ifindex") == peer_index
                peer_index = _sys(there, "iflink")
            if net.topo.is_switch(pi.peer):
                other = net.intf_name(pi.peer, pi.peer_port)
                assert _sys(other, "ifindex") == peer_index
            else:
                host = net.host(pi.peer)
                assert host.cmd("cat /sys/class/net/eth0/ifindex").strip() == peer_index


def test_p4runtime_answers(net: Network) -> None:
    for s in net.switches():
        with grpc.insecure_channel(s.grpc_addr) as ch:
            reply = p4r_grpc.P4RuntimeStub(ch).Capabilities(p4r.CapabilitiesRequest(), timeout=5)
        assert reply.p4runtime_api_version.startswith("1.")


def test_hosts_use_the_contract_gateway(net: Network) -> None:
    h2 = net.host("h2")  # on s4 port 1
    assert "inet 10.0.0.2/32" in h2.cmd("ip -4 addr show dev eth0")
    assert h2.cmd("ip route").strip() == "default via 10.255.255.254 dev eth0 onlink"
    assert h2.cmd("ip neigh show 10.255.255.254").split()[:5] == [
        "10.255.255.254", "dev", "eth0", "lladdr", "02:5e:00:04:00:01",
    ]  # fmt: skip


@SOFTSWITCH
def test_a_switch_that_cannot_bind_fails_with_its_log(
    prefix: str, grpc_base: int, state_dir: Path
) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", grpc_base + 1))
    blocker.listen(1)
    n = Network(topologies.load(DIAMOND), "softswitch", None, prefix=prefix,
                grpc_port_base=grpc_base, state_dir=state_dir, ready_timeout=20)  # fmt: skip
    try:
        with pytest.raises(SwitchStartError) as e:
            n.start()
    finally:
        blocker.close()
        n.stop()
    msg = str(e.value)
    assert msg.startswith(f"softswitch switch s1 exited (status 2) before listening on "
                          f"127.0.0.1:{grpc_base + 1}\n--- ")  # fmt: skip
    assert "softswitch: error:" in msg
    assert our_interfaces(prefix) == []
    assert list(state_dir.iterdir()) == []


@SOFTSWITCH
def test_switches_start_with_a_compiled_program(
    prefix: str, grpc_base: int, state_dir: Path, tmp_path: Path
) -> None:
    repo = Path(topologies.__file__).resolve().parents[1]
    cfg, p4info = tmp_path / "bier.json", tmp_path / "bier.p4info.txtpb"
    r = subprocess.run(
        [sys.executable, "-m", "softswitch.compile", str(repo / "p4src" / "bier.p4"),
         "--device-config", str(cfg), "--p4info", str(p4info)],
        cwd=repo, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"softswitch.compile cannot build p4src/bier.p4 yet: {r.stderr[-300:]}")
    expected = sorted(
        t.preamble.name for t in text_format.Parse(p4info.read_text(), p4i.P4Info()).tables
    )
    n = Network(topologies.load(DIAMOND), "softswitch", cfg, prefix=prefix,
                grpc_port_base=grpc_base, state_dir=state_dir)  # fmt: skip
    try:
        n.start()
        for s in n.switches():
            cmd = psutil.Process(s.pid).cmdline()
            assert cmd[3] == str(cfg)
            req = p4r.GetForwardingPipelineConfigRequest(
                device_id=s.device_id,
                response_type=p4r.GetForwardingPipelineConfigRequest.P4INFO_AND_COOKIE,
            )
            with grpc.insecure_channel(s.grpc_addr) as ch:
                got = p4r_grpc.P4RuntimeStub(ch).GetForwardingPipelineConfig(req, timeout=5)
            assert sorted(t.preamble.name for t in got.config.p4info.tables) == expected
    finally:
        n.stop()
    assert our_interfaces(prefix) == []
