"""A link between two machines as a VXLAN tunnel (this kernel has VXLAN, not GRE, which
Mininet's cluster mode uses for RemoteGRELink), tried on one machine: two network namespaces
stand in for the two machines, joined by an underlay veth; each has a VXLAN device to the
other, bridged with the local end of a host (the bridge stands in for the switch whose port
the tunnel would be). Jumbo frames cross it whole when the underlay carries the 50 bytes of
encapsulation more; over a 1500-byte underlay the tunnel refuses longer DF packets and says
1450 bytes fit (so such a link's MTU in the topology is 1450). The plan for 1,024 GPU hosts
built on this: experiments/README.md, "Past one machine"."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.mininet]
VNI, PORT = 4242, 4789
OUTER = 14 + 20 + 8 + 8  # outer Ethernet, IPv4, UDP and VXLAN headers


def _sh(node: Any, cmd: str) -> str:
    out = node.cmd(cmd + "; echo __rc=$?")
    body, _, rc = out.rpartition("__rc=")
    assert rc.strip() == "0", f"{node.name}: `{cmd}`: {body.strip()}"
    return body


@pytest.fixture
def machines() -> Iterator[dict[str, Any]]:
    """Machines mA and mB (namespaces) on an underlay, hosts hA on mA and hB on mB."""
    from mininet.link import Link
    from mininet.node import Node

    tag = "vx" + secrets.token_hex(2)
    nodes = {n: Node(f"{tag}{n}", inNamespace=True) for n in ("mA", "mB", "hA", "hB")}
    try:
        Link(nodes["mA"], nodes["mB"], intfName1="under", intfName2="under")
        Link(nodes["hA"], nodes["mA"], intfName1="eth0", intfName2="port1")
        Link(nodes["hB"], nodes["mB"], intfName1="eth0", intfName2="port1")
        for n in nodes.values():
            _sh(n, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                   "net.ipv6.conf.default.disable_ipv6=1")  # fmt: skip
        for me, ip, peer in (("mA", "198.18.0.1", "198.18.0.2"),
                             ("mB", "198.18.0.2", "198.18.0.1")):  # fmt: skip
            m = nodes[me]
            _sh(m, "ip link set dev under mtu 9100 up")
            _sh(m, f"ip addr add {ip}/30 dev under")
            _sh(m, f"ip link add vx type vxlan id {VNI} local {ip} remote {peer} "
                   f"dstport {PORT} dev under")  # fmt: skip
            _sh(m, "ip link set dev vx mtu 9000 up")
            _sh(m, "ip link add name br0 type bridge stp_state 0 forward_delay 0")
            _sh(m, "ip link set dev port1 mtu 9000 master br0 up")
            _sh(m, "ip link set dev vx master br0")
            _sh(m, "ip link set dev br0 up")
        under = {m: _sh(nodes[m], "cat /sys/class/net/under/address").strip() for m in ("mA", "mB")}
        _sh(
            nodes["mA"], f"ip neigh replace 198.18.0.2 lladdr {under['mB']} dev under nud permanent"
        )
        _sh(
            nodes["mB"], f"ip neigh replace 198.18.0.1 lladdr {under['mA']} dev under nud permanent"
        )
        macs = {}
        for h, ip in (("hA", "10.9.0.1"), ("hB", "10.9.0.2")):
            _sh(nodes[h], f"ip link set dev eth0 mtu 9000 up && ip addr add {ip}/24 dev eth0")
            macs[h] = _sh(nodes[h], "cat /sys/class/net/eth0/address").strip()
        # static neighbours (no ARP): only the pings below cross the tunnel and the underlay
        _sh(nodes["hA"], f"ip neigh replace 10.9.0.2 lladdr {macs['hB']} dev eth0 nud permanent")
        _sh(nodes["hB"], f"ip neigh replace 10.9.0.1 lladdr {macs['hA']} dev eth0 nud permanent")
        yield nodes
    finally:
        for n in nodes.values():
            n.terminate()


SNIFF = (
    """
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("under", 0))
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        f, addr = s.recvfrom(65536)
    except TimeoutError:
        continue
    if addr[2] != socket.PACKET_OUTGOING or f[12:14] != b"\\x08\\x00":
        continue
    frag = struct.unpack("!H", f[20:22])[0] & 0x3FFF
    udp = (f[23] == 17 and not frag and struct.unpack("!H", f[36:38])[0] == %d)
    # an outer packet with the VXLAN port, and inside: IPv4 ICMP echo request
    if udp and f[62:64] == b"\\x08\\x00" and f[73] == 1 and f[84] == 8:
        print("echo", len(f), flush=True)
    else:
        print("other", len(f), flush=True)
"""
    % PORT
)


def _ping_over_the_tunnel(nodes: dict[str, Any], ip_bytes: int) -> tuple[str, list[int]]:
    """One DF ping of `ip_bytes`-byte IP packets from hA to hB: ping's output, and the
    lengths of the outer frames mA's underlay sent carrying an echo request."""
    sniff = nodes["mA"].popen([sys.executable, "-c", SNIFF, "4"], text=True)
    assert sniff.stdout is not None and sniff.stdout.readline().strip() == "ready"
    out = nodes["hA"].cmd(f"ping -c1 -W3 -M do -s {ip_bytes - 28} 10.9.0.2")
    lines, _ = sniff.communicate(timeout=30)
    return out, [int(w[1]) for w in (x.split() for x in lines.splitlines()) if w[0] == "echo"]


def test_jumbo_frames_cross_a_vxlan_link_between_two_machines(machines) -> None:  # type: ignore[no-untyped-def]
    out, echoes = _ping_over_the_tunnel(machines, 9000)
    assert " 1 received" in out, out
    # the echo request, as one outer frame: the inner 9014-byte frame and 50 bytes of VXLAN
    assert echoes == [9014 + OUTER]


def test_over_a_1500_byte_underlay_the_tunnel_carries_1450_byte_packets(machines) -> None:  # type: ignore[no-untyped-def]
    for m in ("mA", "mB"):
        _sh(machines[m], "ip link set dev under mtu 1500")
    out, echoes = _ping_over_the_tunnel(machines, 9000)
    # the tunnel does path MTU discovery for what it carries: a DF packet too long for the
    # underlay is refused, and the sender told the MTU that fits (1500 less 50)
    assert " 0 received" in out and "Frag needed and DF set (mtu = 1450)" in out, out
    assert echoes == []
    out, echoes = _ping_over_the_tunnel(machines, 1450)
    assert " 1 received" in out, out
    assert echoes == [1450 + 14 + OUTER]
