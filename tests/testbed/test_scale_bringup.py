"""The seed's scale: the multi-cloud topology with 128 GPU hosts (8 clouds x 4 leaves x 4
hosts; 49 switches, 129 hosts, 179 links) comes up with a switch process per switch (the
fastest softswitch backend here) and every host configured, and goes away leaving nothing:
no interface, process, namespace, state file or log folder; also when the owner gets Ctrl-C
halfway through the bring-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

import topologies
from testbed import bulk
from testbed.network import Network
from testbed.state import alive
from topologies import generators as gen
from topologies.model import switch_port_mac

from .conftest import old_processes_in, our_interfaces, ticks_now

pytestmark = [pytest.mark.root, pytest.mark.mininet, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SCALE = dict(clouds=8, leaves=4, hosts=4, wan=100.0, cloud=1000.0)


def scale_topology() -> topologies.Topology:
    spec = gen.CloudSpec(leaves=SCALE["leaves"], hosts=SCALE["hosts"],
                         wan_mbit=[SCALE["wan"]], cloud_mbit=SCALE["cloud"])  # fmt: skip
    return topologies.from_dict(gen.multicloud(int(SCALE["clouds"]), spec))


def _gone(
    snapshot: str, before: int, prefix: str, grpc_base: int, state_dir: Path, logs: list[Path]
) -> None:
    """Nothing the run made is left: processes (those the state file recorded, by pid and
    start time, and any Mininet shell or switch of ours by its command line), host namespaces
    (a process older than the run's end in one), interfaces, the state file, the logs."""
    procs = [
        (int(f[1]), int(f[2])) if f[0] == "proc" else (int(f[2]), int(f[3]))
        for f in (line.split() for line in snapshot.splitlines())
        if f and f[0] in ("proc", "node") and len(f) >= 4
    ]
    assert procs, "the snapshot of the state file recorded no process"
    assert [p for p in procs if alive(*p)] == []
    ours = [f"mininet:{prefix}"] + [f"127.0.0.1:{grpc_base + d}" for d in range(1, 50)]
    left = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(m in " ".join(p.info["cmdline"] or []) for m in ours)
    ]
    assert left == []
    inodes = {int(f[2]) for f in (line.split() for line in snapshot.splitlines())
              if f and f[0] == "hostns" and len(f) >= 5}  # fmt: skip
    assert len(inodes) == 129
    assert old_processes_in(inodes, before) == []
    assert our_interfaces(prefix) == []
    assert list(state_dir.iterdir()) == []
    assert logs and [p for p in logs if p.exists()] == []


def test_128_gpu_hosts_come_up_and_leave_nothing(
    prefix: str, grpc_base: int, state_dir: Path
) -> None:
    topo = scale_topology()
    assert (len(topo.gpu_hosts()), len(topo.switches), len(topo.links)) == (128, 49, 179)
    net = Network(topo, "auto", None, prefix=prefix, grpc_port_base=grpc_base,
                  state_dir=state_dir, ready_timeout=240)  # fmt: skip
    try:
        net.start()
        infos = net.switches()
        assert len(infos) == 49 and all(i.pid for i in infos)
        for s in topo.switches:  # every port, with its link's MTU
            for port in topo.neighbours(s.name):
                mtu = Path(f"/sys/class/net/{net.intf_name(s.name, port)}/mtu").read_text()
                assert mtu.strip() == "9000"
        # every host as the contract says: its address, the gateway's neighbour entry, MTU
        check = {
            net.host(h.name): "ip -o -4 addr show dev eth0; ip neigh show 10.255.255.254; "
            "cat /sys/class/net/eth0/mtu"
            for h in topo.hosts
        }
        out = {node.name: text for node, text in bulk.run_in_hosts(check).items()}
        for h in topo.hosts:
            sw, port, _ = topo.host_attachment(h.name)
            text = out[net.node_name(h.name)]
            assert f"inet {h.ip}/32" in text, (h.name, text)
            gw = switch_port_mac(topo.switch(sw).device_id or 0, port)
            assert f"lladdr {gw} PERMANENT" in text, (h.name, text)
            assert text.split()[-1] == "9000"
        snapshot = net.state.path.read_text() if net.state else ""
        logs = [net.log_dir] if net.log_dir else []
    finally:
        net.stop()
    _gone(snapshot, ticks_now(), prefix, grpc_base, state_dir, logs)


def test_ctrl_c_halfway_through_the_bring_up_leaves_nothing(
    prefix: str, grpc_base: int, state_dir: Path, tmp_path: Path
) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.testbed.test_scale_bringup import scale_topology
        from testbed.network import Network
        net = Network(scale_topology(), "auto", None, prefix={prefix!r},
                      grpc_port_base={grpc_base}, state_dir=Path({str(state_dir)!r}),
                      ready_timeout=240)
        try:
            net.start()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        print("up", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    snapshot, logs = "", []
    try:
        # halfway: every host's shell exists and switch processes are being started
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(state_dir.glob("*.state"))
            if files:
                snapshot = files[0].read_text()
                if snapshot.count("\nproc ") >= 10:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        logs = list(Path(tempfile.gettempdir()).glob(f"mcast-{prefix}-*-{proc.pid}-*"))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err[-2000:])
    assert out.strip() == "interrupted"
    _gone(snapshot, ticks_now(), prefix, grpc_base, state_dir, logs)
