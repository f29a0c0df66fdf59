"""The BMv2 path with a real BMv2 (the vagrant/ VM): the port-status agent keeps
`MyEgress.port_status` in step with the links, read back through simple_switch_CLI; pcap and
debug logging appear only when asked for. Skipped where simple_switch_grpc / p4c-bm2-ss are
absent (tests/conftest.py gives the reason); test_bmv2.py covers the parts that need neither.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import topologies
from softswitch import build_all
from testbed.network import Network

from .conftest import our_interfaces

pytestmark = [pytest.mark.root, pytest.mark.mininet, pytest.mark.bmv2, pytest.mark.p4c]
REPO = Path(topologies.__file__).resolve().parents[1]
DIAMOND = Path(topologies.__file__).parent / "fixed" / "diamond.yaml"
REG = "MyEgress.port_status"
HAVE = all(shutil.which(t) for t in ("simple_switch_grpc", "simple_switch_CLI", "p4c-bm2-ss"))
WHY = " needs BMv2 (simple_switch_grpc, simple_switch_CLI) and p4c-bm2-ss: vagrant/ VM only"


def needs_bmv2(what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not HAVE or os.geteuid() != 0, reason=what + WHY + ", as root")


@pytest.fixture(scope="module")
def bier_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("bmm-p4c")
    out = build_all.Outputs(
        p4info=out_dir / "bier.p4info.txtpb", device_config=out_dir / "bier.json"
    )
    cmd = build_all.p4c_command(REPO / "p4src" / "bier.p4", out, {})
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr[-2000:]}"
    return out.device_config


@pytest.fixture
def net(
    prefix: str, grpc_base: int, state_dir: Path, bier_json: Path, tmp_path: Path
) -> Iterator[Network]:
    n = Network(topologies.load(DIAMOND), "bmv2", bier_json, prefix=prefix,
                grpc_port_base=grpc_base, thrift_port_base=grpc_base + 20, state_dir=state_dir,
                log_dir=tmp_path / "logs", port_status_register=REG)  # fmt: skip
    try:
        yield n.start()
    finally:
        n.stop()
    assert our_interfaces(prefix) == []


def register_read(thrift_port: int, port: int) -> int:
    r = subprocess.run(
        ["simple_switch_CLI", "--thrift-ip", "127.0.0.1", "--thrift-port", str(thrift_port)],
        input=f"register_read {REG} {port}\n", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    m = re.search(rf"{re.escape(REG)}\[{port}\]\s*=\s*(\d+)", r.stdout)
    assert m, f"register_read {REG} {port}: {r.stdout} {r.stderr}"
    return int(m.group(1))


def wait_register(thrift_port: int, port: int, value: int) -> None:
    deadline = time.monotonic() + 15
    while (got := register_read(thrift_port, port)) != value:
        assert time.monotonic() < deadline, f"{REG}[{port}] stays {got}, expected {value}"
        time.sleep(0.2)


@needs_bmv2(
    "the agent writing MyEgress.port_status over BMv2's Thrift server, read back with "
    "simple_switch_CLI register_read,"
)
def test_agent_follows_the_links(net: Network) -> None:
    s1, s2 = net.switch_info("s1"), net.switch_info("s2")
    p1 = next(p for p, i in s1.ports.items() if i.peer == "s2")
    p2 = next(p for p, i in s2.ports.items() if i.peer == "s1")
    assert s1.thrift_port is not None and s2.thrift_port is not None
    assert register_read(s1.thrift_port, p1) == 0
    net.set_link("s1-s2", up=False)
    wait_register(s1.thrift_port, p1, 1)
    wait_register(s2.thrift_port, p2, 1)
    others = [p for p in s1.ports if p != p1]
    assert [register_read(s1.thrift_port, p) for p in others] == [0] * len(others)
    net.set_link("s1-s2", up=True)
    wait_register(s1.thrift_port, p1, 0)
    wait_register(s2.thrift_port, p2, 0)
    assert net.log_dir is not None
    assert "wrote [%d]=1" % p1 in (net.log_dir / "s1.agent.log").read_text()


@needs_bmv2("BMv2 writing its log (--log-console) and pcap files (--pcap=DIR) only when asked")
def test_logging_and_pcap_only_when_asked(
    prefix: str, grpc_base: int, state_dir: Path, bier_json: Path, tmp_path: Path
) -> None:
    for debug in (False, True):
        logs = tmp_path / f"logs-{debug}"
        n = Network(topologies.load(DIAMOND), "bmv2", bier_json, prefix=prefix,
                    grpc_port_base=grpc_base, thrift_port_base=grpc_base + 20,
                    state_dir=state_dir, log_dir=logs, pcap=debug, debug_log=debug)  # fmt: skip
        try:
            n.start()
            out = (logs / "s1.out").read_text()
        finally:
            n.stop()
        assert ("[bmv2]" in out) is debug, out[-1000:]
        assert bool(list(logs.glob("*.pcap"))) is debug, sorted(logs.iterdir())
