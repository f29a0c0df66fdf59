"""experiments.emulation: the machine's CPU costs fitted from rounds' cpu_* columns, and the
CPU-bound time of a round's work."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from experiments.emulation import MachineCosts, cpu_times, round_work
from experiments.projection import project, write_projection
from experiments.results import read_results, write_table
from experiments.spec import load_experiment
from experiments.validation import agreement_text, compare, predict_beside

ROOT = Path(__file__).resolve().parents[2]
TRUE = MachineCosts(
    cores=2,
    receiver_s=0.15,
    receiver_s_per_mb=2.5e-3,
    frame_s=4e-6,
    other_cores_per_node={"unicast": 0.01, "bier": 0.01, "sr-p2mp": 0.01, "pim-sm": 0.03},
)


def _measured(tmp_path: Path, size: int, costs: MachineCosts) -> Path:
    """The default description's projection for a model of `size`, made a measurement
    whose rounds spent exactly what `costs` says (wall time: the projected round time)."""
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    exp = exp.model_copy(update={"model": exp.model.model_copy(update={"size": size})})
    folder = write_projection(project(exp, base=ROOT), tmp_path / str(size))
    env = json.loads((folder / "environment.json").read_text())
    env.update(kind="measurement", machine={"cpus": costs.cores})
    (folder / "environment.json").write_text(json.dumps(env))
    res = read_results(folder)
    work = round_work(res.tables).set_index(["technology", "round"])
    wall = res["receivers"].groupby(["technology", "round"])["completed_s"].max()
    nodes = len(res.topology().switches)
    rounds = res["rounds"].copy()
    for i, r in rounds.iterrows():
        w = work.loc[(r["technology"], r["round"])]
        receivers = w["n_receivers"] * costs.receiver_s + (
            w["received_bytes"] / 1e6 * costs.receiver_s_per_mb
        )
        forwarding = w["link_frames"] * costs.frame_s
        t = wall.loc[(r["technology"], r["round"])]
        other = costs.other_cores_per_node[r["technology"]] * nodes * t
        rounds.loc[i, ["cpu_receivers_s", "cpu_sender_s", "cpu_softirq_s"]] = [
            receivers,
            forwarding * 0.25,
            forwarding * 0.75,
        ]
        rounds.loc[i, ["cpu_machine_s", "wall_s"]] = [receivers + forwarding + other, t]
    write_table(folder, "rounds", rounds, "parquet")
    return folder


def test_the_costs_are_fitted_from_rounds_of_two_model_sizes(tmp_path) -> None:
    small = read_results(_measured(tmp_path, 8_000_000, TRUE))
    large = read_results(_measured(tmp_path, 64_000_000, TRUE))
    got = MachineCosts.fit(small, large)
    assert got.cores == 2
    assert got.receiver_s == pytest.approx(TRUE.receiver_s, rel=1e-6)
    assert got.receiver_s_per_mb == pytest.approx(TRUE.receiver_s_per_mb, rel=1e-6)
    assert got.frame_s == pytest.approx(TRUE.frame_s, rel=1e-6)
    assert got.other_cores_per_node == pytest.approx(TRUE.other_cores_per_node, rel=1e-6)


def test_one_model_size_cannot_tell_the_receivers_costs_apart(tmp_path) -> None:
    small = read_results(_measured(tmp_path, 8_000_000, TRUE))
    with pytest.raises(ValueError, match="fixed and per-MB costs cannot be told apart"):
        MachineCosts.fit(small)
    with pytest.raises(ValueError, match="no results folder"):
        MachineCosts.fit()


def test_a_projection_is_no_calibration(tmp_path) -> None:
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    folder = write_projection(project(exp, base=ROOT), tmp_path)
    with pytest.raises(ValueError, match="need a measurement, not a projection"):
        MachineCosts.fit(read_results(folder))


def test_cpu_bound_time_is_the_work_over_the_cores_left() -> None:
    # 128 receivers of 1 GB, 10^7 frames on links, 49 P4 switches
    t = TRUE.cpu_time_s("bier", 128, 128e9, 1e7, 49)
    work = 128 * 0.15 + 128e3 * 2.5e-3 + 1e7 * 4e-6
    assert t == pytest.approx(work / (2 - 49 * 0.01))
    # a technology the calibration did not run: the costliest network's share
    assert TRUE.cpu_time_s("srv6-p2mp", 128, 128e9, 1e7, 49) == pytest.approx(
        work / (2 - 49 * 0.03)
    )
    # other work beyond the cores: a tenth of them is left, not a negative time
    assert TRUE.cpu_time_s("pim-sm", 1, 1e6, 0, 100) == pytest.approx((0.15 + 2.5e-3) / 0.2)


def test_cpu_times_per_round_of_a_folder(tmp_path) -> None:
    res = read_results(_measured(tmp_path, 8_000_000, TRUE))
    got = cpu_times(TRUE, res)
    assert len(got) == 4 * 3  # technologies x rounds
    work = round_work(res.tables).set_index(["technology", "round"]).loc[("unicast", 0)]
    nodes = len(res.topology().switches)
    want = TRUE.cpu_time_s(
        "unicast", work["n_receivers"], work["received_bytes"], work["link_frames"], nodes
    )
    assert got.loc[("", "unicast", 0), "time_s_cpu"] == pytest.approx(want)


def test_compare_with_the_machine_takes_the_longer_of_links_and_cpu(tmp_path) -> None:
    slow = replace(TRUE, receiver_s_per_mb=0.2)  # a machine slow enough to bind some rounds
    folder = _measured(tmp_path, 64_000_000, slow)
    predict_beside(folder)
    df = compare(folder, slow).set_index(["technology", "round"])
    want = cpu_times(slow, read_results(folder / "prediction"))["time_s_cpu"]
    assert df["time_s_cpu"].to_numpy() == pytest.approx(want.droplevel("sweep")[df.index])
    emulated = df[["time_s_predicted", "time_s_cpu"]].max(axis=1)
    assert (df["time_s_emulated"] == emulated).all()
    assert (df["time_s_cpu"] > df["time_s_predicted"]).any()  # some rounds CPU-bound
    assert (df["time_s_cpu"] < df["time_s_predicted"]).any()  # some link-bound
    # the measurement made CPU-bound exactly: the emulated time agrees, the links' does not
    rec = read_results(folder)["receivers"]
    stretch = (emulated / df["time_s_predicted"]).rename("stretch")
    rec = rec.join(stretch, on=["technology", "round"])
    rec["completed_s"] *= rec.pop("stretch")
    write_table(folder, "receivers", rec, "parquet")
    df = compare(folder, slow)
    assert df["emulated_time_error"].abs().max() < 1e-9 and df["emulated_time_ok"].all()
    assert not df["time_ok"].all()
    text = agreement_text(df)
    assert "unicast: with this machine's CPU, completion time within 0.0% (goal 10%: met)" in text


def test_validate_command_prints_the_agreement_or_says_what_is_wrong(tmp_path, capsys) -> None:
    from experiments.__main__ import main

    small = _measured(tmp_path, 8_000_000, TRUE)
    large = _measured(tmp_path, 64_000_000, TRUE)
    assert main(["validate", str(large), "--machine", str(small), str(large)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"machine ({small}, {large}): ") and "'receiver_s_per_mb'" in out
    assert "emulated s" in out and "bier: with this machine's CPU, completion time" in out
    assert main(["validate", str(large), "--machine", str(small)]) == 2
    assert "cannot be told apart" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "nothing-here")]) == 2
    assert "nothing-here" in capsys.readouterr().err
