"""Testbed pieces that need no root: schedules, state files, target choice, name and delay
checks, the bridge baseline's loop breaking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import topologies
from testbed import state as st
from testbed.cleanup import cleanup
from testbed.failures import Action, Schedule, is_shaped, silent_command
from testbed.network import Network, NetworkError, netem_available
from testbed.switches import SoftSwitch, resolve_program
from topologies import generators as gen

FIXED = Path(topologies.__file__).parent / "fixed"


def test_schedule_down_for() -> None:
    s = Schedule.build(["s1-s2"], at=2.5, duration=3)
    assert s.actions == [Action(2.5, "down", "link", "s1-s2"), Action(5.5, "up", "link", "s1-s2")]


def test_schedule_carries_the_failure_mode_to_both_actions() -> None:
    s = Schedule.build(["s1-s2"], at=1, duration=2, mode="silent")
    assert s.actions == [
        Action(1, "down", "link", "s1-s2", "silent"),
        Action(3, "up", "link", "s1-s2", "silent"),
    ]
    with pytest.raises(ValueError, match="failure mode 'quiet': one of carrier, silent"):
        Schedule.build(["s1-s2"], mode="quiet")  # type: ignore[arg-type]


def test_silent_drop_is_a_zero_length_queue_under_the_shaper_or_at_the_root() -> None:
    shaped = "qdisc htb 5: root refcnt 2 r2q 10 default 0x1\n"
    assert is_shaped(shaped) and not is_shaped("qdisc noqueue 0: root refcnt 2\n")
    assert silent_command("s1-eth2", True, True) == (
        "tc qdisc add dev s1-eth2 parent 5:1 handle 99: pfifo limit 0"
    )
    assert (
        silent_command("s1-eth2", False, True) == "tc qdisc del dev s1-eth2 parent 5:1 handle 99:"
    )
    assert (
        silent_command("eth0", True, False) == "tc qdisc add dev eth0 root handle 99: pfifo limit 0"
    )


def test_schedule_flap_several_links_and_a_switch() -> None:
    s = Schedule.build(["s1-s2", "s3-s4"], ["s2"], at=1, duration=0.5, flaps=2, up_for=2)
    assert [(a.at, a.kind, a.name) for a in s.actions] == [
        (1, "down", "s1-s2"), (1, "down", "s3-s4"), (1, "down", "s2"),
        (1.5, "up", "s1-s2"), (1.5, "up", "s3-s4"), (1.5, "up", "s2"),
        (3.5, "down", "s1-s2"), (3.5, "down", "s3-s4"), (3.5, "down", "s2"),
        (4.0, "up", "s1-s2"), (4.0, "up", "s3-s4"), (4.0, "up", "s2"),
    ]  # fmt: skip
    assert s.actions[2].what == "switch"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "name at least one --link or --switch"),
        ({"links": ["a-b"], "flaps": 2}, "--flap needs --for (how long each cycle is down)"),
        ({"links": ["a-b"], "duration": 0}, "--for: must be > 0"),
        ({"links": ["a-b"], "at": -1}, "link a-b: time -1 s must be >= 0"),
    ],
)
def test_schedule_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as e:
        Schedule.build(**kwargs)
    assert str(e.value) == message


def test_state_file_round_trip_and_cleanup_skips_live_owner(tmp_path: Path) -> None:
    rs = st.RunState("eq", tmp_path)
    rs.add("iface", "eqs1-eth1")
    rs.add("bridge", "eqs1")
    rs.add("link", "s1-s2", "eqs1-eth2", "eqs2-eth1", 2, 1)
    rs.add("link", "s2-s3", "eqs2-eth2", "eqs3-eth1")  # older files: no ports
    rs.add_process("proc", os.getpid(), "softswitch:eqs1")
    rs.add("node", "broken")  # cut short by a crash: skipped
    rec = st.read(rs.path)
    assert rec.prefix == "eq" and rec.owner_alive
    assert rec.ifaces == ["eqs1-eth1"] and rec.bridges == ["eqs1"]
    assert rec.links == {"s1-s2": ("eqs1-eth2", "eqs2-eth1"), "s2-s3": ("eqs2-eth2", "eqs3-eth1")}
    assert rec.link_ports == {"s1-s2": (2, 1)}
    assert rec.procs == [(os.getpid(), st.start_ticks(os.getpid()), "softswitch:eqs1")]
    assert rec.nodes == []
    [report] = cleanup(state_dir=tmp_path)
    assert report.skipped == f"its owner, pid {os.getpid()}, is running"
    assert rs.path.exists()
    rs.close()


def test_cleanup_of_a_dead_owner_kills_only_its_processes(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "pass"])
    owner.wait()
    victim = subprocess.Popen(["sleep", "60"])
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        path = tmp_path / "dead.state"
        path.write_text(
            f"owner {owner.pid} 1\nprefix eq\n"
            f"proc {victim.pid} {st.start_ticks(victim.pid)} softswitch:eqs1\n"
            f"proc {bystander.pid} 12345 recycled-pid\n"  # same pid, other start time
            "iface eqnotthere-eth1\n"
        )
        [report] = cleanup(state_dir=tmp_path)
        assert report.killed == [f"softswitch:eqs1 (pid {victim.pid})"]
        assert report.deleted == []
        assert victim.wait(timeout=5) is not None
        assert bystander.poll() is None
        assert not path.exists()
    finally:
        victim.kill()
        bystander.kill()


def test_start_ticks_of_missing_process() -> None:
    assert st.start_ticks(2**22 + 7) is None
    assert not st.alive(2**22 + 7, 1)


def test_bridge_baseline_blocks_links_outside_a_spanning_tree() -> None:
    diamond = Network(topologies.load(FIXED / "diamond.yaml"), "bridge")
    assert diamond.blocked_links == ["s3-s4"]  # the heavier backup path is cut
    mc = Network(topologies.from_dict(gen.multicloud(3)), "bridge")
    assert mc.blocked_links == ["c3-c1", "ms-c2"]  # core ring and store dual-homing
    tree = Network(topologies.load(FIXED / "tree.yaml"), "bridge")
    assert tree.blocked_links == []


def test_short_names_keep_mininet_interface_names() -> None:
    t = topologies.load(FIXED / "diamond.yaml")
    net = Network(t, "bridge", prefix="eq")
    assert net.intf_name("s1", 2) == "eqs1-eth2"
    assert net.names.bridge("s4") == "eqs4"
    assert net.names.owner("eqs4-eth1") == ("s4", 1)


def test_long_node_names_get_short_kernel_names() -> None:
    d = gen.fixed("diamond")
    rename = {
        "s1": "b_east",
        "s2": "core_switch_north_frankfurt_01",
        "h2": "gpu_host_with_a_long_name",
    }
    for sw in d["switches"] + d["hosts"]:
        sw["name"] = rename.get(sw["name"], sw["name"])
    for lk in d["links"]:
        lk["a"], lk["b"] = rename.get(lk["a"], lk["a"]), rename.get(lk["b"], lk["b"])
    t = topologies.from_dict(d)
    net = Network(t, "bridge", prefix="exiab")
    # "exiabb_east-eth1" is 16 characters: b_east (device id 1) gets short names, s3 keeps its own
    assert net.intf_name("b_east", 1) == "exiabs1-1"
    assert net.intf_name("core_switch_north_frankfurt_01", 2) == "exiabs2-2"
    assert net.names.bridge("core_switch_north_frankfurt_01") == "exiabs2"
    assert net.intf_name("s3", 1) == "exiabs3-eth1"
    assert net.names.owner("exiabs2-2") == ("core_switch_north_frankfurt_01", 2)
    names = [n for _, n in net._root_names()]
    assert len(set(names)) == len(names) and max(map(len, names)) <= 15
    assert net.node_name("core_switch_north_frankfurt_01") == "exiabcore_switch_north_frankfurt_01"


def test_a_prefix_too_long_even_for_short_names() -> None:
    d = gen.fixed("diamond")
    d["switches"][0]["name"] = "border_east"
    for lk in d["links"]:
        lk["a"], lk["b"] = [("border_east" if x == "s1" else x) for x in (lk["a"], lk["b"])]
    with pytest.raises(NetworkError) as e:
        Network(topologies.from_dict(d), "bridge", prefix="averylongpfx")
    assert str(e.value) == (
        "switch border_east: even its short interface name 'averylongpfxs1-1' is longer than "
        "15 characters; use a shorter prefix than 'averylongpfx'."
    )


def test_node_names_up_to_32_characters() -> None:
    d = gen.fixed("line")
    d["hosts"][0]["name"] = "h" * 33
    with pytest.raises(topologies.TopologyError) as e:
        topologies.from_dict(d)
    assert "hosts[0].name: must match ^[a-zA-Z][a-zA-Z0-9_]{0,31}$" in str(e.value)


@pytest.mark.skipif(netem_available(), reason="this kernel has netem: delay is emulated")
def test_delay_is_refused_without_netem() -> None:
    d = gen.fixed("line")
    d["links"][3]["delay_ms"] = 5
    t = topologies.from_dict(d)
    with pytest.raises(NetworkError) as e:
        Network(t, "bridge")
    assert str(e.value) == (
        "topology 'line' asks for link delay on s1-s2 (5 ms), but this kernel has no netem "
        "(sch_netem) to emulate it; remove the delays, or run with delays ignored "
        "(--delay ignore), or on a machine with netem"
    )
    said: list[str] = []
    Network(t, "bridge", delay="ignore", say=said.append)
    assert said == ["link delays IGNORED (no emulation): s1-s2 (5 ms)"]


def test_unknown_target_and_missing_program(tmp_path: Path) -> None:
    t = topologies.load(FIXED / "line.yaml")
    with pytest.raises(ValueError, match=r"^unknown target 'ovs'; known: auto, softswitch, "):
        Network(t, "ovs")
    with pytest.raises(FileNotFoundError) as e:
        resolve_program("nosuch", "softswitch", root=tmp_path)
    assert str(e.value) == (
        f"device config {tmp_path}/build/softswitch/nosuch.json does not exist "
        "(run `make p4` first)"
    )


def _fake_self(**kw: object) -> SimpleNamespace:
    base = dict(
        program=Path("/b/bier.json"), device_id=3, grpc_port=9562, log_file=Path("/l/s3.log"),
        log_dir=Path("/l"), port_status_register=None, pcap=False, debug_log=False,
        iface_args=lambda: ["-i", "1@s3-eth1", "-i", "2@s3-eth2"],
        bfd_args=lambda: ["--bfd-port", "2"], backend="python",
    )  # fmt: skip
    base.update(kw)
    return SimpleNamespace(**base)


def test_bfd_runs_on_the_ports_facing_switches_with_the_timers_given() -> None:
    from linkmon.bfd import Timers

    # port 1 faces host h1 (its eth0: peer port 0), ports 2 and 3 face switches
    fake = SimpleNamespace(
        bfd=Timers(20, 4), data_ports=lambda: {1: "s1-eth1", 2: "s1-eth2", 3: "s1-eth3"},
        peers={1: ("h1", 0), 2: ("s2", 1), 3: ("s3", 2)},
    )  # fmt: skip
    fake.bfd_ports = lambda: SoftSwitch.bfd_ports(fake)
    assert SoftSwitch.bfd_args(fake) == [
        "--bfd-port", "2", "--bfd-port", "3", "--bfd-interval-ms", "20", "--bfd-multiplier", "4",
    ]  # fmt: skip
    fake.bfd = None
    assert SoftSwitch.bfd_args(fake) == []


def test_switch_command_lines() -> None:
    # the classes are Mininet nodes (they start a shell); their command line is plain data
    assert SoftSwitch.command(_fake_self(port_status_register="MyIngress.port_down")) == [
        sys.executable, "-m", "softswitch", "/b/bier.json", "-i", "1@s3-eth1", "-i",
        "2@s3-eth2", "--device-id", "3", "--grpc-server-addr", "127.0.0.1:9562",
        "--cpu-port", "255", "--log-file", "/l/s3.log",
        "--port-status-register", "MyIngress.port_down", "--bfd-port", "2",
        "--backend", "python",
    ]  # fmt: skip
    # Bmv2Switch's command lines: tests/testbed/test_bmv2.py
