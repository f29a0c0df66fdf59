"""Receivers joining and leaving while the model flows, through `python -m experiments run`
(`data/e2e-membership.yaml`: the diamond, h2 and h4 from the start, h3 joining at 0.6 s, h4
leaving at 1.2 s) with every technology: unicast, BIER, SR-P2MP over MPLS and SRv6 on
softswitch, PIM-SM on FRR (skipped with the reason where FRR cannot run). Every receiver that
stays ends with a verified model (the test's own sha256), the joiner too, getting by repair
what went by before it joined; the network starts sending to the joiner within half a second
(BIER: a bit, unicast: a stream, SR-P2MP: a new tree, PIM-SM: IGMP and PIM joins) and stops
sending to the leaver (unicast and BIER at once, from the sender); a leaver's row does not
count as unverified."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.pim_sm import pim_available
from experiments.results import read_results
from experiments.runner import run_experiment
from experiments.spec import load_experiment
from experiments.summary import aggregate
from modelsync.manifest import load_manifest, sha256_file

EXP = Path(__file__).parent / "data" / "e2e-membership.yaml"
P4 = ("unicast", "bier", "sr-p2mp", "srv6-p2mp")
JOIN_AT, LEAVE_AT = 0.6, 1.2

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
    tmp = Path(tempfile.mkdtemp(prefix="exi-e2e-members-"))
    try:
        out = run_experiment(
            load_experiment(EXP), tmp / "results", EXP.parent, say=lambda _m: None,
            progress=False, keep_received=tmp / "received",
        )  # fmt: skip
        yield out, tmp / "received"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_who_stays_is_verified_and_the_leaver_is_not_counted(
    measured: tuple[Path, Path],
) -> None:
    out, received = measured
    res = read_results(out)
    rec = res["receivers"].set_index(["technology", "receiver"])
    assert sorted(set(rec.index.get_level_values(0))) == sorted(_techs())
    manifest = load_manifest(out / "model" / "modelsync.manifest.json")
    for t in _techs():
        for h in ("h2", "h3"):
            assert rec.loc[(t, h), "verified"], (t, h)
            for f in manifest.files:
                assert sha256_file(received / f"{t}-0-0" / h / f.name) == f.sha256
        assert not rec.loc[(t, "h4"), "verified"]
    agg = aggregate(res.experiment, res.tables, res.topology)
    assert (agg["unverified"] == 0).all(), agg[["technology", "unverified"]]


@pytest.mark.parametrize("tech", [*P4, "pim-sm"])
def test_the_joiner(measured: tuple[Path, Path], tech: str) -> None:
    if tech not in _techs():
        pytest.skip(f"pim-sm did not run: {pim_available()}")
    out, _ = measured
    res = read_results(out)
    rec = res["receivers"]
    h3 = rec[(rec["technology"] == tech) & (rec["receiver"] == "h3")].iloc[0]
    assert JOIN_AT <= h3["joined_s"] < JOIN_AT + 0.4
    # the network sends it data soon after it joined, and none before
    assert 0 < h3["first_packet_s"] - h3["joined_s"] < 0.5, h3
    assert h3["chunks_repaired"] > 0  # what went by before it joined came by repair
    assert h3["completed_s"] > h3["joined_s"]
    c = res["control"]
    c = c[(c["technology"] == tech) & c["action"].isin(["join", "leave"])].set_index("action")
    assert list(c.loc[["join", "leave"], "switch"]) == ["h3", "h4"]
    writes = c.loc[["join", "leave"], "writes"]
    if tech in ("unicast", "bier"):
        assert (writes == 0).all()  # the sender's stream or BitString only
    elif tech == "pim-sm":
        assert writes.isna().all()  # no controller: IGMP and PIM
    else:
        assert (writes > 0).all()  # a new tree instance, make-before-break


@pytest.mark.parametrize("tech", [*P4, "pim-sm"])
def test_the_leaver(measured: tuple[Path, Path], tech: str) -> None:
    if tech not in _techs():
        pytest.skip(f"pim-sm did not run: {pim_available()}")
    out, _ = measured
    rec = read_results(out)["receivers"]
    h4 = rec[(rec["technology"] == tech) & (rec["receiver"] == "h4")].iloc[0]
    assert LEAVE_AT <= h4["left_s"] < LEAVE_AT + 0.4
    if tech in ("unicast", "bier"):  # the sender stops at its next look (20 ms) at the file
        assert h4["stopped_s"] < 0.25, h4
    else:  # the network: a new tree (SR-P2MP), an IGMP leave and a prune (PIM-SM)
        assert h4["stopped_s"] < 3.0, h4


def test_the_figure_of_joiners_and_leavers(measured: tuple[Path, Path]) -> None:
    """One bar row per technology's joiner (join to first datagram, then to verified) and
    leaver, in the table's order."""
    from experiments import report

    out, _ = measured
    res = read_results(out)
    fig = report.membership_timeline(res)
    assert fig is not None
    rec = res["receivers"]
    moved = rec[rec["joined_s"].notna() | rec["left_s"].notna()]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [f"{r.technology} {r.receiver}" for r in moved.itertuples()]
    assert {lb.split()[1] for lb in labels} == {"h3", "h4"}  # the joiner and the leaver
    report.plt.close(fig)
