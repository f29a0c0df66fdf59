"""Fixtures for testbed tests: names and ports unique to this test run and this test (prefix
"e" + two random characters), so that tests of other parts can run at the same moment."""

from __future__ import annotations

import os
import random
import secrets
import socket
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def prefix() -> str:
    # "e" + a digit: never the start of a system interface name (eth0, ens3, enp0s3)
    return "e" + secrets.choice(string.digits) + secrets.choice(string.ascii_lowercase)


@pytest.fixture
def grpc_base() -> int:
    """A base such that base+1 .. base+40 are free TCP ports right now."""
    for _ in range(50):
        base = random.randrange(20000, 40000)
        ok = True
        for p in range(base + 1, base + 41):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    pytest.skip("no free block of 40 TCP ports")


@pytest.fixture(scope="session")
def softswitch_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build/ folder with softswitch/bier.{json,p4info.txtpb} (the program of the unicast
    and bier control planes), compiled here: a fresh clone has no build/."""
    root = tmp_path_factory.mktemp("softswitch-build")
    (root / "softswitch").mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "softswitch.compile", str(REPO / "p4src" / "bier.p4"),
         "--device-config", str(root / "softswitch" / "bier.json"),
         "--p4info", str(root / "softswitch" / "bier.p4info.txtpb")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, f"softswitch.compile p4src/bier.p4 failed: {r.stderr[-800:]}"
    return root


@pytest.fixture(scope="session")
def bmv2_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build/ folder with bmv2/bier.{json,p4info.txtpb}, compiled here by p4c-bm2-ss (for
    tests marked p4c: skipped where it is absent)."""
    from softswitch import build_all

    root = tmp_path_factory.mktemp("bmv2-build")
    (root / "bmv2").mkdir()
    out = build_all.Outputs(
        p4info=root / "bmv2" / "bier.p4info.txtpb", device_config=root / "bmv2" / "bier.json"
    )
    cmd = build_all.p4c_command(REPO / "p4src" / "bier.p4", out, {})
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr[-2000:]}"
    return root


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "state"
    d.mkdir()
    yield d


def our_interfaces(prefix: str) -> list[str]:
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))


def wait_exec(pid: int, comm: str, timeout: float = 5.0) -> None:
    """Wait until a process started through mnexec has exec'd `comm` (and so sits in the
    namespace mnexec put it in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} did not become {comm!r}")


def ticks_now() -> int:
    """Now, in clock ticks since boot (the unit of a process's start time)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return int(uptime * os.sysconf("SC_CLK_TCK"))


def old_processes_in(inodes: set[int], before: int) -> list[int]:
    """Processes in these network namespaces that started before `before` (ticks). Freed
    namespace inodes are handed out again at once (other tests make namespaces all the time),
    so a namespace of ours is still there only if a process older than its end is in it."""
    from testbed.state import netns_map, start_ticks

    return [
        pid
        for inode, pids in netns_map().items()
        if inode in inodes
        for pid in pids
        if (start_ticks(pid) or before) < before
    ]
