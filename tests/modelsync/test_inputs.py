"""Plain inputs: receiver files, pacing arithmetic, the make-model command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelsync.pacing as pacing
from modelsync.cli import main as modelsync_main
from modelsync.manifest import load_manifest, sha256_file
from modelsync.targets import load_receivers


def test_receivers_json_and_yaml(tmp_path: Path) -> None:
    j = tmp_path / "r.json"
    j.write_text(json.dumps([{"name": "h2", "ip": "10.0.0.2", "bfr_id": 1}]))
    y = tmp_path / "r.yaml"
    y.write_text(
        "receivers:\n"
        "  - {name: h2, ip: 10.0.0.2, bfr_id: 1}\n"
        "  - {name: h3, ip: 10.0.0.3, port: 5}\n"
    )
    assert [r.name for r in load_receivers(j)] == ["h2"]
    rs = load_receivers(y)
    assert (rs[1].ip, rs[1].port, rs[1].bfr_id, rs[0].port) == ("10.0.0.3", 5, None, 50000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("receivers: []", "receivers: List should have at least 1 item"),
        ("- {name: a, ip: 10.0.0.300}", "receivers.0.ip"),
        ("- {name: a, ip: 10.0.0.1}\n- {name: a, ip: 10.0.0.2}", "name 'a' appears twice"),
        ("- {name: a, ip: 10.0.0.1, bfr_id: 0}", "receivers.0.bfr_id"),
        ("[: nope", "not valid YAML"),
    ],
)
def test_bad_receivers_file_names_field(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(ValueError, match=r"r\.yaml") as err:
        load_receivers(p)
    assert message in str(err.value)


def test_token_bucket_sleeps_off_the_debt(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [100.0]
    slept: list[float] = []
    monkeypatch.setattr(pacing.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(pacing.time, "sleep", lambda s: slept.append(s))
    tb = pacing.TokenBucket(8e6, burst_bytes=2000)  # 1 MB/s
    tb.take(1500)
    tb.take(1500)  # 1000 bytes of debt: 1 ms
    assert slept == [pytest.approx(0.001)]
    now[0] += 0.001  # the sleep happened
    tb.take(1000)
    assert slept[-1] == pytest.approx(0.001)
    unpaced = pacing.TokenBucket(0)
    unpaced.take(10**9)
    assert len(slept) == 2


def test_make_model_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = modelsync_main(
        ["make-model", "--out", str(tmp_path / "m"), "--size", "300KB", "--shards", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    m = load_manifest(tmp_path / "m" / "modelsync.manifest.json")
    assert (
        out
        == f"{tmp_path / 'm'}: model {m.model_id} ({m.total_size} bytes in {len(m.files)} files)\n"
    )
    assert all(sha256_file(tmp_path / "m" / f.name) == f.sha256 for f in m.files)
    assert modelsync_main(["make-model", "--out", str(tmp_path / "x"), "--size", "1ZB"]) == 1
    assert "'1ZB' is not a size" in capsys.readouterr().err
