"""`python -m experiments run` end to end in Mininet with softswitch: the diamond, a 2 MB model,
unicast, BIER and SR-P2MP, a clean round and a round with a link cut. Every receiver of every
round verified (sha256 of the files on disk against the manifest); the bytes on the links
agree with the structure (unicast: receivers x model from the source; BIER and SR-P2MP: the
model once per tree link) within 5 %; the outage after the cut measured for the receivers
behind the link and no other; the notebook executes on the measured folder."""

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
ENCAP = {"unicast": 0, "bier": 44, "sr-p2mp": 4}  # BIER header (BSL 256); one MPLS label

pytestmark = [
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
        ((t, k), 3) for t in TECHS for k in (0, 1)
    )
    assert rec["verified"].all(), rec[~rec["verified"]]
    manifest = load_manifest(out / "model" / "modelsync.manifest.json")
    for t in TECHS:
        for k in (0, 1):
            for h in ("h2", "h3", "h4"):
                for f in manifest.files:  # the test's own hash of what each host wrote
                    assert sha256_file(received / f"{t}-0-{k}" / h / f.name) == f.sha256
    assert (rec["completed_s"] > 0).all()
    rounds = res["rounds"]
    assert len(rounds) == 6 and rounds["switches_kept_up"].notna().all()
    assert (out / "prediction" / "environment.json").is_file()
    assert not (out / "logs").exists()  # every host verified: the switch logs are removed


def _expected_bytes(out: Path, tech: str) -> dict[tuple[str, str], float]:
    """Per link direction of the technology's structure in the clean round: copies x (model
    bytes + data frames x header bytes on that hop), as modelsync frames them."""
    res = read_results(out)
    topo = res.topology()
    sender = json.loads((out / "records" / f"{tech}-0-0" / "sender.json").read_text())
    net = build_net(topo)
    gpus = [h.name for h in topo.gpu_hosts()]
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
def test_outage_after_the_cut(measured: tuple[Path, Path], tech: str) -> None:
    out, _ = measured
    f = read_results(out)["failures"]
    f = f[(f["technology"] == tech) & (f["round"] == 1)]
    cut = f[(f["kind"] == "link-down") & (f["receiver"] == "")]
    assert list(cut["element"]) == ["s2-s4"]
    at = float(cut["at_s"].iloc[0])
    assert 0.5 < at < 1.5  # 0.8 s after the first data packet
    assert float(cut["detected_s"].iloc[0]) - at == pytest.approx(0.15, abs=0.1)
    hit = f[(f["kind"] == "link-down") & (f["receiver"] != "")]
    assert sorted(hit["receiver"]) == ["h2", "h3"]  # behind s2-s4; h4 hangs off s2
    assert ((hit["outage_s"] > 0.1) & (hit["outage_s"] < 2.0)).all(), hit
    assert (hit["packets_lost"] > 0).all()  # what they missed came back as repairs
    rec = read_results(out)["receivers"]
    rec = rec[(rec["technology"] == tech) & (rec["round"] == 1)].set_index("receiver")
    assert rec.loc["h4", "chunks_repaired"] == 0
    assert (rec.loc[["h2", "h3"], "chunks_repaired"] > 0).all()


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
