"""PIM-SM through the runner: the model delivered by modelsync over IP multicast on pimsm's FRR
network (experiments.pim_sm), every receiver verified, state per router, the outage of the
receivers behind the cut link, and the summary of the folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from experiments.pim_sm import pim_available
from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from experiments.summary import print_results_summary

EXP = Path(__file__).parent / "data" / "e2e-pim.yaml"


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.frr
@pytest.mark.slow
def test_pim_rounds_through_the_runner(tmp_path: Path) -> None:
    why = pim_available()
    if why is not None:
        pytest.skip(why)
    out = run_experiment(
        load_experiment(EXP), tmp_path / "results", EXP.parent, say=lambda _m: None,
        progress=False,
    )  # fmt: skip
    res = read_results(out)
    rec = res["receivers"]
    assert sorted(rec["receiver"]) == ["h2", "h3", "h4"] and rec["verified"].all()
    assert list(res["rounds"]["technology"]) == ["pim-sm"]
    sw = res["switches"]
    assert {"s1", "s2", "s4"} <= set(sw["switch"])
    assert sw[sw["table"] == "mroute_sg"]["entries"].sum() > 0
    f = res["failures"]
    hit = f[(f["receiver"] != "") & (f["kind"] == "link-down")]
    assert sorted(hit["receiver"]) == ["h2", "h3"]  # behind s2-s4
    assert (hit["outage_s"] > 0).all()
    assert res["links"]["bytes"].sum() > 3 * 400_000
    assert "pim_sm" in res.environment
    text = io.StringIO()
    agg = print_results_summary(str(out), text)
    assert list(agg["technology"]) == ["pim-sm"] and agg["unverified"].iloc[0] == 0
    assert "pim-sm" in text.getvalue()
