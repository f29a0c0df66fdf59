"""`make net` passes the switch debugging flags through to the network."""

from __future__ import annotations

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
