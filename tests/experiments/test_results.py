"""Results folder: layout, schemas, round trips; the summary and the validation hook on it.

The folders here hold the flow model's output (environment kind 'projection'), written
through the same writers the runner uses."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments.projection import project, write_projection
from experiments.results import (
    SCHEMAS,
    TABLES,
    ResultsError,
    new_run_dir,
    normalize,
    read_results,
    rows,
    write_table,
)
from experiments.spec import load_experiment, parse_experiment
from experiments.summary import aggregate, print_summary
from experiments.validation import agreement_text, compare, predict_beside

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default_projection():
    return project(load_experiment(ROOT / "experiments" / "default.yaml"), base=ROOT)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip(tmp_path, default_projection, fmt) -> None:
    folder = write_projection(default_projection, tmp_path, fmt=fmt)
    assert re.fullmatch(r"\d{8}-\d{6}-default", folder.name)
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        ["description.yaml", "environment.json", "topology.yaml"] + [f"{t}.{fmt}" for t in TABLES]
    )
    env = json.loads((folder / "environment.json").read_text())
    assert env["kind"] == "projection" and env["versions"]["pandas"] == pd.__version__
    res = read_results(folder)
    assert res.kind == "projection"
    assert res.experiment == default_projection.experiment
    for t in TABLES:
        want = default_projection.tables[t].copy()
        if fmt == "csv":  # CSV has no NA for text: empty text reads back as ""
            for c, d in SCHEMAS[t].items():
                if d == "string":
                    want[c] = want[c].fillna("")
        got = res[t]
        assert list(got.columns) == list(SCHEMAS[t])
        assert [str(d) for d in got.dtypes] == [str(want[c].dtype) for c in got.columns], t
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    topo = res.topology()
    assert topo == default_projection.topologies[None]


def test_schema_errors() -> None:
    with pytest.raises(ResultsError, match=r"table 'links': missing columns \['bytes'"):
        normalize("links", pd.DataFrame({c: [] for c in SCHEMAS["links"] if c != "bytes"}))
    with pytest.raises(ResultsError, match=r"unknown columns \['colour'\]"):
        rows("rounds", [{"technology": "bier", "colour": 1}])
    with pytest.raises(ResultsError, match="column 'bytes': not Int64"):
        rows("links", [{"bytes": "many"}])
    with pytest.raises(ResultsError, match="unknown results table 'nope'"):
        normalize("nope", pd.DataFrame())
    df = rows("receivers", [{"receiver": "g1", "completed_s": 1.5}])
    assert df.loc[0, "completed_s"] == 1.5 and pd.isna(df.loc[0, "bytes_received"])


def test_read_errors(tmp_path, default_projection) -> None:
    with pytest.raises(ResultsError, match="not a results folder"):
        read_results(tmp_path / "none")
    folder = write_projection(default_projection, tmp_path)
    (folder / "links.parquet").unlink()
    with pytest.raises(ResultsError, match=r"no table 'links' \(links.parquet or links.csv\)"):
        read_results(folder)
    env = json.loads((folder / "environment.json").read_text())
    env["kind"] = "guess"
    (folder / "environment.json").write_text(json.dumps(env))
    with pytest.raises(ResultsError, match="'kind' must be measurement or projection"):
        read_results(folder)


def test_run_dir_names(tmp_path) -> None:
    a = new_run_dir(tmp_path, "x", now=0)
    b = new_run_dir(tmp_path, "x", now=0)
    assert (a.name, b.name) == ("19700101-000000-x", "19700101-000000-x-2")


def test_run_dir_is_absolute(tmp_path, monkeypatch) -> None:
    # the hosts' programs run from the repository, not from where the run was started
    monkeypatch.chdir(tmp_path)
    a = new_run_dir("results", "x", now=0)
    assert a == tmp_path / "results" / "19700101-000000-x"
    assert a.is_dir()


def test_summary_ideals_and_ratios(default_projection) -> None:
    p = default_projection
    agg = aggregate(p.experiment, p.tables, p.topology).set_index("technology")
    model = 8e6  # experiments/default.yaml
    links = p.tables["links"]
    for tech in ("unicast", "bier", "sr-p2mp"):
        per_round = links[links["technology"] == tech].groupby("round")["bytes"].sum()
        assert agg.loc[tech, "link_bytes"] == pytest.approx(per_round.mean())
        r = agg.loc[tech]
        assert r["fidelity_link_bytes"] == pytest.approx(r["link_bytes"] / r["ideal_link_bytes"])
        assert r["fidelity_time"] == pytest.approx(r["round_time_s"] / r["ideal_time_s"])
    # BIER frames of the 9000-byte MTU: 9014 bytes on the wire for 8892 of payload (Ethernet
    # 14, BIER 44, IPv4 20, UDP 8, delivery header 36); unicast's 8936 in 9014
    bier_frame, uni_frame = 9014 / 8892, 9014 / 8936
    # multicast ideal egress is the model once; unicast once per receiver (12, 8, 6 receivers)
    assert agg.loc["bier", "ideal_source_egress"] == pytest.approx(model * bier_frame)
    assert agg.loc["unicast", "ideal_source_egress"] == pytest.approx(
        model * uni_frame * (12 + 8 + 6) / 3
    )
    # the frames leave the source; in rounds 0 and 1 (a cable pulled, a link failing
    # silently) the repair after the failure adds one BitString-addressed copy of what the
    # cut receivers missed; round 2 has no failure
    bier = links[(links["technology"] == "bier") & (links["src"] == "store")]
    egress = bier.groupby("round")["bytes"].sum()
    assert egress[2] == pytest.approx(model * bier_frame, abs=1)
    fl = p.tables["failures"]
    for rnd in (0, 1):
        cut = fl[(fl["technology"] == "bier") & (fl["receiver"] != "") & (fl["round"] == rnd)]
        (deficit,) = cut["bytes_repaired"].dropna().unique()
        assert egress[rnd] - egress[2] == pytest.approx(deficit * bier_frame, abs=2)
    assert agg.loc["bier", "new_set_writes"] == 0 and agg.loc["sr-p2mp", "new_set_writes"] > 0
    # BIER-FRR: the backup at detection; the silent failure's BFD (150 ms) is the longest
    assert agg.loc["bier", "max_outage_s"] == pytest.approx(0.150)


def test_summary_says_when_switches_could_not_keep_up(default_projection) -> None:
    p = default_projection
    tables = dict(p.tables)
    rounds = tables["rounds"].copy()
    bier = rounds["technology"] == "bier"
    rounds.loc[bier, "switches_kept_up"] = False
    rounds.loc[bier, "switch_drops"] = 7
    cause = (
        "switch c1 lost 7 of the 900 frames its ports received before its pipeline (7 of 300 at "
        "port 1 (from ms)): it used 0.0 CPU-seconds in 40 s, so it had stopped reading its ports"
    )
    rounds.loc[bier, "note"] = f"measurement; {cause}"
    tables["rounds"] = rounds
    out = io.StringIO()
    print_summary(p.experiment, tables, p.topology, "measurement", file=out)
    text = out.getvalue()
    assert "MEASURED: default" in text
    assert "bier: the switches could not keep up with the link rates in 3 round(s), 21 drops" in (
        " ".join(text.split())
    )
    assert "unicast: the switches" not in text
    assert " ".join(text.split()).count(cause + ".") == 1  # which switch and why, once
    out = io.StringIO()
    print_summary(p.experiment, p.tables, p.topology, "projection", file=out)
    assert "PROJECTION (flow model, not measured): default" in out.getvalue()
    assert "could not keep up" not in out.getvalue()


def test_prediction_beside_and_agreement(tmp_path, default_projection) -> None:
    folder = write_projection(default_projection, tmp_path)
    pred = predict_beside(folder)
    assert pred == folder / "prediction"
    assert json.loads((pred / "environment.json").read_text())["kind"] == "projection"
    df = compare(folder)
    assert len(df) == 4 * 3  # technologies x rounds
    assert (df["time_error"].abs() < 1e-9).all() and df["time_ok"].all() and df["bytes_ok"].all()
    text = agreement_text(df)
    assert "bier: completion time within 0.0% (goal 10%: met)" in text
    assert "the 'measured' side of this folder is itself a projection" in text
    # measured 20 % slower in one technology: the verdict says so
    rec = read_results(folder)["receivers"]
    rec.loc[rec["technology"] == "sr-p2mp", "completed_s"] *= 1.2
    write_table(folder, "receivers", rec, "parquet")
    df = compare(folder)
    assert not df[df["technology"] == "sr-p2mp"]["time_ok"].any()
    assert df[df["technology"] == "bier"]["time_ok"].all()
    assert "sr-p2mp: completion time within 20.0% (goal 10%: NOT met)" in agreement_text(df)


def test_pim_sm_link_bytes_agree_anywhere_between_stale_branches_kept_and_pruned(
    tmp_path, default_projection
) -> None:
    folder = write_projection(default_projection, tmp_path)
    predict_beside(folder)
    rounds = read_results(folder / "prediction")["rounds"]
    pim = rounds[rounds["technology"] == "pim-sm"].set_index("round")["stale_link_bytes"]
    assert pim[0] == 0 and pim[1] > 0  # round 2 drops cloud 3: its branch may live on
    links = read_results(folder)["links"]

    def measured_round1(factor: float) -> pd.Series:
        sel = (links["technology"] == "pim-sm") & (links["round"] == 1)
        changed = links.copy()
        total = links.loc[sel, "bytes"].sum()
        target = (total - pim[1]) * factor  # the total with the stale branch pruned, scaled
        changed.loc[sel, "bytes"] = (links.loc[sel, "bytes"] * target / total).round()
        write_table(folder, "links", changed, "parquet")
        return compare(folder).set_index(["technology", "round"]).loc[("pim-sm", 1)]

    row = measured_round1(1.0)  # pruned at once: the lower end of the interval
    assert row["bytes_ok"] and abs(row["bytes_error"]) < 1e-6
    assert row["link_bytes_predicted_low"] == pytest.approx(row["link_bytes_predicted"] - pim[1])
    row = measured_round1(0.95)  # 5 % below even that: not in agreement
    assert not row["bytes_ok"] and row["bytes_error"] == pytest.approx(-0.05, abs=1e-4)


def test_projection_cli_prints_the_user_table(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "experiments.projection", "experiments/scenarios/scale-16.yaml",
         "--out", str(tmp_path), "--csv"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "PROJECTION (flow model, not measured): scale-16" in r.stdout
    lines = [ln for ln in r.stdout.splitlines() if "1 TB" in ln]
    assert [ln.split("│")[2].strip() for ln in lines] == ["unicast", "bier", "sr-p2mp", "pim-sm"]
    (folder,) = tmp_path.iterdir()
    res = read_results(folder)
    assert sorted(res["rounds"]["sweep"].unique()) == ["1000000000000", "140000000000"]
    r = subprocess.run(
        [sys.executable, "-m", "experiments.report", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (folder / "figures" / "sweep.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", [["experiments.projection"], ["experiments", "project"]])
def test_projection_cli_bad_file(tmp_path, command: list[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntechnologies: [bier]\n")
    r = subprocess.run(
        [sys.executable, "-m", *command, str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert f"error: {bad}: topology: Field required" in r.stderr


def test_sweep_over_clouds_projects_each_topology() -> None:
    e = parse_experiment(
        {
            "name": "s",
            "topology": {"generator": "multicloud", "params": {"wan_mbit": 10}},
            "technologies": ["unicast", "bier"],
            "model": {"size": "1MB"},
            "sending_rate_mbit": 1000,
            "sweep": {"parameter": "clouds", "values": [2, 4]},
        }
    )
    p = project(e)
    agg = aggregate(e, p.tables, p.topology).set_index(["sweep", "technology"])
    assert agg.loc[("2", "bier"), "receivers"] == 8 and agg.loc[("4", "bier"), "receivers"] == 16
    # each cloud's 10 Mbit/s WAN link carries 4 unicast copies but one multicast copy
    assert agg.loc[("4", "unicast"), "round_time_s"] == pytest.approx(
        4 * agg.loc[("4", "bier"), "round_time_s"], rel=0.05
    )
