"""Which group and technology modelsync's sender is started with on the FRR network: PIM-SM's
239.1.0.k (the static RP's range), PIM-SSM's 232.1.0.k (pimd's SSM range), the k-th of
several deliveries at once keeping its number (the command line as handed to the host)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from modelsync.launch import Channel
from pimsm.delivery import ssm_group, start_sender


class _Net:
    """What start_sender uses of a PimNetwork: routed addresses, the path MTU, popen (a real
    process, as the sender's priority is set on it: a `sleep` stopped after the test)."""

    def __init__(self) -> None:
        self.argv: list[str] = []
        self.topo = SimpleNamespace(path_mtu=lambda: 1500)
        self.procs: list[subprocess.Popen] = []

    def host_ip(self, host: str) -> str:
        return {"h1": "10.100.1.2", "h2": "10.100.2.2"}[host]

    def popen(self, host: str, argv: list[str], **_kw: object) -> object:
        assert host == "h1"
        self.argv = list(argv)
        self.procs.append(subprocess.Popen(["sleep", "60"]))
        return self.procs[-1]


@pytest.fixture
def net() -> Iterator[_Net]:
    fake = _Net()
    yield fake
    for proc in fake.procs:
        proc.kill()
        proc.wait()


def _arg(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_ssm_group_keeps_the_delivery_number() -> None:
    assert ssm_group("239.1.0.1") == "232.1.0.1"
    assert ssm_group("239.1.0.17") == "232.1.0.17"


@pytest.mark.parametrize(
    ("ssm", "tech", "group"), [(False, "pim-sm", "239.1.0.1"), (True, "pim-ssm", "232.1.0.1")]
)
def test_the_sender_of_one_delivery(
    net: _Net, tmp_path: Path, ssm: bool, tech: str, group: str
) -> None:
    snd = start_sender(net, "h1", ["h2"], tmp_path, 8.0, tmp_path / "rec", 60, ssm=ssm)  # type: ignore[arg-type]
    snd.logf.close()
    assert _arg(net.argv, "--technology") == tech
    assert _arg(net.argv, "--group") == group
    assert _arg(net.argv, "--src-ip") == "10.100.1.2"


def test_the_third_of_several_deliveries_over_ssm(net: _Net, tmp_path: Path) -> None:
    ch = Channel.numbered(2, "third", tmp_path)
    snd = start_sender(net, "h1", ["h2"], tmp_path, 8.0, tmp_path / "rec", 60, channel=ch, ssm=True)  # type: ignore[arg-type]
    snd.logf.close()
    groups = [net.argv[i + 1] for i, a in enumerate(net.argv) if a == "--group"]
    assert groups[-1] == "232.1.0.3"  # the channel's, given last, is the one that counts
    assert _arg(net.argv, "--data-port") == "50020"
