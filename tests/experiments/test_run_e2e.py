"""`python -m experiments run` end to end in Mininet with softswitch: the diamond, a 2 MB model,
unicast, BIER and SR-P2MP, a clean round and one round per failure kind (s2-s4's cable
pulled, s2-s4 failing silently, the switch s2 failing). Every receiver of every round
verified (sha256 of the files on disk against the manifest); the bytes on the links agree
with the structure (unicast: receivers x model from the source; BIER and SR-P2MP: the model
once per tree link) within 5 %; each failure detected by the network itself (a switch's
carrier or BFD session, reported to the controller over gNMI; nobody tells the controller)
within its bounds; the outage measured for the receivers behind the failure and no other,
from their own arrival times; BIER-FRR repairs a cable pull locally in under 20 ms; the
notebook executes on the measured folder."""

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
from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from modelsync.manifest import load_manifest, sha256_file

ROOT = Path(__file__).resolve().parents[2]
EXP = Path(__file__).parent / "data" / "e2e-diamond.yaml"
TECHS = ("unicast", "bier", "sr-p2mp")
ETH, IPV4, UDP, MSYNC = 14, 20, 8, 36  # modelsync datagram: Ethernet/IPv4/UDP/its header
# BIER header (BSL 256); one MPLS label; SRv6's IPv6 header (test_run_srv6.py)
ENCAP = {"unicast": 0, "bier": 44, "sr-p2mp": 4, "srv6-p2mp": 40}
ROUNDS = (0, 1, 2, 3, 4)  # clean; s2-s4 pulled, silent; switch s2 down 1 s; s1-s2 pulled
BFD_S = 0.050  # the description's BFD interval (x 3)
# a silent failure is seen 2 to 3 (jittered) intervals after it, plus a loaded machine's
# scheduling; a cable pull at once (the switch's link reader): before any BFD timer could
SILENT_DETECTION = (2 * BFD_S * 0.75, 3 * BFD_S + 0.06)
CARRIER_DETECTION_MAX = SILENT_DETECTION[0]

pytestmark = [
    # fifteen rounds, each run again when the machine held its failure back (a loaded machine)
    pytest.mark.timeout(900),
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.skipif(
        importlib.util.find_spec("softswitch.__main__") is None, reason="softswitch has no CLI"
    ),
]


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[Path, Path]]:
    # Its own folder, outside pytest's numbered temp dirs: a pytest session started meanwhile
    # elsewhere on the machine prunes those, and the tests below read this one after the run.
    tmp = Path(tempfile.mkdtemp(prefix="exi-e2e-"))
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
    assert res.kind == "measurement"
    assert json.loads((out / "environment.json").read_text())["target"] == "softswitch"
    rec = res["receivers"]
    assert sorted(Counter(zip(rec["technology"], rec["round"], strict=True)).items()) == sorted(
        ((t, k), 3) for t in TECHS for k in ROUNDS
    )
    assert rec["verified"].all(), rec[~rec["verified"]]
    manifest = load_manifest(out / "model" / "modelsync.manifest.json")
    for t in TECHS:
        for k in ROUNDS:
            for h in ("h2", "h3", "h4"):
                for f in manifest.files:  # the test's own hash of what each host wrote
                    assert sha256_file(received / f"{t}-0-{k}" / h / f.name) == f.sha256
    assert (rec["completed_s"] > 0).all()
    rounds = res["rounds"]
    assert len(rounds) == 3 * len(ROUNDS) and rounds["switches_kept_up"].notna().all()
    assert (out / "prediction" / "environment.json").is_file()
    assert not (out / "logs").exists()  # every host verified: the switch logs are removed


def detection_bounds(out: Path, tech: str, rnd: int, event: int = 0) -> tuple[float, float]:
    """(least, most) the network can have taken to notice the round's event: the failure took
    effect between the start of applying it and its return (`in_place_s`; the kernel can hold
    a link change back on a loaded machine), the switch's report came at `detected_s`."""
    f = read_results(out)["failures"]
    row = f[(f["technology"] == tech) & (f["round"] == rnd) & (f["receiver"] == "")]
    row = row[row["event"] == event]
    detected = float(row["detected_s"].iloc[0])
    events = json.loads((out / "records" / f"{tech}-0-{rnd}" / "events.json").read_text())
    at, in_place = events[event]["at_s"], events[event]["in_place_s"]
    assert at == pytest.approx(float(row["at_s"].iloc[0])) and at <= in_place
    return detected - in_place, detected - at


def pd_isna(x: object) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


