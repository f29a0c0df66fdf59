"""pim-sm's sending (plain IP multicast) for real: sender and two receivers in their own
network namespaces on a Linux bridge (root). Receivers join 239.1.0.1 with IP_ADD_MEMBERSHIP;
the first pass is one copy per chunk to the group, repairs of the 5% dropped on purpose go
unicast to each."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsync.manifest import sha256_file
from modelsync.records import ReceiverRecord, SenderRecord

from .helpers import small_model

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture
def lan() -> Iterator[dict[str, str]]:
    """Namespaces msd<tag>{b,s,r1,r2}; hosts s=10.99.0.1, r1=.2, r2=.3 on bridge msdbr."""
    tag = secrets.token_hex(3)
    ns = {k: f"msd{tag}{k}" for k in ("b", "s", "r1", "r2")}
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
        b = ns["b"]
        sh("ip", "-n", b, "link", "add", "msdbr", "type", "bridge", "mcast_snooping", "0")
        sh("ip", "-n", b, "link", "set", "msdbr", "up")
        for i, host in enumerate(("s", "r1", "r2"), start=1):
            peer = f"msd{tag}{host}p"[:15]
            sh("ip", "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", ns[host])
            sh("ip", "link", "set", peer, "netns", b)
            sh("ip", "-n", b, "link", "set", peer, "master", "msdbr", "up")
            sh("ip", "-n", ns[host], "addr", "add", f"10.99.0.{i}/24", "dev", "eth0")
            sh("ip", "-n", ns[host], "link", "set", "eth0", "up")
            sh("ip", "-n", ns[host], "link", "set", "lo", "up")
            sh("ip", "-n", ns[host], "route", "add", "224.0.0.0/4", "dev", "eth0")
        yield ns
    finally:
        for n in ns.values():
            subprocess.run(["ip", "netns", "del", n], check=False, capture_output=True)


def test_ip_multicast_between_namespaces(tmp_path: Path, lan: dict[str, str]) -> None:
    m = small_model(tmp_path / "model", 1_000_000, 2, seed=3)
    rx = [{"name": "r1", "ip": "10.99.0.2"}, {"name": "r2", "ip": "10.99.0.3"}]
    (tmp_path / "rx.json").write_text(json.dumps(rx))
    py = [sys.executable, "-m", "modelsync"]
    procs = []
    try:
        for i, r in enumerate(("r1", "r2"), start=2):
            log = open(tmp_path / f"{r}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", lan[r], *py, "receive",
                 "--manifest", str(tmp_path / "model" / "modelsync.manifest.json"),
                 "--out", str(tmp_path / r), "--sender", "10.99.0.1", "--name", r,
                 "--iface-ip", f"10.99.0.{i}", "--linger", "1", "--deadline", "60",
                 "--record", str(tmp_path / f"{r}.json")],
                cwd=ROOT, stdout=log, stderr=log,
            ))  # fmt: skip
        for r in ("r1", "r2"):  # wait until both have joined
            for _ in range(600):
                if "listening on" in (tmp_path / f"{r}.log").read_text():
                    break
                subprocess.run(["sleep", "0.05"], check=True)
        snd = subprocess.run(
            ["ip", "netns", "exec", lan["s"], *py, "send", "--model", str(tmp_path / "model"),
             "--receivers", str(tmp_path / "rx.json"), "--technology", "pim-sm",
             "--src-ip", "10.99.0.1", "--drop", "0.05", "--drop-seed", "2",
             "--deadline", "60", "--record", str(tmp_path / "sender.json"), "--no-progress"],
            cwd=ROOT, capture_output=True, timeout=120,
        )  # fmt: skip
        assert snd.returncode == 0, snd.stderr.decode()[-3000:]
        for p in procs:
            assert p.wait(60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    rec = SenderRecord.model_validate_json((tmp_path / "sender.json").read_text())
    c = rec.counters
    # One group copy per chunk in the first pass (not one per receiver).
    assert c.first_pass_copies + c.dropped_on_purpose >= rec.chunks
    assert c.first_pass_copies < rec.chunks
    assert c.repair_copies > 0 and rec.outcome == "complete"
    for r in ("r1", "r2"):
        rr = ReceiverRecord.model_validate_json((tmp_path / f"{r}.json").read_text())
        assert rr.multicast_joined and rr.outcome == "complete"
        for f in m.files:
            assert sha256_file(tmp_path / r / f.name) == f.sha256
