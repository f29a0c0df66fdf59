"""Link MTUs in the testbed: every end of a link gets its link's MTU (the topology's 9000 unless
the link says otherwise); frames of the MTU's size cross P4 switches whole; a frame longer
than a link's MTU is dropped by the switch that would send it, which logs it once for the
port, and a host cannot send one past its own link at all."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

import topologies
from testbed.network import Network
from testbed.switches import softswitch_cli_available
from topologies import generators as gen

from .conftest import our_interfaces

pytestmark = [
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.skipif(not softswitch_cli_available(), reason="softswitch has no CLI"),
    pytest.mark.skipif(
        importlib.util.find_spec("controlplane.testbed") is None,
        reason="the control plane's testbed hook (controlplane.testbed) is not there",
    ),
]


def line_with_a_narrow_link() -> topologies.Topology:
    """h1 - s1 - s2 - s3 - h3, h2 on s2; every link 9000 but s2-s3 1500."""
    d = gen.fixed("line")
    for lk in d["links"]:
        if (lk["a"], lk["b"]) == ("s2", "s3"):
            lk["mtu"] = 1500
    return topologies.from_dict(d)


def df_ping(net: Network, src: str, dst: str, ip_bytes: int) -> str:
    """One ping whose IP packets are `ip_bytes` long, never fragmented (DF)."""
    size = ip_bytes - 20 - 8  # IPv4 and ICMP headers
    return net.host(src).cmd(f"ping -c1 -W3 -M do -s {size} {net.topo.host(dst).ip}")


def test_mtu_sized_frames_cross_and_longer_ones_are_dropped(
    prefix: str, grpc_base: int, state_dir: Path, softswitch_build: Path, tmp_path: Path
) -> None:
    from controlplane.testbed import ControlPlane

    topo = line_with_a_narrow_link()
    assert topo.mtu == 9000 and topo.path_mtu() == 1500
    logs = tmp_path / "logs"
    net = Network(topo, "softswitch", None, prefix=prefix, grpc_port_base=grpc_base,
                  state_dir=state_dir, log_dir=logs)  # fmt: skip
    cp = ControlPlane(technology="unicast", build=softswitch_build)
    try:
        net.start()
        # every end of every link has its link's MTU
        for lk in topo.links:
            want = str(topo.link_mtu(lk))
            for end, port in ((lk.a, lk.a_port or 0), (lk.b, lk.b_port or 0)):
                if topo.is_switch(end):
                    got = Path(f"/sys/class/net/{net.intf_name(end, port)}/mtu").read_text()
                else:
                    got = net.host(end).cmd("cat /sys/class/net/eth0/mtu")
                assert got.strip() == want, (lk.name, end)
        net.attach(cp)

        # 9000-byte IP packets (9014-byte frames) both ways through s1 and s2
        assert " 1 received" in df_ping(net, "h1", "h2", 9000)
        # h3 sits behind the 1500-byte link: s2 cannot send the 9000-byte packet on
        assert " 0 received" in df_ping(net, "h1", "h3", 9000)
        assert " 1 received" in df_ping(net, "h1", "h3", 1500)
        # a host cannot even put a packet longer than its own link's MTU on it
        out = df_ping(net, "h1", "h2", 9001)
        assert "message too long" in out.lower(), out
        s2_log = logs / "s2.log"
        deadline = time.monotonic() + 10
        warned = f"port 3 ({net.intf_name('s2', 3)}): a frame of 9014 bytes is longer than"
        while warned not in s2_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = s2_log.read_text()
        assert text.count(warned) == 1, text[-2000:]
        assert " 0 received" in df_ping(net, "h1", "h3", 9000)  # dropped again, not logged
        assert s2_log.read_text().count("longer than the interface's MTU") == 1
    finally:
        cp.stop()
        net.stop()
    assert our_interfaces(prefix) == []
