"""experiments.switch_logs: a run's switch and port-agent logs stay in its results folder when
a GPU host failed, the run stopped early, or MCAST_KEEP_LOGS=1; otherwise they are removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import switch_logs
from experiments.results import ResultsWriter

KEYS = {"sweep": "", "technology": "bier", "repetition": 0}


def _writer(tmp_path: Path, verified: list[bool | None]) -> ResultsWriter:
    w = ResultsWriter(tmp_path)
    rows = [
        {**KEYS, "round": 0, "receiver": f"g{i}", "verified": v} for i, v in enumerate(verified)
    ]
    w.add("receivers", rows)
    logs = switch_logs.log_dir(tmp_path, None)
    logs.mkdir()
    (logs / "s1.log").write_text("switch log\n")
    (logs / "s1.agent.log").write_text("agent log\n")
    return w


def test_logs_removed_after_a_run_where_every_host_verified(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MCAST_KEEP_LOGS", raising=False)
    w = _writer(tmp_path, [True, True, True])
    assert switch_logs.settle(tmp_path, w, finished=True) is None
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("verified", "finished", "env", "why"),
    [
        ([True, False, None], True, None, "2 rounds of GPU hosts ended without a verified model"),
        ([True, False], True, None, "1 round of a GPU host ended without a verified model"),
        ([True], False, None, "the run stopped before its end"),
        ([True], True, "1", "MCAST_KEEP_LOGS=1 asks for them"),
    ],
)
def test_logs_kept_and_why(tmp_path, monkeypatch, verified, finished, env, why) -> None:
    if env is None:
        monkeypatch.delenv("MCAST_KEEP_LOGS", raising=False)
    else:
        monkeypatch.setenv("MCAST_KEEP_LOGS", env)
    w = _writer(tmp_path, verified)
    said = switch_logs.settle(tmp_path, w, finished)
    assert said == f"The switches' and port agents' logs are kept in {tmp_path}/logs because {why}."
    assert (tmp_path / "logs" / "s1.log").read_text() == "switch log\n"
    assert (tmp_path / "logs" / "s1.agent.log").read_text() == "agent log\n"


def test_sweep_points_log_apart(tmp_path) -> None:
    assert switch_logs.log_dir(tmp_path, None) == tmp_path / "logs"
    assert switch_logs.log_dir(tmp_path, 0.5) == tmp_path / "logs" / "0.5"
    assert switch_logs.settle(tmp_path, ResultsWriter(tmp_path), finished=True) is None
