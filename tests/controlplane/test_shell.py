"""`python -m controlplane.shell`: the p4runtime-sh command for a switch of a topology."""

from __future__ import annotations

import pytest

from controlplane import shell
from topologies.loader import load

LINE = str(shell.REPO / "topologies" / "fixed" / "line.yaml")


@pytest.fixture
def no_venv(monkeypatch):
    # the command is built without creating the venv (that needs the package registry)
    monkeypatch.setattr(shell, "shell_python", lambda venv=shell.VENV: venv / "bin" / "python")


def test_command_uses_contract_port_and_backup_election(no_venv, capsys):
    sw = load(LINE).switches[1]
    shell.main([sw.name, "--topo", LINE, "--print"])
    out = capsys.readouterr().out.split()
    assert out[1:] == [
        "-m", "p4runtime_sh", "--grpc-addr", f"127.0.0.1:{9559 + sw.device_id}",
        "--device-id", str(sw.device_id), "--election-id", "0,1",
    ]  # fmt: skip
    assert out[0].endswith("build/venv-p4rt-shell/bin/python")


def test_primary_and_explicit_device(no_venv, capsys):
    shell.main(["s9", "--device-id", "7", "--primary", "--print"])
    assert "127.0.0.1:9566 --device-id 7 --election-id 0,100" in capsys.readouterr().out


def test_unknown_switch_and_missing_topology_are_explained(no_venv, monkeypatch):
    monkeypatch.delenv("TOPO", raising=False)
    with pytest.raises(SystemExit, match=r"no switch 'zz' in .*line.yaml"):
        shell.main(["zz", "--topo", LINE, "--print"])
    with pytest.raises(SystemExit, match=r"give --device-id N or --topo FILE"):
        shell.main(["s1", "--print"])
