"""End to end: the testbed network with softswitch processes, programmed by the control plane
(controlplane.controller over P4Runtime) with unicast routes, carries real traffic: every host
pings every other, a TCP transfer over the 20 Mbit/s link runs at that rate, and after a
cable pull on the primary path the control plane, told through the network's link events,
reroutes over the backup path."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from itertools import permutations
from pathlib import Path

import pytest

import topologies
from testbed.network import Network
from testbed.switches import softswitch_cli_available
from topologies import generators as gen

from .conftest import our_interfaces

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.slow,
    pytest.mark.skipif(not softswitch_cli_available(), reason="softswitch has no CLI yet"),
    pytest.mark.skipif(
        importlib.util.find_spec("controlplane.testbed") is None,
        reason="the control plane's testbed hook (controlplane.testbed) is not there yet",
    ),
]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/softswitch/bier.{json,p4info.txtpb} in a temporary folder."""
    root = tmp_path_factory.mktemp("e2e-build")
    d = root / "softswitch"
    d.mkdir()
    cfg, p4info = d / "bier.json", d / "bier.p4info.txtpb"
    r = subprocess.run(
        [sys.executable, "-m", "softswitch.compile", str(REPO / "p4src" / "bier.p4"),
         "--device-config", str(cfg), "--p4info", str(p4info)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"softswitch.compile cannot build p4src/bier.p4: {r.stderr[-300:]}")
    return root


def ping(net: Network, src: str, dst: str) -> bool:
    return " 1 received" in net.host(src).cmd(f"ping -c1 -W2 {net.topo.host(dst).ip}")


BW_MBIT = 5


def test_unicast_over_p4_switches_with_failover(
    prefix: str, grpc_base: int, state_dir: Path, build: Path
) -> None:
    from controlplane.testbed import ControlPlane

    d = gen.fixed("diamond")
    for link in d["links"]:
        if (link["a"], link["b"]) == ("s2", "s4"):
            # The primary path's bottleneck; low enough that three Python switches on a
            # loaded 2-core machine never are (at 20 Mbit/s under load they were).
            link["bw_mbit"] = BW_MBIT
    topo = topologies.from_dict(d)
    # no program at start: the control plane pushes the pipeline over P4Runtime
    net = Network(topo, "softswitch", None, prefix=prefix, grpc_port_base=grpc_base,
                  state_dir=state_dir)  # fmt: skip
    cp = ControlPlane(technology="unicast", build=build)
    try:
        net.start()
        net.attach(cp)  # the hook: switches handed over, link events subscribed
        assert "MyIngress.ipv4_lpm" in net.dump_tables("s1")
        hosts = [h.name for h in topo.hosts]
        assert [(a, b) for a, b in permutations(hosts, 2) if not ping(net, a, b)] == []

        recv = net.host("h2").popen(
            [sys.executable, "-m", "testbed.rate", "recv", "--port", "5123"]
        )
        try:
            assert recv.stderr is not None and recv.stderr.readline() == b"listening\n"
            net.host("h1").cmd(
                f"{sys.executable} -m testbed.rate send --to 10.0.0.2 --port 5123 --seconds 5"
            )
            out, _ = recv.communicate(timeout=30)
        finally:
            recv.kill()
        got = json.loads(out.decode().strip().splitlines()[-1])
        assert 0.9 * BW_MBIT <= got["mbit"] <= 1.1 * BW_MBIT, got

        net.set_link("s2-s4", up=False)  # the control plane hears of it through the hook
        # the switches notice it (carrier), nobody tells the controller
        rec = cp.wait_reaction("s2-s4", up=False)
        assert (rec.link, rec.up) == ("s2-s4", False) and rec.updates > 0
        assert ping(net, "h1", "h2") and ping(net, "h3", "h1")  # over s1-s3-s4 now
        assert net.events[-1].link == "s2-s4"
    finally:
        cp.stop()
        net.stop()
    assert our_interfaces(prefix) == []
