"""pim-sm rounds (experiments.pim_sm) on real FRR routers: modelsync delivers a
2 MB model over IP multicast on the diamond (store h1 on s1; h2, h3 on s4, h4 on s2; primary
s1-s2-s4, backup s1-s3-s4), every receiver ends with every file verified (sha256), the rows
follow the results schemas (written with ResultsWriter and read back), and a silent failure
of s1-s2 mid-transfer gives one outage row per receiver behind it, with and without BFD."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from experiments.cleanup import clean_pim_runs
from experiments.pim_sm import pim_available, run_pim_round, timers_for
from experiments.results import ResultsWriter, environment, read_results
from experiments.schedule import schedule
from experiments.spec import SpecError, parse_experiment
from modelsync.makemodel import make_model
from modelsync.manifest import load_manifest
from topologies.loader import load

REPO = Path(__file__).resolve().parents[2]
TOPO = REPO / "topologies" / "fixed" / "diamond.yaml"
MB = 2_000_000
RATE = 4.0  # Mbit/s: a 4 s first pass, the failure at 1 s falls inside it


@pytest.fixture(autouse=True)
def _pim_sm_runs_here(request: pytest.FixtureRequest) -> None:
    """FRR alone is not enough: the kernel must route multicast (pim_available says why not)."""
    if request.node.get_closest_marker("frr") is not None:
        why = pim_available()
        if why is not None:
            pytest.skip(f"pim-sm cannot run here: {why}")


def _exp(failures: list[dict], bfd: dict | None = None):
    return parse_experiment(
        {
            "name": "pil-pim",
            "topology": {"file": str(TOPO)},
            "technologies": ["pim-sm"],
            "model": {"size": MB, "shards": 2},
            "sending_rate_mbit": RATE,
            "rounds": [{"receivers": "all"}],
            "failures": failures,
            "control": {"bfd": bfd or {"interval_ms": 50, "multiplier": 3}},
        },
        "test",
    )


def test_bfd_timers_are_the_descriptions_bfd_setting() -> None:
    t = timers_for(_exp([], {"interval_ms": 100, "multiplier": 4}), bfd=True)
    assert (t.bfd_tx_ms, t.bfd_rx_ms, t.bfd_multiplier) == (100, 100, 4)
    assert t.detection_bound_s(True) == pytest.approx(0.4)
    with pytest.raises(SpecError, match="detection_ms is no longer a setting"):
        parse_experiment({**_exp([]).model_dump(by_alias=True), "control": {"detection_ms": 150}})
    assert timers_for(_exp([]), bfd=False).detection_bound_s(False) == 3.0


def test_unscheduled_gaps_are_those_no_failure_explains() -> None:
    from experiments.round import unscheduled_gaps

    steady = [100 + i * 0.01 for i in range(1000)]  # 100.00 .. 109.99 every 10 ms
    # a 0.5 s hole at 102 s (a failure at 101.9 s), another at 105 s (nothing scheduled)
    arr = [t for t in steady if not (102.0 < t < 102.5 or 105.0 < t < 105.6)]
    got = unscheduled_gaps({"h2": arr}, 100.0, 110.0, [101.9])
    assert [(h, round(a, 2), round(g, 2)) for h, a, g in got] == [("h2", 105.0, 0.6)]
    assert unscheduled_gaps({"h2": arr}, 100.0, 104.0, [101.9]) == []  # the pass ended first
    assert unscheduled_gaps({"h2": arr}, 100.0, None, []) == []  # no first pass recorded


def test_cleanup_skips_live_owner_and_cleans_dead_one(tmp_path: Path) -> None:
    live = tmp_path / "pimsm-pilaaaa-x"
    dead = tmp_path / "pimsm-pilbbbb-y"
    for d, tag in ((live, "pilaaaa"), (dead, "pilbbbb")):
        d.mkdir()
        (d / "tag").write_text(tag + "\n")
    from testbed.state import start_ticks

    (live / "owner").write_text(f"{os.getpid()} {start_ticks(os.getpid())}\n")
    (dead / "owner").write_text(f"{os.getpid()} 1\n")  # same pid, other start: gone
    lines = clean_pim_runs(tmp_path)
    assert live.is_dir() and not dead.exists()
    assert any("skipped (its owner is still running" in ln for ln in lines)
    assert any("pim-sm run pilbbbb: ended 0 processes, removed" in ln for ln in lines)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pil-model")
    make_model(out, MB, 2, seed=5)
    return out


def _check_round(res, tmp_path: Path, exp, model: Path, hosts: list[str]) -> None:
    man = load_manifest(model / "modelsync.manifest.json")
    # every receiver: complete, every file verified by modelsync, and by our sha256 on disk
    for r in res.receivers:
        assert r["outcome"] == "complete", r
        assert r["verified_on_disk"] is True
        by_name = {f["name"]: f for f in r["files"]}
        assert set(by_name) == {f.name for f in man.files}
        assert all(by_name[f.name]["verified"] for f in man.files)
    assert res.verified() == dict.fromkeys(hosts, True)
    assert res.sender["outcome"] == "complete"
    assert res.sender["technology"] == "pim-sm"
    # the rows survive the results writer and read back with the schemas' dtypes
    w = ResultsWriter.create(tmp_path / "res", exp, environment("measurement", "frr"))
    for table, rows in res.tables.items():
        w.add(table, rows)
    w.flush()
    back = read_results(tmp_path / "res")
    rx = back["receivers"]
    assert sorted(rx["receiver"]) == hosts and rx["verified"].all()
    assert (rx["completed_s"] > 0).all()
    rnd = back["rounds"].iloc[0]
    assert rnd["receivers"] == len(hosts) and rnd["model_bytes"] == sum(
        f.size for f in man.files if f.name.endswith(".safetensors")
    )
    assert "OSPF hello 1 s dead 3 s" in rnd["note"]
    # multicast state from FRR: (S,G) on the store's router s1 towards the tree
    sw = back["switches"]
    s1 = sw[(sw["switch"] == "s1") & (sw["table"] == "mroute_sg")]
    assert int(s1["entries"].iloc[0]) >= 1 and int(s1["replicas"].iloc[0]) >= 1
    # tree build per receiver: one new-set row each, the first datagram after the join
    ctl = back["control"]
    assert sorted(ctl["switch"]) == hosts and (ctl["duration_s"] >= 0).all()
    # link bytes: the model crossed h1-s1 at least once (multicast pass plus repairs)
    ln = back["links"]
    up = ln[(ln["src"] == "h1") & (ln["dst"] == "s1")]["bytes"].iloc[0]
    assert up >= rnd["model_bytes"]
    # what the records dir holds is the raw data behind the rows
    for h in hosts:
        assert (res.records_dir / f"{h}.json").is_file()
    assert hashlib.sha256((res.records_dir / "sender.json").read_bytes()).hexdigest()


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.frr
@pytest.mark.slow
@pytest.mark.parametrize("bfd", [True, False], ids=["bfd", "ospf-dead"])
def test_pim_round_delivers_and_survives_a_silent_failure(
    tmp_path: Path, model: Path, bfd: bool
) -> None:
    exp = _exp([{"link": "s1-s2", "at": 1.0, "mode": "silent"}])
    topo = load(TOPO)
    hosts = ["h2", "h3", "h4"]
    res = run_pim_round(
        exp, topo, 0, hosts, model, load_manifest(model / "modelsync.manifest.json"),
        schedule(exp, topo, 0), tmp_path / "records", bfd=bfd, prefix="pil",
        say=lambda _m: None,
    )  # fmt: skip
    _check_round(res, tmp_path, exp, model, hosts)
    back = read_results(tmp_path / "res")
    f = back["failures"]
    ev = f[f["receiver"] == ""]
    assert len(ev) == 1 and ev["kind"].iloc[0] == "link-down" and ev["element"].iloc[0] == "s1-s2"
    # the silent failure cut all three receivers (h4 sits on s2, h2/h3 behind s2-s4)
    per = f[f["receiver"] != ""]
    assert sorted(per["receiver"]) == hosts, (f.to_string(), res.tables["rounds"][0]["note"])
    at = ev["at_s"].iloc[0]
    assert 0.9 < at < 2.0
    detected = ev["detected_s"].iloc[0] - at
    bound = timers_for(exp, bfd).detection_bound_s(bfd)
    assert 0 < detected < bound + 1.0, (detected, bound)
    assert (per["outage_s"] > 0.1).all() and (per["packets_lost"] > 0).all()
    if bfd:  # BFD 50 ms x 3 repairs long before OSPF's 3 s dead interval
        assert (per["outage_s"] < 1.5).all(), per["outage_s"].tolist()
    else:
        assert (per["outage_s"] > 1.5).all(), per["outage_s"].tolist()
    assert res.bfd is bfd and res.timers["ospf_dead_s"] == 3


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.frr
@pytest.mark.slow
def test_pim_round_without_failure_two_receivers(tmp_path: Path, model: Path) -> None:
    exp = _exp([])
    topo = load(TOPO)
    hosts = ["h2", "h4"]
    res = run_pim_round(
        exp, topo, 0, hosts, model, load_manifest(model / "modelsync.manifest.json"),
        None, tmp_path / "records", bfd=False, prefix="pil", say=lambda _m: None,
    )  # fmt: skip
    _check_round(res, tmp_path, exp, model, hosts)
    assert read_results(tmp_path / "res")["failures"].empty
    # h3 did not join: s4's port towards h3 is in no installed entry's oifs
    s4 = next(s for s in res.state if s["router"] == "s4")
    h3_if = "eth" + str(topo.host_attachment("h3")[1])
    assert all(h3_if not in m["oifs"] for m in s4["mroutes"] if m["installed"])


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.frr
@pytest.mark.slow
def test_pim_rounds_reuse_one_network_with_new_receiver_sets(tmp_path: Path, model: Path) -> None:
    """Two rounds on one running FRR network (as a runner that keeps it up would do): the
    second round's receiver set differs; each round ends verified and the network is left
    for its owner to stop."""
    from pimsm.network import PimNetwork

    exp = _exp([])
    topo = load(TOPO)
    man = load_manifest(model / "modelsync.manifest.json")
    net = PimNetwork(topo, timers=timers_for(exp, False), prefix="pil", delay="ignore")
    try:
        net.start()
        net.wait_converged(timeout=120)
        for k, hosts in enumerate((["h2", "h3"], ["h4"])):
            keys = {"sweep": "", "technology": "pim-sm", "repetition": 0, "round": k}
            res = run_pim_round(
                exp, topo, 0, hosts, model, man, [], tmp_path / f"records{k}", bfd=False,
                keys=keys, net=net, say=lambda _m: None,
            )  # fmt: skip
            assert res.verified() == dict.fromkeys(hosts, True)
            assert res.converge_s is None  # not brought up by this call
            assert {r["round"] for r in res.tables["receivers"]} == {k}
        assert net.routers  # still running: the caller owns it
        with pytest.raises(RuntimeError, match="bfd=False, the round asks bfd=True"):
            run_pim_round(
                exp, topo, 0, ["h2"], model, man, [], tmp_path / "x", bfd=True, net=net,
                say=lambda _m: None,
            )  # fmt: skip
    finally:
        net.stop()
    assert net.leftovers() == []


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.frr
@pytest.mark.slow
def test_pim_experiment_folder_reads_back_and_summarizes(tmp_path: Path) -> None:
    """A pim-sm-only experiment through the runner without BFD (python -m experiments run
    --pim-no-bfd): two rounds on one FRR network, a results folder the readers and the
    summary accept, every receiver verified."""
    import io

    from experiments.runner import run_experiment
    from experiments.summary import print_results_summary

    d = {
        "name": "pil-pimexp",
        "topology": {"file": str(TOPO)},
        "technologies": ["pim-sm"],
        "model": {"size": 400_000, "shards": 1},
        "sending_rate_mbit": 8,
        "rounds": [{"receivers": "all"}, {"receivers": {"hosts": ["h4"]}}],
    }
    out = run_experiment(
        parse_experiment(d, "test"), tmp_path / "results", prefix="pil", say=lambda _m: None,
        progress=False, pim_bfd=False,
    )  # fmt: skip
    res = read_results(out)
    rx = res["receivers"]
    assert list(zip(rx["round"], rx["receiver"], strict=True)) == [
        (0, "h2"), (0, "h3"), (0, "h4"), (1, "h4"),
    ]  # fmt: skip
    assert rx["verified"].all()
    assert res.environment["pim_sm"]["bfd"] is False
    assert res.environment["pim_sm"]["timers"]["ospf_dead_s"] == 3
    buf = io.StringIO()
    agg = print_results_summary(str(out), file=buf)
    assert list(agg["technology"]) == ["pim-sm"] and "pim-sm" in buf.getvalue()


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.frr
@pytest.mark.slow
def test_pim_round_switch_failure_cuts_its_host_until_restored(tmp_path: Path, model: Path) -> None:
    """s2 fails (every link of it, silently) at 1 s for 1.5 s with BFD: h2 and h3 (on s4) are
    rerouted over s3 within BFD's detection, h4 (on s2) has no way round until s2 returns."""
    exp = _exp([{"switch": "s2", "at": 1.0, "for": 1.5, "mode": "silent"}])
    topo = load(TOPO)
    hosts = ["h2", "h3", "h4"]
    res = run_pim_round(
        exp, topo, 0, hosts, model, load_manifest(model / "modelsync.manifest.json"),
        schedule(exp, topo, 0), tmp_path / "records", bfd=True, prefix="pil",
        say=lambda _m: None,
    )  # fmt: skip
    assert res.verified() == dict.fromkeys(hosts, True)
    f = [r for r in res.tables["failures"] if r["kind"] == "switch-down" and r["receiver"]]
    out = {r["receiver"]: r["outage_s"] for r in f}
    assert set(out) == set(hosts), res.tables["failures"]
    assert out["h2"] < 1.0 and out["h3"] < 1.0, out
    # h4 waits for s2 to return (1.5 s), then for the tree to be rebuilt through it: bounded
    # by the stated timers (BFD up, SPF, one join/prune period), not by a wall-clock guess.
    assert 1.3 < out["h4"] < 1.5 + timers_for(exp, True).repair_bound_s(True), out
    assert [e["kind"] for e in res.events] == ["switch-down", "switch-up"]
    assert sorted(res.events[0]["links"]) == ["h4-s2", "s1-s2", "s2-s4"]
