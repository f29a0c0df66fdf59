"""Several models at once through `python -m experiments run` (`data/e2e-models.yaml`: the
diamond; a round of one model to every GPU host, then a round of two models at once over
shared links, h4 receiving both), with every technology: unicast, BIER, SR-P2MP over MPLS
and SRv6 on softswitch, PIM-SM on FRR (skipped with the reason where FRR cannot run). Every
receiver verified for its model (the test's own sha256); per link and model the bytes the
model's structure predicts (its frames, counted from the frames themselves) within 5 %, the
other model's links crossed by control datagrams only; the state that grows with a second
tree (SR-P2MP: a second set of segments; PIM-SM: a second (S,G) and (*,G)) and that does not
(BIER's BIFT)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.flowmodel import build_net, shortest_paths
from experiments.ideal import uses_rpf
from experiments.pim_sm import pim_available
from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from modelsync.manifest import load_manifest, sha256_file
from tests.experiments.test_run_e2e import ENCAP, ETH, IPV4, MSYNC, UDP

EXP = Path(__file__).parent / "data" / "e2e-models.yaml"
P4 = ("unicast", "bier", "sr-p2mp", "srv6-p2mp")
SETS = {"model": ["h2", "h4"], "second": ["h3", "h4"]}

pytestmark = [
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.skipif(
        importlib.util.find_spec("softswitch.__main__") is None, reason="softswitch has no CLI"
    ),
]


def _techs() -> list[str]:
    return [*P4, "pim-sm"] if pim_available() is None else list(P4)


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[Path, Path]]:
    tmp = Path(tempfile.mkdtemp(prefix="exi-e2e-models-"))
    try:
        out = run_experiment(
            load_experiment(EXP), tmp / "results", EXP.parent, say=lambda _m: None,
            progress=False, keep_received=tmp / "received",
        )  # fmt: skip
        yield out, tmp / "received"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_every_receiver_verified_for_its_model(measured: tuple[Path, Path]) -> None:
    out, received = measured
    rec = read_results(out)["receivers"]
    two = rec[rec["round"] == 1]
    got = {(t, m): sorted(g["receiver"]) for (t, m), g in two.groupby(["technology", "model"])}
    assert got == {(t, m): hosts for t in _techs() for m, hosts in SETS.items()}
    assert rec["verified"].all(), rec[~rec["verified"]]
    for m, hosts in SETS.items():
        folder = out / ("model" if m == "model" else f"model-{m}")
        manifest = load_manifest(folder / "modelsync.manifest.json")
        for t in _techs():
            for h in hosts:
                for f in manifest.files:
                    path = received / f"{t}-0-1" / m / h / f.name
                    assert sha256_file(path) == f.sha256, (t, m, h)


def _expected(out: Path, tech: str, model: str) -> dict[tuple[str, str], float]:
    topo = read_results(out).topology()
    sender = json.loads((out / "records" / f"{tech}-0-1" / model / "sender.json").read_text())
    net = build_net(topo)
    paths = shortest_paths(net, "h1", SETS[model], rpf=uses_rpf(tech))
    copies: Counter[tuple[str, str]] = Counter(net.edges[i] for p in paths.values() for i in p)
    exp = {}
    for (u, v), n in copies.items():
        n = n if tech == "unicast" else 1
        encap = ENCAP.get(tech, 0) if topo.is_switch(v) else 0
        exp[(u, v)] = n * (
            sender["total_size"] + sender["chunks"] * (ETH + IPV4 + UDP + MSYNC + encap)
        )
    return exp


@pytest.mark.parametrize("tech", [*P4, "pim-sm"])
def test_bytes_per_link_and_model(measured: tuple[Path, Path], tech: str) -> None:
    if tech not in _techs():
        pytest.skip(f"pim-sm did not run: {pim_available()}")
    out, _ = measured
    ml = read_results(out)["model_links"]
    ml = ml[(ml["technology"] == tech) & (ml["round"] == 1)]
    for model in SETS:
        got = {(r.src, r.dst): int(r.bytes) for r in ml[ml["model"] == model].itertuples()}
        exp = _expected(out, tech, model)
        for d, want in exp.items():
            assert got.get(d, 0) == pytest.approx(want, rel=0.05), (model, d, got.get(d), want)
        for d, b in got.items():  # off its structure: its POLLs and FINs at most
            if d not in exp:
                assert b < 0.01 * min(exp.values()), (model, d, b)
    assert set(ml["model"]) <= {"model", "second", ""}


def test_state_with_two_trees_at_once(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    res = read_results(out)
    sw = res["switches"]
    total = sw.groupby(["technology", "round"])["entries"].sum()
    assert total[("bier", 1)] == total[("bier", 0)]  # the BIFT: no per-tree state
    for t in ("sr-p2mp", "srv6-p2mp"):
        seg = "MyIngress.rep_sid" if t == "sr-p2mp" else "MyIngress.srv6_sid"
        sids = sw[(sw["technology"] == t) & (sw["table"] == seg)].groupby("round")["entries"].sum()
        assert sids[0] == 3 and sids[1] == 6  # a segment at s1, s2, s4 per tree
    if "pim-sm" in _techs():
        sg = sw[(sw["technology"] == "pim-sm") & (sw["table"] == "mroute_sg")]
        by_round = sg.groupby("round")["entries"].sum()
        assert by_round[1] > by_round[0]  # a second group: a second (S,G) on the tree
    c = res["control"]
    new = c[(c["action"] == "new-set") & (c["round"] == 1)]
    for t in ("sr-p2mp", "srv6-p2mp"):
        per = new[new["technology"] == t].set_index("switch")["writes"]
        assert set(per.index) == {"model", "second"} and (per > 0).all()
    assert (new[new["technology"] == "bier"]["writes"] == 0).all()


def test_the_smaller_model_completes_first(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    rec = read_results(out)["receivers"]
    two = rec[(rec["round"] == 1) & rec["technology"].isin(["bier", "sr-p2mp", "srv6-p2mp"])]
    done = two.groupby(["technology", "model"])["completed_s"].max()
    for t in ("bier", "sr-p2mp", "srv6-p2mp"):
        assert done[(t, "second")] < done[(t, "model")]  # 1 MB against 2 MB at one rate each


def test_the_figure_of_bytes_per_model(measured: tuple[Path, Path]) -> None:
    """Per technology a stacked bar per model, as high as the model's bytes on every link."""
    from experiments import report

    out, _ = measured
    res = read_results(out)
    fig = report.model_bytes(res)
    assert fig is not None
    ml = res["model_links"]
    want = ml[ml["model"] != ""].groupby(["technology", "model"])["bytes"].sum() / 1e6
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches if p.get_height())
    assert heights == sorted(round(v, 6) for v in want)
    report.plt.close(fig)
