"""The mechanisms the flow model represents beyond plain flows, against hand-computed cases:
SR-P2MP's make-before-break reaction (detection + recompute + one write round over the new
tree's switches + the head flip) and the reaction costs read from a measured control table.
Model 10 MB = 1e7 bytes; Mbit/s x 1e6 / 8 = bytes/s."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.flowmodel import build_net, shortest_paths
from experiments.ideal import Wire
from experiments.projection.mechanisms import new_set_cost, reaction_s, switch_state
from experiments.projection.simulator import Params, project_round
from experiments.schedule import NetEvent
from experiments.spec import ControlTiming
from experiments.validation import measured_timing, write_stages
from topologies.loader import from_dict

MB10 = 1e7


def bps(mbit: float) -> float:
    return mbit * 1e6 / 8


# src - s1 - s2 - s4 (h2, h3 on s4); detour s1 - s3 - s4 at 20 Mbit/s (weight 5)
DIAMOND = from_dict(
    {
        "name": "d",
        "switches": [{"name": s} for s in ("s1", "s2", "s3", "s4")],
        "hosts": [
            {"name": h, "role": "model-store" if h == "src" else "gpu", "cloud": "c"}
            for h in ("src", "h2", "h3")
        ],
        "links": [
            {"a": "src", "b": "s1", "bw_mbit": 100},
            {"a": "h2", "b": "s4", "bw_mbit": 100},
            {"a": "h3", "b": "s4", "bw_mbit": 100},
            {"a": "s1", "b": "s2", "bw_mbit": 50},
            {"a": "s2", "b": "s4", "bw_mbit": 50},
            {"a": "s1", "b": "s3", "bw_mbit": 20, "weight": 5},
            {"a": "s3", "b": "s4", "bw_mbit": 20, "weight": 5},
        ],
    }
)
TIMING = ControlTiming(compute_ms=180, write_ms=10)  # BFD 50 ms x 3: a silent failure 150 ms


def test_sr_p2mp_reaction_is_detection_compute_and_write_rounds() -> None:
    # 13 switches on the new tree: 13 writes in the first round, then 1 for the head
    assert reaction_s("sr-p2mp", TIMING, 0, 13, "silent") == pytest.approx(
        0.150 + 0.180 + 14 * 0.010
    )
    # a cable pull is seen at once (the projection's carrier_detection_ms)
    assert reaction_s("sr-p2mp", TIMING, 0, 13, "carrier") == pytest.approx(
        0.005 + 0.180 + 14 * 0.010
    )


def test_srv6_segments_only_where_the_tree_branches_starts_or_delivers() -> None:
    """src -> s1 -> s2 -> s4 (h2, h3): s2 only passes the tree on. Over MPLS every tree switch
    holds a segment; over SRv6 s1 (the root) and s4 (delivers) do, s2 routes by locator."""
    net = build_net(DIAMOND)
    paths = shortest_paths(net, "src", ["h2", "h3"], rpf=True)
    mpls = {(s, tab): (n, r) for s, tab, n, r in switch_state(net, "sr-p2mp", paths, 2)}
    v6 = {(s, tab): (n, r) for s, tab, n, r in switch_state(net, "srv6-p2mp", paths, 2)}
    assert mpls == {
        ("s1", "sr_segment"): (2, None), ("s1", "replication_groups"): (1, 1),
        ("s2", "sr_segment"): (2, None), ("s2", "replication_groups"): (1, 1),
        ("s4", "sr_segment"): (3, None), ("s4", "replication_groups"): (1, 2),
    }  # fmt: skip
    assert v6 == {k: v for k, v in mpls.items() if k[0] != "s2"}
    # a new set: per segment the group, a branch per replica, the SID; the root move
    assert new_set_cost(net, "sr-p2mp", TIMING, paths, None).writes == 3 + 3 + 4 + 1
    assert new_set_cost(net, "srv6-p2mp", TIMING, paths, None).writes == 3 + 4 + 1


def test_sr_p2mp_failure_outage_spans_the_make_before_break_rounds() -> None:
    net = build_net(DIAMOND)
    p = Params(MB10, 1000e6, TIMING, Wire(headers=False))
    keys = {"sweep": "", "technology": "sr-p2mp", "repetition": 0, "round": 0}
    ev = [NetEvent(1.0, "link-down", "s2-s4", (("s2", "s4"),), "silent")]
    out, _ = project_round(net, "sr-p2mp", "src", ["h2", "h3"], ev, p, keys)
    # new tree s1, s3, s4: detection + compute + 3 writes (new tree) + 1 write (head flip)
    react = 0.150 + 0.180 + (3 + 1) * 0.010
    aff = {r["receiver"]: r for r in out["failures"] if r.get("receiver")}
    assert aff["h2"]["outage_s"] == pytest.approx(react)
    deficit = bps(50) * react
    assert aff["h2"]["bytes_repaired"] == round(deficit)
    # stream on the 20 Mbit/s detour after the reaction; then one unicast repair copy per
    # receiver, the two sharing s1-s3 (10 Mbit/s each)
    t_pass = 1.0 + react + (MB10 - bps(50) * (1 + react)) / bps(20)
    done = {r["receiver"]: r["completed_s"] for r in out["receivers"]}
    assert done == pytest.approx(
        {"h2": t_pass + deficit / bps(10), "h3": t_pass + deficit / bps(10)}
    )


def _control(rows: list[tuple[str, str, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"sweep": "", "technology": "sr-p2mp", "repetition": 0, "round": 0, "action": a,
             "switch": s, "writes": w, "started_s": t, "duration_s": d}
            for a, s, w, t, d in rows
        ]
    )  # fmt: skip


def test_write_stages_split_where_every_earlier_write_ended() -> None:
    c = _control(
        [
            ("failure", "a", 4, 2.40, 0.05),
            ("failure", "b", 4, 2.42, 0.06),  # ends 2.48
            ("failure", "a", 1, 2.50, 0.01),  # head flip: starts after 2.48
            ("failure", "a", 3, 2.52, 0.02),  # old tree removed
        ]
    )
    assert [list(s["writes"]) for s in write_stages(c)] == [[4, 4], [1], [3]]


def test_measured_timing_reads_compute_and_per_switch_write() -> None:
    c = _control(
        [
            ("failure", "a", 4, 2.40, 0.05),
            ("failure", "b", 4, 2.42, 0.06),
            ("failure", "a", 1, 2.50, 0.01),
        ]
    )
    f = pd.DataFrame(
        [
            {"sweep": "", "technology": "sr-p2mp", "repetition": 0, "round": 0,
             "kind": "link-down", "detected_s": 2.20, "receiver": ""}
        ]
    )  # fmt: skip
    got = measured_timing({"control": c, "failures": f}, ControlTiming())
    # compute 2.40 - 2.20 = 200 ms; first round 2.40..2.48 over 2 switches: 40 ms each
    assert got["sr-p2mp"].compute_ms == pytest.approx(200.0)
    assert got["sr-p2mp"].write_ms == pytest.approx(40.0)
    assert got["sr-p2mp"].bfd.detection_ms == 150.0  # the described value stays
    assert measured_timing({"control": c.iloc[0:0], "failures": f}, ControlTiming()) == {}


# src - s1; s1 - s2 - l2 (h2); s1 - s3 - l3 (h3): all 100 Mbit/s
BRANCHES = from_dict(
    {
        "name": "b",
        "switches": [{"name": s} for s in ("s1", "s2", "s3", "l2", "l3")],
        "hosts": [
            {"name": h, "role": "model-store" if h == "src" else "gpu", "cloud": "c"}
            for h in ("src", "h2", "h3")
        ],
        "links": [
            {"a": a, "b": b, "bw_mbit": 100}
            for a, b in [
                ("src", "s1"), ("s1", "s2"), ("s2", "l2"), ("h2", "l2"),
                ("s1", "s3"), ("s3", "l3"), ("h3", "l3"),
            ]
        ],
    }
)  # fmt: skip


def test_pim_sm_stale_branch_carries_the_stream_for_the_hold_time() -> None:
    net = build_net(BRANCHES)
    p = Params(MB10, 80e6, TIMING, Wire(headers=False))

    def keys(k: int) -> dict:
        return {"sweep": "", "technology": "pim-sm", "repetition": 0, "round": k}

    _, prev = project_round(net, "pim-sm", "src", ["h2", "h3"], [], p, keys(0))
    out, _ = project_round(net, "pim-sm", "src", ["h2"], [], p, keys(1), prev)
    links = {(r["src"], r["dst"]): r["bytes"] for r in out["links"]}
    # h3 left: l3's prune (after IGMP's leave) and s3's own do not take effect before the
    # data comes: s1 keeps sending to s3, and s3 to l3, for 17.5 s, longer than the 1e7
    # bytes at 10 MB/s (1 s) take, so both carry the whole stream once more
    assert links[("s1", "s3")] == MB10
    assert links[("s3", "l3")] == MB10
    assert links[("l3", "h3")] == 0  # no host link: l3 has no member to send to
    assert links[("s1", "s2")] == MB10
    done = {r["receiver"]: r["completed_s"] for r in out["receivers"]}
    assert done == {"h2": pytest.approx(1.0)}
    # the stale branches' bytes are reported apart: FRR prunes them at once in some runs
    assert out["rounds"][0]["stale_link_bytes"] == 2 * MB10
    first, _ = project_round(net, "pim-sm", "src", ["h2", "h3"], [], p, keys(0))
    assert first["rounds"][0]["stale_link_bytes"] == 0


def test_pim_sm_stale_branch_ends_at_the_hold_time() -> None:
    net = build_net(BRANCHES)
    # 4e8 bytes at 10 MB/s take 40 s: the stale branch lives 17.5 s of them
    p = Params(4e8, 80e6, TIMING, Wire(headers=False))

    def keys(k: int) -> dict:
        return {"sweep": "", "technology": "pim-sm", "repetition": 0, "round": k}

    _, prev = project_round(net, "pim-sm", "src", ["h2", "h3"], [], p, keys(0))
    out, _ = project_round(net, "pim-sm", "src", ["h2"], [], p, keys(1), prev)
    links = {(r["src"], r["dst"]): r["bytes"] for r in out["links"]}
    assert links[("s1", "s3")] == round(17.5 * 1e7)


def test_the_prediction_paces_as_the_emulation_did() -> None:
    import pandas as pd

    from experiments.projection import project
    from experiments.spec import parse_experiment
    from experiments.validation import measured_rates

    exp = parse_experiment(
        {"name": "t", "topology": {"generator": "fixed", "params": {"name": "tree"}},
         "technologies": ["bier"], "model": {"size": "10MB"}, "sending_rate_mbit": "auto",
         "rounds": [{"receivers": "all"}, {"receivers": "all"}]}
    )  # fmt: skip
    rounds = pd.DataFrame(
        {"sweep": ["", "", ""], "technology": ["bier"] * 3, "round": [0, 0, 1],
         "repetition": [0, 1, 0], "sending_rate_mbit": [1.0, 3.0, float("nan")]}
    )  # fmt: skip
    rates = measured_rates({"rounds": rounds})
    assert rates == {("", "bier", 0): 2.0}  # the mean over repetitions; NaN: none given
    links = project(exp, scale=False).tables["receivers"]
    paced = project(exp, scale=False, rates=rates).tables["receivers"]
    # round 0 at 2 Mbit/s of frames (8,892 bytes of model in 9,014): slower than the links
    done = paced[paced["round"] == 0]["completed_s"].max()
    assert done == pytest.approx(10e6 * 8 / (2e6 * 8892 / 9014), rel=1e-6)
    assert done > links[links["round"] == 0]["completed_s"].max()
    # round 1 kept the links' auto rate
    assert paced[paced["round"] == 1]["completed_s"].max() == pytest.approx(
        links[links["round"] == 1]["completed_s"].max()
    )
