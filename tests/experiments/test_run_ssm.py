"""PIM-SSM beside PIM-SM on the same FRR network through the runner (`data/e2e-ssm.yaml`: the
diamond, 1 MB to h2, h3 and h4): every receiver verified (the test's own sha256) in both;
PIM-SSM's state is (S,G) only, for the SSM group and the store's address, on the tree's
routers only (PIM-SM's also holds (*,G) for its group); each tree link carries one copy of the
model and the links off the tree next to nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.flowmodel import build_net, shortest_paths
from experiments.pim_sm import pim_available
from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from modelsync.manifest import load_manifest, sha256_file
from pimsm.addressing import plan
from tests.experiments.test_run_e2e import ETH, IPV4, MSYNC, UDP

EXP = Path(__file__).parent / "data" / "e2e-ssm.yaml"
GPU = ["h2", "h3", "h4"]
GROUPS = {"pim-sm": "239.1.0.1", "pim-ssm": "232.1.0.1"}

pytestmark = [pytest.mark.root, pytest.mark.mininet, pytest.mark.frr, pytest.mark.slow]


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[Path, Path]]:
    why = pim_available()
    if why is not None:
        pytest.skip(why)
    tmp = Path(tempfile.mkdtemp(prefix="exi-e2e-ssm-"))
    try:
        out = run_experiment(
            load_experiment(EXP), tmp / "results", EXP.parent, say=lambda _m: None,
            progress=False, keep_received=tmp / "received",
        )  # fmt: skip
        yield out, tmp / "received"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _state(out: Path, tech: str) -> list[dict]:
    return json.loads((out / "records" / f"{tech}-0-0" / "state.json").read_text())


def test_every_receiver_verified_in_both(measured: tuple[Path, Path]) -> None:
    out, received = measured
    rec = read_results(out)["receivers"]
    for tech in GROUPS:
        assert sorted(rec[rec["technology"] == tech]["receiver"]) == GPU
    assert rec["verified"].all(), rec[~rec["verified"]]
    manifest = load_manifest(out / "model" / "modelsync.manifest.json")
    for tech in GROUPS:
        for h in GPU:
            for f in manifest.files:
                assert sha256_file(received / f"{tech}-0-0" / h / f.name) == f.sha256, (tech, h)


def test_ssm_state_is_source_specific_only(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    store = str(plan(read_results(out).topology()).hosts["h1"].address.ip)
    # pim-sm's entries of 239.1.0.1 linger from the round before, until their hold time
    ssm = [m for r in _state(out, "pim-ssm") for m in r["mroutes"] if m["group"].startswith("232.")]
    assert ssm and all(m["source"] == store and m["group"] == "232.1.0.1" for m in ssm), ssm
    # only routers of the tree hold it (the snapshot is taken 0.3 s after the first datagram:
    # on a loaded machine the last hops may not have installed theirs yet; that they forward
    # is what test_one_copy_per_tree_link measures)
    topo = read_results(out).topology()
    net = build_net(topo)
    tree = {n for p in shortest_paths(net, "h1", GPU, rpf=True).values() for i in p
            for n in net.edges[i] if topo.is_switch(n)}  # fmt: skip
    assert {m["router"] for m in ssm} <= tree, (ssm, tree)
    sm = [m for r in _state(out, "pim-sm") for m in r["mroutes"]]
    assert any(m["source"] == "*" and m["group"] == "239.1.0.1" for m in sm), sm
    sw = read_results(out)["switches"]
    starg = sw[sw["table"] == "mroute_starg"].groupby("technology")["entries"].sum()
    assert starg["pim-ssm"] == 0 and starg["pim-sm"] > 0


def test_one_copy_per_tree_link(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    topo = read_results(out).topology()
    net = build_net(topo)
    paths = shortest_paths(net, "h1", GPU, rpf=True)
    tree = {net.edges[i] for p in paths.values() for i in p}
    links = read_results(out)["links"]
    for tech in GROUPS:
        sender = json.loads((out / "records" / f"{tech}-0-0" / "sender.json").read_text())
        copy = sender["total_size"] + sender["chunks"] * (ETH + IPV4 + UDP + MSYNC)
        got = {
            (r.src, r.dst): int(r.bytes) for r in links[links["technology"] == tech].itertuples()
        }
        for d in tree:
            # one copy; repairs of datagrams lost on a loaded machine come on top, by unicast
            assert 0.97 * copy <= got[d] <= 1.3 * copy, (tech, d, got[d], copy)
        for d, b in got.items():
            if d not in tree:  # hellos, BFD, IGMP, reports: not the model
                assert b < 0.05 * copy, (tech, d, b, copy)
