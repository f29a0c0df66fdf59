"""Ctrl-C during `python -m experiments run`: the run stops, the rounds measured so far and the
switches' logs are in the results folder, the network is gone (no interface with the run's
prefix), and no process the run started is left."""

from __future__ import annotations

import json
import os
import secrets
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.results import read_results

ROOT = Path(__file__).resolve().parents[2]
EXP = Path(__file__).parent / "data" / "e2e-diamond.yaml"

pytestmark = [pytest.mark.root, pytest.mark.mininet, pytest.mark.slow]


def _procs_mentioning(text: str) -> list[str]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append(f"{p.name}: {cmd}")
    return out


def test_ctrl_c_keeps_what_was_measured_and_leaves_nothing(tmp_path: Path) -> None:
    prefix = "exi" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(2))
    results = tmp_path / "results"
    log = tmp_path / "run.log"
    with open(log, "w") as f:
        p = subprocess.Popen(
            [sys.executable, "-m", "experiments", "run", str(EXP), "--results", str(results),
             "--no-progress", "--prefix", prefix],
            cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        end = time.time() + 240
        while "receivers verified" not in log.read_text():  # the first round is measured
            assert p.poll() is None and time.time() < end, log.read_text()
            time.sleep(0.2)
        time.sleep(3)  # into the next round
        p.send_signal(signal.SIGINT)
        code = p.wait(120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = log.read_text()
    assert code == 130, text
    assert "interrupted" in text and "rounds measured so far are saved" in text
    (folder,) = results.iterdir()
    res = read_results(folder)
    rec = res["receivers"]
    done = res["rounds"]
    assert len(done) >= 1 and len(rec) == 3 * len(done)  # whole rounds only
    assert rec["verified"].all()
    # the switches' logs of a run that stopped early stay in its folder, and it says why
    assert sorted(p.name for p in (folder / "logs").glob("*.out")) == [
        f"s{i}.out" for i in range(1, 5)
    ]
    env = json.loads((folder / "environment.json").read_text())
    assert env["switch_logs"] == (
        f"The switches' and port agents' logs are kept in {folder}/logs because the run "
        "stopped before its end."
    )
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith(prefix)]
    assert _procs_mentioning(str(tmp_path)) == []
