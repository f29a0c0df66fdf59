"""p4runtime-shell, the tool users know, against a running softswitch: it connects and loads
the pipeline, inserts an entry, reads it back and sends a packet-out."""

from __future__ import annotations

import json
import subprocess

import pytest
from finsy.proto import p4r
from google.protobuf import text_format

from testsupport import corpus
from testsupport.harness import REPO, Testbed, need_target, target_of

pytestmark = [pytest.mark.root, pytest.mark.slow]
HERE = REPO / "tests" / "switch"


def shell_python() -> str:
    r = subprocess.run(
        ["bash", str(HERE / "p4rt_shell_venv.sh")], capture_output=True, text=True, timeout=600
    )
    if r.returncode:
        pytest.skip(f"cannot install p4runtime-shell into its own venv: {r.stderr[-500:]}")
    return r.stdout.strip().splitlines()[-1]


def test_p4runtime_shell_insert_read_packet_out(request, tmp_path) -> None:
    target = target_of(request.config)
    need_target(target)
    info, blob = corpus.config(target, "ref_clone_recirc")
    python = shell_python()
    (tmp_path / "p4info.txt").write_text(text_format.MessageToString(info))
    (tmp_path / "config.bin").write_bytes(blob)
    payload = bytes.fromhex("00000d0000ff00000d0012340800") + bytes(range(46))
    with Testbed(target, ports=[1, 2, 3], cpu_port=255) as tb:
        r = subprocess.run(
            [
                python,
                str(HERE / "p4rt_shell_script.py"),
                tb.addr,
                str(tb.device_id),
                str(tmp_path / "p4info.txt"),
                str(tmp_path / "config.bin"),
                payload.hex(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["read"] and out["read"][0]["match"] in ("01", "0001")
        tb.expect({3: [payload]})
        # the entry is there for everyone: read it with our own client
        c = tb.client(election_id=None)
        c.index = None
        got = c.read(p4r.Entity(table_entry=p4r.TableEntry()))
        assert len(got) == 1
        assert text_format.MessageToString(got[0].table_entry.match[0]).count("exact") == 1
        assert got[0].table_entry.action.action.params[0].value == b"\x02"
        assert tb.alive()
