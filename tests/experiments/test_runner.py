"""The round's and the runner's own parts: interface counters, converters from the
collaborators' records (modelsync's and the controller's record classes) to the results
tables, the failure thread, and the honest `run` entry where something is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.controller import EventRecord, SwitchWrite
from experiments.p4_backend import (
    P4Backend,
    controller_events,
    kept_up,
    read_link_counters,
    switch_rows,
    unexplained,
)
from experiments.results import rows
from experiments.round import (
    Applied,
    apply_failures,
    failure_rows,
    link_rows,
    receiver_rows,
    wan_classifier,
)
from experiments.runner import RunnerUnavailable, prerequisites, run_experiment
from experiments.schedule import NetEvent
from experiments.spec import load_experiment
from experiments.topology_source import build_topology
from modelsync.records import Counters, FileRecord, ReceiverRecord, SenderCounters, SenderRecord
from topologies.generators import fixed
from topologies.loader import from_dict

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"sweep": "", "technology": "bier", "repetition": 0, "round": 1}
LINE = from_dict(fixed("line"))  # h1-s1 (store), h2-s2, h3-s3, s1-s2, s2-s3


def fake_sysfs(root: Path, counters: dict[str, tuple[int, int, int, int]]) -> None:
    """The kernel's layout: <intf>/statistics/{tx,rx}_{bytes,packets}."""
    for intf, (txb, txp, rxb, rxp) in counters.items():
        d = root / intf / "statistics"
        d.mkdir(parents=True)
        for name, v in (("tx_bytes", txb), ("tx_packets", txp)):
            (d / name).write_text(f"{v}\n")
        for name, v in (("rx_bytes", rxb), ("rx_packets", rxp)):
            (d / name).write_text(f"{v}\n")


def intf(sw: str, port: int) -> str:
    return f"{sw}-eth{port}"


def test_link_counters_give_both_directions(tmp_path) -> None:
    # ports in file order: s1: h1=1, s2=2; s2: h2=1, s1=2, s3=3; s3: h3=1, s2=2
    fake_sysfs(
        tmp_path,
        {
            "s1-eth1": (10, 1, 20, 2),
            "s1-eth2": (30, 3, 40, 4),
            "s2-eth1": (50, 5, 60, 6),
            "s2-eth3": (70, 7, 80, 8),
            "s3-eth1": (90, 9, 100, 10),
        },
    )
    c = read_link_counters(LINE, intf, tmp_path)
    assert c[("s1", "h1")] == (10, 1) and c[("h1", "s1")] == (20, 2)
    assert c[("s1", "s2")] == (30, 3) and c[("s2", "s1")] == (40, 4)
    assert c[("s2", "s3")] == (70, 7) and c[("s3", "s2")] == (80, 8)
    assert c[("s3", "h3")] == (90, 9)
    before = {k: (0, 0) for k in c}
    out = rows("links", link_rows(LINE, before, c, KEYS, wan_classifier(LINE)))
    assert len(out) == 2 * len(LINE.links)
    r = out[(out["src"] == "s2") & (out["dst"] == "s1")].iloc[0]
    assert (r["link"], r["bytes"], r["packets"], r["capacity_mbit"]) == ("s1-s2", 40, 4, 50.0)


def test_link_counters_read_the_kernel(tmp_path) -> None:
    # the loopback interface exists everywhere: same files, same parsing
    c = read_link_counters(LINE, lambda sw, port: "lo")
    assert all(isinstance(b, int) and b >= 0 for b, _ in c.values())
    with pytest.raises(RuntimeError, match="cannot read interface counter"):
        read_link_counters(LINE, intf, tmp_path)


def test_wan_classifier() -> None:
    topo = build_topology(load_experiment(ROOT / "experiments" / "default.yaml"))
    wan = wan_classifier(topo)
    assert wan("c1", "b1") and wan("ms", "c1") and wan("c1", "c2")
    assert not wan("b1", "l1_1") and not wan("l1_1", "g1_1_1") and not wan("store", "ms")


