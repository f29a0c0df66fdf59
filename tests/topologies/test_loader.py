"""The topology YAML format: valid files load with deterministic ports and addresses; bad
files fail with the file, the field path and the reason."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

import topologies
from topologies import TopologyError

FIXED = Path(topologies.__file__).parent / "fixed"

GOOD = """\
name: t
switches:
  - {name: s1}
  - {name: s2, device_id: 7}
hosts:
  - {name: h1, role: model-store, cloud: store}
  - {name: h2, role: gpu, cloud: c1, ip: 10.9.9.9}
links:
  - {a: h1, b: s1, bw_mbit: 100}
  - {a: s1, b: s2, bw_mbit: 20, a_port: 5, weight: 3}
  - {a: s2, b: h2, bw_mbit: 100}
"""


def _err(text: str) -> str:
    with pytest.raises(TopologyError) as e:
        topologies.loads(text, "topo.yaml")
    return str(e.value)


def test_valid_file_assigns_ports_ids_and_addresses(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(GOOD)
    t = topologies.load(f)
    assert [s.device_id for s in t.switches] == [1, 7]
    h1, h2 = t.hosts
    assert h1.ip == ipaddress.IPv4Address("10.0.0.1") and h1.mac == "02:00:00:00:00:01"
    assert h2.ip == ipaddress.IPv4Address("10.9.9.9") and h2.mac == "02:00:00:00:00:02"
    # s1: port 5 given for s1-s2, so h1 gets the first free port 1; s2: s1-s2 first -> 1.
    assert t.neighbours("s1") == {1: ("h1", 0), 5: ("s2", 1)}
    assert t.neighbours("s2") == {1: ("s1", 5), 2: ("h2", 0)}
    assert t.link_between("s2", "s1").weight == 3
    assert [lk.name for lk in t.switch_links()] == ["s1-s2"]
    assert t.host_attachment("h2")[:2] == ("s2", 2)


@pytest.mark.parametrize("name", ["line", "diamond", "tree"])
def test_fixed_files_load(name: str) -> None:
    t = topologies.load(FIXED / f"{name}.yaml")
    assert t.name == name
    assert len(t.model_stores()) == 1


def test_bandwidth_must_be_positive() -> None:
    text = GOOD.replace("bw_mbit: 20", "bw_mbit: 0")
    assert _err(text) == "topo.yaml: links[1].bw_mbit: must be > 0"


def test_several_problems_are_all_named() -> None:
    text = GOOD.replace("role: gpu", "role: cpu").replace("weight: 3", "weight: 0, colour: red")
    assert _err(text) == (
        "topo.yaml: hosts[1].role: must be one of 'model-store' or 'gpu'\n"
        "topo.yaml: links[1].weight: must be >= 1\n"
        "topo.yaml: links[1].colour: unknown field"
    )


def test_missing_field() -> None:
    assert _err(GOOD.replace("name: t\n", "")) == "topo.yaml: name: required field is missing"


def test_unknown_node_in_link() -> None:
    text = GOOD.replace("{a: s2, b: h2,", "{a: s3, b: h2,")
    assert _err(text) == "topo.yaml: links[2] (s3-h2): unknown node 's3'"


def test_port_used_twice() -> None:
    text = GOOD.replace("{a: h1, b: s1, bw_mbit: 100}", "{a: h1, b: s1, b_port: 5, bw_mbit: 100}")
    assert _err(text) == "topo.yaml: links[1] (s1-s2): port 5 of s1 used twice"


def test_bad_switch_name_pattern() -> None:
    text = GOOD.replace("{name: s1}", "{name: 1s}")
    assert _err(text) == "topo.yaml: switches[0].name: must match ^[a-zA-Z][a-zA-Z0-9_]{0,31}$"


def test_host_without_link() -> None:
    text = GOOD.replace("  - {a: s2, b: h2, bw_mbit: 100}\n", "")
    assert _err(text) == "topo.yaml: host 'h2' has 0 links; every host needs exactly one"


def test_broken_yaml_names_line_and_column() -> None:
    text = "name: t\nswitches: [{name: s1}\nhosts: []\n"
    assert _err(text) == "topo.yaml:3:1: invalid YAML: expected ',' or ']', but got '<scalar>'"


def test_top_level_must_be_a_mapping() -> None:
    assert _err("- a\n- b\n") == "topo.yaml: the top level must be a mapping, got list"
    assert _err("") == "topo.yaml: the top level must be a mapping, got an empty file"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as e:
        topologies.load(tmp_path / "nope.yaml")
    assert str(e.value) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"


def test_dump_round_trips() -> None:
    t = topologies.loads(GOOD)
    again = topologies.loads(topologies.dump(t))
    assert again == t
