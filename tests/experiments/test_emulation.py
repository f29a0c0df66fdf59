"""experiments.emulation: the machine's CPU costs fitted from rounds' cpu_* columns, and the
CPU-bound time of a round's work."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments.emulation import LoadCosts, MachineCosts, cpu_times, repair_times, round_work
from experiments.projection import project, write_projection
from experiments.results import read_results, write_table
from experiments.spec import load_experiment
from experiments.summary import ROUND as KEYS
from experiments.validation import agreement_text, compare, predict_beside

ROOT = Path(__file__).resolve().parents[2]
FRAME_S = {"unicast": 3e-6, "bier": 4e-6, "sr-p2mp": 4.5e-6, "pim-sm": 5e-6}
# the default description's rounds take 12, 8 and 6 receivers
TRUE = MachineCosts(
    cores=2,
    receiver_s=0.15,
    loads=(
        LoadCosts(6, 2.0e-3, FRAME_S, 0.8),
        LoadCosts(8, 2.2e-3, {t: c * 1.1 for t, c in FRAME_S.items()}, 0.85),
        LoadCosts(12, 2.6e-3, {t: c * 1.3 for t, c in FRAME_S.items()}, 0.9),
    ),
)


def _measured(tmp_path: Path, size: int, costs: MachineCosts) -> Path:
    """The default description's projection for a model of `size`, made a measurement
    whose rounds spent exactly what `costs` says and were CPU-bound (their wall time: the
    CPU-bound time; the receivers' completion times stay the projected ones)."""
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    exp = exp.model_copy(update={"model": exp.model.model_copy(update={"size": size})})
    folder = write_projection(project(exp, base=ROOT), tmp_path / str(size))
    env = json.loads((folder / "environment.json").read_text())
    env.update(kind="measurement", machine={"cpus": costs.cores})
    (folder / "environment.json").write_text(json.dumps(env))
    res = read_results(folder)
    work = round_work(res.tables).set_index(["technology", "round"])
    rounds = res["rounds"].copy()
    for i, r in rounds.iterrows():
        tech = r["technology"]
        w = work.loc[(tech, r["round"])]
        load = costs.at(w["n_receivers"])
        receivers = w["n_receivers"] * costs.receiver_s + (
            w["received_bytes"] / 1e6 * load.receiver_s_per_mb
        )
        forwarding = w["link_frames"] * load.frame_s[tech]
        t = costs.cpu_time_s(tech, w["n_receivers"], w["received_bytes"], w["link_frames"])
        rounds.loc[i, ["cpu_receivers_s", "cpu_sender_s", "cpu_softirq_s", "cpu_network_s"]] = [
            receivers,
            forwarding * 0.5,  # the sender's, the softirq's and the network's CPU overlap:
            forwarding * 0.75,  # the fit takes the machine's beyond the receivers' instead
            forwarding * 0.1,
        ]
        rounds.loc[i, ["cpu_machine_s", "wall_s"]] = [receivers + forwarding, t]
    write_table(folder, "rounds", rounds, "parquet")
    return folder


def test_the_costs_are_fitted_per_receiver_count_from_rounds_of_two_model_sizes(tmp_path):
    small = read_results(_measured(tmp_path, 8_000_000, TRUE))
    large = read_results(_measured(tmp_path, 64_000_000, TRUE))
    got = MachineCosts.fit(small, large)
    assert got.cores == 2
    assert got.receiver_s == pytest.approx(TRUE.receiver_s, rel=1e-6)
    assert [c.receivers for c in got.loads] == [6, 8, 12]
    for g, want in zip(got.loads, TRUE.loads, strict=True):
        assert g.receiver_s_per_mb == pytest.approx(want.receiver_s_per_mb, rel=1e-6)
        assert g.frame_s == pytest.approx(want.frame_s, rel=1e-6)
        assert g.busy_share == pytest.approx(want.busy_share, rel=1e-6)


def test_the_short_rounds_start_and_end_do_not_count_per_frame(tmp_path) -> None:
    # a second of other work in every round of the small model (FRR's daemons, the last
    # receivers' checks): the costs per frame and the busy cores come from the large rounds
    folder = _measured(tmp_path, 8_000_000, TRUE)
    rounds = read_results(folder)["rounds"]
    rounds["cpu_machine_s"] += 1.0
    write_table(folder, "rounds", rounds, "parquet")
    got = MachineCosts.fit(
        read_results(folder), read_results(_measured(tmp_path, 64_000_000, TRUE))
    )
    for g, want in zip(got.loads, TRUE.loads, strict=True):
        assert g.frame_s == pytest.approx(want.frame_s, rel=1e-6)
        assert g.busy_share == pytest.approx(want.busy_share, rel=1e-6)


def test_one_model_size_cannot_tell_the_receivers_costs_apart(tmp_path) -> None:
    small = read_results(_measured(tmp_path, 8_000_000, TRUE))
    with pytest.raises(ValueError, match="the rounds to 6 receivers took about the same MB"):
        MachineCosts.fit(small)
    with pytest.raises(ValueError, match="no results folder"):
        MachineCosts.fit()


def test_costs_between_and_beyond_the_receiver_counts_measured() -> None:
    seven = TRUE.at(7)  # on a log scale between 6 and 8
    x = (math.log(7) - math.log(6)) / (math.log(8) - math.log(6))
    assert seven.receiver_s_per_mb == pytest.approx(2.0e-3 + x * 0.2e-3)
    assert seven.frame_s["bier"] == pytest.approx(4e-6 * (1 + x * 0.1))
    assert seven.busy_share == pytest.approx(0.8 + x * 0.05)
    assert TRUE.at(128) == replace(TRUE.loads[-1], receivers=128)  # the nearest count's
    assert TRUE.at(1) == replace(TRUE.loads[0], receivers=1)


def test_a_projection_is_no_calibration(tmp_path) -> None:
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    folder = write_projection(project(exp, base=ROOT), tmp_path)
    with pytest.raises(ValueError, match="need a measurement, not a projection"):
        MachineCosts.fit(read_results(folder))


def test_cpu_bound_time_is_the_work_over_the_busy_cores() -> None:
    # 12 receivers of 1 GB, 10^7 frames on links
    work = 12 * 0.15 + 12e3 * 2.6e-3 + 1e7 * 4e-6 * 1.3
    assert TRUE.cpu_time_s("bier", 12, 12e9, 1e7) == pytest.approx(work / (2 * 0.9))
    # a technology the calibration did not run: the costliest frame
    assert TRUE.cpu_time_s("srv6-p2mp", 12, 12e9, 1e7) == pytest.approx(
        (work + 1e7 * 1e-6 * 1.3) / (2 * 0.9)
    )


def test_repairs_after_a_cpu_bound_first_pass() -> None:
    # 80 MB at 64 Mbit/s: a 10 s first pass projected, 40 s CPU-bound. Two receivers cut
    # off for 1 s lost 8 MB each at the projected pace: 2 MB each at the CPU-bound one.
    keys = {"sweep": "", "repetition": 0, "round": 0}
    rx = pd.DataFrame(
        [{**keys, "technology": t, "receiver": r, "bytes_repaired": b}
         for t in ("bier", "sr-p2mp") for r, b in (("h1", 8e6), ("h2", 8e6), ("h3", 0.0))]
    )  # fmt: skip
    rounds = pd.DataFrame(
        [{**keys, "technology": t, "sending_rate_mbit": 64.0, "model_bytes": 80_000_000}
         for t in ("bier", "sr-p2mp")]
    )  # fmt: skip
    res = SimpleNamespace(tables={"receivers": rx, "rounds": rounds})
    cpu = rounds[[*KEYS]].assign(time_s_cpu=40.0)
    got = repair_times(res, cpu).set_index("technology")["repair_s"]
    assert got["bier"] == pytest.approx(2e6 / 8e6)  # one BitString for both: 2 MB
    assert got["sr-p2mp"] == pytest.approx(4e6 / 8e6)  # a unicast copy each: 4 MB
    # a first pass the links bind (the CPU-bound one shorter): the folder's own repairs
    got = repair_times(res, cpu.assign(time_s_cpu=5.0)).set_index("technology")["repair_s"]
    assert got["sr-p2mp"] == pytest.approx(16e6 / 8e6)


def test_cpu_times_per_round_of_a_folder(tmp_path) -> None:
    res = read_results(_measured(tmp_path, 8_000_000, TRUE))
    got = cpu_times(TRUE, res)
    assert len(got) == 4 * 3  # technologies x rounds
    work = round_work(res.tables).set_index(["technology", "round"]).loc[("unicast", 0)]
    want = TRUE.cpu_time_s(
        "unicast", work["n_receivers"], work["received_bytes"], work["link_frames"]
    )
    assert got.loc[("", "unicast", 0), "time_s_cpu"] == pytest.approx(want)


def test_compare_with_the_machine_takes_the_longer_of_links_and_cpu(tmp_path) -> None:
    # a machine slow enough to bind some rounds
    slow = replace(TRUE, loads=tuple(replace(c, receiver_s_per_mb=0.2) for c in TRUE.loads))
    folder = _measured(tmp_path, 64_000_000, slow)
    predict_beside(folder)
    df = compare(folder, slow).set_index(["technology", "round"])
    want = cpu_times(slow, read_results(folder / "prediction"))["time_s_cpu"]
    assert df["time_s_cpu"].to_numpy() == pytest.approx(want.droplevel("sweep")[df.index])
    assert df["repair_s"].max() > 0  # the description's failures cut receivers off
    emulated = np.maximum(df["time_s_predicted"], df["time_s_cpu"] + df["repair_s"])
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
