"""The experiment description: valid files, errors that name file and field, receiver sets,
sweeps, and the bundled descriptions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.spec import (
    SpecError,
    check_against,
    expand_sweep,
    load_experiment,
    membership_changes,
    parse_experiment,
    resolve_receivers,
    source_host,
)
from experiments.topology_source import build_topology
from modelsync.sizes import parse_size

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "name": "t",
    "topology": {"generator": "multicloud", "params": {"clouds": 3, "wan_mbit": 10}},
    "technologies": ["unicast", "bier"],
    "model": {"size": "16MB", "shards": 4},
    "sending_rate_mbit": 20,
}


def with_(**kw):
    d = yaml.safe_load(yaml.safe_dump(BASE))
    d.update(kw)
    return d


def error_of(data, where="x.yaml") -> str:
    with pytest.raises(SpecError) as e:
        parse_experiment(data, where)
    return str(e.value)


def test_sizes() -> None:
    assert parse_size("16MB") == 16_000_000
    assert parse_size("140GB") == 140 * 10**9
    assert parse_size("1TB") == 10**12
    assert parse_size("64MiB") == 64 * 2**20
    assert parse_size(1234) == 1234
    for bad in ("16 parsecs", "-3MB", 0, True, "MB"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_defaults() -> None:
    e = parse_experiment(BASE)
    assert e.target == "auto" and e.repetitions == 1 and e.seed == 1
    assert e.rounds[0].receivers == "all"
    assert (e.control.bfd.interval_ms, e.control.bfd.multiplier) == (50, 3)
    assert e.control.bier_frr is True
    assert e.control.detection_ms("silent") == 150 and e.control.detection_ms("carrier") == 5
    assert e.model.size == 16_000_000 and e.model.shards == 4


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"technologies": ["unicast", "ipx"]}, "x.yaml: technologies[1]: Input should be"),
        ({"technologies": ["bier", "bier"]}, "x.yaml: technologies: technology listed twice"),
        ({"technologies": []}, "x.yaml: technologies: List should have at least 1 item"),
        ({"sending_rate_mbit": 0}, "x.yaml: sending_rate_mbit: 0 is not a rate: give Mbit/s"),
        ({"sending_rate_mbit": "fast"}, "x.yaml: sending_rate_mbit: 'fast' is not a rate"),
        ({"model": {"size": "lots"}}, "x.yaml: model.size: 'lots' is not a size"),
        ({"model": {"dir": "m", "size": "1MB"}}, "x.yaml: model: give either"),
        ({"target": "p4"}, "x.yaml: target: Input should be 'auto', 'softswitch' or 'bmv2'"),
        (
            {"rounds": [{"receivers": {"fraction": 1.5}}]},
            "x.yaml: rounds[0].receivers.fraction: Input should be less than or equal to 1",
        ),
        (
            {"failures": [{"link": "c1-c2", "at": -1}]},
            "x.yaml: failures[0].at: Input should be greater than or equal to 0",
        ),
        ({"failures": [{"link": "c1-c2", "at": 1, "round": 3}]}, "failures[0].round: 3 but"),
        ({"topology": {"file": "a.yaml", "generator": "x"}}, "topology: give exactly"),
        ({"sweep": {"parameter": "colour", "values": [1]}}, "x.yaml: sweep.parameter: Input"),
        ({"sweep": {"parameter": "receivers", "values": [0]}}, "values[0]: 0 is not a positive"),
        ({"bogus": 1}, "x.yaml: bogus: Extra inputs are not permitted"),
        (
            {"rounds": [{"receivers": {"colour": 1}}]},
            "x.yaml: rounds[0].receivers: a receiver set is 'all' or a mapping with one of",
        ),
        ({"failures": [{"flap": "c1-c2", "at": 1}]}, "x.yaml: failures[0].down: Field required"),
        ({"failures": [3]}, "x.yaml: failures[0]: a failure is a mapping with one of link"),
    ],
)
def test_errors_name_file_and_field(change, expected) -> None:
    assert expected in error_of(with_(**change))


def test_one_line_per_problem() -> None:
    # a union reports the member the entry means, not every alternative
    msg = error_of(with_(rounds=[{"receivers": {"fraction": 1.5}}]))
    assert msg == "x.yaml: rounds[0].receivers.fraction: Input should be less than or equal to 1"


def test_not_a_mapping_and_bad_yaml(tmp_path) -> None:
    assert "a mapping" in error_of([1, 2])
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: not valid YAML"):
        load_experiment(p)
    with pytest.raises(SpecError, match="cannot read"):
        load_experiment(tmp_path / "missing.yaml")


def test_pim_sm_is_accepted() -> None:
    assert parse_experiment(with_(technologies=["pim-sm"])).technologies == ["pim-sm"]


def test_receiver_sets_against_the_topology() -> None:
    rounds = [
        {"receivers": "all"},
        {"receivers": {"clouds": ["cloud2"]}},
        {"receivers": {"hosts": ["g3_2_2", "g1_1_1"]}},
        {"receivers": {"fraction": 0.5, "seed": 7}},
        {"receivers": {"count": 3}},
    ]
    e = parse_experiment(with_(rounds=rounds))
    topo = build_topology(e)
    assert source_host(e, topo) == "store"
    got = [resolve_receivers(e, topo, k) for k in range(5)]
    assert len(got[0]) == 12
    assert got[1] == ["g2_1_1", "g2_1_2", "g2_2_1", "g2_2_2"]
    assert got[2] == ["g1_1_1", "g3_2_2"]  # topology order
    assert len(got[3]) == 6 and got[3] == resolve_receivers(e, topo, 3)  # seeded
    assert len(got[4]) == 3
    assert set(got[3]) <= set(got[0])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"rounds": [{"receivers": {"clouds": ["cloud9"]}}]}, "rounds[0].receivers.clouds[0]"),
        ({"rounds": [{"receivers": {"hosts": ["store"]}}]}, "is not a GPU host"),
        ({"rounds": [{"receivers": {"count": 99}}]}, "rounds[0].receivers.count: 99 but only"),
        ({"failures": [{"link": "c1-b3", "at": 1}]}, "failures[0].link: no link 'c1-b3'"),
        ({"failures": [{"switch": "zz", "at": 1}]}, "failures[0].switch: no switch 'zz'"),
        ({"source": "nobody"}, "source: no host 'nobody'"),
    ],
)
def test_names_checked_against_topology(change, expected) -> None:
    e = parse_experiment(with_(**change))
    with pytest.raises(SpecError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        check_against(e, build_topology(e))


def test_joins_and_leaves_in_time_order() -> None:
    rounds = [
        {
            "receivers": {"hosts": ["g1_1_1", "g2_1_1"]},
            "changes": [
                {"leave": "g1_1_1", "at": 2.0},
                {"join": "g3_1_1", "at": 0.5},
                {"leave": "g3_1_1", "at": 3.0},
            ],
        }
    ]
    e = parse_experiment(with_(rounds=rounds))
    topo = build_topology(e)
    assert membership_changes(e, topo, 0) == [
        (0.5, "join", "g3_1_1"),
        (2.0, "leave", "g1_1_1"),
        (3.0, "leave", "g3_1_1"),
    ]
    check_against(e, topo)
    assert membership_changes(parse_experiment(with_()), topo, 0) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([{"join": "g1_1_1", "at": 1}], "rounds[0].changes[0].join: g1_1_1 receives already at 1"),
        ([{"join": "store", "at": 1}], "rounds[0].changes[0].join: 'store' is not a GPU host"),
        ([{"leave": "g3_1_1", "at": 1}], "changes[0].leave: 'g3_1_1' does not receive at 1"),
        (
            [{"leave": "g1_1_1", "at": 2}, {"leave": "g1_1_1", "at": 1}],
            "rounds[0].changes[0].leave: 'g1_1_1' does not receive at 2",
        ),
        (
            [{"leave": "g1_1_1", "at": 1}, {"join": "g1_1_1", "at": 2}],
            "rounds[0].changes[1].join: g1_1_1 left earlier in the round",
        ),
    ],
)
def test_a_change_that_cannot_happen_is_named(changes, expected) -> None:
    rounds = [{"receivers": {"hosts": ["g1_1_1"]}, "changes": changes}]
    e = parse_experiment(with_(rounds=rounds))
    with pytest.raises(SpecError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        check_against(e, build_topology(e))
    assert "a change of receivers is a mapping with one of join, leave" in error_of(
        with_(rounds=[{"changes": [{"joins": "g1_1_1"}]}])
    )


def test_topology_errors() -> None:
    e = parse_experiment(with_(topology={"generator": "ring"}))
    with pytest.raises(SpecError, match=r"topology\.generator: unknown generator 'ring'"):
        build_topology(e)
    e = parse_experiment(with_(topology={"generator": "multicloud", "params": {"colour": 1}}))
    with pytest.raises(SpecError, match=r"topology.params: unknown parameters \['colour'\]"):
        build_topology(e)
    e = parse_experiment(with_(topology={"file": "/nonexistent/t.yaml"}))
    with pytest.raises(SpecError, match=r"topology\.file: /nonexistent/t\.yaml"):
        build_topology(e)


def test_topology_file_and_fixed_generator() -> None:
    e = parse_experiment(with_(topology={"file": "topologies/fixed/diamond.yaml"}))
    assert build_topology(e, ROOT).name == "diamond"
    e = parse_experiment(with_(topology={"generator": "fixed", "params": {"name": "tree"}}))
    assert build_topology(e).name == "tree"
    assert build_topology(e).path_mtu() == 9000  # jumbo frames unless told otherwise
    e = parse_experiment(
        with_(topology={"generator": "fixed", "params": {"name": "tree", "mtu": 1500}})
    )
    assert build_topology(e).path_mtu() == 1500
    e = parse_experiment(with_(topology={"generator": "multicloud", "params": {"mtu": 100}}))
    with pytest.raises(SpecError, match=r"params: generator multicloud: mtu: must be >= 1280"):
        build_topology(e)


def test_sweeps_expand() -> None:
    e = parse_experiment(with_(sweep={"parameter": "model_size", "values": ["1MB", "1GB"]}))
    assert [(v, x.model.size) for v, x in expand_sweep(e)] == [
        (10**6, 10**6),
        (10**9, 10**9),
    ]
    e = parse_experiment(with_(sweep={"parameter": "clouds", "values": [2, 4]}))
    assert [len(build_topology(x).gpu_hosts()) for _, x in expand_sweep(e)] == [8, 16]
    e = parse_experiment(with_(sweep={"parameter": "receivers", "values": [2, 0.5]}))
    sizes = [len(resolve_receivers(x, build_topology(x), 0)) for _, x in expand_sweep(e)]
    assert sizes == [2, 6]
    assert "needs a topology generator" in error_of(
        with_(topology={"file": "t.yaml"}, sweep={"parameter": "clouds", "values": [2]})
    )


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "experiments").glob("*.yaml")) + sorted(ROOT.glob("experiments/scenarios/*")),
    ids=lambda p: p.name,
)
def test_bundled_descriptions_are_valid(path: Path) -> None:
    e = load_experiment(path)
    for _, x in expand_sweep(e):
        check_against(x, build_topology(x, path.parent))


def test_default_description_shape() -> None:
    e = load_experiment(ROOT / "experiments" / "default.yaml")
    topo = build_topology(e)
    assert len(topo.gpu_hosts()) == 12 and e.model.size == 8_000_000 and e.model.shards == 4
    assert e.technologies == ["unicast", "bier", "sr-p2mp", "pim-sm"]
    wan = [lk.bw_mbit for lk in topo.links if lk.b.startswith("b")]
    inside = [lk.bw_mbit for lk in topo.links if lk.a.startswith("b")]
    assert max(wan) < min(inside) <= 100  # WAN slower than in-cloud; tens of Mbit/s
