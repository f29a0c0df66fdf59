"""Receiver -> sender control messages (UDP to port 50001), and chunk-range arithmetic.

One JSON object per datagram, at most MAX_CONTROL bytes:
    {"v":1, "type":"nack"|"done"|"fail", "model_id":hex, "receiver":name, "seq":n,
     "poll":k, "missing":{"<file index>":[[start,end],...]}, "more":bool, "error":str}
`end` may be null: "to the last chunk" (the receiver has not learnt the chunk count yet).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

MAX_CONTROL = 1200  # fits any MTU in the testbed


class ControlMsg(BaseModel):
    v: Literal[1] = 1
    type: Literal["nack", "done", "fail"]
    model_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    receiver: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0)
    poll: int = Field(0, ge=0, description="sequence of the POLL answered, 0 if spontaneous")
    missing: dict[int, list[tuple[int, int | None]]] = Field(default_factory=dict)
    more: bool = False
    error: str | None = Field(None, max_length=400)

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_defaults=False).encode()


def decode_control(data: bytes) -> ControlMsg:
    """Parse a control datagram; raises ValueError with the reason."""
    if len(data) > MAX_CONTROL + 200:
        raise ValueError(f"control datagram of {len(data)} bytes is too long")
    try:
        return ControlMsg.model_validate_json(data)
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"bad control datagram: {str(e).splitlines()[0]}") from None


def missing_ranges(bitmap: bytearray | bytes) -> list[tuple[int, int]]:
    """Half-open ranges of zero bytes in a per-chunk bitmap (1 = have)."""
    out: list[tuple[int, int]] = []
    n = len(bitmap)
    pos = bitmap.find(0)
    while pos != -1:
        end = bitmap.find(1, pos)
        if end == -1:
            end = n
        out.append((pos, end))
        pos = bitmap.find(0, end) if end < n else -1
    return out


def range_chunks(ranges: list[tuple[int, int | None]], count: int) -> int:
    return sum(min(e if e is not None else count, count) - s for s, e in ranges)


def pack_nacks(
    missing: dict[int, list[tuple[int, int | None]]],
    base: dict[str, object],
    limit: int = MAX_CONTROL,
    max_messages: int = 8,
) -> list[ControlMsg]:
    """Aggregate missing ranges of all files into as few messages as fit `limit` bytes each,
    at most `max_messages` (the rest is flagged `more` and asked for in a later NACK)."""
    msgs: list[ControlMsg] = []
    cur: dict[int, list[tuple[int, int | None]]] = {}
    # A range is about 16 bytes of JSON; keep a margin for the fixed fields.
    budget = limit - 200 - len(str(base.get("receiver", "")))
    used = 0
    items = [(f, r) for f in sorted(missing) for r in missing[f]]
    for i, (f, r) in enumerate(items):
        cost = len(json.dumps(list(r))) + 1 + (len(str(f)) + 6 if f not in cur else 0)
        if used + cost > budget and cur:
            msgs.append(ControlMsg(type="nack", missing=cur, more=True, **base))  # type: ignore[arg-type]
            cur, used = {}, 0
            if len(msgs) == max_messages:
                msgs[-1].more = i < len(items)
                return msgs
            cost = len(json.dumps(list(r))) + len(str(f)) + 7
        cur.setdefault(f, []).append(r)
        used += cost
    if cur or not msgs:
        msgs.append(ControlMsg(type="nack", missing=cur, **base))  # type: ignore[arg-type]
    msgs[-1].more = False
    return msgs


def merge_needs(
    reports: dict[str, dict[int, list[tuple[int, int | None]]]], counts: list[int]
) -> dict[int, dict[int, frozenset[str]]]:
    """file -> chunk -> receivers missing it, from each receiver's missing ranges.

    Ranges are clipped to the file's chunk count; out-of-range files are ignored."""
    needs: dict[int, dict[int, set[str]]] = {}
    for name, missing in reports.items():
        for f, ranges in missing.items():
            if not 0 <= f < len(counts):
                continue
            per = needs.setdefault(f, {})
            for s, e in ranges:
                stop = counts[f] if e is None else min(e, counts[f])
                for c in range(max(0, s), stop):
                    per.setdefault(c, set()).add(name)
    return {
        f: {c: frozenset(rs) for c, rs in sorted(per.items())} for f, per in sorted(needs.items())
    }
