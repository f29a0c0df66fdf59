"""Remove what a run left behind: its switch processes, Mininet shells (and with them the host
namespaces), interfaces and bridges. Only objects listed in a run's state file are touched,
and only for runs whose owner process is gone (unless forced), so other people's networks and
our own live runs are safe. Unlike `mn -c`, nothing is removed by pattern."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed.state import Recorded, alive, pids_in_netns, runs, start_ticks


@dataclass
class CleanupReport:
    run_id: str
    killed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: str = ""

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.run_id}: skipped ({self.skipped})"
        return (
            f"{self.run_id}: killed {len(self.killed)} processes, "
            f"deleted {len(self.deleted)} interfaces/bridges"
        )


def _kill(procs: list[tuple[int, int, str]], report: CleanupReport) -> None:
    live = [(pid, ticks, what) for pid, ticks, what in procs if alive(pid, ticks)]
    for pid, _, _ in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and any(alive(p, t) for p, t, _ in live):
        time.sleep(0.05)
    for pid, ticks, what in live:
        if alive(pid, ticks):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        report.killed.append(f"{what} (pid {pid})")


def eth0_of(pid: int) -> tuple[str, int] | None:
    """(MAC, ifindex of the veth peer) of eth0 in a process's network namespace."""
    r = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-o", "link", "show", "dev", "eth0"],
        capture_output=True,
        text=True,
        check=False,
    )
    words = r.stdout.split()
    if "link/ether" not in words or len(words) < 2 or "@if" not in words[1]:
        return None
    peer = words[1].rstrip(":").split("@if", 1)[1]
    return words[words.index("link/ether") + 1], int(peer) if peer.isdigit() else -1


def kill_netns(node: str, inode: int, mac: str, peer: str, report: CleanupReport) -> None:
    """Kill what still runs in a host's namespace (e.g. a receiver started there), which would
    keep the namespace alive. Only if that namespace is surely ours: its eth0 has the host's
    MAC and is paired with our switch-side interface (an inode of a namespace that is gone
    is soon given to somebody else's)."""
    pids = pids_in_netns(inode)
    if not pids:
        return
    try:
        peer_index = int(Path(f"/sys/class/net/{peer}/ifindex").read_text())
    except (OSError, ValueError):
        return
    if eth0_of(pids[0]) != (mac, peer_index):
        return
    _kill([(pid, start_ticks(pid) or 0, f"in {node}") for pid in pids], report)


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def _delete_link(name: str, report: CleanupReport) -> None:
    if _link_exists(name):
        subprocess.run(["ip", "link", "del", "dev", name], capture_output=True, check=False)
        report.deleted.append(name)


def clean_run(rec: Recorded, force: bool = False) -> CleanupReport:
    report = CleanupReport(rec.run_id)
    if rec.owner_alive and not force:
        report.skipped = f"its owner, pid {rec.owner[0] if rec.owner else '?'}, is running"
        return report
    _kill(rec.procs, report)
    _kill([(pid, ticks, f"mininet:{name}") for name, pid, ticks in rec.nodes], report)
    for node, inode, mac, peer in rec.hostns:
        kill_netns(node, inode, mac, peer, report)
    for iface in rec.ifaces:
        _delete_link(iface, report)
    for bridge in rec.bridges:
        _delete_link(bridge, report)
    rec.path.unlink(missing_ok=True)
    return report


def cleanup(
    run_id: str | None = None, force: bool = False, state_dir: Path | None = None
) -> list[CleanupReport]:
    """Clean the given run, or every recorded run whose owner is gone."""
    out = []
    for rec in runs(state_dir):
        if run_id is not None and rec.run_id != run_id:
            continue
        out.append(clean_run(rec, force=force))
    return out