def test_receiver_rows_from_modelsync_records() -> None:
    t0 = 1000.0
    sender = SenderRecord(
        technology="bier", model_id="ab", model_name="m", total_size=10, files=1,
        chunk_size=1392, chunks=1, rate_mbps=20.0, session=1, outcome="complete",
        started_at=999.0, first_packet_at=t0, ended_at=1010.0, rounds=1,
        counters=SenderCounters(), receivers=[],
    )  # fmt: skip

    def rec(name: str, outcome: str, verified: bool) -> dict:
        return ReceiverRecord(
            receiver=name, model_id="ab", model_name="m", out_dir="/x", outcome=outcome,
            started_at=998.0, first_packet_at=t0 + 0.01, verified_at=t0 + 4.5 if verified
            else None, loadable_at=t0 + 4.75 if verified else None, ended_at=t0 + 5,
            counters=Counters(datagrams=12, bytes=17000, duplicates=2, corrupt=1,
                              nacks_sent=3, repaired=4, repaired_bytes=5600),
            files=[FileRecord(index=0, name="a", size=10, chunks=1, received=1,
                              verified=verified)],
        ).model_dump()  # fmt: skip

    out = rows(
        "receivers",
        receiver_rows(
            sender.model_dump(),
            [rec("g1", "complete", True), rec("g2", "incomplete", False)],
            KEYS,
            {"g1": "cloud1", "g2": "cloud2"},
        ),
    )
    g1, g2 = out.iloc[0], out.iloc[1]
    assert (g1["completed_s"], g1["loaded_s"], g1["verified"]) == (4.5, 4.75, True)
    assert g1["first_packet_s"] == pytest.approx(0.01)
    assert (g1["packets_received"], g1["duplicates"], g1["chunks_repaired"]) == (12, 2, 4)
    assert g1["bytes_repaired"] == 5600
    assert not g2["verified"]
    assert pd_na(g2["completed_s"]) and g2["cloud"] == "cloud2"


