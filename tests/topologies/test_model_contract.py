"""The topology model's own contract: ports, reserved CPU port, round trip, lookups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from topologies.model import CPU_PORT, Topology


def _star(n_hosts: int, **link_extra: object) -> dict:
    return {
        "name": "star",
        "switches": [{"name": "s1"}],
        "hosts": [{"name": f"h{i}", "role": "gpu", "cloud": "c"} for i in range(1, n_hosts + 1)],
        "links": [
            {"a": f"h{i}", "b": "s1", "bw_mbit": 10, **link_extra} for i in range(1, n_hosts + 1)
        ],
    }


def test_port_assignment_skips_the_cpu_port() -> None:
    topo = Topology(**_star(300))
    ports = sorted(topo.host_attachment(f"h{i}")[1] for i in range(1, 301))
    assert CPU_PORT not in ports
    assert ports == [p for p in range(1, 302) if p != CPU_PORT]


def test_cpu_port_given_explicitly_is_refused() -> None:
    data = _star(1)
    data["links"][0]["b_port"] = CPU_PORT
    with pytest.raises(ValidationError, match="port 255 of s1 is reserved"):
        Topology(**data)


def test_a_dumped_topology_loads_back_identically() -> None:
    topo = Topology(**_star(3))
    again = Topology(**topo.model_dump(mode="json"))
    assert again.model_dump() == topo.model_dump()
    assert again.host_attachment("h2") == ("s1", 2, again.links[1])


def test_lookups_by_name() -> None:
    topo = Topology(**_star(2))
    assert topo.host("h2").ip.exploded == "10.0.0.2"
    assert topo.switch("s1").device_id == 1
    assert topo.is_switch("s1") and not topo.is_switch("h1")
    with pytest.raises(KeyError, match="no host named 'zz'"):
        topo.host("zz")