def _expected_bytes(
    out: Path, tech: str, receivers: list[str] | None = None
) -> dict[tuple[str, str], float]:
    """Per link direction of the technology's structure in the clean round: copies x (model
    bytes + data frames x header bytes on that hop), as modelsync frames them. `receivers`:
    the round's (default: every GPU host)."""
    res = read_results(out)
    topo = res.topology()
    sender = json.loads((out / "records" / f"{tech}-0-0" / "sender.json").read_text())
    net = build_net(topo)
    gpus = receivers or [h.name for h in topo.gpu_hosts()]
    paths = shortest_paths(net, "h1", gpus, rpf=uses_rpf(tech))
    copies: Counter[tuple[str, str]] = Counter()
    for edges in paths.values():
        for i in edges:
            copies[net.edges[i]] += 1
    exp: dict[tuple[str, str], float] = {}
    for (u, v), n in copies.items():
        if tech != "unicast":
            n = 1  # a multicast tree carries one copy per link
        encap = ENCAP[tech] if topo.is_switch(v) else 0  # decapsulated on the last hop
        per_frame = ETH + IPV4 + UDP + MSYNC + encap
        exp[(u, v)] = n * (sender["total_size"] + sender["chunks"] * per_frame)
    return exp


@pytest.mark.parametrize("tech", TECHS)
def test_bytes_agree_with_the_structure(measured: tuple[Path, Path], tech: str) -> None:
    out, _ = measured
    res = read_results(out)
    links = res["links"]
    clean = links[(links["technology"] == tech) & (links["round"] == 0)]
    got = {(r.src, r.dst): int(r.bytes) for r in clean.itertuples()}
    exp = _expected_bytes(out, tech)
    model = json.loads((out / "records" / f"{tech}-0-0" / "sender.json").read_text())["total_size"]
    for d, want in exp.items():
        assert got[d] == pytest.approx(want, rel=0.05), (d, got[d], want)
    for d, b in got.items():  # off the structure: control datagrams only
        if d not in exp:
            assert b < 0.01 * model, (d, b)
    egress = got[("h1", "s1")]
    if tech == "unicast":  # the source sends one copy per receiver (checked above, headers in)
        assert 3 * model < egress < 3.3 * model
    else:  # the model leaves the source once
        assert model < egress < 1.1 * model


@pytest.mark.parametrize("tech", TECHS)
@pytest.mark.parametrize(("rnd", "mode"), [(1, "carrier"), (2, "silent")])
def test_link_failure_detected_by_the_network_and_its_outage(
    measured: tuple[Path, Path], tech: str, rnd: int, mode: str
) -> None:
    out, _ = measured
    f = read_results(out)["failures"]
    f = f[(f["technology"] == tech) & (f["round"] == rnd)]
    cut = f[(f["kind"] == "link-down") & (f["receiver"] == "")]
    assert list(cut["element"]) == ["s2-s4"] and list(cut["mode"]) == [mode]
    at = float(cut["at_s"].iloc[0])
    assert 0.5 < at < 1.5  # 0.8 s after the first data packet
    least, most = detection_bounds(out, tech, rnd)
    if mode == "carrier":
        assert most >= 0 and least < CARRIER_DETECTION_MAX, (least, most)
    else:
        assert SILENT_DETECTION[0] <= most and least <= SILENT_DETECTION[1], (least, most)
    # who noticed: a switch at the failed link, carrier or BFD, never the testbed
    events = json.loads((out / "records" / f"{tech}-0-{rnd}" / "events.json").read_text())
    (down,) = [e for e in events if e["kind"] == "link-down"]
    cause = "carrier" if mode == "carrier" else "liveness"
    lk = read_results(out).topology().link_between("s2", "s4")
    ends = [f"{n} port {p} ({cause})" for n, p in ((lk.a, lk.a_port), (lk.b, lk.b_port))]
    assert down["detected_by"] in ends, down
    hit = f[(f["kind"] == "link-down") & (f["receiver"] != "")]
    # h2 and h3 sit behind s2-s4; h4 hangs off s2 and may only see a brief gap while the
    # controller rewrites s1 and s2 (sub-millisecond arrivals show every gap)
    behind = hit[hit["receiver"].isin(["h2", "h3"])]
    assert sorted(behind["receiver"]) == ["h2", "h3"]
    assert set(hit["receiver"]) <= {"h2", "h3", "h4"}
    hit = behind
    assert (hit["packets_lost"] > 0).all()  # what they missed came back as repairs
    # s2 has no loop-free alternate towards s4 (s1's own path runs back through s2): no
    # backup, BIER too waits for the controller
    assert ((hit["outage_s"] > 0.0) & (hit["outage_s"] < 2.0)).all(), hit
    assert hit["local_repair_s"].isna().all() and cut["local_repair_s"].isna().all()
    if mode == "silent":  # the data stops with the failure, comes back after BFD noticed
        assert (hit["outage_s"] >= SILENT_DETECTION[0]).all(), hit[["receiver", "outage_s"]]
    rec = read_results(out)["receivers"]
    rec = rec[(rec["technology"] == tech) & (rec["round"] == rnd)].set_index("receiver")
    assert rec.loc["h4", "chunks_repaired"] == 0
    assert (rec.loc[["h2", "h3"], "chunks_repaired"] > 0).all()


