"""End to end on the default topology: the experiments runner (softswitch, control
plane) delivers a 16 MB model with unicast, BIER and SR-P2MP to all 12 GPU hosts of the
multicloud default shape (3 clouds x 2 leaves x 2 hosts), once clean and once with the store's
WAN link towards cloud1 (ms-c1) down in the middle of the first pass. Every shard is checked
twice: by the results tables (verified, switches kept up) and by the test hashing each
received file against the manifest. Link bandwidths are raised from the default's (same
shape, WAN still below in-cloud) so the run stays short."""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from modelsync.manifest import load_manifest, sha256_file

TECHS = ("unicast", "bier", "sr-p2mp")
ROUNDS = (0, 1)  # 0: clean; 1: ms-c1 down 1.5 s into the first pass, for 2 s
MODEL_BYTES = 16 * 2**20

DESCRIPTION = {
    "name": "msn-e2e-default",
    "topology": {
        "generator": "multicloud",
        "params": {"clouds": 3, "leaves": 2, "hosts": 2, "wan_mbit": 20, "cloud_mbit": 50},
    },
    "target": "auto",
    "technologies": list(TECHS),
    "model": {"size": "16MB", "shards": 4},
    "sending_rate_mbit": "auto",
    "rounds": [{"name": "all", "receivers": "all"}, {"name": "cut", "receivers": "all"}],
    "failures": [{"link": "ms-c1", "at": 1.5, "for": 2.0, "round": 1}],
    "control": {"bfd": {"interval_ms": 50, "multiplier": 3}},
    "repetitions": 1,
    "seed": 5,
}

pytestmark = [
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("softswitch.__main__") is None, reason="softswitch has no CLI"
    ),
]


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[Path, Path]]:
    # Own folder outside pytest's numbered temp dirs (another session may prune those).
    tmp = Path(tempfile.mkdtemp(prefix="msn-e2e-"))
    try:
        desc = tmp / "experiment.yaml"
        desc.write_text(yaml.safe_dump(DESCRIPTION, sort_keys=False))
        exp = load_experiment(desc)
        pfx = "msn" + "".join(random.choices(string.ascii_lowercase, k=2))
        out = run_experiment(
            exp, tmp / "results", tmp, say=lambda _m: None, progress=False, prefix=pfx,
            keep_received=tmp / "received",
        )  # fmt: skip
        yield out, tmp / "received"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_topology_is_the_default_shape(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    topo = read_results(out).topology()
    gpus = sorted(h.name for h in topo.gpu_hosts())
    assert len(gpus) == 12
    assert json.loads((out / "environment.json").read_text())["target"] == "softswitch"


def test_every_shard_verified_on_every_gpu_host(measured: tuple[Path, Path]) -> None:
    out, received = measured
    res = read_results(out)
    gpus = sorted(h.name for h in res.topology().gpu_hosts())
    manifest = load_manifest(out / "model" / "modelsync.manifest.json")
    assert sum(f.size for f in manifest.files) >= MODEL_BYTES * 0.95
    assert len(manifest.files) >= 4
    rec = res["receivers"]
    for t in TECHS:
        for k in ROUNDS:
            sel = rec[(rec["technology"] == t) & (rec["round"] == k)]
            assert sorted(sel["receiver"]) == gpus, (t, k)
            assert sel["verified"].all(), sel[~sel["verified"]]
            assert (sel["completed_s"] > 0).all(), (t, k)
            for h in gpus:  # the test's own hash of every file each host wrote
                for f in manifest.files:
                    got = received / f"{t}-0-{k}" / h / f.name
                    assert got.is_file(), got
                    assert sha256_file(got) == f.sha256, got


def test_switches_kept_up(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    rounds = read_results(out)["rounds"]
    assert len(rounds) == len(TECHS) * len(ROUNDS)
    assert rounds["switches_kept_up"].notna().all()
    assert rounds["switches_kept_up"].astype(bool).all(), rounds[
        ["technology", "round", "switches_kept_up", "switch_drops"]
    ]


def test_the_link_failed_during_the_second_round_only(measured: tuple[Path, Path]) -> None:
    out, _ = measured
    res = read_results(out)
    f = res["failures"]
    cut = f[(f["kind"] == "link-down") & (f["receiver"] == "")]
    assert sorted(zip(cut["technology"], cut["round"], strict=True)) == sorted(
        (t, 1) for t in TECHS
    )
    assert set(cut["element"]) == {"ms-c1"}
    assert ((cut["at_s"] > 1.0) & (cut["at_s"] < 2.5)).all(), cut
    rec = res["receivers"]
    sender_done = rec[rec["round"] == 1].groupby("technology")["completed_s"].max()
    at = cut.set_index("technology")["at_s"]
    for t in TECHS:  # the cut came before the last receiver completed: mid-transfer
        assert sender_done[t] > at[t], (t, sender_done[t], at[t])
