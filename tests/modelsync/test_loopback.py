"""Sender and receivers as real processes on 127.0.0.1 (distinct ports), no switches.

Loss is injected by the sender's --drop (a share of copies is never sent); every file must
still arrive verified on every receiver: sha256 on disk compared with the manifest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsync.manifest import Manifest, sha256_file
from modelsync.records import ReceiverRecord, SenderRecord
from wire.delivery import DeliveryHeader, MsgType, encode

from .helpers import small_model

ROOT = Path(__file__).resolve().parents[2]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Loopback:
    def __init__(self, tmp: Path, n: int, size: int = 1_500_000) -> None:
        self.tmp = tmp
        self.model = tmp / "model"
        self.m: Manifest = small_model(self.model, size, 3, seed=11)
        self.ctl_port = free_udp_port()
        self.names = [f"r{i}" for i in range(1, n + 1)]
        self.ports = {name: free_udp_port() for name in self.names}
        self.rx_file = tmp / "receivers.json"
        self.rx_file.write_text(
            json.dumps([{"name": k, "ip": "127.0.0.1", "port": p} for k, p in self.ports.items()])
        )
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        out = open(log, "wb")  # noqa: SIM115 (closed with the process)
        p = subprocess.Popen(
            [sys.executable, "-m", "modelsync", *args], cwd=ROOT, stdout=out, stderr=out
        )
        self.procs.append(p)
        return p

    def receiver(self, name: str, *extra: str, out: Path | None = None) -> subprocess.Popen[bytes]:
        return self._spawn(
            [
                "receive", "--manifest", str(self.model / "modelsync.manifest.json"),
                "--out", str(out or self.tmp / name), "--sender", "127.0.0.1",
                "--sender-port", str(self.ctl_port), "--name", name, "--bind", "127.0.0.1",
                "--port", str(self.ports[name]), "--group", "", "--linger", "1",
                "--idle-nack", "0.3", "--deadline", "60",
                "--record", str(self.tmp / f"{name}.json"), *extra,
            ],
            self.tmp / f"{name}.log",
        )  # fmt: skip

    def sender(self, *extra: str, tag: str = "sender") -> subprocess.Popen[bytes]:
        return self._spawn(
            [
                "send", "--model", str(self.model), "--receivers", str(self.rx_file),
                "--technology", "unicast", "--listen-ip", "127.0.0.1",
                "--control-port", str(self.ctl_port), "--poll-wait", "0.3",
                "--record", str(self.tmp / f"{tag}.json"), "--no-progress", *extra,
            ],
            self.tmp / f"{tag}.log",
        )  # fmt: skip

    def wait(self, p: subprocess.Popen[bytes], timeout: float = 90) -> int:
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process {p.args[3]} did not end:\n{self.logs()}")

    def wait_log(self, tag: str, text: str, timeout: float = 30) -> None:
        log = self.tmp / f"{tag}.log"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if log.exists() and text in log.read_text():
                return
            time.sleep(0.05)
        pytest.fail(f"{tag} never logged {text!r}:\n{self.logs()}")

    def ready(self, *names: str) -> None:
        for n in names:
            self.wait_log(n, "listening on")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.tmp.glob("*.log"))

    def sender_record(self, tag: str = "sender") -> SenderRecord:
        return SenderRecord.model_validate_json((self.tmp / f"{tag}.json").read_text())

    def receiver_record(self, name: str) -> ReceiverRecord:
        return ReceiverRecord.model_validate_json((self.tmp / f"{name}.json").read_text())

    def assert_verified(self, name: str) -> None:
        for f in self.m.files:
            got = self.tmp / name / f.name
            assert got.is_file(), f"{name} lacks {f.name}:\n{self.logs()}"
            assert sha256_file(got) == f.sha256

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def lo(tmp_path: Path) -> Iterator[Loopback]:
    box = Loopback(tmp_path, 3)
    try:
        yield box
    finally:
        box.close()


def test_unicast_with_5_percent_loss_every_shard_verified(lo: Loopback) -> None:
    rxs = [lo.receiver(n) for n in lo.names]
    lo.ready(*lo.names)
    s = lo.sender("--drop", "0.05", "--drop-seed", "7")
    assert lo.wait(s) == 0, lo.logs()
    for name, p in zip(lo.names, rxs, strict=True):
        assert lo.wait(p) == 0, lo.logs()
        lo.assert_verified(name)
        r = lo.receiver_record(name)
        assert r.outcome == "complete" and r.error is None
        assert r.verified_at is not None and r.loadable_at is not None
        assert r.first_packet_at <= r.complete_at <= r.verified_at <= r.loadable_at  # type: ignore[operator]
        assert r.tensors and r.tensors > 10
        assert all(f.verified for f in r.files)
        assert r.counters.repaired > 0 and r.counters.nacks_sent > 0
        assert r.counters.corrupt == 0 and r.counters.foreign_model == 0
        assert r.counters.accepted == sum(f.chunks for f in r.files)
        assert r.cpu_s is not None and 0 < r.cpu_s < r.ended_at - r.started_at + 1
    rec = lo.sender_record()
    assert rec.outcome == "complete" and rec.rounds >= 1
    assert rec.cpu_s is not None and 0 < rec.cpu_s < rec.ended_at - rec.started_at + 1
    assert [x.state for x in rec.receivers] == ["done"] * 3
    c = rec.counters
    lost_first = 3 * rec.chunks - c.first_pass_copies  # copies dropped in the first pass
    assert lost_first > 0 and c.first_pass_copies + c.repair_copies == c.copies
    # Repairs went to exactly the receivers that missed a chunk: every receiver got each
    # lost chunk from a repair, and no receiver got a chunk twice.
    recs = [lo.receiver_record(n) for n in lo.names]
    assert sum(r.counters.repaired for r in recs) == lost_first
    assert [r.counters.duplicates for r in recs] == [0, 0, 0]
    assert c.chunks_repaired == c.repair_copies + (c.dropped_on_purpose - lost_first)


def test_late_receiver_gets_everything(lo: Loopback) -> None:
    early = [lo.receiver(n) for n in lo.names[:2]]
    lo.ready(*lo.names[:2])
    s = lo.sender("--rate", "200")
    lo.wait_log("sender", "first pass done")
    late = lo.receiver(lo.names[2])
    assert lo.wait(s) == 0, lo.logs()
    for name, p in zip(lo.names, [*early, late], strict=True):
        assert lo.wait(p) == 0, lo.logs()
        lo.assert_verified(name)
    r = lo.receiver_record(lo.names[2])
    assert r.counters.repaired == r.counters.accepted  # all of it came as repair
    assert r.counters.repaired_bytes == r.counters.payload_bytes == lo.m.total_size


def test_sender_restarted_midway(lo: Loopback) -> None:
    rxs = [lo.receiver(n) for n in lo.names]
    lo.ready(*lo.names)
    first = lo.sender("--rate", "8", tag="sender1")  # 3 x 1.5 MB at 8 Mbit/s: ~4.5 s
    lo.wait_log("sender1", "first pass:")  # start-up time varies with load
    time.sleep(0.5)
    first.kill()
    first.wait()
    second = lo.sender(tag="sender2")
    assert lo.wait(second) == 0, lo.logs()
    for name, p in zip(lo.names, rxs, strict=True):
        assert lo.wait(p) == 0, lo.logs()
        lo.assert_verified(name)
        r = lo.receiver_record(name)
        # What the first sender delivered was kept: the second one's copies of it are duplicates.
        assert r.counters.duplicates > 0
    assert lo.sender_record("sender2").outcome == "complete"


def test_forged_truncated_and_foreign_datagrams_are_counted(lo: Loopback) -> None:
    name = lo.names[0]
    p = lo.receiver(name)
    lo.ready(name)
    mid = lo.m.model_id_int
    forged = [
        b"\x4d\x44\x01",  # truncated
        encode(DeliveryHeader(MsgType.DATA, 0, mid ^ 0xFF, 0, 1, 1400, 3), b"abc"),  # foreign
        encode(DeliveryHeader(MsgType.DATA, 40, mid, 0, 1, 1400, 3), b"abc"),  # no file 40
        encode(DeliveryHeader(MsgType.DATA, 1, mid, 0, 1, 1400, 3), b"abc")[:-1] + b"X",  # crc
        os.urandom(200),  # noise
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in forged:
            s.sendto(d, ("127.0.0.1", lo.ports[name]))
    lo.rx_file.write_text(json.dumps([{"name": name, "ip": "127.0.0.1", "port": lo.ports[name]}]))
    snd = lo.sender()
    assert lo.wait(snd) == 0 and lo.wait(p) == 0, lo.logs()
    lo.assert_verified(name)
    c = lo.receiver_record(name).counters
    assert c.foreign_model == 1 and c.corrupt == 4
    assert c.corrupt_reasons["truncated"] == 1 and c.corrupt_reasons["bad_crc"] == 1
    assert c.corrupt_reasons["bad_shard"] == 1


def test_deadline_gives_an_exact_account(lo: Loopback) -> None:
    # r1 runs, r2 never starts: the sender ends at its deadline naming what r2 lacks.
    lo.rx_file.write_text(
        json.dumps([{"name": n, "ip": "127.0.0.1", "port": lo.ports[n]} for n in lo.names[:2]])
    )
    p = lo.receiver(lo.names[0])
    lo.ready(lo.names[0])
    s = lo.sender("--deadline", "3")
    assert lo.wait(s) == 2, lo.logs()
    assert lo.wait(p) == 0, lo.logs()
    rec = lo.sender_record()
    assert rec.outcome == "incomplete"
    by = {x.name: x for x in rec.receivers}
    assert by["r1"].state == "done" and by["r1"].missing == {}
    assert by["r2"].state == "silent"
    counts = {f.name: -(-f.size // rec.chunk_size) for f in lo.m.files}
    assert by["r2"].missing == {k: [(0, n)] for k, n in counts.items()}


def test_receiver_deadline_reports_missing_ranges(lo: Loopback) -> None:
    p = lo.receiver(lo.names[0], "--deadline", "2")  # no sender at all
    assert lo.wait(p) == 2, lo.logs()
    r = lo.receiver_record(lo.names[0])
    assert r.outcome == "incomplete" and "deadline" in (r.error or "")
    assert r.counters.nacks_sent >= 2  # hello, then idle NACKs
    assert all(not f.verified and f.missing == [(0, 0)] for f in r.files if f.size)


@pytest.mark.root
def test_disk_full_is_reported_not_crashed(lo: Loopback, tmp_path: Path) -> None:
    small = tmp_path / "tiny"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "msd-tmpfs", str(small)], check=True)
    try:
        p = lo.receiver(lo.names[0], out=small / "model")
        assert lo.wait(p) == 3, lo.logs()
        r = lo.receiver_record(lo.names[0])
        assert r.outcome == "failed"
        assert "disk full (ENOSPC)" in (r.error or "")
        assert "safetensors" in (r.error or "")
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
