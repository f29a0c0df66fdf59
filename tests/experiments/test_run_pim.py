"""PIM-SM rounds through the runner (pimsm's FRR network and probe stream): state per router,
tree builds, the outage of the receivers behind the cut link; no model delivery rows."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from experiments.pim import round_failure
from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from experiments.summary import print_results_summary
from experiments.topology_source import build_topology

EXP = Path(__file__).parent / "data" / "e2e-pim.yaml"


def test_round_failure_is_the_rounds_first_link_cut() -> None:
    exp = load_experiment(EXP)
    topo = build_topology(exp, EXP.parent)
    assert round_failure(exp, topo, 0) == ("s2", "s4")
    d = exp.model_dump()
    d["rounds"] = [{"receivers": "all"}, {"receivers": "all"}]
    d["failures"] = [{"link": "s2-s4", "at": 1.0, "round": 1}]
    other = type(exp).model_validate(d)
    assert round_failure(other, topo, 0) is None
    assert round_failure(other, topo, 1) == ("s2", "s4")


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.frr
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("/usr/lib/frr/pimd") is None, reason="FRR pimd not installed")
def test_pim_round_through_the_runner(tmp_path: Path) -> None:
    out = run_experiment(
        load_experiment(EXP), tmp_path / "results", EXP.parent, say=lambda _m: None,
        progress=False,
    )  # fmt: skip
    res = read_results(out)
    assert res["receivers"].empty  # no model delivery over PIM-SM here
    rnd = res["rounds"]
    assert list(rnd["technology"]) == ["pim-sm"] and "probe" in rnd["note"].iloc[0]
    sw = res["switches"]
    assert {"s1", "s2", "s3", "s4"} <= set(sw["switch"])
    assert sw[sw["table"] == "mroute_sg"]["entries"].sum() > 0
    f = res["failures"]
    hit = f[f["receiver"] != ""]
    assert sorted(hit["receiver"]) == ["h2", "h3"]
    assert (hit["outage_s"] > 0).all()
    c = res["control"]
    assert sorted(c[c["action"] == "new-set"]["switch"]) == ["h2", "h3", "h4"]
    text = io.StringIO()
    agg = print_results_summary(str(out), text)  # a folder without deliveries summarises
    assert list(agg["technology"]) == ["pim-sm"] and agg["max_outage_s"].iloc[0] > 0
    assert "pim-sm" in text.getvalue()
