"""modelsync.launch: the one launcher of receivers and senders for the P4 testbed and the
PIM-SM network, here with a `popen` that starts the real processes in this namespace."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelsync.launch import (
    LaunchError,
    ReceiverSet,
    start_receivers,
    start_sender,
    verify_on_disk,
)
from modelsync.manifest import load_manifest

from .helpers import small_model


class LocalHosts:
    """popen(host, argv, **kw) for processes in this namespace; remembers what it started."""

    def __init__(self) -> None:
        self.started: list[tuple[str, list[str], subprocess.Popen]] = []

    def __call__(self, host: str, argv: list[str], **kw: Any) -> subprocess.Popen:
        p = subprocess.Popen(argv, **kw)
        self.started.append((host, argv, p))
        return p

    def close(self) -> None:
        for _, _, p in self.started:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def hosts() -> Any:
    h = LocalHosts()
    yield h
    h.close()


def test_a_receiver_that_does_not_start_is_named_with_its_log(tmp_path: Path, hosts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LaunchError) as ei:
        start_receivers(
            hosts, ["gpu1"], tmp_path / "missing.json", "127.0.0.1", tmp_path / "work",
            tmp_path / "rec", deadline=5, ready_timeout=30,
        )  # fmt: skip
    msg = str(ei.value)
    assert "receiver gpu1 did not start" in msg
    assert "missing.json: cannot read manifest" in msg
    assert all(p.poll() is not None for _, _, p in hosts.started)


def test_receivers_listen_then_stop_with_an_incomplete_record(tmp_path: Path, hosts) -> None:  # type: ignore[no-untyped-def]
    small_model(tmp_path / "model", 100_000, 2, seed=3)
    rx = start_receivers(
        hosts, ["gpu1"], tmp_path / "model" / "modelsync.manifest.json", "127.0.0.1",
        tmp_path / "work", tmp_path / "rec", deadline=30, group="239.1.0.9",
    )  # fmt: skip
    ((host, argv, proc),) = hosts.started
    assert host == "gpu1" and proc.poll() is None  # listening, waiting for data
    assert argv[argv.index("--group") + 1] == "239.1.0.9"  # PIM-SM: the group to join
    assert argv[argv.index("--record") + 1] == str(tmp_path / "rec" / "gpu1.json")
    records = rx.collect(timeout=0.2)
    assert proc.poll() is not None
    assert len(records) == 1 and records[0]["receiver"] == "gpu1"
    assert records[0]["outcome"] == "incomplete" and "listening on" in records[0]["error"]
    assert not verify_on_disk(load_manifest(tmp_path / "model" / "modelsync.manifest.json"),
                              tmp_path / "work" / "gpu1")  # fmt: skip


def test_records_are_read_in_host_order(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "b.json").write_text(json.dumps({"receiver": "b", "outcome": "verified"}))
    (rec / "a.json").write_text('{"receiver": "a", "outc')  # cut short by a crash
    (rec / "a.log").write_text("Traceback: boom\n")
    got = ReceiverSet(["a", "b"], tmp_path / "work", rec).read_records()
    assert got[1] == {"receiver": "b", "outcome": "verified"}
    assert got[0]["receiver"] == "a" and got[0]["outcome"] == "incomplete"
    assert "Traceback: boom" in got[0]["error"]


def test_sender_gets_its_targets_and_technology_arguments(tmp_path: Path, hosts) -> None:  # type: ignore[no-untyped-def]
    small_model(tmp_path / "model", 100_000, 2, seed=3)
    targets = [{"name": "gpu1", "ip": "10.0.0.2", "bfr_id": 1}]
    snd = start_sender(
        hosts, "store", targets, tmp_path / "model", "bier", "10.0.0.1", 5.0, tmp_path / "rec",
        deadline=10, extra=["--bfir-id", "0"],
    )  # fmt: skip
    ((host, argv, proc),) = hosts.started
    assert host == "store"
    assert json.loads((tmp_path / "rec" / "receivers.json").read_text()) == targets
    assert argv[argv.index("--technology") + 1] == "bier"
    assert argv[argv.index("--rate") + 1] == "5.000"
    assert argv[-2:] == ["--bfir-id", "0"]
    assert snd.record == tmp_path / "rec" / "sender.json"
    snd.kill()
    assert proc.poll() is not None
