"""`make net` passes the switch debugging flags through to the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from experiments import net as net_cli
from testbed.network import NetworkError


def test_debug_flags_reach_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def record(*args: Any, **kw: Any) -> None:
        seen.update(kw)
        raise NetworkError("stop here: recorded")

    monkeypatch.setattr(net_cli, "Network", record)
    rc = net_cli.main(["diamond", "--pcap", "--debug-log", "--thrift-port-base", "9300"])
    assert rc == 2
    assert (seen["pcap"], seen["debug_log"], seen["thrift_port_base"]) == (True, True, 9300)


def test_debug_flags_default_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def record(*args: Any, **kw: Any) -> None:
        seen.update(kw)
        raise NetworkError("stop here: recorded")

    monkeypatch.setattr(net_cli, "Network", record)
    assert net_cli.main(["diamond"]) == 2
    assert (seen["pcap"], seen["debug_log"], seen["thrift_port_base"]) == (False, False, 9090)


def test_controller_compiles_the_programs_when_build_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: dict[str, Any] = {}
    monkeypatch.setattr(net_cli.hooks, "load_factory", lambda _name: lambda **kw: made.update(kw))
    args = net_cli.parser().parse_args(
        ["diamond", "--technology", "bier", "--build", str(tmp_path)]
    )
    net_cli.controller(args, "softswitch")
    assert made == {"technology": "bier", "build": tmp_path}
    for prog in ("bier", "sr_p2mp"):
        assert (tmp_path / "softswitch" / f"{prog}.json").is_file()
        assert (tmp_path / "softswitch" / f"{prog}.p4info.txtpb").is_file()
