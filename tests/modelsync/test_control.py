"""NACK encoding, aggregation into bounded messages, and the sender's merge."""

from __future__ import annotations

import random

import pytest

from modelsync.control import (
    MAX_CONTROL,
    ControlMsg,
    decode_control,
    merge_needs,
    missing_ranges,
    pack_nacks,
)

BASE = {"model_id": "0123456789abcdef", "receiver": "h7", "seq": 3, "poll": 2}


def test_missing_ranges() -> None:
    assert missing_ranges(bytearray(b"\1\0\0\1\0\1\1\0")) == [(1, 3), (4, 5), (7, 8)]
    assert missing_ranges(bytearray(4)) == [(0, 4)]
    assert missing_ranges(bytearray(b"\1\1")) == []
    rnd = random.Random(4)
    bm = bytearray(rnd.choice((0, 1)) for _ in range(5000))
    expect = {i for i, b in enumerate(bm) if not b}
    assert {c for s, e in missing_ranges(bm) for c in range(s, e)} == expect


def test_pack_nacks_bounded_and_complete() -> None:
    missing = {0: [(i * 7, i * 7 + 2) for i in range(400)], 3: [(5, None)], 9: [(0, 1)]}
    msgs = pack_nacks(missing, BASE, max_messages=100)
    assert len(msgs) > 1
    assert all(len(m.encode()) <= MAX_CONTROL for m in msgs)
    assert [m.more for m in msgs] == [True] * (len(msgs) - 1) + [False]
    back: dict[int, list] = {}
    for m in msgs:
        d = decode_control(m.encode())
        assert (d.receiver, d.poll, d.model_id) == ("h7", 2, BASE["model_id"])
        for f, r in d.missing.items():
            back.setdefault(f, []).extend(r)
    assert back == missing


def test_pack_nacks_caps_messages_and_flags_more() -> None:
    missing = {0: [(i * 3, i * 3 + 1) for i in range(5000)]}
    msgs = pack_nacks(missing, BASE, max_messages=2)
    assert len(msgs) == 2 and msgs[-1].more
    assert pack_nacks({}, BASE)[0].missing == {}  # "nothing missing" still answers


def test_merge_needs_targets_exactly_who_misses() -> None:
    needs = merge_needs(
        {"a": {0: [(0, 2)], 1: [(3, None)]}, "b": {0: [(1, 3)], 7: [(0, 1)]}, "c": {}},
        counts=[4, 5],
    )
    assert needs == {
        0: {0: frozenset("a"), 1: frozenset("ab"), 2: frozenset("b")},
        1: {3: frozenset("a"), 4: frozenset("a")},
    }


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b'{"v":1}', b'{"v":2,"type":"nack"}', b"\xff\xfe", b"[" * 5000],
)
def test_bad_control_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_control(raw)


def test_done_roundtrip() -> None:
    m = ControlMsg(type="done", **BASE)  # type: ignore[arg-type]
    assert decode_control(m.encode()) == m
