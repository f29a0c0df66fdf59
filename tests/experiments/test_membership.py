"""Joins and leaves in a round (experiments.membership): the order in which receiver, network
and sender learn of each, the members file the sender reads, and the rows they give."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from experiments.membership import Change, MembersFile, Membership, control_rows, receiver_columns

KEYS = {"sweep": "", "technology": "sr-p2mp", "repetition": 0, "round": 0}


def test_join_then_leave_in_order(tmp_path: Path) -> None:
    said: list[tuple] = []
    path = tmp_path / "members.json"

    def members_in_file() -> list[str]:
        return json.loads(path.read_text())["members"]

    m = Membership(
        [(0.05, "join", "h3"), (0.1, "leave", "h2")],
        ["h2"],
        MembersFile(path),
        signal_join=lambda h: said.append(("receiver", h, members_in_file())),
        set_receivers=lambda hs: (
            said.append(("network", tuple(hs), members_in_file())) or [{"writes": 7}]
        ),
        signal_leave=lambda h: said.append(("leave", h, members_in_file())),
    )
    m.begin()
    assert json.loads(path.read_text()) == {"members": ["h2"], "open": True}
    stop = threading.Event()
    m.run(time.time, stop).join(5)
    # join: the receiver joins, then the network, then the sender's file; leave: the file,
    # then the network, then the receiver
    assert said == [
        ("receiver", "h3", ["h2"]),
        ("network", ("h2", "h3"), ["h2"]),
        ("network", ("h3",), ["h3"]),
        ("leave", "h2", ["h3"]),
    ]
    assert json.loads(path.read_text()) == {"members": ["h3"], "open": False}
    assert [(c.kind, c.host, c.writes) for c in m.applied] == [
        ("join", "h3", 7),
        ("leave", "h2", 7),
    ]
    assert m.applied[0].at < m.applied[1].at and not m.errors


def test_a_failing_change_is_reported_and_the_rest_applied(tmp_path: Path) -> None:
    def refuse(h: str) -> None:
        raise RuntimeError(f"receiver {h} is gone")

    m = Membership(
        [(0.0, "join", "h3"), (0.0, "leave", "h2")], ["h2"], MembersFile(tmp_path / "m.json"),
        refuse, lambda hs: None, lambda h: None,
    )  # fmt: skip
    m.begin()
    m.run(time.time, threading.Event()).join(5)
    assert m.errors == ["join h3 at 0.0 s: receiver h3 is gone"]
    assert [(c.kind, c.host, c.writes) for c in m.applied] == [("leave", "h2", None)]


def test_columns_and_rows() -> None:
    t0 = 100.0
    applied = [
        Change("join", "h3", 0.5, at=100.6, writes=12, write_s=0.03),
        Change("leave", "h2", 1.0, at=101.2),
    ]
    records = [
        {"receiver": "h2", "first_packet_at": 100.0, "arrivals": {"last": 101.45}},
        {"receiver": "h3", "first_packet_at": 100.7, "arrivals": {"last": 103.0}},
    ]
    cols = receiver_columns(applied, records, t0)
    assert round(cols["h3"]["joined_s"], 6) == 0.6 and cols["h3"]["left_s"] is None
    assert round(cols["h2"]["left_s"], 6) == 1.2 and round(cols["h2"]["stopped_s"], 6) == 0.25
    rows = control_rows(applied, records, KEYS, t0)
    assert rows[0] == {**KEYS, "action": "join", "switch": "h3", "writes": 12,
                       "started_s": rows[0]["started_s"], "duration_s": 0.03}  # fmt: skip
    # no controller for the leave (IGMP): from the leave to the last datagram it still got
    assert rows[1]["action"] == "leave" and rows[1]["writes"] is None
    assert round(rows[1]["duration_s"], 6) == 0.25