@pytest.mark.parametrize("tech", TECHS)
def test_bier_frr_repairs_a_cable_pull_locally_in_under_20_ms(
    measured: tuple[Path, Path], tech: str
) -> None:
    """s1-s2 pulled: s1 has a loop-free alternate via s3 for h2 and h3 (behind s4). With
    BIER-FRR the data plane takes it as soon as s1 sees the carrier go, before the controller
    writes anything; unicast and SR-P2MP wait for the controller. h4 (on s2) needs the
    controller in every technology. With BIER-FRR h2 and h3 may lose nothing at all (s1 took
    the backup before it sent anything into the dead port): no outage, no row."""
    out, _ = measured
    f = read_results(out)["failures"]
    f = f[(f["technology"] == tech) & (f["round"] == 4) & (f["kind"] == "link-down")]
    ev = f[f["receiver"] == ""]
    assert list(ev["element"]) == ["s1-s2"]
    at = float(ev["at_s"].iloc[0])
    least, most = detection_bounds(out, tech, 4)
    assert most >= 0 and least < CARRIER_DETECTION_MAX, (least, most)
    hit = f[f["receiver"] != ""].set_index("receiver")
    assert (hit["packets_lost"] > 0).all()
    assert "h4" in hit.index and pd_isna(hit.loc["h4", "local_repair_s"])
    if tech == "bier":  # s1 sent backup copies from the moment it saw the carrier go
        in_place = at + most - least  # the pull was in place by then
        assert float(ev["local_repair_s"].iloc[0]) - in_place < CARRIER_DETECTION_MAX
        assert set(hit.index) <= {"h2", "h3", "h4"}
        rec = read_results(out)["receivers"]
        rec = rec[(rec["technology"] == tech) & (rec["round"] == 4)].set_index("receiver")
        for h in ("h2", "h3"):
            if h in hit.index:
                assert hit.loc[h, "outage_s"] < 0.020, hit[["outage_s", "local_repair_s"]]
            else:  # not one datagram lost (a gap without loss is a stall, not an outage)
                assert rec.loc[h, "chunks_repaired"] == 0, rec.loc[h]
    else:
        assert sorted(hit.index) == ["h2", "h3", "h4"]
        assert hit["local_repair_s"].isna().all() and ev["local_repair_s"].isna().all()


@pytest.mark.parametrize("tech", TECHS)
def test_switch_failure_detected_by_its_neighbours(measured: tuple[Path, Path], tech: str) -> None:
    out, _ = measured
    f = read_results(out)["failures"]
    f = f[(f["technology"] == tech) & (f["round"] == 3)]
    down = f[(f["kind"] == "switch-down") & (f["receiver"] == "")]
    assert list(down["element"]) == ["s2"] and list(down["mode"]) == ["carrier"]
    least, most = detection_bounds(out, tech, 3)
    assert most >= 0 and least < BFD_S, (least, most)
    hit = f[(f["kind"] == "switch-down") & (f["receiver"] != "")]
    assert "h4" in set(hit["receiver"])  # its only switch was down for a second
    assert (hit.set_index("receiver").loc["h4", "outage_s"] > 0.9).all()
    events = json.loads((out / "records" / f"{tech}-0-3" / "events.json").read_text())
    assert [e["kind"] for e in events] == ["switch-down", "switch-up"]


def test_control_plane_costs(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    c = read_results(out)["control"]
    new = c[c["action"] == "new-set"].set_index(["technology", "round"])["writes"]
    assert new[("bier", 0)] == 0 and new[("bier", 1)] == 0  # a new BitString only
    assert new[("unicast", 0)] == 0
    assert new[("sr-p2mp", 0)] > 0 and new[("sr-p2mp", 1)] > 0  # a tree per set
    inst = c[c["action"] == "install"]
    assert sorted(inst["technology"]) == sorted(TECHS) and (inst["writes"] > 0).all()
    sw = read_results(out)["switches"]
    assert set(sw["switch"]) == {"s1", "s2", "s3", "s4"}


@pytest.mark.slow
def test_notebook_executes_on_the_measured_folder(
    measured: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    out, _ = measured
    figs = tmp_path / "figs"
    monkeypatch.setenv("RESULTS_DIR", str(out))
    monkeypatch.setenv("FIGURES_DIR", str(figs))
    monkeypatch.setenv("PROJECTIONS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(ROOT / "notebooks" / "analysis.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert f"{out.name}: MEASURED" in text
    assert "WARNING" not in text  # every receiver verified, switches kept up
    for name in (
        "completion_cdf",
        "link_bytes_map",
        "state_per_switch",
        "failure_timeline",
        "new_set_cost",
        "predicted_vs_measured",
    ):
        assert (figs / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_a_sweep_runs_each_value_and_predicts_beside(tmp_path: Path) -> None:
    exp = load_experiment(EXP.parent / "e2e-sweep.yaml")
    out = run_experiment(exp, tmp_path / "results", EXP.parent, say=lambda _m: None, progress=False)
    res = read_results(out)
    assert res.experiment.sweep is not None  # the description as given
    assert (out / "topology-1.yaml").is_file() and (out / "topology-3.yaml").is_file()
    rec = res["receivers"]
    assert sorted(rec.groupby("sweep").size().items()) == [("1", 1), ("3", 3)]
    assert rec["verified"].all()
    pred = res.prediction()
    assert pred is not None and sorted(pred["rounds"]["sweep"]) == ["1", "3"]
