"""SR-P2MP over SRv6 through `python -m experiments run` in Mininet with softswitch, beside
SR-P2MP over MPLS (`data/e2e-srv6.yaml`). Every receiver of both rounds verified (the test
hashes every file itself); the bytes on the links agree with the tree (the model once per
tree link, with SRv6's 40-byte IPv6 header up to the last hop) within 5 %; the transit node
s2 holds no state of the SRv6 tree (read back from the switch) where over MPLS it holds a
replication segment; a cable pull on the tree is detected by the network and the receivers
behind it lose data for a while and get it back by repair."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from modelsync.manifest import load_manifest, sha256_file
from tests.experiments.test_run_e2e import _expected_bytes

EXP = Path(__file__).parent / "data" / "e2e-srv6.yaml"
TECHS = ("sr-p2mp", "srv6-p2mp")
RECEIVERS = {0: ["h2", "h3"], 1: ["h2", "h3", "h4"]}

pytestmark = [
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.skipif(
        importlib.util.find_spec("softswitch.__main__") is None, reason="softswitch has no CLI"
    ),
]


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[Path, Path]]:
    tmp = Path(tempfile.mkdtemp(prefix="exi-e2e-srv6-"))
    try:
        exp = load_experiment(EXP)
        out = run_experiment(
            exp, tmp / "results", EXP.parent, say=lambda _m: None, progress=False,
            keep_received=tmp / "received",
        )  # fmt: skip
        yield out, tmp / "received"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_every_receiver_of_every_round_verified(measured: tuple[Path, Path]) -> None:
    out, received = measured
    res = read_results(out)
    rec = res["receivers"]
    got = {(t, k): sorted(g["receiver"]) for (t, k), g in rec.groupby(["technology", "round"])}
    assert got == {(t, k): r for t in TECHS for k, r in RECEIVERS.items()}
    assert rec["verified"].all(), rec[~rec["verified"]]
    manifest = load_manifest(out / "model" / "modelsync.manifest.json")
    for t in TECHS:
        for k, hosts in RECEIVERS.items():
            for h in hosts:
                for f in manifest.files:
                    assert sha256_file(received / f"{t}-0-{k}" / h / f.name) == f.sha256
    assert res["rounds"]["switches_kept_up"].all()


@pytest.mark.parametrize("tech", TECHS)
def test_bytes_agree_with_the_tree(measured: tuple[Path, Path], tech: str) -> None:
    out, _ = measured
    links = read_results(out)["links"]
    clean = links[(links["technology"] == tech) & (links["round"] == 0)]
    got = {(r.src, r.dst): int(r.bytes) for r in clean.itertuples()}
    exp = _expected_bytes(out, tech, RECEIVERS[0])
    assert set(exp) == {("h1", "s1"), ("s1", "s2"), ("s2", "s4"), ("s4", "h2"), ("s4", "h3")}
    model = json.loads((out / "records" / f"{tech}-0-0" / "sender.json").read_text())["total_size"]
    for d, want in exp.items():
        assert got[d] == pytest.approx(want, rel=0.05), (d, got[d], want)
    for d, b in got.items():  # off the tree: control datagrams only
        if d not in exp:
            assert b < 0.01 * model, (d, b)


def test_the_transit_node_holds_no_state_of_the_srv6_tree(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    sw = read_results(out)["switches"]
    sw = sw[sw["round"] == 0]

    def entries(tech: str, switch: str, table: str) -> int:
        rows = sw[(sw["technology"] == tech) & (sw["switch"] == switch) & (sw["table"] == table)]
        return int(rows["entries"].sum())

    for s in ("s1", "s4"):  # root and leaf: a segment each in both
        assert entries("sr-p2mp", s, "MyIngress.rep_sid") == 1
        assert entries("srv6-p2mp", s, "MyIngress.srv6_sid") == 1
    assert entries("sr-p2mp", "s2", "MyIngress.rep_sid") == 1
    assert entries("sr-p2mp", "s2", "MyEgress.sr_branch") == 1
    assert entries("srv6-p2mp", "s2", "MyIngress.srv6_sid") == 0
    assert entries("srv6-p2mp", "s2", "MyEgress.srv6_branch") == 0
    assert entries("srv6-p2mp", "s2", "replication_groups") == 0
    assert entries("srv6-p2mp", "s2", "MyIngress.srv6_locator") == 3  # s1, s3, s4
    new = read_results(out)["control"]
    new = new[new["action"] == "new-set"].set_index(["technology", "round"])["writes"]
    # three segments over MPLS, two over SRv6: fewer writes for the same tree
    assert 0 < new[("srv6-p2mp", 0)] < new[("sr-p2mp", 0)]


@pytest.mark.parametrize("tech", TECHS)
def test_a_cable_pull_on_the_tree(measured: tuple[Path, Path], tech: str) -> None:
    out, _ = measured
    f = read_results(out)["failures"]
    f = f[(f["technology"] == tech) & (f["round"] == 1)]
    cut = f[(f["kind"] == "link-down") & (f["receiver"] == "")]
    assert list(cut["element"]) == ["s2-s4"]
    events = json.loads((out / "records" / f"{tech}-0-1" / "events.json").read_text())
    (down,) = [e for e in events if e["kind"] == "link-down"]
    lk = read_results(out).topology().link_between("s2", "s4")
    ends = [f"{n} port {p} (carrier)" for n, p in ((lk.a, lk.a_port), (lk.b, lk.b_port))]
    assert down["detected_by"] in ends, down  # a switch at the link saw it, nobody told it
    hit = f[(f["kind"] == "link-down") & (f["receiver"] != "")]
    behind = hit[hit["receiver"].isin(["h2", "h3"])]
    assert sorted(behind["receiver"]) == ["h2", "h3"]
    assert ((behind["outage_s"] > 0.0) & (behind["outage_s"] < 2.0)).all(), behind
    assert (behind["packets_lost"] > 0).all()
    rec = read_results(out)["receivers"]
    rec = rec[(rec["technology"] == tech) & (rec["round"] == 1)].set_index("receiver")
    assert rec.loc["h4", "chunks_repaired"] == 0
    assert (rec.loc[["h2", "h3"], "chunks_repaired"] > 0).all()
