"""Generators: counts, bandwidths, port numbering, determinism, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import topologies
from topologies import generators as gen
from topologies.generators import CloudSpec

ROOT = Path(__file__).resolve().parents[2]


def test_multicloud_defaults_counts_and_bandwidths() -> None:
    t = topologies.from_dict(gen.multicloud())
    assert t.name == "multicloud-3x2x2"
    # store site ms + 3 core + 3 x (border + 2 leaves)
    assert len(t.switches) == 1 + 3 + 3 * 3
    assert len(t.gpu_hosts()) == 12 and [h.name for h in t.model_stores()] == ["store"]
    assert Counter(h.cloud for h in t.gpu_hosts()) == {"cloud1": 4, "cloud2": 4, "cloud3": 4}
    for i in (1, 2, 3):
        assert t.link_between(f"c{i}", f"b{i}").bw_mbit == 20  # the cloud's inbound WAN link
        assert t.link_between(f"b{i}", f"l{i}_1").bw_mbit == 100
        assert t.link_between(f"g{i}_2_2", f"l{i}_2").bw_mbit == 100
    assert {lk.bw_mbit for lk in t.switch_links() if lk.a.startswith("c") and lk.b[0] == "c"} == {
        100
    }
    # core ring c1-c2-c3-c1; the store site dual-homed to c1 and c2
    assert sorted(t.neighbours("ms").values()) == [("c1", 3), ("c2", 3), ("store", 0)]
    # ports in link order: b1 has c1 on 1, leaves on 2 and 3; a leaf has b1 on 1, hosts 2, 3
    assert t.neighbours("b1") == {1: ("c1", 4), 2: ("l1_1", 1), 3: ("l1_2", 1)}
    assert t.neighbours("l1_2") == {1: ("b1", 3), 2: ("g1_2_1", 0), 3: ("g1_2_2", 0)}
    # device ids in file order, hosts numbered in file order
    assert [s.device_id for s in t.switches] == list(range(1, 14))
    assert str(t.host("g1_1_1").ip) == "10.0.0.2"


def test_multicloud_100_hosts_and_per_cloud_wan() -> None:
    spec = CloudSpec(leaves=4, hosts=5, wan_mbit=[10, 20, 30, 40, 50], cloud_mbit=200)
    t = topologies.from_dict(gen.multicloud(5, spec, core_mbit=400))
    assert len(t.gpu_hosts()) == 100 and len(t.switches) == 1 + 5 + 5 * 5
    assert [t.link_between(f"c{i}", f"b{i}").bw_mbit for i in range(1, 6)] == [10, 20, 30, 40, 50]
    assert t.link_between("c5", "c1").bw_mbit == 400
    assert str(t.hosts[-1].ip) == "10.0.0.101"
    longest = max(len(f"{s}-eth{p}") for s in (x.name for x in t.switches) for p in t.neighbours(s))
    assert longest <= 15  # fits Linux interface names


def test_multicloud_is_deterministic() -> None:
    assert gen.multicloud(4) == gen.multicloud(4)
    assert topologies.dump(gen.multicloud(4)) == topologies.dump(gen.multicloud(4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"spec": CloudSpec(wan_mbit=[100])},
            "cloud 1: the inbound WAN bandwidth (100 Mbit/s) must be lower than the bandwidth "
            "inside the cloud (100 Mbit/s)",
        ),
        (
            {"spec": CloudSpec(wan_mbit=[10, 20])},
            "--wan-mbit: 2 values given for 3 clouds (give one value, or one per cloud)",
        ),
        ({"clouds": 0}, "--clouds: need at least 1 cloud"),
    ],
)
def test_multicloud_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as e:
        gen.multicloud(**kwargs)
    assert str(e.value) == message


def test_bundled_zoo_graphs() -> None:
    assert gen.zoo_names() == ["Abilene", "Geant2001", "Nsfnet"]
    sizes = {
        n: (gen.read_zoo(n).number_of_nodes(), gen.read_zoo(n).number_of_edges())
        for n in gen.zoo_names()
    }
    assert sizes == {"Abilene": (11, 14), "Geant2001": (27, 38), "Nsfnet": (13, 15)}


def test_zoo_with_clouds() -> None:
    d = gen.zoo("abilene", ["3", "Atlanta"], store_at="New York", spec=CloudSpec(leaves=1))
    t = topologies.from_dict(d)
    zs = [s for s in t.switches if s.name.startswith("z")]
    assert len(zs) == 11
    assert len([lk for lk in t.switch_links() if lk.a[0] == "z" and lk.b[0] == "z"]) == 14
    assert t.link_between("z3", "b1").bw_mbit == 20  # Seattle carries cloud 1
    assert t.link_between("z9", "b2").bw_mbit == 20  # Atlanta carries cloud 2
    assert t.link_between("ms", "z0").bw_mbit == 100  # the store at New York
    assert len(t.gpu_hosts()) == 4
    assert "Seattle, Atlanta" in t.description and "CC BY-SA 3.0" in t.description


def test_zoo_distance_weights() -> None:
    t = topologies.from_dict(gen.zoo("Abilene", ["3"], weights="distance"))
    # New York (0) - Chicago (1): about 1146 km -> 12 started 100 km
    assert t.link_between("z0", "z1").weight == 12
    assert t.link_between("z0", "z2").weight == 4  # New York - Washington DC, about 329 km


def test_zoo_errors() -> None:
    with pytest.raises(ValueError, match=r"^no bundled graph 'Mars'; bundled: Abilene, "):
        gen.zoo("Mars", ["1"])
    with pytest.raises(ValueError, match=r"^no node 'Paris' in the graph; nodes: 0=New York, "):
        gen.zoo("Abilene", ["Paris"])
    with pytest.raises(ValueError, match=r"^--clouds-at: a node is named twice$"):
        gen.zoo("Abilene", ["9", "Atlanta"])


@pytest.mark.parametrize("name", gen.FIXED)
def test_fixed_files_match_generator(name: str) -> None:
    path = Path(topologies.__file__).parent / "fixed" / f"{name}.yaml"
    assert path.read_text() == topologies.dump(gen.fixed(name))


def test_diamond_has_primary_and_backup_paths() -> None:
    t = topologies.from_dict(gen.fixed("diamond"))
    assert t.link_between("s1", "s2").weight == 1 and t.link_between("s2", "s4").weight == 1
    assert t.link_between("s1", "s3").weight == 5 and t.link_between("s3", "s4").weight == 5


def test_cli_writes_file_and_reports_errors(tmp_path: Path) -> None:
    out = tmp_path / "m.yaml"
    cmd = [sys.executable, "-m", "topologies", "multicloud", "--clouds", "2", "--leaves", "1"]
    r = subprocess.run([*cmd, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    t = topologies.load(out)
    assert t.name == "multicloud-2x1x2" and len(t.gpu_hosts()) == 4
    r = subprocess.run([*cmd, "--wan-mbit", "500"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == (
        "error: cloud 1: the inbound WAN bandwidth (500 Mbit/s) must be lower than the "
        "bandwidth inside the cloud (100 Mbit/s)\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "topologies", "check", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.stdout == f"{out}: multicloud-2x1x2: 7 switches, 5 hosts (4 GPU), 12 links\n"
