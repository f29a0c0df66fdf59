"""modelsync.forkstart: receivers forked from a process that has modelsync imported, each in
its host's network namespace (root). A host here is a process in a network namespace of
its own (`unshare -n`), as a Mininet host's shell is; the sender runs in it too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsync.forkstart import spawn_in_netns
from modelsync.launch import MANIFEST, start_receivers, verify_on_disk

from .helpers import small_model

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("unshare") is None, reason="no unshare (util-linux)"),
]


@pytest.fixture
def host() -> Iterator[int]:
    """A process alone in a new network namespace with its loopback up: a host's shell."""
    p = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 120"])
    try:
        for _ in range(200):  # until sh has set lo up and become sleep
            if os.readlink(f"/proc/{p.pid}/exe").endswith("sleep"):
                break
            subprocess.run(["sleep", "0.01"], check=True)
        yield p.pid
    finally:
        p.kill()
        p.wait()


def netns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_a_forked_receiver_runs_in_its_hosts_namespace_and_verifies(
    tmp_path: Path, host: int
) -> None:
    m = small_model(tmp_path / "model", 300_000, 2, seed=5)
    rx = start_receivers(
        None, ["gpu1"], tmp_path / "model" / MANIFEST, "127.0.0.1", tmp_path / "work",  # type: ignore[arg-type]
        tmp_path / "rec", deadline=60, netns=lambda h: host,
    )  # fmt: skip
    proc = rx.procs["gpu1"]
    assert netns(proc.pid) == netns(host) != netns(os.getpid())
    assert proc.poll() is None  # listening
    targets = tmp_path / "targets.json"
    targets.write_text('[{"name": "gpu1", "ip": "127.0.0.1"}]')
    snd = subprocess.run(
        ["nsenter", f"--net=/proc/{host}/ns/net", sys.executable, "-m", "modelsync", "send",
         "--model", str(tmp_path / "model"), "--receivers", str(targets),
         "--technology", "unicast", "--rate", "50", "--deadline", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert snd.returncode == 0, snd.stderr
    assert proc.wait(30) == 0  # its exit code, as the fork server reaped it
    (rec,) = rx.read_records()
    rx.kill()
    assert rec["outcome"] == "complete" and rec["cpu_s"] > 0
    assert verify_on_disk(m, tmp_path / "work" / "gpu1")
    assert "listening on" in (tmp_path / "rec" / "gpu1.log").read_text()


def test_a_forked_receiver_is_killed_and_a_bad_command_line_is_logged(
    tmp_path: Path, host: int
) -> None:
    small_model(tmp_path / "model", 100_000, 1, seed=6)
    log = tmp_path / "r.log"
    p = spawn_in_netns(
        host, ["receive", "--manifest", str(tmp_path / "model" / MANIFEST), "--out",
               str(tmp_path / "o"), "--sender", "127.0.0.1", "--name", "g", "--deadline", "60"],
        log, ROOT,
    )  # fmt: skip
    with pytest.raises(subprocess.TimeoutExpired):
        p.wait(0.5)
    p.kill()
    assert p.wait(10) == -9
    bad = spawn_in_netns(host, ["receive", "--no-such-option"], tmp_path / "bad.log", ROOT)
    assert bad.wait(30) == 2  # argparse's usage error, in the log
    assert "the following arguments are required: --manifest" in (tmp_path / "bad.log").read_text()


def test_a_launcher_gone_stops_its_forked_receivers(tmp_path: Path, host: int) -> None:
    """The fork server's stdin closing (its launcher ended or was killed) stops the
    receivers it forked: none outlives the run."""
    from modelsync.forkstart import ForkServer

    small_model(tmp_path / "model", 100_000, 1, seed=7)
    server = ForkServer()
    try:
        p = server.spawn(
            host, ["receive", "--manifest", str(tmp_path / "model" / MANIFEST), "--out",
                   str(tmp_path / "o"), "--sender", "127.0.0.1", "--name", "g",
                   "--deadline", "300"],
            tmp_path / "r.log", ROOT,
        )  # fmt: skip
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(0.5)  # listening, for minutes
        assert server.proc.stdin is not None
        server.proc.stdin.close()  # as when the launching process dies
        assert p.wait(30) == -15  # SIGTERM from the server, reported as it reaped it
        assert server.proc.wait(30) == 0
        assert not os.path.exists(f"/proc/{p.pid}") or _zombie_or_other(p.pid)
    finally:
        server.proc.kill()
        server.proc.wait()


def _zombie_or_other(pid: int) -> bool:
    """The pid no longer names a live receiver (reused by another program, or a zombie)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"modelsync" not in cmd
