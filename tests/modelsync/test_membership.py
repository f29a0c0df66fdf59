"""Receivers joining and leaving while the model flows: the sender's members file (who it
sends to, polls and repairs; BIER's BitStrings), checked on the copies it hands to its
sockets (recorders, no root), and the receiver's leave (group dropped, no more answers,
arrivals logged, outcome left) on the loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from scapy.layers.l2 import Ether

import modelsync.sender as sender_mod
from modelsync.receiver import EXIT_LEFT, Receiver, ReceiverConfig
from wire.bier import BIER, bfr_ids_of
from wire.delivery import decode

from .test_sender_frames import _sender

MODEL = 800_000  # more than 512 chunks of a 1500-byte MTU: the sender looks at the file twice


def _write(path: Path, members: list[str], open_: bool, stamp: int) -> None:
    path.write_text(json.dumps({"members": members, "open": open_}))
    os.utime(path, ns=(stamp, stamp))  # a new mtime whatever the clock's resolution


def _changes_at_drains(s, path: Path, steps: list[list[str]]) -> None:  # type: ignore[no-untyped-def]
    """The members file changes as the sender looks at it: steps[k] before its k-th look
    (it looks every 256 chunks; its looks every 20 ms are off here)."""
    drain, looks = s._drain, iter(steps)

    def wrapped() -> None:
        step = next(looks, None)
        if step is not None:
            _write(path, step, True, 10 + len(step) * 7 + id(step) % 1000)
        drain()

    s._drain = wrapped


def _chunks(dgrams: list[bytes]) -> list[tuple[int, int]]:
    return [(d.shard, d.chunk) for d in map(decode, dgrams)]


def test_unicast_stream_starts_for_a_joiner_and_stops_for_a_leaver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_mod, "MEMBERS_LOOK_S", 1e9)
    path = tmp_path / "members.json"
    _write(path, ["h2"], True, 1)
    s, _m, _frames, udp = _sender(tmp_path, "unicast", monkeypatch, members_file=path,
                                 model_size=MODEL)  # fmt: skip
    assert s.members() == ["h2"] and s.peers["h3"].state == "absent"
    _changes_at_drains(s, path, [["h2", "h3"], ["h3"]])
    s.first_pass()
    order = [(f, c) for f, n in enumerate(s.counts) for c in range(n)]
    got = {ip: _chunks([d for d, a in udp if a[0] == ip]) for ip in ("10.0.0.2", "10.0.0.3")}
    # the sender looks after every 256th chunk of a file: h3 joins after the first look,
    # h2 leaves after the second
    looks = [i for i, (f, c) in enumerate(order) if c & 255 == 255]
    assert got["10.0.0.2"] == order[: looks[1] + 1]
    assert got["10.0.0.3"] == order[looks[0] + 1 :]
    assert not [a for _, a in udp if a[0] == "10.0.0.4"]  # h4 never joined
    rec = s.record()
    st = {r.name: r for r in rec.receivers}
    assert (st["h2"].state, st["h3"].state, st["h4"].state) == ("left", "silent", "absent")
    assert st["h2"].left_at and st["h3"].joined_at and st["h4"].joined_at is None
    assert st["h2"].missing == {} and st["h4"].missing == {}
    assert rec.counters.member_changes == 2
    s.close()


def test_bier_bitstring_follows_the_members(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sender_mod, "MEMBERS_LOOK_S", 1e9)
    path = tmp_path / "members.json"
    _write(path, ["h2"], True, 1)
    s, _m, frames, _udp = _sender(tmp_path, "bier", monkeypatch, members_file=path,
                                  model_size=MODEL)  # fmt: skip
    _changes_at_drains(s, path, [["h2", "h3"], ["h3"]])
    s.first_pass()
    ids = [tuple(bfr_ids_of(Ether(f)[BIER].bitstring)) for f in frames]
    firsts = [ids.index(x) for x in ((1,), (1, 2), (2,))]
    assert firsts[0] == 0 < firsts[1] < firsts[2]  # BFR-ids: h2 1, h3 2
    assert ids == sorted(ids, key=lambda x: {(1,): 0, (1, 2): 1, (2,): 2}[x])
    s.close()


def test_polls_and_completion_count_members_only(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "members.json"
    _write(path, ["h2", "h3"], False, 1)
    s, _m, _frames, udp = _sender(tmp_path, "unicast", monkeypatch, members_file=path)
    s.cfg.poll_wait = 0.05
    s.poll()
    assert sorted(a for _, a in udp) == [("10.0.0.2", 50000), ("10.0.0.3", 50000)]
    for name in ("h2", "h3"):
        s.peers[name].state = "done"
    assert s._all_done() and not s.open  # h4 is no member: the session may end
    _write(path, ["h2", "h3", "h4"], True, 2)
    s._drain()
    assert not s._all_done() and s.open and s.peers["h4"].state == "silent"
    s.close()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "Expecting value"),
        ('{"open": true}', "no 'members' key"),
        ('{"members": "h2"}', "'members' is not a list of names"),
        ('{"members": ["h9"]}', "names no receiver of the list: ['h9']"),
    ],
)
def test_a_bad_members_file(tmp_path: Path, monkeypatch, text: str, why: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "members.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"--members-file {path}: .*{re.escape(why)}"):
        _sender(tmp_path, "unicast", monkeypatch, members_file=path)
    # later, a bad file keeps the members as they are
    _write(path, ["h2"], True, 1)
    s, *_ = _sender(tmp_path, "unicast", monkeypatch, members_file=path)
    path.write_text(text)
    os.utime(path, ns=(5, 5))
    s._drain()
    assert s.members() == ["h2"]
    s.close()


def test_a_receiver_that_leaves(tmp_path: Path) -> None:
    """Asked to leave, the receiver stops answering, logs what still arrives for --linger and
    ends with outcome left; datagrams sent to it meanwhile are counted as arrivals."""
    from .helpers import chunker, small_model

    m = small_model(tmp_path / "m", 200_000, 1)
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctl.bind(("127.0.0.1", 0))
    ctl.settimeout(2.0)
    cfg = ReceiverConfig(
        name="r1", manifest=m, out_dir=tmp_path / "out", sender_ip="127.0.0.1",
        sender_port=ctl.getsockname()[1], port=0, bind="127.0.0.1", group=None, linger=0.6,
        record=tmp_path / "r1.json",
    )  # fmt: skip
    rx = Receiver(cfg)
    port = rx.sock.getsockname()[1]
    done: list[int] = []
    th = threading.Thread(target=lambda: done.append(rx.run()))
    th.start()
    ctl.recvfrom(4096)  # its hello
    snd = chunker(tmp_path / "m", m)
    big = max(range(len(m.files)), key=lambda k: m.files[k].size)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.sendto(snd.datagram(big, 0), ("127.0.0.1", port))
    time.sleep(0.2)
    rx.leave()
    time.sleep(0.2)
    out.sendto(snd.datagram(big, 1), ("127.0.0.1", port))  # after it left: logged all the same
    th.join(10)
    assert done == [EXIT_LEFT]
    rec = json.loads((tmp_path / "r1.json").read_text())
    assert rec["outcome"] == "left" and rec["error"] is None
    assert rec["left_at"] < rec["arrivals"]["last"] and rec["arrivals"]["count"] == 2
    ctl.settimeout(0.3)
    with pytest.raises(TimeoutError):  # no NACK after it left
        while True:
            data, _ = ctl.recvfrom(4096)
            assert json.loads(data)["seq"] <= 1
    snd.close()
    for s in (ctl, out):
        s.close()
    rx.close()


def test_a_receiver_on_standby_joins_when_asked(tmp_path: Path) -> None:
    """On standby it says nothing to the sender; asked to join, it asks for everything."""
    from .helpers import small_model

    m = small_model(tmp_path / "m", 100_000, 1)
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctl.bind(("127.0.0.1", 0))
    cfg = ReceiverConfig(
        name="r1", manifest=m, out_dir=tmp_path / "out", sender_ip="127.0.0.1",
        sender_port=ctl.getsockname()[1], port=0, bind="127.0.0.1", group=None, deadline=3,
        idle_nack=0.1, standby=True, record=tmp_path / "r1.json",
    )  # fmt: skip
    rx = Receiver(cfg)
    th = threading.Thread(target=rx.run)
    th.start()
    ctl.settimeout(0.5)
    with pytest.raises(TimeoutError):  # on standby: not even a hello
        ctl.recvfrom(4096)
    asked = time.time()
    rx.join()
    ctl.settimeout(2.0)
    msg = json.loads(ctl.recvfrom(4096)[0])
    assert msg["type"] == "nack" and msg["missing"]  # everything it lacks
    th.join(10)
    rec = json.loads((tmp_path / "r1.json").read_text())
    assert asked <= rec["joined_at"] < asked + 0.5 and rec["outcome"] == "incomplete"
    ctl.close()
    rx.close()
