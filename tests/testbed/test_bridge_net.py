"""The Mininet network with the Linux-bridge baseline: reachability, htb bandwidth, link
failures as cable pulls with events for subscribers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import permutations
from pathlib import Path

import pytest

import topologies
from testbed.failures import LinkEvent, Schedule, run_schedule
from testbed.network import Network
from testbed.shaping import HtbClass, read_htb
from topologies import generators as gen

from .conftest import old_processes_in, our_interfaces, ticks_now, wait_exec

pytestmark = [pytest.mark.root, pytest.mark.mininet]
ROOT = Path(__file__).resolve().parents[2]


def diamond(**bw: float) -> topologies.Topology:
    d = gen.fixed("diamond")
    for link in d["links"]:
        key = f"{link['a']}_{link['b']}"
        if key in bw:
            link["bw_mbit"] = bw[key]
    return topologies.from_dict(d)


@pytest.fixture
def net(prefix: str, state_dir: Path) -> Iterator[Network]:
    n = Network(diamond(s2_s4=20, h1_s1=2500), "bridge", prefix=prefix, state_dir=state_dir)
    try:
        yield n.start()
    finally:
        n.stop()
    assert our_interfaces(prefix) == []
    assert list(state_dir.iterdir()) == []


def ping(net: Network, src: str, dst: str) -> bool:
    ip = net.topo.host(dst).ip
    out = net.host(src).cmd(f"ping -c1 -W2 {ip}")
    return " 1 received" in out


def operstate(intf: str) -> str:
    return Path(f"/sys/class/net/{intf}/operstate").read_text().strip()


def test_every_host_pings_every_other(net: Network) -> None:
    hosts = [h.name for h in net.topo.hosts]
    failed = [(a, b) for a, b in permutations(hosts, 2) if not ping(net, a, b)]
    assert failed == []


def test_hosts_are_configured(net: Network) -> None:
    h2 = net.host("h2")
    assert h2.cmd("cat /proc/sys/net/ipv6/conf/all/disable_ipv6").strip() == "1"
    assert "inet 10.0.0.2/8" in h2.cmd("ip -4 addr show dev eth0")
    assert "link/ether 02:00:00:00:00:02" in h2.cmd("ip link show dev eth0")
    off = h2.cmd("ethtool -k eth0")
    for feature in (
        "tcp-segmentation-offload",
        "generic-segmentation-offload",
        "generic-receive-offload",
        "tx-checksumming",
        "rx-checksumming",
    ):
        assert f"{feature}: off" in off, feature
    # the switch side: the port MAC from the contract, htb with the link's rate
    intf = net.intf_name("s4", 3)  # s4 port 3 -> s2 (20 Mbit/s)
    assert Path(f"/sys/class/net/{intf}/address").read_text().strip() == "02:5e:00:04:00:03"
    tc = net.net.get(net.node_name("s4")).cmd(f"tc class show dev {intf}")
    assert "htb" in tc and "rate 20Mbit" in tc
    assert read_htb(intf) == [HtbClass("5:1", 20_000_000, 20_000_000, 60000)]
    # h1-s1 at 2.5 Gbit/s (Mininet's TCLink leaves a link above 1 Gbit/s unshaped): both ends,
    # the switch's in the root namespace and the host's in its own, as the kernel holds them
    sw, port, _ = net.topo.host_attachment("h1")
    want = [HtbClass("5:1", 2_500_000_000, 2_500_000_000, 60000)]
    assert read_htb(net.intf_name(sw, port)) == want
    assert read_htb("eth0", f"/proc/{net.host('h1').pid}/ns/net") == want


def test_transfer_over_a_20_mbit_link_runs_at_that_rate(net: Network) -> None:
    # h1 -> h2 crosses h1-s1 (2.5 Gbit/s), s1-s2 (50 Mbit/s) and s2-s4 (20 Mbit/s)
    recv = net.host("h2").popen([sys.executable, "-m", "testbed.rate", "recv", "--port", "5123"])
    try:
        assert recv.stderr is not None
        assert recv.stderr.readline().strip() == b"listening"
        out = net.host("h1").cmd(
            f"{sys.executable} -m testbed.rate send --to 10.0.0.2 --port 5123 --seconds 5"
        )
        assert json.loads(out.strip().splitlines()[-1])["bytes"] > 0
        stdout, _ = recv.communicate(timeout=30)
    finally:
        recv.kill()
    got = json.loads(stdout.decode().strip().splitlines()[-1])
    print("measured", got)
    assert 18.0 <= got["mbit"] <= 22.0, got


def test_link_failure_is_a_cable_pull_with_events(net: Network) -> None:
    seen: list[LinkEvent] = []
    net.subscribe(seen.append)
    assert ping(net, "h1", "h4")  # h4 hangs off s2: s1-s2 is the only tree path
    ev = net.set_link("s2-s1", up=False)
    assert (ev.kind, ev.link, ev.ends, ev.cause) == (
        "down", "s1-s2", (("s1", 2), ("s2", 2)), "link s1-s2 down",
    )  # fmt: skip
    assert seen == [ev] and net.events == [ev]
    assert operstate(net.intf_name("s1", 2)) == "down"
    assert operstate(net.intf_name("s2", 2)) == "down"
    assert not ping(net, "h1", "h4")
    net.set_link("s1-s2", up=True)
    assert [e.kind for e in seen] == ["down", "up"]
    assert ping(net, "h1", "h4")


def test_host_link_failure_keeps_the_host_configured(net: Network) -> None:
    h2 = net.host("h2")
    net.set_link("h2-s4", up=False)
    assert h2.cmd("cat /sys/class/net/eth0/carrier").strip() in ("0", "")
    assert "inet 10.0.0.2/8" in h2.cmd("ip -4 addr show dev eth0")
    assert not ping(net, "h1", "h2")
    net.set_link("h2-s4", up=True)
    assert h2.cmd("cat /sys/class/net/eth0/carrier").strip() == "1"
    assert ping(net, "h1", "h2")


def test_switch_failure_and_a_flap_schedule(net: Network) -> None:
    events = net.set_switch("s2", up=False)
    assert sorted(e.link for e in events) == ["h4-s2", "s1-s2", "s2-s4"]
    assert {e.cause for e in events} == {"switch s2 down"}
    net.set_switch("s2", up=True)
    got: list[LinkEvent] = []
    sched = Schedule.build(["s1-s2"], at=0.1, duration=0.2, flaps=2)
    applied = run_schedule(net, sched, on_event=got.append)
    assert applied == got
    assert [e.kind for e in got] == ["down", "up", "down", "up"]
    offsets = [e.offset for e in got]
    assert all(o is not None and o >= a.at for o, a in zip(offsets, sched.actions, strict=True))
    assert ping(net, "h1", "h4")


def test_failures_from_the_fail_cli_reach_the_owners_subscribers(
    net: Network, state_dir: Path
) -> None:
    seen: list[LinkEvent] = []
    net.subscribe(seen.append)
    env = dict(os.environ, MCAST_TESTBED_STATE_DIR=str(state_dir))
    r = subprocess.run(
        [sys.executable, "-m", "experiments.fail", "--run", net.run_id, "--link", "s2-s1",
         "--at", "0", "--for", "0.3"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    printed = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(e["kind"], e["link"], e["ends"]) for e in printed] == [
        ("down", "s1-s2", [["s1", 2], ["s2", 2]]),
        ("up", "s1-s2", [["s1", 2], ["s2", 2]]),
    ]
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(e.kind, e.link, e.cause) for e in seen] == [
        ("down", "s1-s2", "link s1-s2 down (done outside this process)"),
        ("up", "s1-s2", "link s1-s2 up (done outside this process)"),
    ]
    assert ping(net, "h1", "h4")


def test_fail_cli_rejects_unknown_links(net: Network, state_dir: Path) -> None:
    env = dict(os.environ, MCAST_TESTBED_STATE_DIR=str(state_dir))
    r = subprocess.run(
        [sys.executable, "-m", "experiments.fail", "--link", "s1-s9"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr == f"fail: error: run {net.run_id} has no link 's1-s9'\n"


def test_cli_commands(net: Network, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from testbed.cli import TestbedCLI

    script = tmp_path / "cmds"
    script.write_text("fail s1-s2\nrestore s2-s1\nfail s1-s7\ntables s1\nswitches\n")
    with open(os.devnull) as devnull:
        TestbedCLI(net, stdin=devnull, script=str(script))
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in out[:2]] == [
        "s1-s2 down (s1 port 2, s2 port 2): link s1-s2 down",
        "s1-s2 up (s1 port 2, s2 port 2): link s1-s2 up",
    ]
    assert out[2] == "error: no link between 's1' and 's7'"
    assert out[3] == "no control plane attached: nothing can read the switch's tables"
    assert out[4] == (
        f"s1 (bridge) id 1 -  1:{net.intf_name('s1', 1)}->h1 2:{net.intf_name('s1', 2)}->s2 "
        f"3:{net.intf_name('s1', 3)}->s3"
    )
    assert [e.kind for e in net.events] == ["down", "up"]


def test_multicloud_store_reaches_every_gpu_host(prefix: str, state_dir: Path) -> None:
    topo = topologies.from_dict(gen.multicloud(3))
    n = Network(topo, "bridge", prefix=prefix, state_dir=state_dir)
    try:
        n.start()
        assert len(n.switches()) == 13
        ips = " ".join(str(h.ip) for h in topo.gpu_hosts())
        out = n.host("store").cmd(
            f"for ip in {ips}; do ping -c1 -W2 $ip >/dev/null && echo ok $ip || echo LOST $ip; done"
        )
        assert sorted(out.split()[1::2]) == sorted(ips.split())
        assert out.split()[0::2] == ["ok"] * 12, out
    finally:
        n.stop()
    assert our_interfaces(prefix) == []


def test_stop_ends_processes_started_in_hosts(prefix: str, state_dir: Path) -> None:
    n = Network(diamond(), "bridge", prefix=prefix, state_dir=state_dir)
    try:
        n.start()
        h2 = n.host("h2")
        ns = os.stat(f"/proc/{h2.shell.pid}/ns/net").st_ino
        receiver = h2.popen(["sleep", "300"])  # own session: Mininet would leave it running
        wait_exec(receiver.pid, "sleep")
        assert os.stat(f"/proc/{receiver.pid}/ns/net").st_ino == ns
        logs = n.log_dir
        assert logs is not None and logs.is_dir()  # a temporary folder of the network's own
    finally:
        n.stop()
    assert receiver.wait(timeout=5) is not None
    assert old_processes_in({ns}, ticks_now() + 1) == []
    assert our_interfaces(prefix) == []
    assert not logs.exists()


def test_a_log_dir_given_is_kept(prefix: str, state_dir: Path, tmp_path: Path) -> None:
    n = Network(diamond(), "bridge", prefix=prefix, state_dir=state_dir, log_dir=tmp_path / "l")
    with n:
        assert n.log_dir == tmp_path / "l"
    assert (tmp_path / "l").is_dir()
    assert our_interfaces(prefix) == []
