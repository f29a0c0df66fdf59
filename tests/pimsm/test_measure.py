"""Measurement arithmetic on fixed inputs: FRR JSON parsing, probe logs, tree build, outage."""

from __future__ import annotations

import pytest

from pimsm.measure import outage, parse_mroutes, parse_pim_state, read_probe_log, tree_build
from pimsm.records import LinkEvent, ProbeLog

# `show ip mroute json` of s4 in the diamond, as FRR 8.4 printed it (trimmed to used keys)
MROUTE_S4 = {
    "239.1.0.1": {
        "*": {
            "installed": 1,
            "iif": "eth1",
            "flags": "SC",
            "oil": {"pimreg": {}, "eth3": {}, "eth4": {}},
        },
        "10.100.1.2": {
            "installed": 1,
            "iif": "eth1",
            "flags": "S",
            "oil": {"eth4": {}, "eth3": {}},
        },
    }
}
STATE_S4 = {
    "239.1.0.1": {
        "10.100.1.2": {
            "eth1": {"eth3": {"installed": 1}, "eth4": {"installed": 1}},
            "installed": 1,
            "isRpt": False,
        }
    }
}


def test_parse_mroutes() -> None:
    m = parse_mroutes("s4", MROUTE_S4)
    assert [(e.source, e.iif, e.oifs, e.data_oifs, e.flags, e.installed) for e in m] == [
        ("*", "eth1", ["eth3", "eth4", "pimreg"], ["eth3", "eth4"], "SC", True),
        ("10.100.1.2", "eth1", ["eth3", "eth4"], ["eth3", "eth4"], "S", True),
    ]


def test_parse_pim_state() -> None:
    (e,) = parse_pim_state("s4", STATE_S4)
    assert (e.group, e.source, e.iif, e.oifs, e.installed) == (
        "239.1.0.1",
        "10.100.1.2",
        "eth1",
        ["eth3", "eth4"],
        True,
    )


def test_read_probe_log_and_tree_build(tmp_path) -> None:
    f = tmp_path / "r.log"
    f.write_text("join 0 100.000000\ndata 7 100.250000\ndata 8 100.260000\nleave 0 101.5\ndata 9")
    log = read_probe_log("h2", f)
    assert (log.t_join, log.t_leave, log.arrivals) == (100.0, 101.5, [(7, 100.25), (8, 100.26)])
    tb = tree_build(log)
    assert tb.seconds == pytest.approx(0.25) and tb.t_first_data == 100.25


def test_bad_probe_log_line_names_the_place(tmp_path) -> None:
    f = tmp_path / "r.log"
    f.write_text("join 0 1.0\ndata x 2.0\n")
    with pytest.raises(ValueError, match=r"r\.log:2"):
        read_probe_log("h2", f)


def _log(times: list[tuple[int, float]]) -> ProbeLog:
    return ProbeLog(host="h2", t_join=0.0, t_leave=None, arrivals=times)


def test_outage_is_the_longest_gap_after_the_failure() -> None:
    ev = LinkEvent(link="s1-s2", mode="silent", bfd=False, t_fail=10.0)
    # 100/s until 10.05, nothing until 12.5, then steady again
    arr = [(i, i / 100) for i in range(1006)] + [
        (i, 12.5 + (i - 1250) / 100) for i in range(1250, 1300)
    ]
    o = outage(_log(arr), ev, interval_s=0.01)
    assert o.recovered and o.affected
    assert o.t_last_before == pytest.approx(10.0)
    assert o.outage_s == pytest.approx(12.5 - 10.05)
    assert o.lost_datagrams == 1250 - 1005 - 1


def test_unaffected_receiver_and_no_recovery() -> None:
    ev = LinkEvent(link="s1-s3", mode="carrier", bfd=True, t_fail=1.0)
    steady = outage(_log([(i, i / 100) for i in range(300)]), ev, interval_s=0.01)
    assert not steady.affected and steady.outage_s == pytest.approx(0.01)
    dead = outage(_log([(i, i / 100) for i in range(90)]), ev, interval_s=0.01)
    assert (dead.recovered, dead.outage_s, dead.t_resume) == (False, None, None)


def test_open_gap_at_t_end_is_not_a_recovery() -> None:
    ev = LinkEvent(link="s1-s2", mode="silent", bfd=False, t_fail=10.0)
    # one datagram already past the failed link trickles in, then nothing until t_end
    arr = [(i, i / 100) for i in range(1001)] + [(1001, 10.013)]
    o = outage(_log(arr), ev, interval_s=0.01, t_end=11.0)
    assert (o.recovered, o.outage_s) == (False, None)
    # later the stream is back: the long gap is closed and measured
    arr += [(i, 12.0 + (i - 1200) / 100) for i in range(1200, 1300)]
    o = outage(_log(arr), ev, interval_s=0.01, t_end=13.5)
    assert o.recovered and o.outage_s == pytest.approx(12.0 - 10.013)


def test_read_log_converts_stamps_to_monotonic(tmp_path) -> None:
    from datetime import datetime

    from pimsm.events import read_log

    f = tmp_path / "ospfd.log"
    f.write_text(
        "2026/11/28 04:11:36.250000 OSPF: [Y05P2-YJVXY] AdjChg: Nbr 10.255.0.2 on eth2:x: "
        "Full -> Deleted (InactivityTimer)\n"
        "2026/11/28 04:11:36 OSPF: [ABCDE-FGHIJ] a line from before the precision applied\n"
    )
    wall = datetime(2026, 11, 28, 4, 11, 36, 250000).timestamp()
    (ev,) = read_log("s1", "ospfd", f, offset=wall - 1000.0)
    assert (ev.router, ev.daemon) == ("s1", "ospfd")
    assert ev.t == pytest.approx(1000.0)
    assert ev.message.startswith("AdjChg: Nbr 10.255.0.2 on eth2:x: Full -> Deleted")
    assert read_log("s1", "pimd", tmp_path / "absent.log", 0.0) == []


def test_detection_is_credited_to_bfd_when_it_names_itself_within_5_ms() -> None:
    from pimsm.events import detected_by
    from pimsm.records import LogEvent

    ospf = LogEvent(
        router="s2",
        daemon="ospfd",
        t=19.989747,
        message="AdjChg: Nbr 10.255.0.1 on eth1: Full -> Deleted (InactivityTimer)",
    )
    pim = LogEvent(router="s2", daemon="pimd", t=19.989753,
                   message="PIM NEIGHBOR DOWN: neighbor 10.254.0.0 on interface eth1: "
                   "BFD Session Expired")  # fmt: skip
    assert detected_by([ospf, pim]) == f"s2/pimd: {pim.message}"
    late = pim.model_copy(update={"t": 20.1})  # a BFD line 110 ms on is another story
    assert detected_by([ospf, late]) == f"s2/ospfd: {ospf.message}"
    assert detected_by([]) is None