def pd_na(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_switch_and_event_rows_from_controller_records() -> None:
    recs = [
        {"kind": "read_table", "switch": "s1", "table": "MyIngress.bift", "entries": 12},
        {"kind": "read_groups", "switch": "s1", "groups": 1, "replicas": 3},
        {"kind": "counter", "switch": "s1", "counter": "x", "packets": 5},
    ]
    sw = rows("switches", [{**KEYS, **r} for r in switch_rows(recs)])
    assert sw[["table", "entries"]].values.tolist() == [
        ["MyIngress.bift", 12],
        ["replication_groups", 1],
    ]
    assert sw["replicas"].iloc[1] == 3 and pd_na(sw["replicas"].iloc[0])
    # the round applied a silent failure at 104.0; s2's BFD session noticed at 104.14 and
    # the controller had the news at 104.15; a record of an earlier event is not this one's
    ev = EventRecord(
        link="s1-s2", up=False, occurred=104.14, detected=104.15, computed=104.16, done=104.2,
        writes=[SwitchWrite("s1", 3, 104.16, 104.17), SwitchWrite("s2", 2, 104.16, 104.19)],
        cause="liveness", detected_by="s2 port 1",
    )  # fmt: skip
    old = EventRecord(link="s1-s2", up=False, occurred=90.0, done=90.1)
    applied = [Applied("link-down", "s1-s2", 4.0, 104.0, 5.0, ["s1-s2"], "silent")]
    (net_ev,) = controller_events(applied, [old.record(), ev.record()], {"s9": 4})
    assert (net_ev.detected, net_ev.detected_by) == (104.14, "s2 port 1 (liveness)")
    assert net_ev.local_repair is None  # backups used far away are not this link's
    (frr,) = controller_events(applied, [ev.record()], {"s2": 12})
    assert frr.local_repair == 104.14  # s2 sent backup copies from its detection on
    # a link the switches took down with no failure applied to it: said, not attributed
    flap = EventRecord(link="s3-s4", up=False, occurred=103.0, cause="liveness")
    assert unexplained(applied, [old.record(), ev.record(), flap.record()], 200.0) == [
        old.record(), flap.record()
    ]  # fmt: skip
    assert unexplained(applied, [flap.record()], restored=102.0) == []  # after restoring
    ctrl, fail = failure_rows([net_ev], [], KEYS, t0=100.0)
    ctrl, fail = rows("control", ctrl), rows("failures", fail)
    assert fail[["kind", "element", "mode"]].values.tolist() == [["link-down", "s1-s2", "silent"]]
    assert fail["at_s"].iloc[0] == pytest.approx(4.0)
    assert fail["detected_s"].iloc[0] == pytest.approx(4.14)  # the switch's, not the controller's
    assert fail["reconverged_s"].iloc[0] == pytest.approx(4.2)  # the controller's own end
    assert ctrl["writes"].tolist() == [3, 2] and set(ctrl["action"]) == {"failure"}
    assert ctrl["duration_s"].tolist() == pytest.approx([0.01, 0.03])


def _arrivals(times: list[float]) -> dict:
    """modelsync's arrival record of these datagram times (gaps of 1 ms or more)."""
    from modelsync.receiver import ArrivalLog

    log = ArrivalLog(0.001)
    for t in times:
        log.add(t)
    return log.record().model_dump()


def test_outage_rows_for_receivers_that_lost_frames_across_the_event() -> None:
    from experiments.round import NetworkEvent

    steady = [100 + i * 0.001 for i in range(5000)]  # 100.000 .. 104.999 every ms
    cut = [t for t in steady if not 102.0 < t < 102.4]  # 0.4 s without data from 102 s
    stalled = [t for t in steady if not 102.0 < t < 102.3]  # a gap, but nothing lost
    quick = [t for t in steady if not 102.0 < t < 102.0125]  # BIER-FRR: 13 ms
    recs = [
        {"receiver": "g1", "counters": {"repaired": 40, "repaired_bytes": 55_000},
         "arrivals": _arrivals(cut)},
        {"receiver": "g2", "counters": {"repaired": 0, "repaired_bytes": 0},
         "arrivals": _arrivals(stalled)},
        {"receiver": "g3", "counters": {"repaired": 7, "repaired_bytes": 9_000},
         "arrivals": _arrivals(steady)},
    ]  # fmt: skip
    evs = [NetworkEvent("link-down", "s1-s2", 102.0, detected=102.15)]
    ctrl, fail = failure_rows(evs, recs, KEYS, t0=100.0)
    assert ctrl == []
    assert [r["receiver"] for r in fail] == ["", "g1"]  # g2 lost nothing, g3 saw no gap
    ev, g1 = fail
    assert g1["outage_s"] == pytest.approx(0.4) and g1["reconverged_s"] == pytest.approx(2.4)
    assert (g1["packets_lost"], g1["bytes_repaired"]) == (40, 55_000)
    assert g1["local_repair_s"] is None and ev["local_repair_s"] is None  # none happened
    assert ev["reconverged_s"] == pytest.approx(2.4)  # no record of its own: the last receiver
    # a second event that cuts g1 again: its loss is counted once, on the first
    evs.append(NetworkEvent("link-down", "s1-s2", 103.0))
    cut2 = [t for t in cut if not 103.0 < t < 103.3]
    recs[0]["arrivals"] = _arrivals(cut2)
    _, fail = failure_rows(evs, recs[:1], KEYS, t0=100.0)
    assert [(r["event"], r["receiver"], r.get("packets_lost")) for r in fail] == [
        (0, "", None), (0, "g1", 40), (1, "", None), (1, "g1", None)
    ]  # fmt: skip
    # the data plane took a backup at 102.001, the controller first wrote at 102.05: g1's
    # data back before that came by the backup alone
    recs[0]["arrivals"] = _arrivals(quick)
    frr = [
        NetworkEvent("link-down", "s1-s2", 102.0, detected=102.001, done=102.1,
                     local_repair=102.001, reaction_started=102.05)
    ]  # fmt: skip
    _, fail = failure_rows(frr, recs[:1], KEYS, t0=100.0)
    ev, g1 = fail
    assert g1["outage_s"] == pytest.approx(0.013)
    assert g1["local_repair_s"] == pytest.approx(2.013)
    assert ev["local_repair_s"] == pytest.approx(2.001) and ev["reconverged_s"] == pytest.approx(
        2.1
    )


def test_kept_up() -> None:
    assert kept_up({("s1", 1): 100, ("s1", 2): 50}, {("s1", 1): 100, ("s1", 2): 50}) == (True, 0)
    assert kept_up({("s1", 1): 100, ("s2", 1): 10}, {("s1", 1): 93}) == (False, 17)


def test_runner_says_what_is_missing(monkeypatch, tmp_path) -> None:
    import experiments.runner as runner

    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    assert any(m.startswith("root") for m in prerequisites())
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    with pytest.raises(RunnerUnavailable) as e:
        run_experiment(exp, tmp_path / "results", progress=False, say=lambda _m: None)
    assert any("root" in m for m in e.value.missing)
    assert not (tmp_path / "results").exists()  # nothing run, no empty results folder


def test_failures_applied_after_the_first_packet() -> None:
    import threading
    import time

    applied_at: list[tuple[str, str, float]] = []

    class Recorder:  # what the thread calls on the network
        def apply(self, ev: NetEvent) -> list[str]:
            if ev.element == "s9":
                raise KeyError("no switch 's9'")
            applied_at.append((ev.kind, ev.element, time.time()))
            return [f"{a}-{b}" for a, b in ev.pairs]

    t0 = time.time() + 0.05
    evs = [
        NetEvent(0.0, "link-down", "s1-s2", (("s1", "s2"),)),
        NetEvent(0.02, "link-up", "s1-s2", (("s1", "s2"),)),
        NetEvent(0.03, "switch-down", "s9", ()),
        NetEvent(0.04, "switch-down", "s3", (("s2", "s3"), ("s3", "h3"))),
    ]
    first, applied, errors = threading.Event(), [], []
    th = apply_failures(Recorder(), evs, lambda: t0, threading.Event(), first, applied, errors)
    th.join(5)
    assert first.is_set()
    assert [(k, n) for k, n, _ in applied_at] == [
        ("link-down", "s1-s2"), ("link-up", "s1-s2"), ("switch-down", "s3")
    ]  # fmt: skip
    assert applied_at[0][2] >= t0 and applied_at[2][2] >= t0 + 0.04
    assert [a.links for a in applied] == [["s1-s2"], ["s1-s2"], ["s2-s3", "s3-h3"]]
    assert [a.scheduled_s for a in applied] == [0.0, 0.02, 0.04]
    assert errors == ["switch-down s9 at 0.03 s: \"no switch 's9'\""]
    first2, applied2 = threading.Event(), []
    th2 = apply_failures(Recorder(), evs, lambda: None, threading.Event(), first2, applied2, [])
    th2.join(5)
    assert applied2 == [] and not first2.is_set()  # no first packet: nothing applied


def test_p4_failures_are_applied_in_their_mode_and_what_stays_down_is_restored() -> None:
    calls: list[tuple[str, str, bool]] = []
    modes: list[str] = []

    class Net:
        def set_link(self, name: str, up: bool, mode: str = "carrier") -> None:
            calls.append(("link", name, up))
            modes.append(mode)

        def set_switch(self, name: str, up: bool, mode: str = "carrier") -> None:
            calls.append(("switch", name, up))
            modes.append(mode)

    class Control:
        technology = "bier"

    b = P4Backend(Net(), LINE, Control(), Path("model"))  # type: ignore[arg-type]
    assert b.apply(NetEvent(0.0, "link-down", "s1-s2", (("s1", "s2"),))) == ["s1-s2"]
    b.apply(NetEvent(0.1, "switch-down", "s3", (("s2", "s3"), ("h3", "s3")), "silent"))
    b.apply(NetEvent(0.2, "link-up", "s1-s2", (("s1", "s2"),)))
    assert calls == [("link", "s1-s2", False), ("switch", "s3", False), ("link", "s1-s2", True)]
    assert modes == ["carrier", "silent", "carrier"]  # each in its description's mode
    b.restore()  # the round outlived the switch failure
    assert calls[3:] == [("switch", "s3", True)]
    b.restore()
    assert len(calls) == 4


def test_run_reports_a_bad_description(tmp_path) -> None:
    bad = tmp_path / "e.yaml"
    bad.write_text((ROOT / "experiments" / "default.yaml").read_text().replace("ms-c1", "ms-c9"))
    r = subprocess.run(
        [sys.executable, "-m", "experiments", "run", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert "failures[0].link: no link 'ms-c9'" in r.stderr


def test_programs_compiled_when_missing_and_reused(tmp_path) -> None:
    from experiments.runner import ensure_programs

    said: list[str] = []
    ensure_programs(tmp_path / "build", "softswitch", said.append)
    for name in ("bier", "sr_p2mp", "srv6_p2mp"):
        cfg = json.loads((tmp_path / "build" / "softswitch" / f"{name}.json").read_text())
        assert (cfg["format"], cfg["program"]) == ("softswitch-device-config", f"{name}.p4")
        assert "tables" in (tmp_path / "build" / "softswitch" / f"{name}.p4info.txtpb").read_text()
    assert len(said) == 1 and "compiling" in said[0]
    ensure_programs(tmp_path / "build", "softswitch", said.append)
    assert len(said) == 1  # present: not compiled again


def test_a_build_from_other_sources_is_compiled_again(tmp_path) -> None:
    """A build/ left from older p4src/ (its stamp differs) is stale even with every file there."""
    from experiments.runner import ensure_programs
    from softswitch.build_all import SOURCES_STAMP, sources_digest

    build = tmp_path / "build"
    ensure_programs(build, "softswitch", lambda m: None)
    assert (build / SOURCES_STAMP).read_text().strip() == sources_digest(ROOT / "p4src")
    bier = build / "softswitch" / "bier.json"
    bier.write_text("{}")  # what a build from other sources would have left
    (build / SOURCES_STAMP).write_text("0" * 64 + "\n")
    said: list[str] = []
    ensure_programs(build, "softswitch", said.append)
    assert len(said) == 1 and "p4src/ or the compiler changed since" in said[0]
    assert json.loads(bier.read_text())["program"] == "bier.p4"


def test_programs_that_cannot_be_built_are_reported_whole(tmp_path) -> None:
    """build_all's own report reaches the user uncut, with the target named."""
    from experiments.runner import RunnerUnavailable, ensure_programs

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunnerUnavailable) as e:
        ensure_programs(blocker / "build", "softswitch", lambda m: None)
    (msg,) = e.value.missing
    assert msg.startswith("the P4 programs for softswitch (python -m softswitch.build_all exited")
    line = f"build_all: error: cannot create the output folder {blocker}/build/softswitch: "
    assert msg.count(line + "Not a directory.") == 3  # one per program of p4src/
    assert msg.endswith("Not a directory.")


def test_the_sender_sizes_its_frames_to_the_narrowest_link(tmp_path) -> None:
    from types import SimpleNamespace

    from experiments.delivery import start_sender
    from experiments.ideal import Wire

    d = fixed("diamond")
    d["links"][6]["mtu"] = 1500  # s1-s3, off the shortest paths: a reroute may take it
    topo = from_dict(d)
    started: list[list[str]] = []

    class Host:
        def popen(self, argv: list[str], **kw: object) -> subprocess.Popen:
            started.append(argv)
            return subprocess.Popen(["true"], **kw)  # type: ignore[call-overload]

    net = SimpleNamespace(host=lambda name: Host())
    snd = start_sender(net, topo, "h1", ["h2"], "unicast", tmp_path, 10.0, tmp_path / "r", 60)
    snd.proc.wait(10)
    snd.kill()
    (argv,) = started
    assert argv[argv.index("--mtu") + 1] == "1500"
    assert Wire.of(topo).mtu == 1500 and Wire.of(LINE).mtu == 9000
    # the ideal counts the model's frames of that MTU: 1514 bytes for every 1436 of the model
    from experiments.flowmodel import build_net, shortest_paths
    from experiments.ideal import structural_ideal

    def ideal(t) -> float:  # type: ignore[no-untyped-def]
        net = build_net(t)
        paths = shortest_paths(net, "h1", ["h2"])
        return structural_ideal(net, "unicast", paths, 1e6, None, Wire.of(t))["ideal_link_bytes"]

    d["links"][6]["mtu"] = 9000
    assert ideal(topo) / ideal(from_dict(d)) == pytest.approx((1514 / 1436) / (9014 / 8936))
    assert ideal(from_dict(d)) == pytest.approx(4 * 1e6 * 9014 / 8936)  # h1-s1-s2-s4-h2


def test_the_deadline_covers_the_first_pass_at_the_rounds_rate() -> None:
    from experiments.round import RECEIVER_CPU_S_PER_MB, deadline_s, receiving_s, sending_s

    # unicast: a copy per receiver; 8,936 bytes of model in every 9,014-byte frame
    assert sending_s(LINE, "unicast", ["h2", "h3"], 10**6, 8.0) == pytest.approx(
        2 * 10**6 * 9014 / 8936 / 1e6
    )
    assert sending_s(LINE, "bier", ["h2", "h3"], 10**6, 8.0) == pytest.approx(
        10**6 * 9014 / 8892 / 1e6
    )
    assert deadline_s(1.0) == 60.0  # at least a minute
    assert deadline_s(1.0, 20.0) == 6 * 20 + 30  # the rate, not the links, bounds the round
    # 128 receivers of 1 GB on 2 cores: their CPU bounds it
    assert receiving_s(128, 10**9, 2) == pytest.approx(64 * 1000 * RECEIVER_CPU_S_PER_MB)
    assert deadline_s(1.0, 20.0, receiving_s(128, 10**9, 2)) > 6 * 130


def test_a_stall_of_many_receivers_is_told_once() -> None:
    from experiments.round import stray_text

    stall = [(f"g{k}", 144.08 + k / 1000, 0.31 + k / 100) for k in range(6)]
    lone = [("h2", 110.5, 0.4), ("h1", 110.52, 0.5)]
    assert stray_text(stall + lone, 100.0) == (
        "h1 0.50 s at 10.52 s, h2 0.40 s at 10.50 s, 6 receivers 0.31-0.36 s at 44.08 s"
    )


def test_the_deadline_stretches_with_the_machines_load() -> None:
    from experiments.round import MAX_STRETCH, load_stretch

    assert load_stretch(1.0, 2) == 1.0  # an idle machine: as computed
    assert load_stretch(9.0, 2) == 4.5
    assert load_stretch(60.0, 2) == MAX_STRETCH


def test_a_failure_the_machine_held_back_makes_the_round_run_again() -> None:
    from experiments.round import LATE_S, held_back

    ok = {"kind": "link-down", "element": "s2-s4", "at_s": 0.8, "in_place_s": 0.8 + LATE_S / 2}
    late = {"kind": "switch-up", "element": "s2", "at_s": 1.8, "in_place_s": 2.8}
    assert held_back([ok]) is None
    assert held_back([{**ok, "in_place_s": None}]) is None  # an older record: as applied
    assert held_back([ok, late]) == "the machine held switch-up s2 back 1.00 s"


@pytest.mark.parametrize(
    ("order", "want"),
    [
        # the P4 network is stopped before the FRR network comes up
        (
            ["unicast", "bier", "pim-sm"],
            ["p4 up", "p4 unicast", "p4 bier", "p4 down", "frr up", "frr pim-sm", "frr down"],
        ),
        # a P4 technology after pim-sm: the P4 network stays up through it
        (
            ["bier", "pim-sm", "sr-p2mp"],
            ["p4 up", "p4 bier", "frr up", "frr pim-sm", "frr down", "p4 sr-p2mp", "p4 down"],
        ),
    ],
)
def test_a_network_is_stopped_after_the_last_technology_that_needs_it(
    monkeypatch, order: list[str], want: list[str]
) -> None:
    from types import SimpleNamespace

    from experiments import runner
    from wire.technology import Technology

    seen: list[str] = []

    class FakeNetwork:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self):
            seen.append(f"{self.name} up")
            return self

        def __exit__(self, *exc: object) -> None:
            seen.append(f"{self.name} down")

        def run(self, tech: str) -> None:
            seen.append(f"{self.name} {tech}")

    monkeypatch.setattr(runner, "_P4Testbed", lambda point, build: FakeNetwork("p4"))
    monkeypatch.setattr(runner, "_PimNetwork", lambda point, bfd: FakeNetwork("frr"))
    point = SimpleNamespace(exp=SimpleNamespace(technologies=[Technology(t) for t in order]))
    runner._run_sweep_point(point, Path("build"), pim_bfd=True)  # type: ignore[arg-type]
    assert seen == want
