"""Teardown leaves nothing: a network whose owner is SIGKILLed midway is removed by
`python -m experiments.cleanup`; SIGTERM and a failed start tear down by themselves.
Counted: our interfaces, our processes, and the network namespaces our run created."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from testbed import state as st
from testbed.switches import softswitch_cli_available

from .conftest import old_processes_in, our_interfaces, ticks_now, wait_exec

pytestmark = [pytest.mark.root, pytest.mark.mininet]
ROOT = Path(__file__).resolve().parents[2]


def netns_inodes() -> dict[int, int]:
    """pid -> inode of its network namespace, for every process."""
    out = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                out[int(p.name)] = os.stat(p / "ns" / "net").st_ino
    return out


def our_processes(prefix: str, grpc_base: int) -> list[int]:
    """Mininet shells of our nodes, and switch processes serving on our port block."""
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if (
            f"mininet:{prefix}" in cmd
            or f"127.0.0.1:{grpc_base + 1}" in cmd
            or (f"@{prefix}s" in cmd and "softswitch" in cmd)
        ):
            pids.append(proc.info["pid"])
    return pids


def start_net(
    prefix: str, target: str, grpc_base: int, logs: Path, build: Path | None = None
) -> tuple[subprocess.Popen[str], str]:
    programs = ["--build", str(build)] if build is not None else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.net", "diamond", "--target", target, "--prefix",
         prefix, "--grpc-port-base", str(grpc_base), "--no-cli", "--log-dir", str(logs),
         *programs],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        pytest.fail(f"network did not come up: {line}{proc.communicate()[1]}")
    return proc, line.split()[1]


CLEANERS = {
    "python": [sys.executable, "-m", "experiments.cleanup", "--run"],
    "shell": ["bash", "scripts/clean-net.sh"],  # the fallback of `make clean-net`
}


@pytest.mark.parametrize(
    ("target", "cleaner"), [("bridge", "python"), ("softswitch", "python"), ("bridge", "shell")]
)
def test_sigkill_midway_then_cleanup_leaves_nothing(
    prefix: str,
    grpc_base: int,
    target: str,
    cleaner: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    if target == "softswitch" and not softswitch_cli_available():
        pytest.skip("softswitch has no CLI yet")
    assert our_interfaces(prefix) == [] and our_processes(prefix, grpc_base) == []
    build = request.getfixturevalue("softswitch_build") if target == "softswitch" else None
    proc, run_id = start_net(prefix, target, grpc_base, tmp_path, build)
    try:
        rec = st.read(st.STATE_DIR / f"{run_id}.state")
        ns = netns_inodes()
        new_ns = {ns[pid] for name, pid, _ in rec.nodes if name[len(prefix)] == "h"}
        assert len(new_ns) == 4 and ns[os.getpid()] not in new_ns  # one per host
        ifaces = our_interfaces(prefix)
        # 4 switches with 12 ports: 12 switch-side veth ends (+ 4 bridges on the baseline)
        assert len(ifaces) == (16 if target == "bridge" else 12), ifaces
        procs = our_processes(prefix, grpc_base)
        assert len(procs) >= 8  # 8 Mininet shells (+ 4 softswitch processes)
    except BaseException:
        proc.terminate()  # a failed check must not leave the network running
        proc.wait(timeout=30)
        raise
    # a process started in host h2 (as a receiver would be): it keeps h2's namespace alive
    h2_shell = next(pid for name, pid, _ in rec.nodes if name == f"{prefix}h2")
    h2_ns = netns_inodes()[h2_shell]
    squatter = subprocess.Popen(["mnexec", "-a", str(h2_shell), "sleep", "300"],
                                start_new_session=True)  # fmt: skip
    wait_exec(squatter.pid, "sleep")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the Mininet shells lose their pty and exit, and the other host namespaces with them
    deadline = time.monotonic() + 10
    while any(st.alive(pid, t) for _, pid, t in rec.nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(st.alive(pid, t) for _, pid, t in rec.nodes)
    assert netns_inodes()[squatter.pid] == h2_ns
    before_cleanup = ticks_now() + 1
    # a SIGKILLed owner cleans nothing: switch-to-switch veths (and bridges) are left, and
    # the switch processes (own sessions) keep running
    assert our_interfaces(prefix) != []
    if target == "softswitch":
        assert len(our_processes(prefix, grpc_base)) == 4
    cmd = [*CLEANERS[cleaner], run_id]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ours = [
        line + "\n" for line in r.stdout.splitlines() if line.startswith(f"clean-net: {run_id}:")
    ]
    # killed: 4 switches and the process in h2 (bridges: that process, and maybe its shell);
    # deleted: the 4 switch-to-switch veth pairs (+ 4 bridges), and h2's veth unless its
    # namespace went away first (host veths vanish with namespaces)
    killed = "5" if target == "softswitch" else "[12]"
    deleted = "[45]" if target == "softswitch" else "(8|9)"
    expected = rf"clean-net: {run_id}: killed {killed} processes, deleted {deleted} "
    assert len(ours) == 1 and re.fullmatch(expected + r"interfaces/bridges\n", ours[0]), r.stdout
    assert our_interfaces(prefix) == []
    assert our_processes(prefix, grpc_base) == []
    assert not (st.STATE_DIR / f"{run_id}.state").exists()
    assert squatter.wait(timeout=5) in (-signal.SIGTERM, -signal.SIGKILL)
    assert old_processes_in(new_ns, before_cleanup) == []


def test_host_namespaces_are_counted(prefix: str, grpc_base: int, tmp_path: Path) -> None:
    proc, run_id = start_net(prefix, "bridge", grpc_base, tmp_path)
    try:
        rec = st.read(st.STATE_DIR / f"{run_id}.state")
        ns = netns_inodes()
        root = ns[os.getpid()]
        hosts = {ns.get(pid) for name, pid, _ in rec.nodes if name[len(prefix) :][0] == "h"}
        switches = {ns.get(pid) for name, pid, _ in rec.nodes if name[len(prefix) :][0] == "s"}
        assert len(hosts) == 4 and root not in hosts  # one namespace per host
        assert switches == {root}  # switches live in the root namespace
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert old_processes_in(hosts, ticks_now() + 1) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_tear_down_without_cleanup(
    prefix: str, grpc_base: int, sig: signal.Signals, tmp_path: Path
) -> None:
    proc, run_id = start_net(prefix, "bridge", grpc_base, tmp_path)
    try:
        assert our_interfaces(prefix) != []
    finally:
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
    assert code == (128 + signal.SIGTERM if sig == signal.SIGTERM else 130)
    assert our_interfaces(prefix) == []
    assert our_processes(prefix, grpc_base) == []
    assert not (st.STATE_DIR / f"{run_id}.state").exists()


def test_an_exception_inside_the_network_tears_down(prefix: str, tmp_path: Path) -> None:
    import topologies
    from testbed.network import Network
    from topologies import generators as gen

    net = Network(topologies.from_dict(gen.fixed("line")), "bridge", prefix=prefix,
                  state_dir=tmp_path)  # fmt: skip
    with pytest.raises(ZeroDivisionError), net:
        assert len(our_interfaces(prefix)) == 3 + 7  # 3 bridges, 7 switch ports
        _ = 1 / 0
    assert our_interfaces(prefix) == []
    assert list(tmp_path.iterdir()) == []


def test_cleanup_spares_a_namespace_that_is_not_surely_ours(prefix: str, tmp_path: Path) -> None:
    # somebody else's namespace that happens to have the inode a dead run recorded
    other = subprocess.Popen(["unshare", "--net", "sleep", "60"], start_new_session=True)
    try:
        wait_exec(other.pid, "sleep")
        inode = netns_inodes()[other.pid]
        owner = subprocess.Popen([sys.executable, "-c", "pass"])
        owner.wait()
        (tmp_path / "dead.state").write_text(
            f"owner {owner.pid} 1\nprefix {prefix}\n"
            f"hostns {prefix}h1 {inode} 02:00:00:00:00:01 lo\n"
        )
        from testbed.cleanup import cleanup

        [report] = cleanup(state_dir=tmp_path)
        assert report.killed == []
        assert other.poll() is None
    finally:
        other.kill()
