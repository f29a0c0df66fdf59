"""Node names longer than a kernel interface name allows: the network runs with short kernel
names underneath, and everything a user sees (switch info, events, the fail CLI, the CLI,
switch logs) speaks of the node names; teardown leaves none of the short names behind."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import permutations
from pathlib import Path

import pytest

import topologies
from testbed.network import Network
from testbed.switches import softswitch_cli_available
from topologies import generators as gen

from .conftest import our_interfaces

pytestmark = [pytest.mark.root, pytest.mark.mininet]
REPO = Path(__file__).resolve().parents[2]
RENAME = {
    "s1": "border_east",
    "s2": "core_north_frankfurt_01",
    "s3": "s3",
    "s4": "border_west_amsterdam",
    "h1": "model_store_east",
    "h2": "gpu_host_amsterdam_0001",
    "h3": "gpu_host_amsterdam_0002",
    "h4": "gpu_host_frankfurt_0001",
}


def long_diamond() -> topologies.Topology:
    d = gen.fixed("diamond")
    for node in d["switches"] + d["hosts"]:
        node["name"] = RENAME[node["name"]]
    for lk in d["links"]:
        lk["a"], lk["b"] = RENAME[lk["a"]], RENAME[lk["b"]]
    return topologies.from_dict(d)


def ping(net: Network, src: str, dst: str) -> bool:
    return " 1 received" in net.host(src).cmd(f"ping -c1 -W2 {net.topo.host(dst).ip}")


@pytest.fixture
def bridge_net(prefix: str, state_dir: Path) -> Iterator[Network]:
    n = Network(long_diamond(), "bridge", prefix=prefix, state_dir=state_dir)
    try:
        yield n.start()
    finally:
        n.stop()
    assert our_interfaces(prefix) == []
    assert list(state_dir.iterdir()) == []


def test_bridges_with_long_names_carry_traffic_and_take_failures(
    bridge_net: Network, prefix: str, state_dir: Path
) -> None:
    net = bridge_net
    long = "core_north_frankfurt_01"
    assert net.intf_name(long, 1) == f"{prefix}s2-1"  # device id 2, port 1
    assert net.intf_name("s3", 1) == f"{prefix}s3-eth1"  # short enough: Mininet's name
    assert Path(f"/sys/class/net/{prefix}s2/bridge").is_dir()  # the bridge, short too
    assert all(len(n) <= 15 for n in our_interfaces(prefix))
    hosts = [h.name for h in net.topo.hosts]
    assert [(a, b) for a, b in permutations(hosts, 2) if not ping(net, a, b)] == []

    info = net.switch_info(long)
    assert (info.name, info.node) == (long, prefix + long)
    assert {p: i.peer for p, i in info.ports.items()} == {
        1: "gpu_host_frankfurt_0001", 2: "border_east", 3: "border_west_amsterdam",
    }  # fmt: skip

    # the fail CLI from another process finds the link by its node names
    seen: list = []
    net.subscribe(seen.append)
    env = dict(os.environ, MCAST_TESTBED_STATE_DIR=str(state_dir))
    r = subprocess.run(
        [sys.executable, "-m", "experiments.fail", "--run", net.run_id,
         "--link", f"{long}-border_east", "--at", "0", "--for", "0.3"],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    printed = [json.loads(line) for line in r.stdout.splitlines()]
    ends = [["border_east", 2], [long, 2]]
    assert [(e["kind"], e["link"], e["ends"]) for e in printed] == [
        ("down", f"border_east-{long}", ends),
        ("up", f"border_east-{long}", ends),
    ]
    assert ping(net, "model_store_east", "gpu_host_frankfurt_0001")


def test_the_cli_shows_node_names(
    bridge_net: Network, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from testbed.cli import TestbedCLI

    script = tmp_path / "cmds"
    script.write_text("fail border_east-core_north_frankfurt_01\nswitches\n")
    with open(os.devnull) as devnull:
        TestbedCLI(bridge_net, stdin=devnull, script=str(script))
    out = capsys.readouterr().out.splitlines()
    assert out[0].split(" ", 1)[1] == (
        "border_east-core_north_frankfurt_01 down (border_east port 2, "
        "core_north_frankfurt_01 port 2): link border_east-core_north_frankfurt_01 down"
    )
    assert out[1].startswith("border_east (bridge) id 1 -  1:")
    assert "->model_store_east" in out[1]


@pytest.mark.slow
@pytest.mark.skipif(not softswitch_cli_available(), reason="softswitch has no CLI")
@pytest.mark.skipif(
    importlib.util.find_spec("controlplane.testbed") is None,
    reason="the control plane's testbed hook (controlplane.testbed) is not there",
)
def test_p4_switches_with_long_names_route_and_log_under_their_names(
    prefix: str, grpc_base: int, state_dir: Path, softswitch_build: Path, tmp_path: Path
) -> None:
    from controlplane.testbed import ControlPlane

    logs = tmp_path / "logs"
    net = Network(long_diamond(), "softswitch", None, prefix=prefix, grpc_port_base=grpc_base,
                  state_dir=state_dir, log_dir=logs)  # fmt: skip
    cp = ControlPlane(technology="unicast", build=softswitch_build)
    try:
        net.start()
        net.attach(cp)
        hosts = [h.name for h in net.topo.hosts]
        assert [(a, b) for a, b in permutations(hosts, 2) if not ping(net, a, b)] == []
        net.set_link("core_north_frankfurt_01-border_west_amsterdam", up=False)
        # the switches notice it (carrier), nobody tells the controller
        rec = cp.wait_reaction("core_north_frankfurt_01-border_west_amsterdam", up=False)
        assert (rec.link, rec.up) == ("core_north_frankfurt_01-border_west_amsterdam", False)
        assert ping(net, "model_store_east", "gpu_host_amsterdam_0001")  # over s3 now
    finally:
        cp.stop()
        net.stop()
    assert our_interfaces(prefix) == []
    assert list(state_dir.iterdir()) == []
    names = {p.name for p in logs.iterdir()}
    assert {"core_north_frankfurt_01.log", "border_west_amsterdam.log"} <= names
